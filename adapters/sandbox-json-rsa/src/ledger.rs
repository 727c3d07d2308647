//! The provider's books: users (accounts) with a balance in one currency,
//! and every `transaction_uuid` it has answered together with the answer it
//! gave, so that a retry gets the same answer.
//!
//! All business rules of the json-rsa dialect live here, as plain
//! synchronous methods from a parsed request to the reply body (every
//! business answer is HTTP 200). The dialect holds the [`Ledger`] behind one
//! mutex and calls one method per request, so checking a transaction id,
//! moving money and recording the answer happen atomically: two requests
//! with the same `transaction_uuid` can never both apply.
//!
//! Rules, beyond the spec's wording:
//! - a bet or win is "the same" when kind, user, currency, amount and round
//!   all match; a win reusing a bet's id (or a rollback's) is a duplicate;
//! - declines are recorded too: the same request again gets the same
//!   decline, and another request with that id is a duplicate;
//! - a bet or win whose id has been rolled back (a tombstone, a reversed
//!   bet, or a declined bet a rollback named) is refused with
//!   `RS_ERROR_TRANSACTION_ROLLED_BACK`, even when it repeats the original
//!   request: the original `RS_OK` would claim money that has since gone
//!   back;
//! - rollback of an unknown id answers `RS_OK` without `balance` (the
//!   request names no user, so there is no balance to tell), and of a
//!   declined bet `RS_OK` with that user's balance; neither moves money;
//! - a rollback naming a win, a rollback, or itself is
//!   `RS_ERROR_NOT_REVERSIBLE`;
//! - a second rollback of the same bet (another rollback id) gets the first
//!   rollback's answer, its `transaction_uuid` included;
//! - lookup knows bets and wins (`TS_SUCCESS`, `TS_ROLLED_BACK`,
//!   `TS_DECLINED`); a tombstone, a rollback id or an unknown id does not
//!   exist as a transaction.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use sandbox_kit::AccountSeed;
use serde::{Deserialize, Serialize};

use crate::wire::{
    self, BalanceReply, BalanceRequest, ErrorReply, LookupReply, LookupRequest, RollbackReply,
    RollbackRequest, Status, TransferReply, TransferRequest, TxStateName,
};

/// What a transaction id was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Money taken from the user.
    Bet,
    /// Money given to the user.
    Win,
    /// Reversal of a bet.
    Rollback,
}

/// Where a recorded transaction id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Money moved: a bet taken, a win paid, a bet given back by a rollback.
    Applied,
    /// A bet that moved money and that a rollback then gave back.
    RolledBack,
    /// Refused with an error status; nothing moved.
    Declined,
    /// A rollback answered `RS_OK` with nothing to give back: its reference
    /// was unknown (now a tombstone) or a declined bet.
    Acknowledged,
    /// A rollback of an already rolled-back id, answered with the first
    /// rollback's answer; nothing moved.
    Duplicate,
}

/// The answer recorded for a transaction id, without the `request_uuid`
/// (each reply echoes its own request's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Answer {
    /// `RS_OK` to a bet or win.
    Transfer {
        /// The bet's or win's id.
        transaction_uuid: String,
        /// Balance after the movement, 1e-5 units.
        balance: i64,
        /// The user's currency.
        currency: String,
    },
    /// `RS_OK` to a rollback.
    Rollback {
        /// The (first) rollback's id.
        transaction_uuid: String,
        /// Balance after the rollback, when the user is known.
        balance: Option<i64>,
    },
    /// An error status.
    Refused {
        /// The request's id.
        transaction_uuid: String,
        /// Why.
        status: Status,
    },
}

impl Answer {
    /// The `status` this answer carries.
    pub fn status(&self) -> Status {
        match self {
            Answer::Transfer { .. } | Answer::Rollback { .. } => Status::Ok,
            Answer::Refused { status, .. } => *status,
        }
    }

    /// The reply body, echoing `request_uuid`.
    pub(crate) fn render(&self, request_uuid: &str) -> Bytes {
        match self {
            Answer::Transfer {
                transaction_uuid,
                balance,
                currency,
            } => wire::encode(&TransferReply {
                request_uuid,
                transaction_uuid,
                balance: *balance,
                currency,
                status: Status::Ok,
            }),
            Answer::Rollback {
                transaction_uuid,
                balance,
            } => wire::encode(&RollbackReply {
                request_uuid,
                transaction_uuid,
                balance: *balance,
                status: Status::Ok,
            }),
            Answer::Refused {
                transaction_uuid,
                status,
            } => refusal(request_uuid, transaction_uuid, *status),
        }
    }
}

