//! The test-only control surface under `/control/`: seed accounts, read the
//! whole ledger, switch faults, read request counters. Not part of any
//! dialect, unauthenticated, and only routed when
//! [`Setup::control`](crate::Setup::control) is set.
//!
//! The routes and their bodies are listed in the crate docs. Malformed
//! bodies get 400 `{"error":"..."}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, body::Bytes};
use serde::Serialize;
use tracing::info;

use crate::faults::{Fault, FaultError};
use crate::seed::AccountSeed;
use crate::server::App;
use crate::stats::RequestStats;
use crate::{Dialect, Ledger};

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

/// The control routes.
pub(crate) fn routes<D: Dialect>() -> Router<Arc<App<D>>> {
    Router::new()
        .route("/control/seed", post(seed::<D>))
        .route("/control/ledger", get(ledger::<D>))
        .route(
            "/control/faults",
            post(set_fault::<D>)
                .get(list_faults::<D>)
                .delete(clear_faults::<D>),
        )
        .route("/control/stats", get(stats::<D>))
}

async fn seed<D: Dialect>(
    State(app): State<Arc<App<D>>>,
    body: Bytes,
) -> Result<Json<AccountSeed>, ControlError> {
    let seed: AccountSeed = serde_json::from_slice(&body)?;
    info!(account = %seed.account, currency = %seed.currency, "control: seed");
    app.ledger().seed(&seed);
    Ok(Json(seed))
}

async fn ledger<D: Dialect>(
    State(app): State<Arc<App<D>>>,
) -> Json<<D::Ledger as Ledger>::Snapshot> {
    let snapshot = app.ledger().snapshot();
    Json(snapshot)
}

async fn set_fault<D: Dialect>(
    State(app): State<Arc<App<D>>>,
    body: Bytes,
) -> Result<Json<Vec<Fault>>, ControlError> {
    let fault: Fault = serde_json::from_slice(&body)?;
    fault.validate()?;
    info!(?fault, "control: fault set");
    app.faults.set(fault);
    Ok(Json(app.faults.list()))
}

async fn list_faults<D: Dialect>(State(app): State<Arc<App<D>>>) -> Json<Vec<Fault>> {
    Json(app.faults.list())
}

async fn clear_faults<D: Dialect>(State(app): State<Arc<App<D>>>) -> Json<Vec<Fault>> {
    info!("control: faults cleared");
    app.faults.clear();
    Json(app.faults.list())
}

async fn stats<D: Dialect>(State(app): State<Arc<App<D>>>) -> Json<RequestStats> {
    Json(app.stats.snapshot())
}
