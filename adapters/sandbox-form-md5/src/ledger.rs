//! The provider's books: accounts with integer minor-unit balances, and
//! every reference it has answered together with the exact reply it gave.
//!
//! All business rules of the form-md5 dialect live here, as plain
//! synchronous methods from a parsed request to a reply body (every
//! business answer is HTTP 200). The provider holds the [`Ledger`] behind
//! one mutex and calls one method per request, so looking a reference up,
//! moving money and recording the reply happen atomically: two requests
//! with the same reference can never both apply.
//!
//! Rules:
//! - bets and results share one namespace of references: the same
//!   `reference` again, on either endpoint and whatever its other
//!   parameters, gets the original reply byte for byte (a decline
//!   included) and moves nothing;
//! - a refund names a bet by its reference. Unknown reference, or a bet
//!   that was declined (nothing moved): 7. A result: 8. Another `userId`
//!   than the bet's: 120 (not 7, which would tell the caller that nothing
//!   moved). A bet already refunded: the first refund's reply. Refund
//!   refusals are not recorded, so a refund of a reference that arrives
//!   before its bet can be repeated once the bet exists;
//! - checks of a bet or result, in order: account exists (2), holds the
//!   request's currency (6), not blocked (3), amount within the account's
//!   limit (4), then for a bet enough balance (1) and for a result a
//!   balance that still fits an `i64` (4). A refund is allowed on a
//!   blocked account and is not limited.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::amount::Currency;
use crate::wire::{
    BalanceRequest, ErrorCode, MoneyRequest, RefundRequest, balance_body, error_body, money_body,
    refund_body,
};

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Money taken from the account (`/bet.html`).
    Bet,
    /// Money given to the account (`/result.html`).
    Result,
    /// Reversal of a bet (`/refund.html`).
    Refund,
}

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Money moved (for a refund: the bet was reversed).
    Applied,
    /// A bet that a refund reversed (see `refunded_by`).
    Refunded,
    /// A bet or result refused with a business error (see `error`); nothing
    /// moved. Kept so that the same reference replays the refusal.
    Declined,
}

/// One answered money call as the provider recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// The caller's reference; for a refund, the reversed bet's.
    pub reference: String,
    /// Bet, result or refund.
    pub kind: TxKind,
    /// Current state.
    pub state: TxState,
    /// The account (`userId`).
    pub user_id: String,
    /// ISO 4217 code of the amount.
    pub currency: String,
    /// Amount in minor units (for a refund: the bet's).
    pub amount: i64,
    /// This provider's id (`fm-17`) of an applied bet, result or refund.
    pub transaction_id: Option<String>,
    /// `roundId` of a bet or result, if given.
    pub round_id: Option<String>,
    /// `timestamp` of a bet or result, as given.
    pub timestamp: Option<String>,
    /// For a refunded bet: the refund's `transaction_id`.
    pub refunded_by: Option<String>,
    /// For a declined one: the error number it was refused with.
    pub error: Option<u16>,
    /// Exact JSON body of the reply; a replay sends these bytes again.
    pub reply: String,
}

/// One account as seen by an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// Account id (`userId`).
    pub user_id: String,
    /// ISO 4217 code of the only currency it holds.
    pub currency: String,
    /// Balance in minor units.
    pub balance: i64,
    /// Balance it was last seeded with; `balance` equals this plus applied
    /// results and refunds minus bets (applied or refunded) since.
    pub opening_balance: i64,
    /// Refuses bets and results (error 3).
    pub blocked: bool,
    /// Largest amount of one bet or result in minor units (error 4 above).
    pub limit: Option<i64>,
}

/// The whole ledger at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// Every account, sorted by id.
    pub accounts: Vec<AccountSnapshot>,
    /// Every record, oldest first.
    pub transactions: Vec<TransactionRecord>,
}

impl LedgerSnapshot {
    /// The account with this id.
    pub fn account(&self, user_id: &str) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.user_id == user_id)
    }

    /// The bet or result recorded under this reference.
    pub fn transaction(&self, reference: &str) -> Option<&TransactionRecord> {
        self.transactions
            .iter()
            .find(|t| t.reference == reference && t.kind != TxKind::Refund)
    }

    /// The refund of the bet with this reference.
    pub fn refund_of(&self, reference: &str) -> Option<&TransactionRecord> {
        self.transactions
            .iter()
            .find(|t| t.reference == reference && t.kind == TxKind::Refund)
    }
}

#[derive(Debug, Clone)]
struct Account {
    currency: Currency,
    balance: i64,
    opening_balance: i64,
    blocked: bool,
    limit: Option<i64>,
}

