//! The conformance kit: one suite of canonical scenarios that every adapter,
//! talking to its own sandbox provider, must pass. Whatever dialect sits
//! behind the hub, a partner then sees the same behaviour: the same outcome
//! for the same situation, money moved exactly once, never a `Settled` that
//! the provider did not confirm.
//!
//! A [`Subject`] pairs an adapter with a [`SandboxProbe`], the kit's view of
//! the provider (seed accounts, read balances, count requests, inject
//! faults, say how much of a currency its books can hold), and with a second
//! adapter of the same dialect aimed at a closed port. [`run`] plays every
//! scenario against it and returns a [`Report`] counting what ran; no
//! scenario is skipped. Scenarios whose expectation depends on a provider
//! habit (duplicates, rollback of an unknown transaction, status queries)
//! read it from the adapter's [`Descriptor`](adapter_api::Descriptor), so
//! they also check that the descriptor tells the truth.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

mod conversion;

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction,
    DuplicateHabit, Money, MoneyRequest, Outcome, ProviderTxId, RollbackRequest, StatusRequest,
    TxKind, TxStatus, UnknownRollbackHabit,
};

/// A misbehaviour the kit asks the sandbox to show, in canonical terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Apply the transaction, then answer with a body that does not parse.
    Garbage,
    /// Apply the transaction, then answer with a reply that must not be
    /// trusted: wrongly signed where the dialect signs replies, otherwise
    /// altered so it no longer matches the request.
    Tampered,
    /// Apply the transaction, then reset the connection without a reply.
    DropAfterCommit,
    /// Apply the transaction, then answer HTTP 500.
    ServerErrorAfterCommit,
    /// Answer HTTP 503 without processing anything.
    UnavailableBeforeProcessing,
}

/// The kit's view of a sandbox provider. Amounts are canonical: the probe
/// converts to and from the provider's own units.
pub trait SandboxProbe: Send + Sync {
    /// Creates or replaces an account holding `balance`, not blocked,
    /// without a limit.
    fn seed(&self, account: &str, balance: Money);
    /// Blocks an account.
    fn block(&self, account: &str);
    /// Limits the amount of one transaction on an account.
    fn limit(&self, account: &str, per_transaction: Money);
    /// The account's balance as the provider holds it.
    fn balance(&self, account: &str) -> Option<Money>;
    /// Money requests the provider received for `tx_id` (replays included).
    fn requests_for(&self, tx_id: &str) -> u64;
    /// Injects `fault` into the next money request only.
    fn inject(&self, fault: Fault);
    /// Removes every fault.
    fn clear_faults(&self);
    /// The largest amount of `currency`, in minor units, that the
    /// provider's wire and books can carry, or `None` when it cannot hold
    /// the currency at all. A provider counting in minor units carries all
    /// of `i64` (the default); one counting in finer units carries less
    /// (in 1e-5 of the unit, EUR goes up to `i64::MAX / 1000` cents). The
    /// conversion scenarios expect every positive amount up to it to settle
    /// exactly, and every other amount to be refused before it is sent.
    fn max_amount(&self, currency: Currency) -> Option<i64> {
        let _ = currency;
        Some(i64::MAX)
    }
}

/// What the kit tests: an adapter, its sandbox, and an adapter of the same
/// dialect that cannot reach any provider.
pub struct Subject {
    /// Name for the report, such as the dialect.
    pub name: String,
    /// The adapter, configured for the sandbox.
    pub adapter: Arc<dyn Adapter>,
    /// The sandbox the adapter talks to.
    pub sandbox: Box<dyn SandboxProbe>,
    /// The same dialect aimed at a port nobody listens on.
    pub unreachable: Arc<dyn Adapter>,
}

/// One failed scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The scenario.
    pub scenario: &'static str,
    /// What went wrong.
    pub message: String,
}

/// What [`run`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The subject's name.
    pub subject: String,
    /// Scenarios that ran (all of them: none is ever skipped).
    pub ran: usize,
    /// Scenarios that passed.
    pub passed: usize,
    /// The failures, if any.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Whether every scenario passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.passed == self.ran
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance {}: {} scenarios ran, {} passed, {} failed, 0 skipped",
            self.subject,
            self.ran,
            self.passed,
            self.failures.len()
        )?;
        for x in &self.failures {
            writeln!(f, "  FAILED {}: {}", x.scenario, x.message)?;
        }
        Ok(())
    }
}

