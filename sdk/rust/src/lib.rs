//! Typed Rust client for the settlement hub's `settlement.v1` contract.
//!
//! The contract's safety rules are the default path:
//!
//! - every money call ([`Client::debit`], [`Client::credit`],
//!   [`Client::rollback`]) carries an idempotency key, a fresh UUIDv7 unless
//!   the caller sets one;
//! - only provably safe failures are retried, always with the same key:
//!   UNAVAILABLE when the hub says nothing moved (or the transport failed
//!   before any answer), ABORTED while a call with that key is in progress,
//!   and RESOURCE_EXHAUSTED rate and concurrency limits (refused before
//!   anything was recorded); with full-jitter backoff (randomness from a
//!   [`Jitter`] source), the hub's RetryInfo delay as a floor, bounded by the
//!   call's deadline and a maximum number of attempts;
//! - a PENDING answer can be resolved with [`Client::wait_final`];
//! - failures are a typed [`SdkError`] carrying the ErrorInfo reason, the
//!   RetryInfo delay and BadRequest field violations.
//!
//! ```no_run
//! use std::time::Duration;
//! use settlement_sdk::{Auth, Client, Debit, Rollback, SdkError, money, pb::TransactionState};
//!
//! # async fn run() -> Result<(), SdkError> {
//! let client = Client::connect("http://127.0.0.1:50051", Auth::ApiKey("hk_...".into()))
//!     .await?
//!     .with_deadline(Duration::from_secs(5));
//! let mut tx = client.debit(Debit::new("acme", "acc-1", money("EUR", 1250)).reference("round-7")).await?;
//! if tx.state() == TransactionState::Pending {
//!     tx = client.wait_final(&tx.transaction_id, Duration::from_secs(30)).await?;
//! }
//! match client.rollback(Rollback::of_transaction(tx.transaction_id)).await {
//!     Ok(rb) => println!("rolled back: {:?}", rb.state()),
//!     Err(SdkError::FailedPrecondition { reason, .. }) => println!("not reversible: {reason}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod error;
mod requests;

pub use backoff::Jitter;
pub use client::{Auth, Client, Settings};
pub use error::{FieldViolation, SdkError};
pub use requests::{Credit, Debit, Movement, Rollback, RollbackTarget, money};

/// The generated `settlement.v1` messages, re-exported.
pub use hub_proto::settlement::v1 as pb;
