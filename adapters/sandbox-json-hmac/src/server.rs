//! The HTTP server: shared state, the router assembled from the dialect and
//! control routes, and a hand-written accept loop.
//!
//! Connections are served with hyper directly (not `axum::serve`) so that a
//! handler can reset its own connection: every request carries a
//! [`ConnControl`] for the connection it came on, which is how
//! drop-after-commit closes the socket without sending a reply.

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
use crate::ledger::Ledger;
use crate::stats::Stats;
use crate::{SandboxConfig, control, dialect};

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    pub config: SandboxConfig,
    pub ledger: Mutex<Ledger>,
    pub faults: Faults,
    pub stats: Stats,
}

impl App {
    pub fn new(config: SandboxConfig) -> Self {
        App {
            config,
            ledger: Mutex::new(Ledger::default()),
            faults: Faults::default(),
            stats: Stats::default(),
        }
    }

    /// The ledger, locked. Never hold the guard across an `.await`.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The whole application: the dialect, plus the control surface when the
/// configuration enables it (otherwise `/control/...` is a plain 404).
pub(crate) fn router(app: Arc<App>) -> Router {
    let mut router = dialect::routes();
    if app.config.control {
        router = router.merge(control::routes());
    }
    router.with_state(app)
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
