//! The money audit: does every provider's ledger agree with the journal?
//!
//! Each provider's books are first normalized into [`ProviderEntry`] rows
//! (one per debit or credit the provider recorded, in minor units, with how
//! many times it applied it and whether a rollback took it back), by a
//! converter per sandbox dialect ([`from_json_hmac`], [`from_json_rsa`],
//! [`from_form_md5`]). [`audit`] then compares them with the journal by
//! transaction id (the hub's transaction id is the provider-side id) and
//! lists every [`Discrepancy`]. [`fetch_ledger`] reads a live sandbox's
//! books from its control surface, and [`audit_config`] does the whole run
//! for `hub audit`.
//!
//! The rules, per provider and transaction id (a rollback's own id is not a
//! movement; only the debit it reverses is compared):
//!
//! | journal | consistent with the provider | otherwise |
//! |---|---|---|
//! | SETTLED debit or credit | applied, not reversed | [`MissingAtProvider`](DiscrepancyKind::MissingAtProvider) |
//! | ROLLED_BACK debit | never applied, or applied and reversed | [`NotReversed`](DiscrepancyKind::NotReversed) |
//! | DECLINED or FAILED | never applied | [`MissingInJournal`](DiscrepancyKind::MissingInJournal) |
//! | tombstone (debit key closed before any debit) | never applied | [`MissingInJournal`](DiscrepancyKind::MissingInJournal) |
//! | SENT or PENDING | nothing: an open transaction is always reported | [`StillPending`](DiscrepancyKind::StillPending) |
//! | no such id | never applied | [`MissingInJournal`](DiscrepancyKind::MissingInJournal) |
//!
//! and whatever the state: an id applied more than once is
//! [`AppliedTwice`](DiscrepancyKind::AppliedTwice); an applied movement
//! whose direction or amount differs from the journal's (or whose amount is
//! not a whole number of minor units) is
//! [`AmountMismatch`](DiscrepancyKind::AmountMismatch), and one in another
//! currency [`CurrencyMismatch`](DiscrepancyKind::CurrencyMismatch) (not
//! checked for DECLINED, FAILED and tombstones, which account for no
//! money at all).
//!
//! The journal and the ledgers are read at different instants: audit a
//! quiet hub, or expect the transactions in flight meanwhile to show up.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use adapter_api::{Currency, Money, MoneyError};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Config;
use crate::domain::{ProviderId, TxKind, TxRecord, TxState};
use crate::journal::{Journal, JournalError};

// ------------------------------------------------------------ provider view

/// Which way a provider entry moved money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Taken from the account (a debit, bet).
    Debit,
    /// Given to the account (a credit, win, result).
    Credit,
}

/// Why a provider's amount is not money the hub can count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AmountProblem {
    /// Not an ISO 4217 code with minor units.
    UnknownCurrency,
    /// Not a whole number of minor units.
    Inexact,
    /// Does not fit in 64 bits of minor units.
    Overflow,
    /// The provider recorded no amount or no currency.
    Missing,
}

impl From<MoneyError> for AmountProblem {
    fn from(e: MoneyError) -> Self {
        match e {
            MoneyError::UnknownCurrency => AmountProblem::UnknownCurrency,
            MoneyError::Overflow => AmountProblem::Overflow,
            MoneyError::Inexact => AmountProblem::Inexact,
        }
    }
}

impl fmt::Display for AmountProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountProblem::UnknownCurrency => "unknown currency",
            AmountProblem::Inexact => "not a whole number of minor units",
            AmountProblem::Overflow => "out of range",
            AmountProblem::Missing => "missing",
        })
    }
}

/// A provider's amount, in minor units when it converts exactly. It is
/// never rounded: one that does not convert is kept as the provider gave it
/// and reported as a mismatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderAmount {
    /// Exactly this.
    Exact(Money),
    /// Not representable as [`Money`].
    Unrepresentable {
        /// The currency code as the provider gave it (empty if none).
        currency: String,
        /// The value in the provider's own units, for the report.
        value: String,
        /// What is wrong with it.
        problem: AmountProblem,
    },
}

