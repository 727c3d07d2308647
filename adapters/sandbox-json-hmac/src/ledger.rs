//! The provider's books: accounts with balances, and every transaction id it
//! has answered together with the exact reply it gave.
//!
//! All business rules of the json-hmac dialect live here, as plain
//! synchronous methods. The kit holds the [`Ledger`] behind one mutex and
//! the dialect calls one method per request with it locked, so checking a
//! transaction id, moving money and recording the reply happen atomically:
//! two requests with the same `tx_id` can never both apply.

use std::collections::{BTreeMap, HashMap};

use sandbox_kit::{AccountSeed, Bytes, StatusCode};
use serde::{Deserialize, Serialize};

use crate::wire::{
    BalanceReply, BalanceRequest, ErrorCode, MoneyReply, MoneyRequest, Reply, RollbackReply,
    RollbackRequest, STATUS_OK, StatusReply, StatusRequest,
};

/// What a transaction id was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Money taken from the account.
    Debit,
    /// Money given to the account.
    Credit,
    /// Reversal of a debit.
    Rollback,
}

impl TxKind {
    fn wire_name(self) -> &'static str {
        match self {
            TxKind::Debit => "debit",
            TxKind::Credit => "credit",
            TxKind::Rollback => "rollback",
        }
    }
}

/// Where a recorded transaction id stands. Only `Applied` and `RolledBack`
/// ones ever moved money; the status query knows only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Money moved (for a rollback: the debit was reversed).
    Applied,
    /// A debit that a later rollback reversed (see `rolled_back_by`).
    RolledBack,
    /// Refused with a business error (see `decline`); nothing moved. Kept so
    /// that the same `tx_id` replays the refusal.
    Declined,
    /// A rollback of a debit that was already rolled back: answered with the
    /// first rollback's reply, nothing moved.
    Duplicate,
}

/// One transaction id as the provider recorded it, with the reply it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// The caller's transaction id.
    pub tx_id: String,
    /// Debit, credit or rollback.
    pub kind: TxKind,
    /// Current state.
    pub state: TxState,
    /// Account (for a rollback: the reversed debit's), when known.
    pub account: Option<String>,
    /// Currency (for a rollback: the reversed debit's), when known.
    pub currency: Option<String>,
    /// Amount in minor units (for a rollback: the reversed debit's), when known.
    pub amount: Option<i64>,
    /// This provider's reference (`hm-000123`) of an applied debit or credit.
    pub provider_ref: Option<String>,
    /// For a debit or credit: the `round` it carried, if any.
    pub round: Option<String>,
    /// For a rollback: the `ref_tx_id` it named.
    pub ref_tx_id: Option<String>,
    /// For a rolled-back debit: the rollback that reversed it.
    pub rolled_back_by: Option<String>,
    /// For a declined one: the error code it was refused with.
    pub decline: Option<ErrorCode>,
    /// HTTP status of the recorded reply.
    pub http_status: u16,
    /// Exact body of the recorded reply (always JSON text); a replay sends
    /// these bytes again.
    pub reply: String,
}

impl TransactionRecord {
    fn new(tx_id: &str, kind: TxKind) -> Self {
        TransactionRecord {
            tx_id: tx_id.to_owned(),
            kind,
            state: TxState::Declined,
            account: None,
            currency: None,
            amount: None,
            provider_ref: None,
            round: None,
            ref_tx_id: None,
            rolled_back_by: None,
            decline: None,
            http_status: 0,
            reply: String::new(),
        }
    }

    fn recorded_reply(&self) -> Reply {
        Reply {
            status: StatusCode::from_u16(self.http_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Bytes::from(self.reply.clone()),
        }
    }
}

/// One account as seen by an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// Account id.
    pub account: String,
    /// ISO 4217 code of the only currency it holds.
    pub currency: String,
    /// Balance in minor units.
    pub balance: i64,
    /// Balance it was last seeded with; `balance` equals this plus applied
    /// credits and rollbacks minus debits (applied or rolled back) since.
    pub opening_balance: i64,
    /// Refuses every debit and credit (`ACCOUNT_BLOCKED`).
    pub blocked: bool,
    /// Largest amount of one debit or credit, if limited (`LIMIT_EXCEEDED`).
    pub limit: Option<i64>,
}