type Check = Result<(), String>;
type ScenarioFn = for<'a> fn(&'a Ctx<'a>) -> Pin<Box<dyn Future<Output = Check> + Send + 'a>>;

/// The scenarios, by name. Every one runs for every subject.
pub const SCENARIOS: &[(&str, ScenarioFn)] = &[
    ("debit settles and moves money", |c| {
        Box::pin(debit_settles(c))
    }),
    ("credit settles and moves money", |c| {
        Box::pin(credit_settles(c))
    }),
    ("debit in a currency without minor units", |c| {
        Box::pin(debit_in_jpy(c))
    }),
    ("repeated debit is replayed, money moves once", |c| {
        Box::pin(debit_replayed(c))
    }),
    (
        "same id with another amount follows the duplicate habit",
        |c| Box::pin(duplicate_with_other_amount(c)),
    ),
    ("rollback of a debit returns the money", |c| {
        Box::pin(rollback_of_debit(c))
    }),
    ("rollback repeated with its id moves once", |c| {
        Box::pin(rollback_twice_same_id(c))
    }),
    ("second rollback under another id moves nothing", |c| {
        Box::pin(rollback_twice_other_id(c))
    }),
    (
        "rollback of an unknown transaction is settled, nothing moves",
        |c| Box::pin(rollback_of_unknown(c)),
    ),
    ("rollback of a credit is declined not reversible", |c| {
        Box::pin(rollback_of_credit(c))
    }),
    ("balance is read exactly", |c| Box::pin(balance_reads(c))),
    ("balance of an unknown account is declined", |c| {
        Box::pin(balance_of_unknown(c))
    }),
    ("status query matches the descriptor", |c| {
        Box::pin(status_queries(c))
    }),
    ("decline: insufficient funds", |c| {
        Box::pin(decline_insufficient(c))
    }),
    ("decline: unknown account", |c| {
        Box::pin(decline_unknown_account(c))
    }),
    ("decline: blocked account", |c| Box::pin(decline_blocked(c))),
    ("decline: limit exceeded", |c| Box::pin(decline_limit(c))),
    ("decline: wrong currency", |c| {
        Box::pin(decline_wrong_currency(c))
    }),
    ("garbage reply is unknown, never settled", |c| {
        Box::pin(fault_garbage(c))
    }),
    ("tampered reply is unknown, never settled", |c| {
        Box::pin(fault_tampered(c))
    }),
    ("reply lost after commit is unknown", |c| {
        Box::pin(fault_drop(c))
    }),
    ("server error after commit is unknown", |c| {
        Box::pin(fault_server_error(c))
    }),
    (
        "503 before processing moves nothing and is not settled",
        |c| Box::pin(fault_unavailable(c)),
    ),
    ("unreachable provider is not processed", |c| {
        Box::pin(unreachable(c))
    }),
    (
        "rollback of a debit whose reply was lost returns the money",
        |c| Box::pin(rollback_after_lost_reply(c)),
    ),
    (
        "conversion: generated amounts in exponents 0, 2, 3, 4 settle exactly",
        |c| Box::pin(conversion::generated_amounts_settle_exactly(c)),
    ),
    (
        "conversion: amounts at the provider's and i64's limits settle exactly",
        |c| Box::pin(conversion::limits_settle_exactly(c)),
    ),
    (
        "conversion: amounts the dialect cannot express are refused, nothing moves",
        |c| Box::pin(conversion::inexpressible_amounts_are_refused(c)),
    ),
];

