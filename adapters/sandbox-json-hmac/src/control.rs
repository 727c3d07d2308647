//! The test-only control surface under `/control/`: seed accounts, read the
//! whole ledger, switch faults, read request counters. Not part of the
//! dialect, unauthenticated, and only routed when
//! [`SandboxConfig::control`](crate::SandboxConfig::control) is set.
//!
//! The routes and their bodies are listed in the crate docs.
//!
//! Malformed bodies get 400 `{"error":"..."}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, body::Bytes};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::faults::{Fault, FaultError};
use crate::ledger::{AccountSnapshot, LedgerSnapshot};
use crate::server::App;
use crate::stats::RequestStats;

/// Why a control request is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    /// The body is not the JSON the route expects.
    #[error("invalid body: {0}")]
    InvalidBody(#[from] serde_json::Error),
    /// The fault's parameters are out of range.
    #[error(transparent)]
    InvalidFault(#[from] FaultError),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        let body = Body {
            error: self.to_string(),
        };
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// `POST /control/seed` body.
#[derive(Debug, Clone, Deserialize)]
struct SeedRequest {
    account: String,
    currency: String,
    balance: i64,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    limit: Option<i64>,
}

/// The control routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/control/seed", post(seed))
        .route("/control/ledger", get(ledger))
        .route(
            "/control/faults",
            post(set_fault).get(list_faults).delete(clear_faults),
        )
        .route("/control/stats", get(stats))
}

async fn seed(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<Json<AccountSnapshot>, ControlError> {
    let req: SeedRequest = serde_json::from_slice(&body)?;
    info!(account = %req.account, currency = %req.currency, "control: seed");
    app.ledger().seed(
        &req.account,
        &req.currency,
        req.balance,
        req.blocked,
        req.limit,
    );
    Ok(Json(AccountSnapshot {
        account: req.account,
        currency: req.currency,
        balance: req.balance,
        opening_balance: req.balance,
        blocked: req.blocked,
        limit: req.limit,
    }))
}

async fn ledger(State(app): State<Arc<App>>) -> Json<LedgerSnapshot> {
    Json(app.ledger().snapshot())
}

async fn set_fault(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<Json<Vec<Fault>>, ControlError> {
    let fault: Fault = serde_json::from_slice(&body)?;
    fault.validate()?;
    info!(?fault, "control: fault set");
    app.faults.set(fault);
    Ok(Json(app.faults.list()))
}

async fn list_faults(State(app): State<Arc<App>>) -> Json<Vec<Fault>> {
    Json(app.faults.list())
}

async fn clear_faults(State(app): State<Arc<App>>) -> Json<Vec<Fault>> {
    info!("control: faults cleared");
    app.faults.clear();
    Json(app.faults.list())
}

async fn stats(State(app): State<Arc<App>>) -> Json<RequestStats> {
    Json(app.stats.snapshot())
}