impl ProviderAmount {
    fn unrepresentable(currency: &str, value: String, problem: AmountProblem) -> Self {
        ProviderAmount::Unrepresentable {
            currency: currency.to_owned(),
            value,
            problem,
        }
    }

    /// `units` of `currency` counted in `scale`, exactly or kept as given.
    fn convert(currency: Option<&str>, units: Option<i64>, scale: Scale) -> Self {
        let (Some(code), Some(units)) = (currency, units) else {
            let value = units.map(|u| u.to_string()).unwrap_or_default();
            return Self::unrepresentable(currency.unwrap_or(""), value, AmountProblem::Missing);
        };
        let shown = || match scale {
            Scale::MinorUnits => units.to_string(),
            Scale::HundredThousandths => format!("{units} x 1e-5"),
        };
        let currency = match Currency::from_code(code) {
            Ok(c) => c,
            Err(e) => return Self::unrepresentable(code, shown(), e.into()),
        };
        match scale.to_minor(units, currency) {
            Ok(minor) => ProviderAmount::Exact(Money::new(currency, minor)),
            Err(problem) => Self::unrepresentable(code, shown(), problem),
        }
    }
}

impl fmt::Display for ProviderAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderAmount::Exact(m) => write!(f, "{m}"),
            ProviderAmount::Unrepresentable {
                currency,
                value,
                problem,
            } => write!(f, "{value} {currency} ({problem})"),
        }
    }
}

/// The units a provider counts amounts in.
#[derive(Clone, Copy, Debug)]
enum Scale {
    /// The currency's minor units (json-hmac, form-md5).
    MinorUnits,
    /// 1e-5 of the currency unit (json-rsa).
    HundredThousandths,
}

impl Scale {
    /// Minor units of `units`, exactly, or why not.
    fn to_minor(self, units: i64, currency: Currency) -> Result<i64, AmountProblem> {
        match self {
            Scale::MinorUnits => Ok(units),
            Scale::HundredThousandths => {
                let exponent = u32::from(currency.exponent());
                if exponent <= 5 {
                    let per_minor = 10i64.pow(5 - exponent);
                    if units % per_minor == 0 {
                        Ok(units / per_minor)
                    } else {
                        Err(AmountProblem::Inexact)
                    }
                } else {
                    10i64
                        .checked_pow(exponent - 5)
                        .and_then(|m| units.checked_mul(m))
                        .ok_or(AmountProblem::Overflow)
                }
            }
        }
    }
}

/// One debit or credit a provider recorded, normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEntry {
    /// The provider-side transaction id (the hub's transaction id).
    pub tx_id: String,
    /// Which way it moves money.
    pub kind: EntryKind,
    /// How much.
    pub amount: ProviderAmount,
    /// How many times the provider applied this id's movement: 0 for a
    /// refusal it recorded, normally 1 otherwise.
    pub applied: u32,
    /// A rollback took it back.
    pub reversed: bool,
}

/// Marks the debits that `reversed_ids` name as reversed.
fn mark_reversed(entries: &mut [ProviderEntry], reversed_ids: &BTreeSet<&str>) {
    for e in entries {
        if e.kind == EntryKind::Debit && e.applied > 0 && reversed_ids.contains(e.tx_id.as_str()) {
            e.reversed = true;
        }
    }
}

/// A json-hmac ledger, normalized. Debits and credits are entries (applied
/// unless declined; a rolled-back debit is applied and reversed); rollback
/// records only mark the debit they reversed. Amounts are minor units.
pub fn from_json_hmac(ledger: &sandbox_json_hmac::LedgerSnapshot) -> Vec<ProviderEntry> {
    use sandbox_json_hmac::{TxKind as K, TxState as S};
    let mut entries = Vec::new();
    let mut reversed = BTreeSet::new();
    for t in &ledger.transactions {
        let kind = match t.kind {
            K::Debit => EntryKind::Debit,
            K::Credit => EntryKind::Credit,
            K::Rollback => {
                if t.state == S::Applied {
                    reversed.extend(t.ref_tx_id.as_deref());
                }
                continue;
            }
        };
        entries.push(ProviderEntry {
            tx_id: t.tx_id.clone(),
            kind,
            amount: ProviderAmount::convert(t.currency.as_deref(), t.amount, Scale::MinorUnits),
            applied: u32::from(matches!(t.state, S::Applied | S::RolledBack)),
            reversed: t.state == S::RolledBack,
        });
    }
    mark_reversed(&mut entries, &reversed);
    entries
}