/// Plays every scenario against `subject`, one after another.
pub async fn run(subject: &Subject) -> Report {
    let mut report = Report {
        subject: subject.name.clone(),
        ran: 0,
        passed: 0,
        failures: Vec::new(),
    };
    for (i, (name, scenario)) in SCENARIOS.iter().enumerate() {
        let ctx = Ctx {
            s: subject,
            prefix: format!("cf{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        };
        report.ran += 1;
        let result = tokio::time::timeout(SCENARIO_TIMEOUT, scenario(&ctx))
            .await
            .unwrap_or_else(|_| Err(format!("did not finish within {SCENARIO_TIMEOUT:?}")));
        subject.sandbox.clear_faults();
        match result {
            Ok(()) => report.passed += 1,
            Err(message) => report.failures.push(Failure {
                scenario: name,
                message,
            }),
        }
    }
    report
}

const SCENARIO_TIMEOUT: Duration = Duration::from_secs(20);

/// One scenario's view: the subject and fresh names.
pub struct Ctx<'a> {
    s: &'a Subject,
    prefix: String,
}

impl Ctx<'_> {
    fn account(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn id(&self, name: &str) -> ProviderTxId {
        // Ids look like the hub's (UUIDs): some dialects expect one.
        let _ = name;
        ProviderTxId::new(uuid::Uuid::new_v4().to_string())
    }

    fn adapter(&self) -> &dyn Adapter {
        self.s.adapter.as_ref()
    }

    fn sandbox(&self) -> &dyn SandboxProbe {
        self.s.sandbox.as_ref()
    }

    /// A fresh account holding `minor` units of `currency`.
    fn funded(&self, name: &str, currency: &str, minor: i64) -> Result<(String, Currency), String> {
        let cur = currency_of(currency)?;
        let account = self.account(name);
        self.sandbox().seed(&account, Money::new(cur, minor));
        Ok((account, cur))
    }

    async fn transfer(
        &self,
        direction: Direction,
        id: &ProviderTxId,
        account: &str,
        amount: Money,
    ) -> Outcome {
        self.adapter()
            .transfer(&MoneyRequest {
                direction,
                tx_id: id.clone(),
                account: AccountId::new(account),
                amount,
                reference: Some("conformance".into()),
            })
            .await
    }

    async fn rollback(
        &self,
        id: &ProviderTxId,
        original: &ProviderTxId,
        account: &str,
        amount: Money,
    ) -> Outcome {
        self.adapter()
            .rollback(&RollbackRequest {
                tx_id: id.clone(),
                original_tx_id: original.clone(),
                account: AccountId::new(account),
                amount: Some(amount),
            })
            .await
    }

    fn expect_balance(&self, account: &str, expected: Money) -> Check {
        match self.sandbox().balance(account) {
            Some(b) if b == expected => Ok(()),
            other => Err(format!(
                "provider balance of {account} is {other:?}, expected {expected}"
            )),
        }
    }
}

fn currency_of(code: &str) -> Result<Currency, String> {
    Currency::from_code(code).map_err(|e| format!("{code}: {e}"))
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Settled(s) => format!("Settled({s:?})"),
        Outcome::Declined(r) => format!("Declined({r:?})"),
        Outcome::NotProcessed(e) => {
            format!("NotProcessed({e}: {:?})", std::error::Error::source(e))
        }
        Outcome::Unknown(e) => format!("Unknown({e}: {:?})", std::error::Error::source(e)),
    }
}

fn settled(o: &Outcome, what: &str) -> Result<Option<Money>, String> {
    match o {
        Outcome::Settled(s) => Ok(s.balance_after),
        other => Err(format!("{what}: expected Settled, got {}", describe(other))),
    }
}

fn declined(o: &Outcome, reason: DeclineReason, what: &str) -> Check {
    match o {
        Outcome::Declined(r) if *r == reason => Ok(()),
        other => Err(format!(
            "{what}: expected Declined({reason:?}), got {}",
            describe(other)
        )),
    }
}

fn unknown(o: &Outcome, what: &str) -> Check {
    match o {
        Outcome::Unknown(_) => Ok(()),
        other => Err(format!("{what}: expected Unknown, got {}", describe(other))),
    }
}

fn balance_after_is(reported: Option<Money>, expected: Money) -> Check {
    match reported {
        None => Ok(()),
        Some(b) if b == expected => Ok(()),
        Some(b) => Err(format!("balance_after {b}, expected {expected}")),
    }
}

// ---- scenarios ----------------------------------------------------------

async fn debit_settles(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("d");
    let o = c
        .transfer(Direction::Debit, &id, &acc, Money::new(eur, 250))
        .await;
    let after = settled(&o, "debit")?;
    balance_after_is(after, Money::new(eur, 9_750))?;
    c.expect_balance(&acc, Money::new(eur, 9_750))
}

