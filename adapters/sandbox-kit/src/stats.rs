//! Request counters for tests: how many money requests (as the dialect
//! [classifies](crate::Dialect::classify) them) arrived, in total and per
//! transaction id, replays and refused ones included.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// Counts of money requests received. A request is counted when it arrives,
/// before fault injection and before the signature check, so a request
/// answered 503 by a fault, refused for its signature or replayed is
/// counted too; balance and status queries are not money requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Every money request (debit, credit, rollback in the dialect's names).
    pub money_requests: u64,
    /// Those whose transaction id could be read, by that id.
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

    /// Money requests received with this transaction id.
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