/// One transaction id as the provider recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// The caller's `transaction_uuid`.
    pub transaction_uuid: String,
    /// Bet, win or rollback.
    pub kind: TxKind,
    /// Current state.
    pub state: TxState,
    /// The user (for a rollback: the named bet's, when known).
    pub user: Option<String>,
    /// The currency (for a rollback: the named bet's, when known).
    pub currency: Option<String>,
    /// Amount in 1e-5 units (for a rollback: the named bet's, when known).
    pub amount: Option<i64>,
    /// For a bet or win: its `round`, if it had one.
    pub round: Option<String>,
    /// For a rollback: the `reference_transaction_uuid` it named.
    pub reference_transaction_uuid: Option<String>,
    /// For a bet: the rollback that first named it.
    pub rolled_back_by: Option<String>,
    /// What a retry of the same request is answered.
    pub answer: Answer,
}

impl TransactionRecord {
    fn new(transaction_uuid: &str, kind: TxKind) -> Self {
        TransactionRecord {
            transaction_uuid: transaction_uuid.to_owned(),
            kind,
            state: TxState::Declined,
            user: None,
            currency: None,
            amount: None,
            round: None,
            reference_transaction_uuid: None,
            rolled_back_by: None,
            answer: Answer::Refused {
                transaction_uuid: transaction_uuid.to_owned(),
                status: Status::Unknown,
            },
        }
    }

    fn repeats(&self, kind: TxKind, req: &TransferRequest) -> bool {
        self.kind == kind
            && self.user.as_deref() == Some(req.user.as_str())
            && self.currency.as_deref() == Some(req.currency.as_str())
            && self.amount == Some(req.amount.get())
            && self.round == req.round
    }
}

/// A transaction id this provider never saw, named by a rollback: a bet or
/// win with it is refused from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The id the rollback named.
    pub transaction_uuid: String,
    /// The rollback that named it first.
    pub rolled_back_by: String,
}

/// One user as seen by an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// The user id.
    pub user: String,
    /// ISO 4217 code of the only currency it holds.
    pub currency: String,
    /// Balance in 1e-5 units.
    pub balance: i64,
    /// Balance it was last seeded with; `balance` equals this plus applied
    /// wins and rollbacks minus bets (applied or rolled back) since.
    pub opening_balance: i64,
    /// Refuses every bet and win (`RS_ERROR_USER_DISABLED`).
    pub disabled: bool,
    /// Largest amount of one bet or win, if limited
    /// (`RS_ERROR_LIMIT_REACHED`).
    pub limit: Option<i64>,
}

/// The whole ledger at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// Every user, sorted by id.
    pub accounts: Vec<AccountSnapshot>,
    /// Every recorded transaction id, oldest first.
    pub transactions: Vec<TransactionRecord>,
    /// Every tombstone, oldest first.
    pub tombstones: Vec<Tombstone>,
}

impl LedgerSnapshot {
    /// The user with this id.
    pub fn account(&self, user: &str) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.user == user)
    }

    /// The record of this transaction id.
    pub fn transaction(&self, transaction_uuid: &str) -> Option<&TransactionRecord> {
        self.transactions
            .iter()
            .find(|t| t.transaction_uuid == transaction_uuid)
    }
}

#[derive(Debug, Clone)]
struct Account {
    currency: String,
    balance: i64,
    opening_balance: i64,
    disabled: bool,
    limit: Option<i64>,
}

/// Users and transactions; see the module docs for the rules and the
/// locking contract. Seeded, blocked (disabled), limited and audited
/// through [`sandbox_kit::Ledger`]; balances and limits in 1e-5 units.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<String, Account>,
    records: Vec<TransactionRecord>,
    index: HashMap<String, usize>,
    /// Rolled-back id -> index of the first rollback that named it.
    rolled_back: HashMap<String, usize>,
    /// Tombstoned ids in the order they were created.
    tombstones: Vec<String>,
}

fn refusal(request_uuid: &str, transaction_uuid: &str, status: Status) -> Bytes {
    wire::encode(&ErrorReply {
        request_uuid: Some(request_uuid),
        transaction_uuid: Some(transaction_uuid),
        status,
    })
}

impl Ledger {
    /// Creates or replaces a user: currency and balance (1e-5 units), not
    /// disabled, no limit unless given.
    pub(crate) fn open(
        &mut self,
        user: &str,
        currency: &str,
        balance: i64,
        disabled: bool,
        limit: Option<i64>,
    ) {
        self.accounts.insert(
            user.to_owned(),
            Account {
                currency: currency.to_owned(),
                balance,
                opening_balance: balance,
                disabled,
                limit,
            },
        );
    }