async fn credit_settles(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("c");
    let o = c
        .transfer(Direction::Credit, &id, &acc, Money::new(eur, 1_234))
        .await;
    let after = settled(&o, "credit")?;
    balance_after_is(after, Money::new(eur, 11_234))?;
    c.expect_balance(&acc, Money::new(eur, 11_234))
}

async fn debit_in_jpy(c: &Ctx<'_>) -> Check {
    let (acc, jpy) = c.funded("a", "JPY", 5_000)?;
    let id = c.id("d");
    let o = c
        .transfer(Direction::Debit, &id, &acc, Money::new(jpy, 1_250))
        .await;
    let after = settled(&o, "JPY debit")?;
    balance_after_is(after, Money::new(jpy, 3_750))?;
    c.expect_balance(&acc, Money::new(jpy, 3_750))
}

async fn debit_replayed(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("d");
    let amount = Money::new(eur, 300);
    settled(
        &c.transfer(Direction::Debit, &id, &acc, amount).await,
        "first",
    )?;
    settled(
        &c.transfer(Direction::Debit, &id, &acc, amount).await,
        "replay",
    )?;
    c.expect_balance(&acc, Money::new(eur, 9_700))?;
    match c.sandbox().requests_for(id.as_str()) {
        2 => Ok(()),
        n => Err(format!(
            "the provider saw {n} requests for the id, expected 2"
        )),
    }
}

async fn duplicate_with_other_amount(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("d");
    settled(
        &c.transfer(Direction::Debit, &id, &acc, Money::new(eur, 300))
            .await,
        "first",
    )?;
    let o = c
        .transfer(Direction::Debit, &id, &acc, Money::new(eur, 999))
        .await;
    match c.adapter().descriptor().duplicates {
        // The provider answers with the original reply, so the adapter
        // reports the original settlement (with the original's balance):
        // money moved once, with the original amount. The hub, not the
        // provider, refuses a key reused with another amount.
        DuplicateHabit::ReplaysOriginal => {
            let after = settled(&o, "duplicate replayed by the provider")?;
            balance_after_is(after, Money::new(eur, 9_700))?;
        }
        DuplicateHabit::ReplaysSameRefusesDifferent => {
            declined(&o, DeclineReason::DuplicateTransaction, "duplicate")?
        }
    }
    c.expect_balance(&acc, Money::new(eur, 9_700))
}

async fn rollback_of_debit(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d, r) = (c.id("d"), c.id("r"));
    let amount = Money::new(eur, 400);
    settled(
        &c.transfer(Direction::Debit, &d, &acc, amount).await,
        "debit",
    )?;
    let after = settled(&c.rollback(&r, &d, &acc, amount).await, "rollback")?;
    balance_after_is(after, Money::new(eur, 10_000))?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn rollback_twice_same_id(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d, r) = (c.id("d"), c.id("r"));
    let amount = Money::new(eur, 400);
    settled(
        &c.transfer(Direction::Debit, &d, &acc, amount).await,
        "debit",
    )?;
    settled(&c.rollback(&r, &d, &acc, amount).await, "rollback")?;
    settled(&c.rollback(&r, &d, &acc, amount).await, "repeated rollback")?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn rollback_twice_other_id(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d, r1, r2) = (c.id("d"), c.id("r1"), c.id("r2"));
    let amount = Money::new(eur, 400);
    settled(
        &c.transfer(Direction::Debit, &d, &acc, amount).await,
        "debit",
    )?;
    settled(&c.rollback(&r1, &d, &acc, amount).await, "rollback")?;
    settled(
        &c.rollback(&r2, &d, &acc, amount).await,
        "second rollback under another id",
    )?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn rollback_of_unknown(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d, r) = (c.id("never-sent"), c.id("r"));
    let amount = Money::new(eur, 500);
    settled(
        &c.rollback(&r, &d, &acc, amount).await,
        "rollback of unknown",
    )?;
    c.expect_balance(&acc, Money::new(eur, 10_000))?;
    // What a late debit with that id meets depends on the provider; the hub
    // refuses it itself either way. The descriptor must say which.
    let late = c.transfer(Direction::Debit, &d, &acc, amount).await;
    match c.adapter().descriptor().rollback_of_unknown {
        UnknownRollbackHabit::AcknowledgesWithTombstone => {
            declined(&late, DeclineReason::AlreadyRolledBack, "late debit")?;
            c.expect_balance(&acc, Money::new(eur, 10_000))
        }
        UnknownRollbackHabit::NotFoundError => {
            settled(&late, "late debit")?;
            c.expect_balance(&acc, Money::new(eur, 9_500))
        }
    }
}

