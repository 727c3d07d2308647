//! The json-hmac endpoints (`POST /v1/...`): count, apply faults, check
//! operator and signature, parse, hand the request to the ledger, and answer
//! (or misbehave after the fact, as the faults decided).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use axum::{Router, body::Bytes};
use tracing::{debug, info};

use crate::faults::AfterCommit;
use crate::server::{App, ConnControl};
use crate::signature::{OPERATOR_HEADER, SIGNATURE_HEADER, verify};
use crate::wire::{self, ErrorCode, Reply};

/// The dialect's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Balance,
    Debit,
    Credit,
    Rollback,
    Status,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Balance,
        Endpoint::Debit,
        Endpoint::Credit,
        Endpoint::Rollback,
        Endpoint::Status,
    ];

    fn path(self) -> &'static str {
        match self {
            Endpoint::Balance => "/v1/balance",
            Endpoint::Debit => "/v1/debit",
            Endpoint::Credit => "/v1/credit",
            Endpoint::Rollback => "/v1/rollback",
            Endpoint::Status => "/v1/status",
        }
    }

    /// Whether requests to it are counted as money requests.
    fn moves_money(self) -> bool {
        matches!(
            self,
            Endpoint::Debit | Endpoint::Credit | Endpoint::Rollback
        )
    }
}

/// The dialect's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Endpoint::ALL
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            router.route(endpoint.path(), route(endpoint))
        })
}

fn route(endpoint: Endpoint) -> MethodRouter<Arc<App>> {
    post(
        move |State(app): State<Arc<App>>,
              conn: Option<Extension<ConnControl>>,
              headers: HeaderMap,
              body: Bytes| {
            handle(app, conn.map(|Extension(c)| c), endpoint, headers, body)
        },
    )
}

async fn handle(
    app: Arc<App>,
    conn: Option<ConnControl>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = endpoint.path();
    let tx_id = wire::peek_tx_id(&body);
    if endpoint.moves_money() {
        app.stats.record(tx_id.clone());
    }
    let tx_id = tx_id.unwrap_or_default();

    let plan = app.faults.plan(path);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(mut cleared) = plan.hang {
        debug!(path, tx_id, "hanging until faults are cleared");
        // An error means the sender is gone, which cannot happen while `app`
        // is alive; either way the hang is over.
        let _ = cleared.changed().await;
    }
    if plan.unavailable {
        info!(path, tx_id, "fault: 503 without processing");
        return Reply::error(ErrorCode::ServiceUnavailable).into_response();
    }

    let reply = process(&app, endpoint, &headers, &body);
    info!(path, tx_id, status = reply.status.as_u16(), "answered");

    match plan.after {
        None => reply.into_response(),
        Some(AfterCommit::ServerError) => {
            info!(path, tx_id, "fault: 500 after commit");
            Reply::error(ErrorCode::InternalError).into_response()
        }
        Some(AfterCommit::Garbage) => {
            info!(path, tx_id, "fault: garbage after commit");
            garbage(&reply.body)
        }
        Some(AfterCommit::Drop) => {
            info!(path, tx_id, "fault: connection reset after commit");
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

/// Authenticates and runs one request against the ledger.
fn process(app: &App, endpoint: Endpoint, headers: &HeaderMap, body: &[u8]) -> Reply {
    match authenticate(app, headers, body) {
        Ok(()) => {}
        Err(code) => return Reply::error(code),
    }
    let result = match endpoint {
        Endpoint::Balance => wire::parse(body).map(|req| app.ledger().balance(&req)),
        Endpoint::Debit => wire::parse(body).map(|req| app.ledger().debit(&req)),
        Endpoint::Credit => wire::parse(body).map(|req| app.ledger().credit(&req)),
        Endpoint::Rollback => wire::parse(body).map(|req| app.ledger().rollback(&req)),
        Endpoint::Status => wire::parse(body).map(|req| app.ledger().status(&req)),
    };
    result.unwrap_or_else(Reply::error)
}

/// `X-Operator` must be present (else 400) and be the configured operator,
/// whose secret must have produced `X-Signature` (else 401).
fn authenticate(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<(), ErrorCode> {
    let operator = headers
        .get(OPERATOR_HEADER)
        .ok_or(ErrorCode::BadRequest)?
        .to_str()
        .map_err(|_| ErrorCode::BadRequest)?;
    if operator.is_empty() {
        return Err(ErrorCode::BadRequest);
    }
    // An operator we have no secret for cannot have signed correctly.
    if operator != app.config.operator {
        return Err(ErrorCode::InvalidSignature);
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ErrorCode::InvalidSignature)?;
    if verify(app.config.secret.as_bytes(), body, signature) {
        Ok(())
    } else {
        Err(ErrorCode::InvalidSignature)
    }
}

/// A 200 whose body is the first half of the real one: framed correctly,
/// labelled JSON, never parseable (a proper prefix of a JSON object lacks
/// its closing brace).
fn garbage(body: &Bytes) -> Response {
    let mut cut = body.slice(..body.len() / 2);
    if cut.is_empty() {
        cut = Bytes::from_static(b"{");
    }
    let mut response = (StatusCode::OK, cut).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
