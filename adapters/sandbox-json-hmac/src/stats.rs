//! Request counters for tests: how many money requests (debit, credit,
//! rollback) arrived, in total and per `tx_id`, replays and refused ones
//! included.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// Counts of money requests received. A request is counted when it arrives,
/// before fault injection and before the signature check, so a request
/// answered 503 by a fault, refused for its signature or replayed is
/// counted too; balance and status queries are not money requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Every request to `/v1/debit`, `/v1/credit` or `/v1/rollback`.
    pub money_requests: u64,
    /// Those whose body had a string `tx_id`, by that id.
    pub by_tx_id: BTreeMap<String, u64>,
}

/// Shared counters of one sandbox.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<RequestStats>);

impl Stats {
    fn lock(&self) -> MutexGuard<'_, RequestStats> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one money request.
    pub fn record(&self, tx_id: Option<String>) {
        let mut stats = self.lock();
        stats.money_requests = stats.money_requests.saturating_add(1);
        if let Some(tx_id) = tx_id {
            let count = stats.by_tx_id.entry(tx_id).or_default();
            *count = count.saturating_add(1);
        }
    }

    /// Money requests received with this `tx_id`.
    pub fn requests_for(&self, tx_id: &str) -> u64 {
        self.lock().by_tx_id.get(tx_id).copied().unwrap_or(0)
    }

    /// Money requests received in total.
    pub fn money_requests(&self) -> u64 {
        self.lock().money_requests
    }

    /// A copy of all counters.
    pub fn snapshot(&self) -> RequestStats {
        self.lock().clone()
    }
}