    /// A user's balance.
    pub(crate) fn balance_of(&self, user: &str) -> Option<i64> {
        self.accounts.get(user).map(|a| a.balance)
    }

    /// Copies out everything.
    pub(crate) fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            accounts: self
                .accounts
                .iter()
                .map(|(id, a)| AccountSnapshot {
                    user: id.clone(),
                    currency: a.currency.clone(),
                    balance: a.balance,
                    opening_balance: a.opening_balance,
                    disabled: a.disabled,
                    limit: a.limit,
                })
                .collect(),
            transactions: self.records.clone(),
            tombstones: self
                .tombstones
                .iter()
                .filter_map(|id| {
                    let first = self.rolled_back.get(id)?;
                    Some(Tombstone {
                        transaction_uuid: id.clone(),
                        rolled_back_by: self.records.get(*first)?.transaction_uuid.clone(),
                    })
                })
                .collect(),
        }
    }

    /// `POST /api/user/balance`.
    pub(crate) fn query_balance(&self, req: &BalanceRequest) -> Bytes {
        let error = |status| {
            wire::encode(&ErrorReply {
                request_uuid: Some(&req.request_uuid),
                transaction_uuid: None,
                status,
            })
        };
        let Some(account) = self.accounts.get(&req.user) else {
            return error(Status::UnknownUser);
        };
        if account.currency != req.currency {
            return error(Status::WrongCurrency);
        }
        wire::encode(&BalanceReply {
            request_uuid: &req.request_uuid,
            user: &req.user,
            currency: &account.currency,
            balance: account.balance,
            status: Status::Ok,
        })
    }

    /// `POST /api/transaction/bet`.
    pub(crate) fn bet(&mut self, req: &TransferRequest) -> Bytes {
        self.transfer(TxKind::Bet, req)
    }

    /// `POST /api/transaction/win`.
    pub(crate) fn win(&mut self, req: &TransferRequest) -> Bytes {
        self.transfer(TxKind::Win, req)
    }

    /// `POST /api/transaction/lookup`.
    pub(crate) fn lookup(&self, req: &LookupRequest) -> Bytes {
        let found = self
            .index
            .get(&req.transaction_uuid)
            .and_then(|&i| self.records.get(i))
            .filter(|r| matches!(r.kind, TxKind::Bet | TxKind::Win));
        let state = found.and_then(|r| match r.state {
            TxState::Applied => Some(TxStateName::Success),
            TxState::RolledBack => Some(TxStateName::RolledBack),
            TxState::Declined => Some(TxStateName::Declined),
            TxState::Acknowledged | TxState::Duplicate => None,
        });
        match (found, state) {
            (Some(record), Some(state)) => match (record.amount, record.currency.as_deref()) {
                (Some(amount), Some(currency)) => wire::encode(&LookupReply {
                    request_uuid: &req.request_uuid,
                    transaction_uuid: &req.transaction_uuid,
                    state,
                    amount,
                    currency,
                    status: Status::Ok,
                }),
                // Every bet and win record carries both.
                _ => refusal(&req.request_uuid, &req.transaction_uuid, Status::Unknown),
            },
            _ => refusal(
                &req.request_uuid,
                &req.transaction_uuid,
                Status::TransactionDoesNotExist,
            ),
        }
    }

    /// `POST /api/transaction/rollback`.
    pub(crate) fn rollback(&mut self, req: &RollbackRequest) -> Bytes {
        let id = req.transaction_uuid.as_str();
        let reference = req.reference_transaction_uuid.as_str();
        if let Some(record) = self.record(id) {
            return if record.kind == TxKind::Rollback
                && record.reference_transaction_uuid.as_deref() == Some(reference)
            {
                record.answer.render(&req.request_uuid)
            } else {
                refusal(&req.request_uuid, id, Status::DuplicateTransaction)
            };
        }
        let mut record = TransactionRecord::new(id, TxKind::Rollback);
        record.reference_transaction_uuid = Some(reference.to_owned());
        if id == reference {
            return self.decline(record, &req.request_uuid, Status::NotReversible);
        }

        if let Some(first) = self
            .rolled_back
            .get(reference)
            .and_then(|&i| self.records.get(i))
        {
            record.user = first.user.clone();
            record.currency = first.currency.clone();
            record.amount = first.amount;
            record.answer = first.answer.clone();
            record.state = TxState::Duplicate;
            return self.push(record, &req.request_uuid);
        }

        let Some(&target_index) = self.index.get(reference) else {
            // Unknown: acknowledge, and tombstone the id.
            record.state = TxState::Acknowledged;
            record.answer = Answer::Rollback {
                transaction_uuid: id.to_owned(),
                balance: None,
            };
            let reply = self.push(record, &req.request_uuid);
            self.mark_rolled_back(reference, None);
            self.tombstones.push(reference.to_owned());
            return reply;
        };
        let Some(target) = self.records.get(target_index) else {
            return refusal(&req.request_uuid, id, Status::Unknown);
        };
        record.user = target.user.clone();
        record.currency = target.currency.clone();
        record.amount = target.amount;
        match (target.kind, target.state) {
            (TxKind::Win | TxKind::Rollback, _) => {
                self.decline(record, &req.request_uuid, Status::NotReversible)
            }
            (TxKind::Bet, TxState::Declined) => {
                // Nothing moved: acknowledge with the user's balance.
                let balance = match (record.user.as_deref(), record.currency.as_deref()) {
                    (Some(user), Some(currency)) => self
                        .accounts
                        .get(user)
                        .filter(|a| a.currency == currency)
                        .map(|a| a.balance),
                    _ => None,
                };
                record.state = TxState::Acknowledged;
                record.answer = Answer::Rollback {
                    transaction_uuid: id.to_owned(),
                    balance,
                };
                let reply = self.push(record, &req.request_uuid);
                self.mark_rolled_back(reference, Some(target_index));
                reply
            }
            (TxKind::Bet, TxState::Applied) => {
                self.reverse(record, target_index, &req.request_uuid)
            }
            // A rolled-back bet is in `rolled_back`; other states are not
            // a bet's. Answer as a provider in trouble, record nothing.
            (TxKind::Bet, _) => refusal(&req.request_uuid, id, Status::Unknown),
        }
    }

    /// Gives an applied bet back.
    fn reverse(
        &mut self,
        mut record: TransactionRecord,
        target_index: usize,
        request_uuid: &str,
    ) -> Bytes {
        let (Some(user), Some(currency), Some(amount)) =
            (record.user.clone(), record.currency.clone(), record.amount)
        else {
            return refusal(request_uuid, &record.transaction_uuid, Status::Unknown);
        };
        let Some(account) = self.accounts.get_mut(&user) else {
            return self.decline(record, request_uuid, Status::UnknownUser);
        };
        if account.currency != currency {
            // The user was re-seeded in another currency since.
            return self.decline(record, request_uuid, Status::WrongCurrency);
        }
        let Some(balance) = account.balance.checked_add(amount) else {
            return self.decline(record, request_uuid, Status::LimitReached);
        };
        account.balance = balance;
        record.state = TxState::Applied;
        record.answer = Answer::Rollback {
            transaction_uuid: record.transaction_uuid.clone(),
            balance: Some(balance),
        };
        let reference = record
            .reference_transaction_uuid
            .clone()
            .unwrap_or_default();
        if let Some(target) = self.records.get_mut(target_index) {
            target.state = TxState::RolledBack;
        }
        let reply = self.push(record, request_uuid);
        self.mark_rolled_back(&reference, Some(target_index));
        reply
    }

    /// Records that `reference` was rolled back by the rollback just pushed.
    fn mark_rolled_back(&mut self, reference: &str, target_index: Option<usize>) {
        let Some(rollback_index) = self.records.len().checked_sub(1) else {
            return;
        };
        let rollback_id = self
            .records
            .get(rollback_index)
            .map(|r| r.transaction_uuid.clone());
        if let Some(target) = target_index.and_then(|i| self.records.get_mut(i)) {
            target.rolled_back_by = rollback_id;
        }
        self.rolled_back
            .insert(reference.to_owned(), rollback_index);
    }

    fn transfer(&mut self, kind: TxKind, req: &TransferRequest) -> Bytes {
        let id = req.transaction_uuid.as_str();
        let rolled_back = self.rolled_back.contains_key(id);
        if let Some(record) = self.record(id) {
            let status = match (record.repeats(kind, req), rolled_back) {
                (true, false) => return record.answer.render(&req.request_uuid),
                (true, true) => Status::TransactionRolledBack,
                (false, _) => Status::DuplicateTransaction,
            };
            return refusal(&req.request_uuid, id, status);
        }
        if rolled_back {
            return refusal(&req.request_uuid, id, Status::TransactionRolledBack);
        }

        let mut record = TransactionRecord::new(id, kind);
        record.user = Some(req.user.clone());
        record.currency = Some(req.currency.clone());
        record.amount = Some(req.amount.get());
        record.round = req.round.clone();
        let balance = match self.check_transfer(kind, req) {
            Ok(balance) => balance,
            Err(status) => return self.decline(record, &req.request_uuid, status),
        };
        let Some(account) = self.accounts.get_mut(&req.user) else {
            return self.decline(record, &req.request_uuid, Status::UnknownUser);
        };
        account.balance = balance;
        record.state = TxState::Applied;
        record.answer = Answer::Transfer {
            transaction_uuid: id.to_owned(),
            balance,
            currency: account.currency.clone(),
        };
        self.push(record, &req.request_uuid)
    }

    /// The balance after the movement, or why it is refused.
    fn check_transfer(&self, kind: TxKind, req: &TransferRequest) -> Result<i64, Status> {
        let account = self.accounts.get(&req.user).ok_or(Status::UnknownUser)?;
        if account.currency != req.currency {
            return Err(Status::WrongCurrency);
        }
        if account.disabled {
            return Err(Status::UserDisabled);
        }
        let amount = req.amount.get();
        if account.limit.is_some_and(|limit| amount > limit) {
            return Err(Status::LimitReached);
        }
        match kind {
            TxKind::Bet => {
                if account.balance < amount {
                    return Err(Status::NotEnoughMoney);
                }
                account
                    .balance
                    .checked_sub(amount)
                    .ok_or(Status::NotEnoughMoney)
            }
            // A balance that would not fit is over this provider's ceiling.
            TxKind::Win | TxKind::Rollback => account
                .balance
                .checked_add(amount)
                .ok_or(Status::LimitReached),
        }
    }

    fn record(&self, transaction_uuid: &str) -> Option<&TransactionRecord> {
        self.index
            .get(transaction_uuid)
            .and_then(|&i| self.records.get(i))
    }

    fn decline(
        &mut self,
        mut record: TransactionRecord,
        request_uuid: &str,
        status: Status,
    ) -> Bytes {
        record.state = TxState::Declined;
        record.answer = Answer::Refused {
            transaction_uuid: record.transaction_uuid.clone(),
            status,
        };
        self.push(record, request_uuid)
    }

    /// Records a transaction id with its answer and renders the answer.
    fn push(&mut self, record: TransactionRecord, request_uuid: &str) -> Bytes {
        let reply = record.answer.render(request_uuid);
        self.index
            .insert(record.transaction_uuid.clone(), self.records.len());
        self.records.push(record);
        reply
    }
}

