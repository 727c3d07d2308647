//! The pipeline every dialect request goes through: classify and count,
//! apply the fault plan, let the dialect handle it under the ledger lock,
//! then answer (or misbehave after the fact, as the faults decided). The
//! order is described in the crate docs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use tracing::{debug, info};

use crate::faults::AfterCommit;
use crate::server::{App, ConnControl};
use crate::{Dialect, Handled, Reply, Request, RequestClass};

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // Exactly the dialect's headers (no default content type); hyper
        // adds Content-Length from the body's exact size.
        let mut response = Response::new(axum::body::Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// `POST` on one dialect path.
pub(crate) fn route<D: Dialect>() -> MethodRouter<Arc<App<D>>> {
    post(
        |State(app): State<Arc<App<D>>>,
         conn: Option<Extension<ConnControl>>,
         uri: Uri,
         headers: HeaderMap,
         body: Bytes| {
            let request = Request {
                path: uri.path().to_owned(),
                query: uri.query().map(str::to_owned),
                headers,
                body,
            };
            handle(app, conn.map(|Extension(c)| c), request)
        },
    )
}

async fn handle<D: Dialect>(
    app: Arc<App<D>>,
    conn: Option<ConnControl>,
    request: Request,
) -> Response {
    let dialect = app.dialect.name();
    let path = request.path.as_str();
    let tx_id = match app.dialect.classify(&request) {
        RequestClass::Money { tx_id } => {
            app.stats.record(tx_id.clone());
            tx_id
        }
        RequestClass::Query => None,
    };
    let tx_id = tx_id.as_deref().unwrap_or_default();

    let plan = app.faults.plan(path);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(mut cleared) = plan.hang {
        debug!(dialect, path, tx_id, "hanging until faults are cleared");
        // An error means the sender is gone, which cannot happen while `app`
        // is alive; either way the hang is over.
        let _ = cleared.changed().await;
    }
    if plan.unavailable {
        info!(dialect, path, tx_id, "fault: unavailable, not processed");
        return app.dialect.unavailable(&request).into_response();
    }

    let Handled { reply, committed } = {
        let mut ledger = app.ledger();
        app.dialect.handle(&mut ledger, &request)
    };
    info!(
        dialect,
        path,
        tx_id,
        status = reply.status.as_u16(),
        committed,
        "answered"
    );

    let after = if committed { plan.after } else { None };
    match after {
        None => reply.into_response(),
        Some(AfterCommit::ServerError) => {
            info!(dialect, path, tx_id, "fault: server error after commit");
            app.dialect.server_error(&request, &reply).into_response()
        }
        Some(AfterCommit::Garbage) => {
            info!(dialect, path, tx_id, "fault: garbage after commit");
            app.dialect.garbage(&request, &reply).into_response()
        }
        Some(AfterCommit::Tampered) => {
            info!(dialect, path, tx_id, "fault: tampered reply after commit");
            app.dialect.tamper(&request, &reply).into_response()
        }
        Some(AfterCommit::Drop) => {
            info!(dialect, path, tx_id, "fault: connection reset after commit");
            if let Some(conn) = conn {
                conn.reset();
            }
            // The connection task drops this future together with the
            // socket; without a connection (router driven in memory) the
            // request simply never gets an answer.
            std::future::pending::<Response>().await
        }
    }
}