async fn rollback_of_credit(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (cr, r) = (c.id("c"), c.id("r"));
    let amount = Money::new(eur, 700);
    settled(
        &c.transfer(Direction::Credit, &cr, &acc, amount).await,
        "credit",
    )?;
    declined(
        &c.rollback(&r, &cr, &acc, amount).await,
        DeclineReason::NotReversible,
        "rollback of credit",
    )?;
    c.expect_balance(&acc, Money::new(eur, 10_700))
}

async fn balance_reads(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 123_456)?;
    let got = c
        .adapter()
        .balance(&BalanceRequest {
            account: AccountId::new(acc.clone()),
            currency: eur,
        })
        .await;
    match (c.adapter().descriptor().capabilities.balance, got) {
        (true, Ok(m)) if m == Money::new(eur, 123_456) => Ok(()),
        (false, Err(AdapterError::Unsupported)) => Ok(()),
        (cap, other) => Err(format!("balance (capability {cap}): got {other:?}")),
    }
}

async fn balance_of_unknown(c: &Ctx<'_>) -> Check {
    let eur = currency_of("EUR")?;
    let got = c
        .adapter()
        .balance(&BalanceRequest {
            account: AccountId::new(c.account("nobody")),
            currency: eur,
        })
        .await;
    match (c.adapter().descriptor().capabilities.balance, got) {
        (true, Err(AdapterError::Declined(DeclineReason::UnknownAccount))) => Ok(()),
        (false, Err(AdapterError::Unsupported)) => Ok(()),
        (cap, other) => Err(format!(
            "balance of unknown (capability {cap}): got {other:?}"
        )),
    }
}

async fn status_queries(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d1, d2, r, never) = (c.id("d1"), c.id("d2"), c.id("r"), c.id("never"));
    let amount = Money::new(eur, 100);
    settled(
        &c.transfer(Direction::Debit, &d1, &acc, amount).await,
        "debit 1",
    )?;
    settled(
        &c.transfer(Direction::Debit, &d2, &acc, amount).await,
        "debit 2",
    )?;
    settled(
        &c.rollback(&r, &d2, &acc, amount).await,
        "rollback of debit 2",
    )?;
    let ask = |id: &ProviderTxId| StatusRequest {
        tx_id: id.clone(),
        kind: TxKind::Debit,
        account: AccountId::new(acc.clone()),
        amount: Some(amount),
    };
    let answers = [
        c.adapter().status(&ask(&d1)).await,
        c.adapter().status(&ask(&d2)).await,
        c.adapter().status(&ask(&never)).await,
    ];
    if c.adapter().descriptor().capabilities.status {
        match &answers {
            [
                TxStatus::Applied(_),
                TxStatus::RolledBack,
                TxStatus::NotFound,
            ] => Ok(()),
            other => Err(format!(
                "expected [Applied, RolledBack, NotFound], got {other:?}"
            )),
        }
    } else {
        match &answers {
            [
                TxStatus::Unknown(AdapterError::Unsupported),
                TxStatus::Unknown(AdapterError::Unsupported),
                TxStatus::Unknown(AdapterError::Unsupported),
            ] => Ok(()),
            other => Err(format!("descriptor says no status query, got {other:?}")),
        }
    }
}

async fn decline_insufficient(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 100)?;
    let o = c
        .transfer(Direction::Debit, &c.id("d"), &acc, Money::new(eur, 101))
        .await;
    declined(&o, DeclineReason::InsufficientFunds, "debit beyond balance")?;
    c.expect_balance(&acc, Money::new(eur, 100))
}

async fn decline_unknown_account(c: &Ctx<'_>) -> Check {
    let eur = currency_of("EUR")?;
    let o = c
        .transfer(
            Direction::Debit,
            &c.id("d"),
            &c.account("nobody"),
            Money::new(eur, 1),
        )
        .await;
    declined(
        &o,
        DeclineReason::UnknownAccount,
        "debit of unknown account",
    )
}