/// A json-rsa ledger, normalized. Bets are debits and wins credits
/// (applied unless declined; a rolled-back bet is applied and reversed);
/// rollback records only mark the bet they gave back; tombstones (ids a
/// rollback closed before any bet) are not entries. Amounts are converted
/// from 1e-5 units to minor units exactly; one that does not convert is
/// kept [`Unrepresentable`](ProviderAmount::Unrepresentable).
pub fn from_json_rsa(ledger: &sandbox_json_rsa::LedgerSnapshot) -> Vec<ProviderEntry> {
    use sandbox_json_rsa::{TxKind as K, TxState as S};
    let mut entries = Vec::new();
    let mut reversed = BTreeSet::new();
    for t in &ledger.transactions {
        let kind = match t.kind {
            K::Bet => EntryKind::Debit,
            K::Win => EntryKind::Credit,
            K::Rollback => {
                // Acknowledged and duplicate rollbacks moved nothing.
                if t.state == S::Applied {
                    reversed.extend(t.reference_transaction_uuid.as_deref());
                }
                continue;
            }
        };
        entries.push(ProviderEntry {
            tx_id: t.transaction_uuid.clone(),
            kind,
            amount: ProviderAmount::convert(
                t.currency.as_deref(),
                t.amount,
                Scale::HundredThousandths,
            ),
            applied: u32::from(matches!(t.state, S::Applied | S::RolledBack)),
            reversed: t.state == S::RolledBack,
        });
    }
    mark_reversed(&mut entries, &reversed);
    entries
}

/// A form-md5 ledger, normalized. Bets are debits and results credits
/// (applied unless declined; a refunded bet is applied and reversed);
/// refund records (which carry the bet's reference) only mark their bet.
/// Amounts are minor units.
pub fn from_form_md5(ledger: &sandbox_form_md5::LedgerSnapshot) -> Vec<ProviderEntry> {
    use sandbox_form_md5::{TxKind as K, TxState as S};
    let mut entries = Vec::new();
    let mut reversed = BTreeSet::new();
    for t in &ledger.transactions {
        let kind = match t.kind {
            K::Bet => EntryKind::Debit,
            K::Result => EntryKind::Credit,
            K::Refund => {
                if t.state == S::Applied {
                    reversed.insert(t.reference.as_str());
                }
                continue;
            }
        };
        entries.push(ProviderEntry {
            tx_id: t.reference.clone(),
            kind,
            amount: ProviderAmount::convert(Some(&t.currency), Some(t.amount), Scale::MinorUnits),
            applied: u32::from(matches!(t.state, S::Applied | S::Refunded)),
            reversed: t.state == S::Refunded,
        });
    }
    mark_reversed(&mut entries, &reversed);
    entries
}

// ------------------------------------------------------------------- audit

/// What is wrong with one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscrepancyKind {
    /// The journal holds a SETTLED movement the provider did not apply (or
    /// has since reversed).
    MissingAtProvider,
    /// The provider applied an id the journal does not hold, or holds as
    /// DECLINED, FAILED or a tombstone: money the journal does not account
    /// for.
    MissingInJournal,
    /// The provider applied another amount or direction, or an amount that
    /// is not a whole number of minor units.
    AmountMismatch,
    /// The provider applied it in another currency.
    CurrencyMismatch,
    /// The provider applied one id more than once.
    AppliedTwice,
    /// The journal says ROLLED_BACK; the provider applied the debit and did
    /// not reverse it.
    NotReversed,
    /// The journal still has it SENT or PENDING.
    StillPending,
}