impl sandbox_kit::Ledger for Ledger {
    type Snapshot = LedgerSnapshot;

    /// `blocked` is this provider's "disabled" (`RS_ERROR_USER_DISABLED`).
    fn seed(&mut self, seed: &AccountSeed) {
        self.open(
            &seed.account,
            &seed.currency,
            seed.balance,
            seed.blocked,
            seed.limit,
        );
    }

    /// Disables the user: bets and wins are refused with
    /// `RS_ERROR_USER_DISABLED`; rollbacks of its bets still work.
    fn block(&mut self, account: &str) -> bool {
        self.accounts
            .get_mut(account)
            .map(|a| a.disabled = true)
            .is_some()
    }

    fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool {
        self.accounts
            .get_mut(account)
            .map(|a| a.limit = limit)
            .is_some()
    }

    fn balance(&self, account: &str) -> Option<i64> {
        self.balance_of(account)
    }

    fn snapshot(&self) -> LedgerSnapshot {
        Ledger::snapshot(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Amount;
    use proptest::prelude::*;

    fn transfer(uuid: &str, user: &str, amount: i64) -> TransferRequest {
        TransferRequest {
            request_uuid: format!("q-{uuid}"),
            transaction_uuid: uuid.into(),
            user: user.into(),
            currency: "EUR".into(),
            amount: Amount::new(amount).expect("positive"),
            round: Some("r-1".into()),
        }
    }

    fn rollback(uuid: &str, reference: &str) -> RollbackRequest {
        RollbackRequest {
            request_uuid: format!("q-{uuid}"),
            transaction_uuid: uuid.into(),
            reference_transaction_uuid: reference.into(),
        }
    }

    fn lookup(uuid: &str) -> LookupRequest {
        LookupRequest {
            request_uuid: "q-lookup".into(),
            transaction_uuid: uuid.into(),
        }
    }

    fn text(body: Bytes) -> String {
        String::from_utf8_lossy(&body).into_owned()
    }

    fn ledger() -> Ledger {
        let mut ledger = Ledger::default();
        ledger.open("u", "EUR", 1_000_000, false, None);
        ledger
    }

    #[test]
    fn bet_replay_echoes_the_new_request_uuid_and_moves_nothing() {
        let mut ledger = ledger();
        let first = text(ledger.bet(&transfer("b", "u", 250_000)));
        assert_eq!(
            first,
            r#"{"request_uuid":"q-b","transaction_uuid":"b","balance":750000,"currency":"EUR","status":"RS_OK"}"#
        );
        let mut again = transfer("b", "u", 250_000);
        again.request_uuid = "q-retry".into();
        assert_eq!(text(ledger.bet(&again)), first.replace("q-b", "q-retry"));
        assert_eq!(ledger.balance_of("u"), Some(750_000));
    }

    #[test]
    fn same_id_with_other_parameters_or_kind_is_a_duplicate() {
        let mut ledger = ledger();
        ledger.bet(&transfer("b", "u", 100));
        ledger.open("v", "EUR", 10, false, None);
        let mut other_round = transfer("b", "u", 100);
        other_round.round = None;
        let mut other_currency = transfer("b", "u", 100);
        other_currency.currency = "USD".into();
        for (name, reply) in [
            ("amount", ledger.bet(&transfer("b", "u", 101))),
            ("user", ledger.bet(&transfer("b", "v", 100))),
            ("round", ledger.bet(&other_round)),
            ("currency", ledger.bet(&other_currency)),
            ("kind", ledger.win(&transfer("b", "u", 100))),
            ("rollback id", ledger.rollback(&rollback("b", "x"))),
        ] {
            assert!(
                text(reply).ends_with(r#""status":"RS_ERROR_DUPLICATE_TRANSACTION"}"#),
                "{name}"
            );
        }
        assert_eq!(ledger.balance_of("u"), Some(1_000_000 - 100));
        assert_eq!(ledger.balance_of("v"), Some(10));
        assert_eq!(ledger.snapshot().transactions.len(), 1);
    }

    #[test]
    fn declines_are_recorded_and_replayed() {
        let mut ledger = ledger();
        let first = text(ledger.bet(&transfer("big", "u", 2_000_000)));
        assert_eq!(
            first,
            r#"{"request_uuid":"q-big","transaction_uuid":"big","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#
        );
        // Enough money now, but the same request gets the same answer.
        ledger.open("u", "EUR", 5_000_000, false, None);
        assert_eq!(text(ledger.bet(&transfer("big", "u", 2_000_000))), first);
        assert_eq!(ledger.balance_of("u"), Some(5_000_000));
        let reply = text(ledger.lookup(&lookup("big")));
        assert!(
            reply.contains(r#""state":"TS_DECLINED","amount":2000000"#),
            "{reply}"
        );
    }

    #[test]
    fn rollback_of_unknown_tombstones_and_refuses_a_later_bet_or_win() {
        let mut ledger = ledger();
        assert_eq!(
            text(ledger.rollback(&rollback("r", "ghost"))),
            r#"{"request_uuid":"q-r","transaction_uuid":"r","status":"RS_OK"}"#
        );
        for reply in [
            ledger.bet(&transfer("ghost", "u", 5)),
            ledger.win(&transfer("ghost", "u", 5)),
        ] {
            assert_eq!(
                text(reply),
                r#"{"request_uuid":"q-ghost","transaction_uuid":"ghost","status":"RS_ERROR_TRANSACTION_ROLLED_BACK"}"#
            );
        }
        assert_eq!(ledger.balance_of("u"), Some(1_000_000));
        let snapshot = ledger.snapshot();
        assert_eq!(
            snapshot.tombstones,
            vec![Tombstone {
                transaction_uuid: "ghost".into(),
                rolled_back_by: "r".into()
            }]
        );
        // A second rollback of the ghost gets the first one's answer.
        assert_eq!(
            text(ledger.rollback(&rollback("r2", "ghost"))),
            r#"{"request_uuid":"q-r2","transaction_uuid":"r","status":"RS_OK"}"#
        );
        assert!(
            text(ledger.lookup(&lookup("ghost"))).contains("RS_ERROR_TRANSACTION_DOES_NOT_EXIST")
        );
    }

    #[test]
    fn rollback_reverses_a_bet_once() {
        let mut ledger = ledger();
        ledger.bet(&transfer("b", "u", 300));
        let first = text(ledger.rollback(&rollback("r1", "b")));
        assert_eq!(
            first,
            r#"{"request_uuid":"q-r1","transaction_uuid":"r1","balance":1000000,"status":"RS_OK"}"#
        );
        let mut again = rollback("r1", "b");
        again.request_uuid = "q-again".into();
        assert_eq!(
            text(ledger.rollback(&again)),
            first.replace("q-r1", "q-again")
        );
        assert_eq!(
            text(ledger.rollback(&rollback("r2", "b"))),
            first.replace("q-r1", "q-r2")
        );
        assert_eq!(ledger.balance_of("u"), Some(1_000_000));
        // The bet is now refused, even repeated exactly.
        assert!(
            text(ledger.bet(&transfer("b", "u", 300))).contains("RS_ERROR_TRANSACTION_ROLLED_BACK")
        );
        assert!(text(ledger.lookup(&lookup("b"))).contains(r#""state":"TS_ROLLED_BACK""#));
        let snapshot = ledger.snapshot();
        let states: Vec<_> = snapshot.transactions.iter().map(|t| t.state).collect();
        assert_eq!(
            states,
            vec![TxState::RolledBack, TxState::Applied, TxState::Duplicate]
        );
        assert_eq!(
            snapshot
                .transaction("b")
                .and_then(|t| t.rolled_back_by.as_deref()),
            Some("r1")
        );
    }

    #[test]
    fn rollback_of_a_win_a_rollback_or_itself_is_not_reversible() {
        let mut ledger = ledger();
        ledger.win(&transfer("w", "u", 300));
        ledger.bet(&transfer("b", "u", 300));
        ledger.rollback(&rollback("r1", "b"));
        for (id, reference) in [("r2", "w"), ("r3", "r1"), ("r4", "r4")] {
            let reply = text(ledger.rollback(&rollback(id, reference)));
            assert_eq!(
                reply,
                format!(
                    r#"{{"request_uuid":"q-{id}","transaction_uuid":"{id}","status":"RS_ERROR_NOT_REVERSIBLE"}}"#
                )
            );
        }
        assert_eq!(ledger.balance_of("u"), Some(1_000_300));
        assert!(text(ledger.lookup(&lookup("w"))).contains(r#""state":"TS_SUCCESS""#));
    }

    #[test]
    fn rollback_of_a_declined_bet_acknowledges_with_the_balance_and_voids_the_id() {
        let mut ledger = ledger();
        ledger.bet(&transfer("big", "u", 9_000_000));
        assert_eq!(
            text(ledger.rollback(&rollback("r", "big"))),
            r#"{"request_uuid":"q-r","transaction_uuid":"r","balance":1000000,"status":"RS_OK"}"#
        );
        assert!(
            text(ledger.bet(&transfer("big", "u", 9_000_000)))
                .contains("RS_ERROR_TRANSACTION_ROLLED_BACK")
        );
        assert_eq!(ledger.balance_of("u"), Some(1_000_000));
        assert!(ledger.snapshot().tombstones.is_empty());
    }

    #[test]
    fn declines_in_order_and_checked_arithmetic() {
        let mut ledger = ledger();
        ledger.open("off", "EUR", 100, true, None);
        ledger.open("lim", "EUR", 100, false, Some(10));
        ledger.open("rich", "EUR", i64::MAX - 5, false, None);
        let status = |body: Bytes| {
            serde_json::from_slice::<serde_json::Value>(&body).expect("json")["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let mut usd = transfer("c", "u", 1);
        usd.currency = "USD".into();
        assert_eq!(
            status(ledger.bet(&transfer("a", "nobody", 1))),
            "RS_ERROR_UNKNOWN_USER"
        );
        assert_eq!(
            status(ledger.bet(&transfer("b", "off", 1))),
            "RS_ERROR_USER_DISABLED"
        );
        assert_eq!(
            status(ledger.win(&transfer("b2", "off", 1))),
            "RS_ERROR_USER_DISABLED"
        );
        assert_eq!(status(ledger.bet(&usd)), "RS_ERROR_WRONG_CURRENCY");
        assert_eq!(
            status(ledger.bet(&transfer("d", "lim", 11))),
            "RS_ERROR_LIMIT_REACHED"
        );
        assert_eq!(status(ledger.bet(&transfer("e", "lim", 10))), "RS_OK");
        assert_eq!(
            status(ledger.win(&transfer("f", "rich", 6))),
            "RS_ERROR_LIMIT_REACHED"
        );
        assert_eq!(status(ledger.win(&transfer("g", "rich", 5))), "RS_OK");
        assert_eq!(ledger.balance_of("rich"), Some(i64::MAX));
        // A rollback that would overflow is refused, not wrapped.
        ledger.open("x", "EUR", 10, false, None);
        ledger.bet(&transfer("h", "x", 10));
        ledger.open("x", "EUR", i64::MAX, false, None);
        assert_eq!(
            status(ledger.rollback(&rollback("r", "h"))),
            "RS_ERROR_LIMIT_REACHED"
        );
        assert_eq!(ledger.balance_of("x"), Some(i64::MAX));
    }

    #[test]
    fn balance_answers_and_refusals() {
        let ledger = ledger();
        let req = |user: &str, currency: &str| BalanceRequest {
            request_uuid: "q".into(),
            user: user.into(),
            currency: currency.into(),
        };
        assert_eq!(
            text(ledger.query_balance(&req("u", "EUR"))),
            r#"{"request_uuid":"q","user":"u","currency":"EUR","balance":1000000,"status":"RS_OK"}"#
        );
        assert_eq!(
            text(ledger.query_balance(&req("u", "USD"))),
            r#"{"request_uuid":"q","status":"RS_ERROR_WRONG_CURRENCY"}"#
        );
        assert_eq!(
            text(ledger.query_balance(&req("who", "EUR"))),
            r#"{"request_uuid":"q","status":"RS_ERROR_UNKNOWN_USER"}"#
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Bet(u8, u8, i64),
        Win(u8, u8, i64),
        Rollback(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Bet(t, a, n)),
            (0u8..10, 0u8..2, 1i64..300).prop_map(|(t, a, n)| Op::Win(t, a, n)),
            (0u8..10, 0u8..12).prop_map(|(t, r)| Op::Rollback(t, r)),
        ]
    }

    proptest! {
        /// No amount is created or lost, a replay is identical to the first
        /// answer (request_uuid aside) unless the id was rolled back since,
        /// a bet is reversed at most once, nothing overdraws.
        #[test]
        fn money_is_conserved_and_replays_are_identical(ops in proptest::collection::vec(op(), 1..60)) {
            let mut ledger = Ledger::default();
            ledger.open("u-0", "EUR", 500, false, None);
            ledger.open("u-1", "EUR", 0, false, Some(250));
            let mut first: HashMap<String, (String, Bytes)> = HashMap::new();
            for op in ops {
                let (key, uuid, reply) = match op {
                    Op::Bet(t, a, n) => {
                        let id = format!("t{t}");
                        (format!("bet {id} {a} {n}"), id.clone(), ledger.bet(&transfer(&id, &format!("u-{a}"), n)))
                    }
                    Op::Win(t, a, n) => {
                        let id = format!("t{t}");
                        (format!("win {id} {a} {n}"), id.clone(), ledger.win(&transfer(&id, &format!("u-{a}"), n)))
                    }
                    Op::Rollback(t, r) => {
                        let id = format!("t{t}");
                        (format!("rollback {id} t{r}"), id.clone(), ledger.rollback(&rollback(&id, &format!("t{r}"))))
                    }
                };
                let voided = ledger.rolled_back.contains_key(&uuid);
                match first.get(&uuid) {
                    Some((earlier_key, earlier)) if *earlier_key == key && (!voided || key.starts_with("rollback")) => {
                        prop_assert_eq!(earlier, &reply);
                    }
                    Some(_) => {}
                    None => {
                        first.insert(uuid, (key, reply));
                    }
                }
            }
            let snapshot = ledger.snapshot();
            for account in &snapshot.accounts {
                let mut expected = account.opening_balance;
                for t in &snapshot.transactions {
                    if t.user.as_deref() != Some(account.user.as_str()) {
                        continue;
                    }
                    let amount = t.amount.unwrap_or(0);
                    match (t.kind, t.state) {
                        (TxKind::Win, TxState::Applied) | (TxKind::Rollback, TxState::Applied) => expected += amount,
                        (TxKind::Bet, TxState::Applied | TxState::RolledBack) => expected -= amount,
                        _ => {}
                    }
                }
                prop_assert_eq!(account.balance, expected);
                prop_assert!(account.balance >= 0);
            }
            for bet in snapshot.transactions.iter().filter(|t| t.kind == TxKind::Bet) {
                let reversals = snapshot.transactions.iter().filter(|t| {
                    t.kind == TxKind::Rollback
                        && t.state == TxState::Applied
                        && t.reference_transaction_uuid.as_deref() == Some(bet.transaction_uuid.as_str())
                }).count();
                prop_assert!(reversals <= 1);
                prop_assert_eq!(reversals == 1, bet.state == TxState::RolledBack);
            }
        }
    }
}