/// Accounts and records; see the module docs for the rules and the locking
/// contract. Outside this crate it is driven through
/// [`sandbox_kit::Ledger`] (seed, block, limit, balance, snapshot) and the
/// dialect.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<String, Account>,
    records: Vec<TransactionRecord>,
    /// Bets and results by reference.
    money: HashMap<String, usize>,
    /// Refunds by the reference of the bet they reverse.
    refunds: HashMap<String, usize>,
    last_id: u64,
}

impl Ledger {
    /// Creates or replaces an account with this currency and balance, not
    /// blocked, limited only if `limit` is given.
    pub(crate) fn seed(
        &mut self,
        user_id: &str,
        currency: Currency,
        balance: i64,
        blocked: bool,
        limit: Option<i64>,
    ) {
        self.accounts.insert(
            user_id.to_owned(),
            Account {
                currency,
                balance,
                opening_balance: balance,
                blocked,
                limit,
            },
        );
    }

    /// Blocks or unblocks an account; false if there is no such account.
    pub(crate) fn set_blocked(&mut self, user_id: &str, blocked: bool) -> bool {
        self.accounts
            .get_mut(user_id)
            .map(|a| a.blocked = blocked)
            .is_some()
    }

    /// Sets or removes an account's per-transaction limit; false if there is
    /// no such account.
    pub(crate) fn set_limit(&mut self, user_id: &str, limit: Option<i64>) -> bool {
        self.accounts
            .get_mut(user_id)
            .map(|a| a.limit = limit)
            .is_some()
    }

    /// An account's balance in minor units.
    pub(crate) fn balance_of(&self, user_id: &str) -> Option<i64> {
        self.accounts.get(user_id).map(|a| a.balance)
    }