impl DiscrepancyKind {
    /// A stable upper-case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            DiscrepancyKind::MissingAtProvider => "MISSING_AT_PROVIDER",
            DiscrepancyKind::MissingInJournal => "MISSING_IN_JOURNAL",
            DiscrepancyKind::AmountMismatch => "AMOUNT_MISMATCH",
            DiscrepancyKind::CurrencyMismatch => "CURRENCY_MISMATCH",
            DiscrepancyKind::AppliedTwice => "APPLIED_TWICE",
            DiscrepancyKind::NotReversed => "NOT_REVERSED",
            DiscrepancyKind::StillPending => "STILL_PENDING",
        }
    }
}

impl fmt::Display for DiscrepancyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One disagreement between the journal and a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    /// What kind.
    pub kind: DiscrepancyKind,
    /// At which provider.
    pub provider: ProviderId,
    /// The transaction id (hub and provider side).
    pub tx_id: String,
    /// What each side says, for a human.
    pub detail: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<19} {} {}: {}",
            self.kind.name(),
            self.provider,
            self.tx_id,
            self.detail
        )
    }
}

/// The outcome of an audit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Transaction ids compared (per provider): the journal's debits and
    /// credits (tombstones included) plus provider entries the journal does
    /// not hold.
    pub checked: usize,
    /// Every disagreement found, by provider, then transaction id.
    pub discrepancies: Vec<Discrepancy>,
}

impl AuditReport {
    /// No discrepancy at all (pending transactions count as discrepancies).
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl fmt::Display for AuditReport {
    /// One line per discrepancy, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.discrepancies {
            writeln!(f, "{d}")?;
        }
        if self.is_clean() {
            return write!(
                f,
                "audit clean: {} transactions checked, no discrepancy",
                self.checked
            );
        }
        let mut counts: BTreeMap<DiscrepancyKind, usize> = BTreeMap::new();
        for d in &self.discrepancies {
            *counts.entry(d.kind).or_default() += 1;
        }
        let by_kind = counts
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "audit FAILED: {} transactions checked, {} discrepancies ({by_kind})",
            self.checked,
            self.discrepancies.len()
        )
    }
}

/// Audits every provider in `providers`, and every provider the journal
/// names: one the map lacks is compared with an empty ledger (so its
/// SETTLED transactions are reported), never skipped. Use [`audit_only`] to
/// audit a subset.
pub fn audit(
    journal: &[TxRecord],
    providers: &BTreeMap<ProviderId, Vec<ProviderEntry>>,
) -> AuditReport {
    let scope: BTreeSet<&ProviderId> = providers
        .keys()
        .chain(journal.iter().map(|t| &t.provider))
        .collect();
    run(journal, providers, &scope)
}

/// Audits only the providers in `only`: journal transactions of others are
/// skipped. A listed provider the map lacks is compared with an empty
/// ledger.
pub fn audit_only(
    journal: &[TxRecord],
    providers: &BTreeMap<ProviderId, Vec<ProviderEntry>>,
    only: &[ProviderId],
) -> AuditReport {
    run(journal, providers, &only.iter().collect())
}

