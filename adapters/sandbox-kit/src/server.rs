//! The HTTP server: shared state, the router assembled from the dialect's
//! paths and the control routes, and a hand-written accept loop.
//!
//! Connections are served with hyper directly (not `axum::serve`) so that a
//! handler can reset its own connection: every request carries a
//! [`ConnControl`] for the connection it came on, which is how
//! drop-after-commit closes the socket without sending a reply.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tower::Service;
use tracing::{debug, warn};

use crate::faults::Faults;
use crate::stats::Stats;
use crate::{Dialect, control, handler};

/// Everything the handlers share.
pub(crate) struct App<D: Dialect> {
    pub dialect: D,
    pub control: bool,
    pub ledger: Mutex<D::Ledger>,
    pub faults: Faults,
    pub stats: Stats,
}

impl<D: Dialect> App<D> {
    pub fn new(dialect: D, control: bool) -> Self {
        App {
            dialect,
            control,
            ledger: Mutex::new(D::Ledger::default()),
            faults: Faults::default(),
            stats: Stats::default(),
        }
    }

    /// The ledger, locked. Never hold the guard across an `.await`.
    pub fn ledger(&self) -> MutexGuard<'_, D::Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The whole application: the dialect's paths, plus the control surface
/// when enabled (otherwise `/control/...` is a plain 404). Refuses paths
/// axum could not route or would panic on.
pub(crate) fn router<D: Dialect>(app: Arc<App<D>>) -> io::Result<Router> {
    let paths = app.dialect.paths();
    check_paths(paths)?;
    let mut router = paths.iter().fold(Router::new(), |router, path| {
        router.route(path, handler::route::<D>())
    });
    if app.control {
        router = router.merge(control::routes::<D>());
    }
    Ok(router.with_state(app))
}

fn check_paths(paths: &[&str]) -> io::Result<()> {
    let invalid = |path: &str, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("dialect path {path:?} {why}"),
        )
    };
    let mut seen = HashSet::new();
    for &path in paths {
        if !path.starts_with('/') {
            return Err(invalid(path, "does not start with /"));
        }
        if path.contains([':', '*', '{', '}']) {
            return Err(invalid(path, "holds a route pattern character"));
        }
        if path == "/control" || path.starts_with("/control/") {
            return Err(invalid(path, "is under /control"));
        }
        if !seen.insert(path) {
            return Err(invalid(path, "appears twice"));
        }
    }
    Ok(())
}

/// Lets a handler abort the connection its request came on.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnControl {
    reset: Arc<AtomicBool>,
    kill: Arc<Notify>,
}

impl ConnControl {
    /// Closes the connection with a TCP reset, dropping whatever is in
    /// flight on it (including the calling handler).
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        // notify_one keeps a permit, so this works even before the
        // connection task starts waiting.
        self.kill.notify_one();
    }
}

/// Accepts connections until `stop` fires (or its sender is dropped), then
/// aborts every connection and waits for them. Aborting this task instead
/// also aborts every connection: they live in its `JoinSet`.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => {
                drop(listener);
                connections.shutdown().await;
                return;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(error) => {
                    // Typically out of file descriptors: back off, keep going.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "set_nodelay failed");
    }
    let control = ConnControl::default();
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        reset: control.reset.clone(),
    });
    let per_request = control.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(per_request.clone());
        router.clone().call(request)
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    let connection = builder.serve_connection(io, service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                debug!(%error, "connection ended with an error");
            }
        }
        () = control.kill.notified() => {
            debug!("connection reset by fault injection");
        }
    }
}

/// A TCP stream that, once its connection is marked for reset, closes with
/// RST instead of FIN when dropped.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            if let Err(error) = self.inner.set_zero_linger() {
                debug!(%error, "could not arm the reset");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert!(check_paths(&["/v1/debit", "/bet.html", "/api/user/balance"]).is_ok());
        for bad in [
            &["v1/debit"][..],
            &["/v1/:id"],
            &["/v1/{id}"],
            &["/v1/*rest"],
            &["/control/seed"],
            &["/control"],
            &["/a", "/a"],
        ] {
            let error = check_paths(bad).expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
