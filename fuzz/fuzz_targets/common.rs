//! Canonical requests the targets classify replies against, and the way
//! they cut a fuzzer input into an HTTP status, an operation and a body.

#![allow(dead_code)]

use adapter_api::{
    AccountId, BalanceRequest, Currency, Direction, Money, MoneyRequest, Outcome, ProviderTxId,
    RollbackRequest, StatusRequest, TxKind, TxStatus,
};

pub const TX: &str = "b3a1f6d2-4c8e-5a17-9e02-6f4d2c1a0001";
pub const RB: &str = "b3a1f6d2-4c8e-5a17-9e02-6f4d2c1a0003";

pub fn eur() -> Currency {
    Currency::from_code("EUR").expect("EUR is a currency")
}

pub fn transfer(direction: Direction) -> MoneyRequest {
    MoneyRequest {
        direction,
        tx_id: ProviderTxId::new(TX),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), 2_500),
        reference: Some("r-1".into()),
    }
}

pub fn rollback(with_amount: bool) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new(RB),
        original_tx_id: ProviderTxId::new(TX),
        account: AccountId::new("acc-1"),
        amount: with_amount.then(|| Money::new(eur(), 2_500)),
    }
}

pub fn balance() -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur(),
    }
}

pub fn status(kind: TxKind) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new(TX),
        kind,
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 2_500)),
    }
}

/// The first two bytes pick the HTTP status (mostly 200), the third the
/// operation; the rest is the body.
pub fn split(data: &[u8]) -> Option<(u16, u8, &[u8])> {
    let [a, b, op, body @ ..] = data else {
        return None;
    };
    let status = match a % 4 {
        0 | 1 => 200,
        2 => 400 + u16::from(*b % 100),
        _ => u16::from_be_bytes([*a, *b]) % 1000,
    };
    Some((status, *op, body))
}

/// The invariant every classification keeps: a settled movement carries a
/// balance only in the request's currency.
pub fn check_outcome(o: &Outcome) {
    if let Outcome::Settled(s) = o {
        if let Some(b) = s.balance_after {
            assert_eq!(b.currency, eur(), "a balance in another currency");
        }
    }
}

pub fn check_status(s: &TxStatus) {
    if let TxStatus::Applied(s) = s {
        if let Some(b) = s.balance_after {
            assert_eq!(b.currency, eur(), "a balance in another currency");
        }
    }
}