/// The whole ledger at one instant: accounts by id, transactions in the
/// order they were first received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// Every account, sorted by id.
    pub accounts: Vec<AccountSnapshot>,
    /// Every recorded transaction id, oldest first.
    pub transactions: Vec<TransactionRecord>,
}

impl LedgerSnapshot {
    /// The account with this id.
    pub fn account(&self, account: &str) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.account == account)
    }

    /// The record of this transaction id.
    pub fn transaction(&self, tx_id: &str) -> Option<&TransactionRecord> {
        self.transactions.iter().find(|t| t.tx_id == tx_id)
    }
}

#[derive(Debug, Clone)]
struct Account {
    currency: String,
    balance: i64,
    opening_balance: i64,
    blocked: bool,
    limit: Option<i64>,
}

/// Accounts and transactions; see the module docs for the locking contract.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<String, Account>,
    records: Vec<TransactionRecord>,
    index: HashMap<String, usize>,
    last_ref: u64,
}

impl Ledger {
    /// Creates or replaces an account: given currency and balance, not
    /// blocked, no limit unless given.
    pub fn seed(
        &mut self,
        account: &str,
        currency: &str,
        balance: i64,
        blocked: bool,
        limit: Option<i64>,
    ) {
        self.accounts.insert(
            account.to_owned(),
            Account {
                currency: currency.to_owned(),
                balance,
                opening_balance: balance,
                blocked,
                limit,
            },
        );
    }

    /// Blocks an account; false if there is no such account.
    pub fn block(&mut self, account: &str) -> bool {
        self.accounts
            .get_mut(account)
            .map(|a| a.blocked = true)
            .is_some()
    }

    /// Sets or removes an account's per-transaction limit; false if there is
    /// no such account.
    pub fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool {
        self.accounts
            .get_mut(account)
            .map(|a| a.limit = limit)
            .is_some()
    }

    /// An account's balance.
    pub fn balance_of(&self, account: &str) -> Option<i64> {
        self.accounts.get(account).map(|a| a.balance)
    }