async fn decline_blocked(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    c.sandbox().block(&acc);
    let o = c
        .transfer(Direction::Debit, &c.id("d"), &acc, Money::new(eur, 1))
        .await;
    declined(
        &o,
        DeclineReason::AccountBlocked,
        "debit of blocked account",
    )?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn decline_limit(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    c.sandbox().limit(&acc, Money::new(eur, 500));
    let o = c
        .transfer(Direction::Debit, &c.id("d"), &acc, Money::new(eur, 501))
        .await;
    declined(&o, DeclineReason::LimitExceeded, "debit over the limit")?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn decline_wrong_currency(c: &Ctx<'_>) -> Check {
    let (acc, _) = c.funded("a", "USD", 10_000)?;
    let eur = currency_of("EUR")?;
    let o = c
        .transfer(Direction::Debit, &c.id("d"), &acc, Money::new(eur, 1))
        .await;
    declined(
        &o,
        DeclineReason::WrongCurrency,
        "EUR debit of a USD account",
    )?;
    c.expect_balance(&acc, Money::new(currency_of("USD")?, 10_000))
}

/// A money call under `fault`: Unknown, and (for faults after commit) the
/// money really moved, so a replay of the same id settles without moving it
/// again.
async fn after_commit_fault(c: &Ctx<'_>, fault: Fault) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("d");
    let amount = Money::new(eur, 250);
    c.sandbox().inject(fault);
    unknown(
        &c.transfer(Direction::Debit, &id, &acc, amount).await,
        "faulty reply",
    )?;
    c.sandbox().clear_faults();
    c.expect_balance(&acc, Money::new(eur, 9_750))?;
    settled(
        &c.transfer(Direction::Debit, &id, &acc, amount).await,
        "replay after the fault",
    )?;
    c.expect_balance(&acc, Money::new(eur, 9_750))
}

async fn fault_garbage(c: &Ctx<'_>) -> Check {
    after_commit_fault(c, Fault::Garbage).await
}

async fn fault_tampered(c: &Ctx<'_>) -> Check {
    after_commit_fault(c, Fault::Tampered).await
}

async fn fault_drop(c: &Ctx<'_>) -> Check {
    after_commit_fault(c, Fault::DropAfterCommit).await
}

async fn fault_server_error(c: &Ctx<'_>) -> Check {
    after_commit_fault(c, Fault::ServerErrorAfterCommit).await
}

async fn fault_unavailable(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let id = c.id("d");
    c.sandbox().inject(Fault::UnavailableBeforeProcessing);
    let o = c
        .transfer(Direction::Debit, &id, &acc, Money::new(eur, 250))
        .await;
    if let Outcome::Settled(_) | Outcome::Declined(_) = o {
        return Err(format!("a 503 must not be trusted, got {}", describe(&o)));
    }
    c.expect_balance(&acc, Money::new(eur, 10_000))
}

async fn unreachable(c: &Ctx<'_>) -> Check {
    let eur = currency_of("EUR")?;
    let o =
        c.s.unreachable
            .transfer(&MoneyRequest {
                direction: Direction::Debit,
                tx_id: c.id("d"),
                account: AccountId::new(c.account("a")),
                amount: Money::new(eur, 1),
                reference: None,
            })
            .await;
    match o {
        Outcome::NotProcessed(AdapterError::Connect(_)) => Ok(()),
        other => Err(format!(
            "expected NotProcessed(Connect), got {}",
            describe(&other)
        )),
    }
}

async fn rollback_after_lost_reply(c: &Ctx<'_>) -> Check {
    let (acc, eur) = c.funded("a", "EUR", 10_000)?;
    let (d, r) = (c.id("d"), c.id("r"));
    let amount = Money::new(eur, 800);
    c.sandbox().inject(Fault::DropAfterCommit);
    unknown(
        &c.transfer(Direction::Debit, &d, &acc, amount).await,
        "lost reply",
    )?;
    c.sandbox().clear_faults();
    settled(
        &c.rollback(&r, &d, &acc, amount).await,
        "compensating rollback",
    )?;
    c.expect_balance(&acc, Money::new(eur, 10_000))
}