fn run(
    journal: &[TxRecord],
    providers: &BTreeMap<ProviderId, Vec<ProviderEntry>>,
    scope: &BTreeSet<&ProviderId>,
) -> AuditReport {
    // Debits and credits by provider and id; a rollback's own row is not a
    // movement. If a page boundary repeated a row, the later one wins.
    let mut movements: BTreeMap<&ProviderId, BTreeMap<&str, &TxRecord>> = BTreeMap::new();
    for tx in journal {
        if tx.kind == TxKind::Rollback || !scope.contains(&tx.provider) {
            continue;
        }
        let slot = movements
            .entry(&tx.provider)
            .or_default()
            .entry(tx.id.as_str())
            .or_insert(tx);
        if tx.seq > slot.seq {
            *slot = tx;
        }
    }

    let mut report = AuditReport::default();
    let no_movements = BTreeMap::new();
    for &provider in scope {
        let view = providers.get(provider);
        let mut entries: BTreeMap<&str, Vec<&ProviderEntry>> = BTreeMap::new();
        for e in view.into_iter().flatten() {
            entries.entry(e.tx_id.as_str()).or_default().push(e);
        }
        let txs = movements.get(provider).unwrap_or(&no_movements);
        let ids: BTreeSet<&str> = txs.keys().chain(entries.keys()).copied().collect();
        for id in ids {
            report.checked += 1;
            let check = Check {
                provider,
                tx_id: id,
                has_view: view.is_some(),
                out: &mut report.discrepancies,
            };
            check.compare(
                txs.get(id).copied(),
                entries.get(id).map(Vec::as_slice).unwrap_or(&[]),
            );
        }
    }
    report
}

/// The comparison of one transaction id at one provider.
struct Check<'a> {
    provider: &'a ProviderId,
    tx_id: &'a str,
    has_view: bool,
    out: &'a mut Vec<Discrepancy>,
}

impl Check<'_> {
    fn report(&mut self, kind: DiscrepancyKind, detail: String) {
        self.out.push(Discrepancy {
            kind,
            provider: self.provider.clone(),
            tx_id: self.tx_id.to_owned(),
            detail,
        });
    }

    fn compare(mut self, tx: Option<&TxRecord>, entries: &[&ProviderEntry]) {
        let applied = entries
            .iter()
            .fold(0u32, |n, e| n.saturating_add(e.applied));
        let reversed = entries.iter().any(|e| e.applied > 0 && e.reversed);
        let provider_says = self.provider_says(entries, applied, reversed);

        if applied > 1 {
            self.report(
                DiscrepancyKind::AppliedTwice,
                format!("the provider applied this id {applied} times"),
            );
        }
        let Some(tx) = tx else {
            if applied > 0 {
                self.report(
                    DiscrepancyKind::MissingInJournal,
                    format!("the journal holds no such transaction; provider: {provider_says}"),
                );
            }
            return;
        };
        let journal_says = journal_says(tx);
        if tx.tombstone {
            if applied > 0 {
                self.report(
                    DiscrepancyKind::MissingInJournal,
                    format!(
                        "the journal closed this debit key by a rollback (tombstone); provider: {provider_says}"
                    ),
                );
            }
            return;
        }
        let versus = format!("journal: {journal_says}; provider: {provider_says}");
        let money_counts = match tx.state {
            TxState::Sent | TxState::Pending => {
                self.report(DiscrepancyKind::StillPending, versus);
                true
            }
            TxState::Settled => {
                if applied == 0 || reversed {
                    self.report(DiscrepancyKind::MissingAtProvider, versus);
                }
                true
            }
            TxState::RolledBack => {
                if applied > 0 && !reversed {
                    self.report(DiscrepancyKind::NotReversed, versus);
                }
                true
            }
            TxState::Declined | TxState::Failed => {
                if applied > 0 {
                    self.report(DiscrepancyKind::MissingInJournal, versus);
                }
                false
            }
        };
        if money_counts {
            for e in entries.iter().filter(|e| e.applied > 0) {
                self.compare_movement(tx, e);
            }
        }
    }

    /// Direction, currency and amount of one applied entry against `tx`.
    fn compare_movement(&mut self, tx: &TxRecord, e: &ProviderEntry) {
        let journal_kind = match tx.kind {
            TxKind::Debit => EntryKind::Debit,
            TxKind::Credit => EntryKind::Credit,
            TxKind::Rollback => return,
        };
        let Some(expected) = tx.amount else {
            self.report(
                DiscrepancyKind::AmountMismatch,
                format!(
                    "the journal has no amount; provider: {} {}",
                    kind_name(e.kind),
                    e.amount
                ),
            );
            return;
        };
        let versus = format!(
            "journal: {} {expected}; provider: {} {}",
            kind_name(journal_kind),
            kind_name(e.kind),
            e.amount
        );
        let kind = match &e.amount {
            ProviderAmount::Exact(m) if m.currency != expected.currency => {
                DiscrepancyKind::CurrencyMismatch
            }
            ProviderAmount::Exact(m) if m.minor_units == expected.minor_units => {
                if e.kind == journal_kind {
                    return;
                }
                DiscrepancyKind::AmountMismatch
            }
            ProviderAmount::Exact(_) => DiscrepancyKind::AmountMismatch,
            ProviderAmount::Unrepresentable { currency, .. }
                if currency != expected.currency.code() =>
            {
                DiscrepancyKind::CurrencyMismatch
            }
            ProviderAmount::Unrepresentable { .. } => DiscrepancyKind::AmountMismatch,
        };
        self.report(kind, versus);
    }

    fn provider_says(&self, entries: &[&ProviderEntry], applied: u32, reversed: bool) -> String {
        if !self.has_view {
            return "no ledger of this provider was audited".into();
        }
        let Some(first) = entries.first() else {
            return "no record".into();
        };
        let what = format!("{} {}", kind_name(first.kind), first.amount);
        match (applied, reversed) {
            (0, _) => format!("{what} recorded, not applied"),
            (_, false) => format!("{what} applied"),
            (_, true) => format!("{what} applied and reversed"),
        }
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Debit => "debit",
        EntryKind::Credit => "credit",
    }
}