    /// Copies out everything.
    pub(crate) fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            accounts: self
                .accounts
                .iter()
                .map(|(id, a)| AccountSnapshot {
                    user_id: id.clone(),
                    currency: a.currency.code().to_owned(),
                    balance: a.balance,
                    opening_balance: a.opening_balance,
                    blocked: a.blocked,
                    limit: a.limit,
                })
                .collect(),
            transactions: self.records.clone(),
        }
    }

    /// The reply recorded for a bet or result reference, if any: what a
    /// repeated `reference` is answered with.
    pub(crate) fn recorded_reply(&self, reference: &str) -> Option<&str> {
        self.money
            .get(reference)
            .and_then(|&i| self.records.get(i))
            .map(|r| r.reply.as_str())
    }

    /// `/balance.html`.
    pub(crate) fn balance(&self, req: &BalanceRequest) -> String {
        let Some(account) = self.accounts.get(&req.user_id) else {
            return error_body(ErrorCode::PlayerNotFound);
        };
        if account.currency != req.currency {
            return error_body(ErrorCode::WrongCurrency);
        }
        balance_body(account.currency, account.balance)
    }

    /// `/bet.html`.
    pub(crate) fn bet(&mut self, req: &MoneyRequest) -> String {
        self.transfer(TxKind::Bet, req)
    }

    /// `/result.html`.
    pub(crate) fn result(&mut self, req: &MoneyRequest) -> String {
        self.transfer(TxKind::Result, req)
    }

    /// `/refund.html`.
    pub(crate) fn refund(&mut self, req: &RefundRequest) -> String {
        let Some(&bet_index) = self.money.get(&req.reference) else {
            return error_body(ErrorCode::TransactionNotFound);
        };
        let Some(bet) = self.records.get(bet_index) else {
            return error_body(ErrorCode::Internal);
        };
        if bet.kind == TxKind::Result {
            return error_body(ErrorCode::AlreadySettled);
        }
        if bet.state == TxState::Declined {
            return error_body(ErrorCode::TransactionNotFound);
        }
        if bet.user_id != req.user_id {
            return error_body(ErrorCode::BadParameters);
        }
        if bet.state == TxState::Refunded {
            return match self
                .refunds
                .get(&req.reference)
                .and_then(|&i| self.records.get(i))
            {
                Some(first) => first.reply.clone(),
                None => error_body(ErrorCode::Internal),
            };
        }

        let Some(account) = self.accounts.get(&bet.user_id) else {
            // Accounts are never removed; this cannot happen.
            return error_body(ErrorCode::PlayerNotFound);
        };
        if account.currency.code() != bet.currency {
            // Re-seeded in another currency since the bet.
            return error_body(ErrorCode::WrongCurrency);
        }
        let Some(new_balance) = account.balance.checked_add(bet.amount) else {
            return error_body(ErrorCode::LimitReached);
        };
        let Some((sequence, transaction_id)) = self.next_id() else {
            return error_body(ErrorCode::Internal);
        };
        let reply = refund_body(&transaction_id);
        let record = TransactionRecord {
            reference: req.reference.clone(),
            kind: TxKind::Refund,
            state: TxState::Applied,
            user_id: bet.user_id.clone(),
            currency: bet.currency.clone(),
            amount: bet.amount,
            transaction_id: Some(transaction_id.clone()),
            round_id: None,
            timestamp: None,
            refunded_by: None,
            error: None,
            reply: reply.clone(),
        };

        self.last_id = sequence;
        if let Some(account) = self.accounts.get_mut(&req.user_id) {
            account.balance = new_balance;
        }
        if let Some(bet) = self.records.get_mut(bet_index) {
            bet.state = TxState::Refunded;
            bet.refunded_by = Some(transaction_id);
        }
        self.refunds
            .insert(req.reference.clone(), self.records.len());
        self.records.push(record);
        reply
    }

    fn transfer(&mut self, kind: TxKind, req: &MoneyRequest) -> String {
        if let Some(reply) = self.recorded_reply(&req.reference) {
            return reply.to_owned();
        }
        let mut record = TransactionRecord {
            reference: req.reference.clone(),
            kind,
            state: TxState::Declined,
            user_id: req.user_id.clone(),
            currency: req.currency.code().to_owned(),
            amount: req.amount,
            transaction_id: None,
            round_id: req.round_id.clone(),
            timestamp: req.timestamp.clone(),
            refunded_by: None,
            error: None,
            reply: String::new(),
        };
        let new_balance = match self.check(kind, req) {
            Ok(balance) => balance,
            Err(code) => {
                record.error = Some(code.number());
                record.reply = error_body(code);
                return self.push(record);
            }
        };
        let Some((sequence, transaction_id)) = self.next_id() else {
            return error_body(ErrorCode::Internal);
        };
        self.last_id = sequence;
        if let Some(account) = self.accounts.get_mut(&req.user_id) {
            account.balance = new_balance;
        }
        record.state = TxState::Applied;
        record.reply = money_body(&transaction_id, req.currency, new_balance);
        record.transaction_id = Some(transaction_id);
        self.push(record)
    }

    /// The balance after the movement, or why it is refused.
    fn check(&self, kind: TxKind, req: &MoneyRequest) -> Result<i64, ErrorCode> {
        let account = self
            .accounts
            .get(&req.user_id)
            .ok_or(ErrorCode::PlayerNotFound)?;
        if account.currency != req.currency {
            return Err(ErrorCode::WrongCurrency);
        }
        if account.blocked {
            return Err(ErrorCode::Blocked);
        }
        if account.limit.is_some_and(|limit| req.amount > limit) {
            return Err(ErrorCode::LimitReached);
        }
        match kind {
            TxKind::Bet if account.balance < req.amount => Err(ErrorCode::InsufficientBalance),
            TxKind::Bet => account
                .balance
                .checked_sub(req.amount)
                .ok_or(ErrorCode::InsufficientBalance),
            // A balance that would not fit is over this provider's ceiling.
            TxKind::Result | TxKind::Refund => account
                .balance
                .checked_add(req.amount)
                .ok_or(ErrorCode::LimitReached),
        }
    }

    /// The next sequence number and its provider id, without taking it.
    fn next_id(&self) -> Option<(u64, String)> {
        let sequence = self.last_id.checked_add(1)?;
        Some((sequence, format!("fm-{sequence}")))
    }

    fn push(&mut self, record: TransactionRecord) -> String {
        let reply = record.reply.clone();
        self.money
            .insert(record.reference.clone(), self.records.len());
        self.records.push(record);
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::from_code("EUR").expect("EUR")
    }

    fn money(reference: &str, user_id: &str, amount: i64) -> MoneyRequest {
        MoneyRequest {
            user_id: user_id.into(),
            reference: reference.into(),
            amount,
            currency: eur(),
            round_id: Some("r-9".into()),
            timestamp: Some("1732540000000".into()),
        }
    }

    fn refund(reference: &str, user_id: &str) -> RefundRequest {
        RefundRequest {
            user_id: user_id.into(),
            reference: reference.into(),
        }
    }

    fn ledger() -> Ledger {
        let mut ledger = Ledger::default();
        ledger.seed("a", eur(), 10_000, false, None);
        ledger
    }

    #[test]
    fn bet_result_refund_and_their_replies() {
        let mut ledger = ledger();
        assert_eq!(
            ledger.bet(&money("b1", "a", 250)),
            r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#
        );
        assert_eq!(
            ledger.result(&money("r1", "a", 1000)),
            r#"{"error":0,"transactionId":"fm-2","currency":"EUR","cash":107.50}"#
        );
        assert_eq!(
            ledger.refund(&refund("b1", "a")),
            r#"{"error":0,"transactionId":"fm-3"}"#
        );
        assert_eq!(ledger.balance_of("a"), Some(11_000));
        assert_eq!(
            ledger.refund(&refund("b1", "a")),
            r#"{"error":0,"transactionId":"fm-3"}"#
        );
        assert_eq!(
            ledger.refund(&refund("r1", "a")),
            error_body(ErrorCode::AlreadySettled)
        );
        assert_eq!(
            ledger.refund(&refund("nope", "a")),
            error_body(ErrorCode::TransactionNotFound)
        );
        assert_eq!(ledger.balance_of("a"), Some(11_000));
        let snapshot = ledger.snapshot();
        assert_eq!(
            snapshot.transaction("b1").map(|t| t.state),
            Some(TxState::Refunded)
        );
        assert_eq!(
            snapshot
                .transaction("b1")
                .and_then(|t| t.refunded_by.clone()),
            Some("fm-3".into())
        );
        assert_eq!(snapshot.refund_of("b1").map(|t| t.amount), Some(250));
    }

    #[test]
    fn same_reference_replays_across_bet_and_result() {
        let mut ledger = ledger();
        let first = ledger.bet(&money("t", "a", 100));
        assert_eq!(ledger.result(&money("t", "a", 5000)), first);
        assert_eq!(ledger.bet(&money("t", "a", 1)), first);
        assert_eq!(ledger.balance_of("a"), Some(9_900));
        assert_eq!(ledger.snapshot().transactions.len(), 1);
    }

    #[test]
    fn declines_are_recorded_and_replayed_and_not_refundable() {
        let mut ledger = ledger();
        let declined = ledger.bet(&money("big", "a", 10_001));
        assert_eq!(declined, error_body(ErrorCode::InsufficientBalance));
        ledger.seed("a", eur(), 1_000_000, false, None);
        assert_eq!(ledger.bet(&money("big", "a", 10_001)), declined);
        assert_eq!(
            ledger.refund(&refund("big", "a")),
            error_body(ErrorCode::TransactionNotFound)
        );
        assert_eq!(ledger.balance_of("a"), Some(1_000_000));
    }

    #[test]
    fn refund_of_another_players_bet_is_bad_parameters() {
        let mut ledger = ledger();
        ledger.seed("b", eur(), 0, false, None);
        ledger.bet(&money("b1", "a", 100));
        assert_eq!(
            ledger.refund(&refund("b1", "b")),
            error_body(ErrorCode::BadParameters)
        );
        assert_eq!(ledger.balance_of("a"), Some(9_900));
        assert_eq!(ledger.balance_of("b"), Some(0));
    }

    #[test]
    fn refund_before_its_bet_is_not_found_and_can_be_repeated() {
        let mut ledger = ledger();
        let not_found = error_body(ErrorCode::TransactionNotFound);
        assert_eq!(ledger.refund(&refund("late", "a")), not_found);
        ledger.bet(&money("late", "a", 100));
        assert_eq!(
            ledger.refund(&refund("late", "a")),
            r#"{"error":0,"transactionId":"fm-2"}"#
        );
        assert_eq!(ledger.balance_of("a"), Some(10_000));
    }

    #[test]
    fn account_checks_in_order() {
        let mut ledger = ledger();
        let usd = Currency::from_code("USD").expect("USD");
        assert_eq!(
            ledger.bet(&money("x1", "ghost", 1)),
            error_body(ErrorCode::PlayerNotFound)
        );
        let mut in_usd = money("x2", "a", 1);
        in_usd.currency = usd;
        assert_eq!(ledger.bet(&in_usd), error_body(ErrorCode::WrongCurrency));
        assert!(ledger.set_limit("a", Some(500)));
        assert_eq!(
            ledger.result(&money("x3", "a", 501)),
            error_body(ErrorCode::LimitReached)
        );
        assert!(ledger.bet(&money("x4", "a", 500)).contains("\"error\":0"));
        ledger.bet(&money("x5", "a", 100));
        assert!(ledger.set_blocked("a", true));
        assert_eq!(
            ledger.bet(&money("x6", "a", 1)),
            error_body(ErrorCode::Blocked)
        );
        assert_eq!(
            ledger.result(&money("x7", "a", 1)),
            error_body(ErrorCode::Blocked)
        );
        assert!(
            ledger.refund(&refund("x5", "a")).contains("\"error\":0"),
            "refunds pass a block"
        );
        assert_eq!(ledger.balance_of("a"), Some(9_500));
        assert!(!ledger.set_blocked("ghost", true));
        assert!(!ledger.set_limit("ghost", None));
    }

    #[test]
    fn balance_query() {
        let ledger = ledger();
        let usd = Currency::from_code("USD").expect("USD");
        let ask = |user_id: &str, currency| BalanceRequest {
            user_id: user_id.into(),
            currency,
        };
        assert_eq!(
            ledger.balance(&ask("a", eur())),
            r#"{"error":0,"currency":"EUR","cash":100.00}"#
        );
        assert_eq!(
            ledger.balance(&ask("a", usd)),
            error_body(ErrorCode::WrongCurrency)
        );
        assert_eq!(
            ledger.balance(&ask("z", eur())),
            error_body(ErrorCode::PlayerNotFound)
        );
    }

    #[test]
    fn overflow_is_limit_reached_and_moves_nothing() {
        let mut ledger = Ledger::default();
        ledger.seed("a", eur(), i64::MAX - 5, false, None);
        assert_eq!(
            ledger.result(&money("c1", "a", 6)),
            error_body(ErrorCode::LimitReached)
        );
        assert_eq!(ledger.balance_of("a"), Some(i64::MAX - 5));
        assert!(
            ledger
                .result(&money("c2", "a", 5))
                .contains("\"cash\":92233720368547758.07")
        );

        // A refund that would overflow is refused but not recorded.
        ledger.seed("a", eur(), 10, false, None);
        ledger.bet(&money("b", "a", 10));
        ledger.seed("a", eur(), i64::MAX, false, None);
        assert_eq!(
            ledger.refund(&refund("b", "a")),
            error_body(ErrorCode::LimitReached)
        );
        ledger.seed("a", eur(), 0, false, None);
        assert!(ledger.refund(&refund("b", "a")).contains("\"error\":0"));
        assert_eq!(ledger.balance_of("a"), Some(10));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Bet(u8, u8, i64),
        Result(u8, u8, i64),
        Refund(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Bet(t, a, n)),
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Result(t, a, n)),
            (0u8..10, 0u8..2).prop_map(|(t, a)| Op::Refund(t, a)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No amount is created or lost, a repeated reference gets the first
        /// reply, a bet is refunded at most once, nothing overdraws.
        #[test]
        fn money_is_conserved_and_replays_are_identical(ops in proptest::collection::vec(op(), 1..60)) {
            let mut ledger = Ledger::default();
            ledger.seed("acc-0", eur(), 500, false, None);
            ledger.seed("acc-1", eur(), 0, false, Some(250));
            let mut first: HashMap<String, String> = HashMap::new();
            let mut first_refund: HashMap<String, String> = HashMap::new();
            for op in ops {
                match op {
                    Op::Bet(t, a, n) | Op::Result(t, a, n) => {
                        let req = money(&format!("t{t}"), &format!("acc-{a}"), n);
                        let reply = if matches!(op, Op::Bet(..)) { ledger.bet(&req) } else { ledger.result(&req) };
                        let earlier = first.entry(req.reference).or_insert_with(|| reply.clone());
                        prop_assert_eq!(&*earlier, &reply);
                    }
                    Op::Refund(t, a) => {
                        let reference = format!("t{t}");
                        let reply = ledger.refund(&refund(&reference, &format!("acc-{a}")));
                        if reply.starts_with("{\"error\":0") {
                            let earlier = first_refund.entry(reference).or_insert_with(|| reply.clone());
                            prop_assert_eq!(&*earlier, &reply);
                        }
                    }
                }
            }
            let snapshot = ledger.snapshot();
            for account in &snapshot.accounts {
                let mut expected = account.opening_balance;
                for t in snapshot.transactions.iter().filter(|t| t.user_id == account.user_id) {
                    match (t.kind, t.state) {
                        (TxKind::Result | TxKind::Refund, TxState::Applied) => expected += t.amount,
                        (TxKind::Bet, TxState::Applied | TxState::Refunded) => expected -= t.amount,
                        _ => {}
                    }
                }
                prop_assert_eq!(account.balance, expected);
                prop_assert!(account.balance >= 0);
            }
            for bet in snapshot.transactions.iter().filter(|t| t.kind == TxKind::Bet) {
                let refunds = snapshot.transactions.iter()
                    .filter(|t| t.kind == TxKind::Refund && t.reference == bet.reference)
                    .count();
                prop_assert!(refunds <= 1);
                prop_assert_eq!(refunds == 1, bet.state == TxState::Refunded);
            }
        }
    }
}