    /// Copies out everything.
    pub fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            accounts: self
                .accounts
                .iter()
                .map(|(id, a)| AccountSnapshot {
                    account: id.clone(),
                    currency: a.currency.clone(),
                    balance: a.balance,
                    opening_balance: a.opening_balance,
                    blocked: a.blocked,
                    limit: a.limit,
                })
                .collect(),
            transactions: self.records.clone(),
        }
    }

    /// `POST /v1/balance`.
    pub fn balance(&self, req: &BalanceRequest) -> Reply {
        let Some(account) = self.accounts.get(&req.account) else {
            return Reply::error(ErrorCode::UnknownAccount);
        };
        if account.currency != req.currency {
            return Reply::error(ErrorCode::WrongCurrency);
        }
        Reply::ok(&BalanceReply {
            account: req.account.clone(),
            currency: account.currency.clone(),
            balance: account.balance,
        })
    }

    /// `POST /v1/debit`.
    pub fn debit(&mut self, req: &MoneyRequest) -> Reply {
        self.transfer(TxKind::Debit, req)
    }

    /// `POST /v1/credit`.
    pub fn credit(&mut self, req: &MoneyRequest) -> Reply {
        self.transfer(TxKind::Credit, req)
    }

    /// `POST /v1/status`: only transactions that moved money are known.
    pub fn status(&self, req: &StatusRequest) -> Reply {
        let Some(record) = self.index.get(&req.tx_id).map(|&i| &self.records[i]) else {
            return Reply::error(ErrorCode::TransactionNotFound);
        };
        let status = match record.state {
            TxState::Applied => STATUS_OK,
            TxState::RolledBack => "ROLLED_BACK",
            TxState::Declined | TxState::Duplicate => {
                return Reply::error(ErrorCode::TransactionNotFound);
            }
        };
        match (record.amount, record.currency.as_deref()) {
            (Some(amount), Some(currency)) => Reply::ok(&StatusReply {
                tx_id: record.tx_id.clone(),
                status: status.to_owned(),
                kind: record.kind.wire_name().to_owned(),
                amount,
                currency: currency.to_owned(),
            }),
            // Every applied record carries both; answer as a provider bug.
            _ => Reply::error(ErrorCode::InternalError),
        }
    }

    /// `POST /v1/rollback`.
    pub fn rollback(&mut self, req: &RollbackRequest) -> Reply {
        if let Some(reply) = self.replay(&req.tx_id) {
            return reply;
        }
        let mut record = TransactionRecord::new(&req.tx_id, TxKind::Rollback);
        record.ref_tx_id = Some(req.ref_tx_id.clone());

        let Some(&target_index) = self.index.get(&req.ref_tx_id) else {
            return self.decline(record, ErrorCode::TransactionNotFound);
        };
        let target = &self.records[target_index];
        record.account = target.account.clone();
        record.currency = target.currency.clone();
        record.amount = target.amount;
        if target.state == TxState::Declined {
            return self.decline(record, ErrorCode::TransactionNotFound);
        }
        if target.kind != TxKind::Debit {
            return self.decline(record, ErrorCode::NotReversible);
        }
        if target.state == TxState::RolledBack {
            let first = target
                .rolled_back_by
                .as_ref()
                .and_then(|id| self.index.get(id))
                .map(|&i| self.records[i].recorded_reply());
            let Some(first) = first else {
                return Reply::error(ErrorCode::InternalError);
            };
            record.state = TxState::Duplicate;
            self.push(record, &first);
            return first;
        }

        let (Some(account_id), Some(currency), Some(amount)) = (
            target.account.clone(),
            target.currency.clone(),
            target.amount,
        ) else {
            return Reply::error(ErrorCode::InternalError);
        };
        let Some(account) = self.accounts.get(&account_id) else {
            return self.decline(record, ErrorCode::UnknownAccount);
        };
        if account.currency != currency {
            // The account was re-seeded in another currency since.
            return self.decline(record, ErrorCode::WrongCurrency);
        }
        let Some(new_balance) = account.balance.checked_add(amount) else {
            return self.decline(record, ErrorCode::LimitExceeded);
        };
        let reply = Reply::ok(&RollbackReply {
            tx_id: req.tx_id.clone(),
            status: STATUS_OK.to_owned(),
            balance: new_balance,
        });
        if reply.status != StatusCode::OK {
            return reply;
        }
        if let Some(account) = self.accounts.get_mut(&account_id) {
            account.balance = new_balance;
        }
        let target = &mut self.records[target_index];
        target.state = TxState::RolledBack;
        target.rolled_back_by = Some(req.tx_id.clone());
        record.state = TxState::Applied;
        self.push(record, &reply);
        reply
    }

    fn transfer(&mut self, kind: TxKind, req: &MoneyRequest) -> Reply {
        if let Some(reply) = self.replay(&req.tx_id) {
            return reply;
        }
        let mut record = TransactionRecord::new(&req.tx_id, kind);
        record.account = Some(req.account.clone());
        record.currency = Some(req.currency.clone());
        record.amount = Some(req.amount.get());
        record.round = req.round.clone();

        let new_balance = match self.check_transfer(kind, req) {
            Ok(balance) => balance,
            Err(code) => return self.decline(record, code),
        };
        let Some(sequence) = self.last_ref.checked_add(1) else {
            return Reply::error(ErrorCode::InternalError);
        };
        let provider_ref = format!("hm-{sequence:06}");
        let reply = Reply::ok(&MoneyReply {
            tx_id: req.tx_id.clone(),
            status: STATUS_OK.to_owned(),
            balance: new_balance,
            provider_ref: provider_ref.clone(),
        });
        if reply.status != StatusCode::OK {
            return reply;
        }
        if let Some(account) = self.accounts.get_mut(&req.account) {
            account.balance = new_balance;
        }
        self.last_ref = sequence;
        record.state = TxState::Applied;
        record.provider_ref = Some(provider_ref);
        self.push(record, &reply);
        reply
    }

    /// The balance after the movement, or why it is refused.
    fn check_transfer(&self, kind: TxKind, req: &MoneyRequest) -> Result<i64, ErrorCode> {
        let account = self
            .accounts
            .get(&req.account)
            .ok_or(ErrorCode::UnknownAccount)?;
        if account.currency != req.currency {
            return Err(ErrorCode::WrongCurrency);
        }
        if account.blocked {
            return Err(ErrorCode::AccountBlocked);
        }
        let amount = req.amount.get();
        if account.limit.is_some_and(|limit| amount > limit) {
            return Err(ErrorCode::LimitExceeded);
        }
        match kind {
            TxKind::Debit => {
                if account.balance < amount {
                    return Err(ErrorCode::InsufficientFunds);
                }
                account
                    .balance
                    .checked_sub(amount)
                    .ok_or(ErrorCode::InsufficientFunds)
            }
            // A balance that would not fit is over this provider's ceiling.
            TxKind::Credit | TxKind::Rollback => account
                .balance
                .checked_add(amount)
                .ok_or(ErrorCode::LimitExceeded),
        }
    }

    fn replay(&self, tx_id: &str) -> Option<Reply> {
        self.index
            .get(tx_id)
            .map(|&i| self.records[i].recorded_reply())
    }

    fn decline(&mut self, mut record: TransactionRecord, code: ErrorCode) -> Reply {
        let reply = Reply::error(code);
        record.state = TxState::Declined;
        record.decline = Some(code);
        self.push(record, &reply);
        reply
    }

    fn push(&mut self, mut record: TransactionRecord, reply: &Reply) {
        record.http_status = reply.status.as_u16();
        record.reply = String::from_utf8_lossy(&reply.body).into_owned();
        self.index.insert(record.tx_id.clone(), self.records.len());
        self.records.push(record);
    }
}