fn journal_says(tx: &TxRecord) -> String {
    let state = match tx.state {
        TxState::Sent => "SENT",
        TxState::Pending => "PENDING",
        TxState::Settled => "SETTLED",
        TxState::Declined => "DECLINED",
        TxState::RolledBack => "ROLLED_BACK",
        TxState::Failed => "FAILED",
    };
    let kind = match tx.kind {
        TxKind::Debit => "debit",
        TxKind::Credit => "credit",
        TxKind::Rollback => "rollback",
    };
    match tx.amount {
        Some(m) => format!("{state} {kind} {m}"),
        None => format!("{state} {kind}"),
    }
}

// ---------------------------------------------------------- live ledgers

/// The largest ledger body read.
const MAX_LEDGER_BYTES: usize = 1 << 30;
/// How long one ledger fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Journal rows read per page.
const SCAN_PAGE: usize = 1000;

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No converter for this dialect.
    #[error("no ledger converter for dialect {dialect:?} (known: json-hmac, json-rsa, form-md5)")]
    UnknownDialect {
        /// The dialect asked for.
        dialect: String,
    },
    /// The provider named is not configured.
    #[error("no provider named {provider:?} is configured")]
    UnknownProvider {
        /// The name given.
        provider: String,
    },
    /// The provider's settings have no usable `base_url`.
    #[error("provider {provider}: no base_url setting to fetch the ledger from")]
    NoBaseUrl {
        /// The provider.
        provider: String,
    },
    /// The URL of the ledger is not a valid URI.
    #[error("{url}: not a valid URL")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The request failed (connection refused, reset, ...).
    #[error("GET {url} failed (is the sandbox running?)")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: adapter_api::BoxError,
    },
    /// The sandbox serves no control surface.
    #[error(
        "GET {url} answered 404: the sandbox's control surface is off; start it with control on \
         (SandboxConfig {{ control: true, .. }}, or the sandbox binary's --control)"
    )]
    ControlSurfaceOff {
        /// The URL.
        url: String,
    },
    /// Any other HTTP status.
    #[error("GET {url} answered HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// No answer in time.
    #[error("GET {url} took longer than {FETCH_TIMEOUT:?}")]
    Timeout {
        /// The URL.
        url: String,
    },
    /// The body is not the dialect's ledger snapshot.
    #[error("GET {url}: not a {dialect} ledger snapshot")]
    Parse {
        /// The URL.
        url: String,
        /// The dialect expected.
        dialect: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The journal could not be read.
    #[error("reading the journal")]
    Journal(#[from] JournalError),
}

/// Reads the ledger of a live sandbox of `dialect` (`json-hmac`,
/// `json-rsa`, `form-md5`) at `GET {base_url}/control/ledger`, normalized.
/// The sandbox must serve its control surface.
pub async fn fetch_ledger(dialect: &str, base_url: &str) -> Result<Vec<ProviderEntry>, AuditError> {
    // Check the dialect before any I/O.
    let dialect: &'static str = match dialect {
        adapter_json_hmac::DIALECT => adapter_json_hmac::DIALECT,
        adapter_json_rsa::DIALECT => adapter_json_rsa::DIALECT,
        adapter_form_md5::DIALECT => adapter_form_md5::DIALECT,
        other => {
            return Err(AuditError::UnknownDialect {
                dialect: other.to_owned(),
            });
        }
    };
    let url = format!("{}/control/ledger", base_url.trim_end_matches('/'));
    let body = match tokio::time::timeout(FETCH_TIMEOUT, get(&url)).await {
        Ok(body) => body?,
        Err(_) => return Err(AuditError::Timeout { url }),
    };
    let parse = |source| AuditError::Parse {
        url: url.clone(),
        dialect,
        source,
    };
    Ok(match dialect {
        adapter_json_hmac::DIALECT => {
            from_json_hmac(&serde_json::from_slice(&body).map_err(parse)?)
        }
        adapter_json_rsa::DIALECT => from_json_rsa(&serde_json::from_slice(&body).map_err(parse)?),
        _ => from_form_md5(&serde_json::from_slice(&body).map_err(parse)?),
    })
}

