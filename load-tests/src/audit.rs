//! The money audit that ends every scenario: three accounts of the same
//! money must agree.
//!
//! 1. What the generator was told: every accepted money call and its final
//!    state (after [`reconcile`](crate::generator::reconcile)); a debit
//!    whose rollback was accepted is expected ROLLED_BACK.
//! 2. The hub's journal: exactly one transaction per accepted money call,
//!    of the same partner, key, kind, provider and amount, in the state the
//!    generator was told; none it was not told about (a refused call may
//!    leave a FAILED or DECLINED one, never one that moved money); none
//!    still open.
//! 3. Each sandbox provider's ledger against the journal, by the hub's own
//!    audit ([`hub::audit`]).
//!
//! Any difference is a discrepancy; a scenario fails on the first one.

use std::collections::{BTreeMap, HashMap};

use hub::audit::AuditReport;
use hub::domain::{TxKind, TxRecord, TxState};
use hub_proto::settlement::v1 as pb;
use serde::Serialize;

use crate::generator::{Book, Target};
use crate::mix::Op;

/// The result of the money audit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MoneyAudit {
    /// Accepted money calls.
    pub accepted: usize,
    /// Transactions in the journal.
    pub journal_transactions: usize,
    /// Journal transactions of refused calls (FAILED or DECLINED).
    pub refused_in_journal: usize,
    /// Transactions the ledger audit compared (0 without sandboxes).
    pub ledger_checked: usize,
    /// Final states of the accepted calls, by name.
    pub states: BTreeMap<String, usize>,
    /// Every discrepancy, one line each.
    pub discrepancies: Vec<String>,
}

impl MoneyAudit {
    /// No discrepancy.
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl std::fmt::Display for MoneyAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.discrepancies {
            writeln!(f, "{d}")?;
        }
        write!(
            f,
            "money audit {}: {} accepted money calls, {} journal transactions ({} of refused calls), {} ledger transactions checked, {} discrepancies; states {:?}",
            if self.is_clean() { "clean" } else { "FAILED" },
            self.accepted,
            self.journal_transactions,
            self.refused_in_journal,
            self.ledger_checked,
            self.discrepancies.len(),
            self.states
        )
    }
}

fn state_name(state: i32) -> String {
    pb::TransactionState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TRANSACTION_STATE_")
                .to_owned()
        })
        .unwrap_or_else(|_| format!("STATE_{state}"))
}

fn journal_state(s: TxState) -> i32 {
    use pb::TransactionState as P;
    (match s {
        TxState::Sent | TxState::Pending => P::Pending,
        TxState::Settled => P::Settled,
        TxState::Declined => P::Declined,
        TxState::RolledBack => P::RolledBack,
        TxState::Failed => P::Failed,
    }) as i32
}

fn journal_op(k: TxKind) -> Op {
    match k {
        TxKind::Debit => Op::Debit,
        TxKind::Credit => Op::Credit,
        TxKind::Rollback => Op::Rollback,
    }
}

/// What the journal should hold for one accepted call.
struct Expected {
    op: Op,
    provider: String,
    amount: i64,
    state: i32,
    seen: usize,
}

/// Audits `book` (after reconcile) against `journal` (every transaction)
/// and, when sandboxes were involved, the hub's ledger audit `ledgers`.
pub fn check(
    target: &Target,
    book: &Book,
    journal: &[TxRecord],
    ledgers: Option<&AuditReport>,
) -> MoneyAudit {
    let mut audit = MoneyAudit {
        accepted: book.told.len(),
        journal_transactions: journal.len(),
        ..MoneyAudit::default()
    };
    let bad = &mut audit.discrepancies;
    for call in &book.unanswered {
        bad.push(format!(
            "UNANSWERED          {} {}: no answer even when made again",
            target.partners[call.partner].name, call.key
        ));
    }
    let pending = pb::TransactionState::Pending as i32;
    let mut expected: HashMap<(&str, &str), Expected> = HashMap::with_capacity(book.told.len());
    for t in &book.told {
        let partner = target.partners[t.call.partner].name.as_str();
        if t.state == pending {
            bad.push(format!(
                "STILL_PENDING       {partner} {}: still PENDING after the run",
                t.call.key
            ));
        }
        expected.insert(
            (partner, t.call.key.as_str()),
            Expected {
                op: t.call.op,
                provider: target.providers[t.call.provider].name.clone(),
                amount: t.call.amount,
                state: t.state,
                seen: 0,
            },
        );
    }
    // A debit whose rollback was accepted and done ends ROLLED_BACK.
    let rolled_back = pb::TransactionState::RolledBack as i32;
    for t in &book.told {
        if let (Op::Rollback, Some(target_key), true) =
            (t.call.op, &t.call.target_key, t.state == rolled_back)
        {
            let partner = target.partners[t.call.partner].name.as_str();
            if let Some(debit) = expected.get_mut(&(partner, target_key.as_str())) {
                debit.state = rolled_back;
            }
        }
    }
    let refused: HashMap<(&str, &str), tonic::Code> = book
        .refused
        .iter()
        .map(|(c, code)| {
            (
                (target.partners[c.partner].name.as_str(), c.key.as_str()),
                *code,
            )
        })
        .collect();
    for r in journal {
        let id = (r.partner.as_str(), r.key.as_str());
        let Some(e) = expected.get_mut(&id) else {
            if refused.contains_key(&id) && matches!(r.state, TxState::Failed | TxState::Declined) {
                audit.refused_in_journal += 1;
            } else {
                bad.push(format!(
                    "UNTOLD              {} {}: journal holds {:?} {:?} that no accepted call was told",
                    r.partner, r.key, r.kind, r.state
                ));
            }
            continue;
        };
        e.seen += 1;
        if e.seen > 1 {
            bad.push(format!(
                "TWICE_IN_JOURNAL    {} {}: more than one transaction",
                r.partner, r.key
            ));
        }
        if journal_op(r.kind) != e.op || r.provider.as_str() != e.provider {
            bad.push(format!(
                "OTHER_CALL          {} {}: journal {:?} at {}, told {} at {}",
                r.partner, r.key, r.kind, r.provider, e.op, e.provider
            ));
        }
        if matches!(e.op, Op::Debit | Op::Credit)
            && r.amount.map(|m| m.minor_units) != Some(e.amount)
        {
            bad.push(format!(
                "AMOUNT              {} {}: journal {:?}, told {}",
                r.partner, r.key, r.amount, e.amount
            ));
        }
        if journal_state(r.state) != e.state {
            bad.push(format!(
                "STATE               {} {}: journal {:?}, told {}",
                r.partner,
                r.key,
                r.state,
                state_name(e.state)
            ));
        }
    }
    for ((partner, key), e) in &expected {
        if e.seen == 0 {
            bad.push(format!(
                "MISSING_IN_JOURNAL  {partner} {key}: told {} {}, journal holds nothing",
                e.op,
                state_name(e.state)
            ));
        }
        *audit.states.entry(state_name(e.state)).or_default() += 1;
    }
    if let Some(report) = ledgers {
        audit.ledger_checked = report.checked;
        for d in &report.discrepancies {
            bad.push(format!("LEDGER {d}"));
        }
    }
    audit
}