impl sandbox_kit::Ledger for Ledger {
    type Snapshot = LedgerSnapshot;

    fn seed(&mut self, seed: &AccountSeed) {
        Self::seed(
            self,
            &seed.account,
            &seed.currency,
            seed.balance,
            seed.blocked,
            seed.limit,
        );
    }

    fn block(&mut self, account: &str) -> bool {
        Self::block(self, account)
    }

    fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool {
        Self::set_limit(self, account, limit)
    }

    fn balance(&self, account: &str) -> Option<i64> {
        self.balance_of(account)
    }

    fn snapshot(&self) -> LedgerSnapshot {
        Self::snapshot(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Amount;
    use proptest::prelude::*;

    fn money(tx_id: &str, account: &str, amount: i64) -> MoneyRequest {
        MoneyRequest {
            tx_id: tx_id.into(),
            account: account.into(),
            currency: "EUR".into(),
            amount: Amount::new(amount).expect("positive"),
            round: None,
        }
    }

    fn rollback(tx_id: &str, ref_tx_id: &str) -> RollbackRequest {
        RollbackRequest {
            tx_id: tx_id.into(),
            ref_tx_id: ref_tx_id.into(),
        }
    }

    #[test]
    fn credit_overflow_is_limit_exceeded_and_moves_nothing() {
        let mut ledger = Ledger::default();
        ledger.seed("a", "EUR", i64::MAX - 5, false, None);
        let reply = ledger.credit(&money("c1", "a", 6));
        assert_eq!(reply, Reply::error(ErrorCode::LimitExceeded));
        assert_eq!(ledger.balance_of("a"), Some(i64::MAX - 5));
        let reply = ledger.credit(&money("c2", "a", 5));
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(ledger.balance_of("a"), Some(i64::MAX));
    }

    #[test]
    fn rollback_overflow_is_limit_exceeded_and_can_be_retried() {
        let mut ledger = Ledger::default();
        ledger.seed("a", "EUR", 10, false, None);
        assert_eq!(ledger.debit(&money("d", "a", 10)).status, StatusCode::OK);
        ledger.seed("a", "EUR", i64::MAX, false, None);
        assert_eq!(
            ledger.rollback(&rollback("r1", "d")),
            Reply::error(ErrorCode::LimitExceeded)
        );
        ledger.seed("a", "EUR", 0, false, None);
        let reply = ledger.rollback(&rollback("r2", "d"));
        assert_eq!(
            &reply.body[..],
            br#"{"tx_id":"r2","status":"OK","balance":10}"#
        );
    }

    #[test]
    fn provider_refs_are_sequential_and_zero_padded() {
        let mut ledger = Ledger::default();
        ledger.seed("a", "EUR", 100, false, None);
        let first = ledger.credit(&money("c1", "a", 1));
        let second = ledger.debit(&money("d1", "a", 1));
        assert_eq!(
            &first.body[..],
            br#"{"tx_id":"c1","status":"OK","balance":101,"provider_ref":"hm-000001"}"#
        );
        assert_eq!(
            &second.body[..],
            br#"{"tx_id":"d1","status":"OK","balance":100,"provider_ref":"hm-000002"}"#
        );
    }

    #[test]
    fn status_of_declined_or_duplicate_is_not_found() {
        let mut ledger = Ledger::default();
        ledger.seed("a", "EUR", 5, false, None);
        ledger.debit(&money("big", "a", 50));
        ledger.debit(&money("d", "a", 5));
        ledger.rollback(&rollback("r1", "d"));
        ledger.rollback(&rollback("r2", "d"));
        let not_found = Reply::error(ErrorCode::TransactionNotFound);
        for tx_id in ["big", "r2", "nope"] {
            let reply = ledger.status(&StatusRequest {
                tx_id: tx_id.into(),
            });
            assert_eq!(reply, not_found, "{tx_id}");
        }
        assert_eq!(
            ledger.rollback(&rollback("r3", "big")),
            not_found,
            "a declined debit cannot be rolled back"
        );
        assert_eq!(
            ledger.rollback(&rollback("r4", "r1")),
            Reply::error(ErrorCode::NotReversible)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Debit(u8, u8, i64),
        Credit(u8, u8, i64),
        Rollback(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Debit(t, a, n)),
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Credit(t, a, n)),
            (0u8..10, 0u8..10).prop_map(|(t, r)| Op::Rollback(t, r)),
        ]
    }

    proptest! {
        /// No amount is created or lost, a replay is identical to the first
        /// answer, a debit is reversed at most once, nothing overdraws.
        #[test]
        fn money_is_conserved_and_replays_are_identical(ops in proptest::collection::vec(op(), 1..60)) {
            let mut ledger = Ledger::default();
            ledger.seed("acc-0", "EUR", 500, false, None);
            ledger.seed("acc-1", "EUR", 0, false, Some(250));
            let mut first: HashMap<String, Reply> = HashMap::new();
            for op in ops {
                let (tx_id, reply) = match op {
                    Op::Debit(t, a, n) => {
                        let id = format!("t{t}");
                        let reply = ledger.debit(&money(&id, &format!("acc-{a}"), n));
                        (id, reply)
                    }
                    Op::Credit(t, a, n) => {
                        let id = format!("t{t}");
                        let reply = ledger.credit(&money(&id, &format!("acc-{a}"), n));
                        (id, reply)
                    }
                    Op::Rollback(t, r) => {
                        let id = format!("t{t}");
                        let reply = ledger.rollback(&rollback(&id, &format!("t{r}")));
                        (id, reply)
                    }
                };
                if let Some(earlier) = first.get(&tx_id) {
                    prop_assert_eq!(earlier, &reply);
                } else {
                    first.insert(tx_id, reply);
                }
            }
            let snapshot = ledger.snapshot();
            for account in &snapshot.accounts {
                let mut expected = account.opening_balance;
                for t in &snapshot.transactions {
                    if t.account.as_deref() != Some(account.account.as_str()) {
                        continue;
                    }
                    let amount = t.amount.unwrap_or(0);
                    match (t.kind, t.state) {
                        (TxKind::Credit, TxState::Applied) => expected += amount,
                        (TxKind::Debit, TxState::Applied | TxState::RolledBack) => expected -= amount,
                        (TxKind::Rollback, TxState::Applied) => expected += amount,
                        _ => {}
                    }
                }
                prop_assert_eq!(account.balance, expected);
                prop_assert!(account.balance >= 0);
            }
            for debit in snapshot.transactions.iter().filter(|t| t.kind == TxKind::Debit) {
                let reversals = snapshot.transactions.iter().filter(|t| {
                    t.kind == TxKind::Rollback
                        && t.state == TxState::Applied
                        && t.ref_tx_id.as_deref() == Some(debit.tx_id.as_str())
                }).count();
                prop_assert!(reversals <= 1);
                prop_assert_eq!(reversals == 1, debit.state == TxState::RolledBack);
            }
        }
    }
}