/// The body of a `GET url` that answered 200.
async fn get(url: &str) -> Result<Bytes, AuditError> {
    let uri: http::Uri = url.parse().map_err(|source| AuditError::BadUrl {
        url: url.to_owned(),
        source,
    })?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let failed = |source: adapter_api::BoxError| AuditError::Request {
        url: url.to_owned(),
        source,
    };
    let response = client.get(uri).await.map_err(|e| failed(Box::new(e)))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(AuditError::ControlSurfaceOff {
                url: url.to_owned(),
            });
        }
        status => {
            return Err(AuditError::HttpStatus {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
    }
    let body = Limited::new(response.into_body(), MAX_LEDGER_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                failed("the ledger is larger than 1 GiB".into())
            } else {
                failed(e)
            }
        })?;
    Ok(body.to_bytes())
}

/// Every transaction in the journal, oldest first.
pub async fn read_journal(journal: &dyn Journal) -> Result<Vec<TxRecord>, JournalError> {
    let mut all = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = journal.scan(after, SCAN_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after = last.seq;
        let full = page.len() == SCAN_PAGE;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// The whole audit of `hub audit`: reads the journal, then fetches the
/// ledger of each configured provider (of those in `only`, when it is not
/// empty) from its `base_url`, and compares them. With `only` empty, the
/// journal's transactions of providers no longer configured are reported
/// too.
pub async fn audit_config(
    config: &Config,
    journal: &dyn Journal,
    only: &[ProviderId],
) -> Result<AuditReport, AuditError> {
    for p in only {
        if !config.providers.contains_key(p.as_str()) {
            return Err(AuditError::UnknownProvider {
                provider: p.to_string(),
            });
        }
    }
    let records = read_journal(journal).await?;
    let mut views = BTreeMap::new();
    for (name, provider) in &config.providers {
        // Config validation guarantees the names parse.
        let Ok(id) = ProviderId::parse(name) else {
            return Err(AuditError::UnknownProvider {
                provider: name.clone(),
            });
        };
        if !only.is_empty() && !only.contains(&id) {
            continue;
        }
        let base_url = provider
            .settings
            .0
            .get("base_url")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| AuditError::NoBaseUrl {
                provider: name.clone(),
            })?;
        views.insert(id, fetch_ledger(&provider.dialect, base_url).await?);
    }
    Ok(if only.is_empty() {
        audit(&records, &views)
    } else {
        audit_only(&records, &views, only)
    })
}
