//! The `echo` dialect: an in-process provider that settles every debit,
//! credit and rollback at once, with no network and no ledger, and answers
//! every balance query with [`ECHO_BALANCE`].
//!
//! It exists for benchmarks: with it, a money call costs exactly the hub's
//! own work (auth, limits, breaker, idempotency, the durable journal), which
//! is what the load tests compare against a bare gRPC server. It moves no
//! money anywhere, so never configure it for a real partner. Its settings
//! must be empty (`dialect = "echo"` and the provider's common keys only).

use std::sync::Arc;
use std::time::Duration;

use adapter_api::{
    Adapter, AdapterError, AdapterFactory, BalanceRequest, Capabilities, Descriptor,
    DuplicateHabit, Money, MoneyRequest, Outcome, RollbackRequest, SettingsError, Settlement,
    UnknownRollbackHabit,
};

/// The dialect's name in configuration.
pub const DIALECT: &str = "echo";

/// The balance every echo balance query answers, in minor units.
pub const ECHO_BALANCE: i64 = 1_000_000;

/// Builds [`Echo`] adapters; registered in
/// [`Registry::builtin`](crate::registry::Registry::builtin).
pub struct Factory;

impl AdapterFactory for Factory {
    fn dialect(&self) -> &'static str {
        DIALECT
    }

    fn build(&self, settings: &serde_json::Value) -> Result<Arc<dyn Adapter>, SettingsError> {
        match settings.as_object().and_then(|m| m.keys().next()) {
            None => Ok(Arc::new(Echo)),
            Some(field) => Err(SettingsError::new(
                field.clone(),
                "the echo dialect takes no settings",
            )),
        }
    }
}

/// The echo adapter: every movement settles, nothing leaves the process.
pub struct Echo;

#[async_trait::async_trait]
impl Adapter for Echo {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            dialect: DIALECT,
            capabilities: Capabilities {
                balance: true,
                status: false,
            },
            duplicates: DuplicateHabit::ReplaysOriginal,
            rollback_of_unknown: UnknownRollbackHabit::AcknowledgesWithTombstone,
            default_timeout: Duration::from_secs(1),
        }
    }

    async fn transfer(&self, _req: &MoneyRequest) -> Outcome {
        Outcome::Settled(Settlement::default())
    }

    async fn rollback(&self, _req: &RollbackRequest) -> Outcome {
        Outcome::Settled(Settlement::default())
    }

    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        Ok(Money::new(req.currency, ECHO_BALANCE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_api::{AccountId, Currency, Direction, ProviderTxId};

    #[tokio::test]
    async fn every_movement_settles_and_balances_are_fixed() {
        let echo = Factory.build(&serde_json::json!({})).unwrap();
        let eur = Currency::from_code("EUR").unwrap();
        let debit = MoneyRequest {
            direction: Direction::Debit,
            tx_id: ProviderTxId::new("t-1"),
            account: AccountId::new("acc-1"),
            amount: Money::new(eur, 125),
            reference: None,
        };
        assert_eq!(echo.transfer(&debit).await.class(), "settled");
        let rollback = RollbackRequest {
            tx_id: ProviderTxId::new("t-2"),
            original_tx_id: ProviderTxId::new("t-1"),
            account: AccountId::new("acc-1"),
            amount: None,
        };
        assert_eq!(echo.rollback(&rollback).await.class(), "settled");
        let balance = echo
            .balance(&BalanceRequest {
                account: AccountId::new("acc-1"),
                currency: eur,
            })
            .await
            .unwrap();
        assert_eq!(balance, Money::new(eur, ECHO_BALANCE));
    }

    #[test]
    fn settings_are_refused() {
        let err = Factory
            .build(&serde_json::json!({"base_url": "http://x"}))
            .err()
            .unwrap();
        assert_eq!(err.field, "base_url");
    }
}
