//! The audit's self-test: a consistent journal and provider view audit
//! clean, and each kind of discrepancy planted alone is reported alone.
//! Then the converters against real sandboxes driven through the real
//! adapters.

use super::*;
use crate::domain::{IdempotencyKey, PartnerId, TransactionId};

fn eur(minor: i64) -> Money {
    Money::new(Currency::from_code("EUR").unwrap(), minor)
}

fn money(code: &str, minor: i64) -> Money {
    Money::new(Currency::from_code(code).unwrap(), minor)
}

fn provider(name: &str) -> ProviderId {
    ProviderId::parse(name).unwrap()
}

fn id(key: &str) -> TransactionId {
    TransactionId::derive(
        &PartnerId::parse("p1").unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
}

/// A journal row; `seq` is filled in by [`Fixture::journal`].
fn tx(key: &str, on: &str, kind: TxKind, state: TxState, amount: Option<Money>) -> TxRecord {
    TxRecord {
        seq: 0,
        id: id(key),
        partner: PartnerId::parse("p1").unwrap(),
        key: IdempotencyKey::parse(key).unwrap(),
        kind,
        state,
        decline_reason: None,
        provider: provider(on),
        account: "acc-1".into(),
        amount,
        reference: None,
        reverses: None,
        balance_after: None,
        provider_ref: None,
        created_us: 0,
        updated_us: 0,
        tombstone: false,
    }
}

fn rollback_of(key: &str, target: &TxRecord) -> TxRecord {
    TxRecord {
        reverses: Some(target.id.clone()),
        ..tx(
            key,
            target.provider.as_str(),
            TxKind::Rollback,
            TxState::RolledBack,
            target.amount,
        )
    }
}

fn tombstone(key: &str, on: &str) -> TxRecord {
    TxRecord {
        account: String::new(),
        tombstone: true,
        ..tx(key, on, TxKind::Debit, TxState::RolledBack, None)
    }
}

fn entry(key: &str, kind: EntryKind, amount: Money, applied: u32, reversed: bool) -> ProviderEntry {
    ProviderEntry {
        tx_id: id(key).to_string(),
        kind,
        amount: ProviderAmount::Exact(amount),
        applied,
        reversed,
    }
}

/// A journal and provider view that agree.
struct Fixture {
    journal: Vec<TxRecord>,
    providers: BTreeMap<ProviderId, Vec<ProviderEntry>>,
}

impl Fixture {
    fn consistent() -> Self {
        use EntryKind::{Credit, Debit};
        use TxKind as K;
        use TxState as S;
        let d2 = tx("d2", "p1", K::Debit, S::RolledBack, Some(eur(200)));
        let d3 = tx("d3", "p1", K::Debit, S::RolledBack, Some(eur(150)));
        let journal = vec![
            tx("d1", "p1", K::Debit, S::Settled, Some(eur(500))),
            tx("c1", "p1", K::Credit, S::Settled, Some(eur(300))),
            rollback_of("r2", &d2),
            d2,
            // Rolled back after it FAILED: never applied anywhere.
            rollback_of("r3", &d3),
            d3,
            tx("d4", "p1", K::Debit, S::Declined, Some(eur(10_000))),
            tx("d5", "p1", K::Debit, S::Failed, Some(eur(700))),
            tombstone("t6", "p1"),
            tx("r6", "p1", K::Rollback, S::RolledBack, None),
            tx("j1", "p1", K::Credit, S::Settled, Some(money("JPY", 1000))),
            tx("e1", "p2", K::Debit, S::Settled, Some(eur(900))),
        ];
        let providers = BTreeMap::from([
            (
                provider("p1"),
                vec![
                    entry("d1", Debit, eur(500), 1, false),
                    entry("c1", Credit, eur(300), 1, false),
                    entry("d2", Debit, eur(200), 1, true),
                    // The provider recorded the refusal: not an application.
                    entry("d4", Debit, eur(10_000), 0, false),
                    entry("j1", Credit, money("JPY", 1000), 1, false),
                ],
            ),
            (provider("p2"), vec![entry("e1", Debit, eur(900), 1, false)]),
        ]);
        let mut f = Fixture { journal, providers };
        f.renumber();
        f
    }

    fn renumber(&mut self) {
        for (i, t) in self.journal.iter_mut().enumerate() {
            t.seq = i as i64 + 1;
        }
    }

    fn journal_tx(&mut self, key: &str) -> &mut TxRecord {
        let id = id(key);
        self.journal
            .iter_mut()
            .find(|t| t.id == id && t.kind != TxKind::Rollback)
            .unwrap()
    }

    fn entries(&mut self, on: &str) -> &mut Vec<ProviderEntry> {
        self.providers.get_mut(&provider(on)).unwrap()
    }

    fn entry(&mut self, on: &str, key: &str) -> &mut ProviderEntry {
        let id = id(key).to_string();
        self.entries(on).iter_mut().find(|e| e.tx_id == id).unwrap()
    }

    fn audit(&self) -> AuditReport {
        audit(&self.journal, &self.providers)
    }
}

/// The report holds exactly this one discrepancy.
fn assert_only(report: &AuditReport, kind: DiscrepancyKind, on: &str, key: &str) {
    let found: Vec<_> = report
        .discrepancies
        .iter()
        .map(|d| (d.kind, d.provider.to_string(), d.tx_id.clone()))
        .collect();
    assert_eq!(
        found,
        vec![(kind, on.to_owned(), id(key).to_string())],
        "{report}"
    );
    assert!(!report.is_clean());
}

#[test]
fn a_consistent_journal_and_ledger_audit_clean() {
    let report = Fixture::consistent().audit();
    assert!(report.is_clean(), "{report}");
    // d1 c1 d2 d3 d4 d5 t6 j1 at p1, e1 at p2; rollback rows are not movements.
    assert_eq!(report.checked, 9);
    assert_eq!(
        report.to_string(),
        "audit clean: 9 transactions checked, no discrepancy"
    );
}

#[test]
fn settled_but_not_applied_is_missing_at_provider() {
    let mut f = Fixture::consistent();
    let gone = id("d1").to_string();
    f.entries("p1").retain(|e| e.tx_id != gone);
    assert_only(&f.audit(), DiscrepancyKind::MissingAtProvider, "p1", "d1");

    let mut f = Fixture::consistent();
    f.entry("p1", "c1").applied = 0;
    assert_only(&f.audit(), DiscrepancyKind::MissingAtProvider, "p1", "c1");
}

#[test]
fn settled_but_reversed_at_the_provider_is_missing_at_provider() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d1").reversed = true;
    assert_only(&f.audit(), DiscrepancyKind::MissingAtProvider, "p1", "d1");
}

#[test]
fn an_application_the_journal_does_not_hold_is_missing_in_journal() {
    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("stranger", EntryKind::Credit, eur(1), 1, false));
    let report = f.audit();
    assert_only(&report, DiscrepancyKind::MissingInJournal, "p1", "stranger");
    assert_eq!(report.checked, 10);

    // Held by the journal, but at another provider.
    let mut f = Fixture::consistent();
    f.entries("p2")
        .push(entry("d1", EntryKind::Debit, eur(500), 1, false));
    assert_only(&f.audit(), DiscrepancyKind::MissingInJournal, "p2", "d1");

    // An unknown id the provider only recorded a refusal for is fine.
    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("stranger", EntryKind::Debit, eur(1), 0, false));
    assert!(f.audit().is_clean());
}

#[test]
fn declined_or_failed_but_applied_is_missing_in_journal() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d4").applied = 1;
    assert_only(&f.audit(), DiscrepancyKind::MissingInJournal, "p1", "d4");

    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("d5", EntryKind::Debit, eur(700), 1, false));
    assert_only(&f.audit(), DiscrepancyKind::MissingInJournal, "p1", "d5");
}

#[test]
fn a_tombstoned_id_applied_is_missing_in_journal() {
    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("t6", EntryKind::Debit, eur(50), 1, false));
    assert_only(&f.audit(), DiscrepancyKind::MissingInJournal, "p1", "t6");
}

#[test]
fn another_amount_or_direction_is_an_amount_mismatch() {
    let mut f = Fixture::consistent();
    f.entry("p1", "c1").amount = ProviderAmount::Exact(eur(301));
    assert_only(&f.audit(), DiscrepancyKind::AmountMismatch, "p1", "c1");

    let mut f = Fixture::consistent();
    f.entry("p1", "d1").kind = EntryKind::Credit;
    assert_only(&f.audit(), DiscrepancyKind::AmountMismatch, "p1", "d1");

    // A rolled-back debit moved money twice; both must be its amount.
    let mut f = Fixture::consistent();
    f.entry("p1", "d2").amount = ProviderAmount::Exact(eur(201));
    assert_only(&f.audit(), DiscrepancyKind::AmountMismatch, "p1", "d2");
}

#[test]
fn an_inexact_provider_amount_is_an_amount_mismatch_never_rounded() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d1").amount =
        ProviderAmount::convert(Some("EUR"), Some(500_001), Scale::HundredThousandths);
    let report = f.audit();
    assert_only(&report, DiscrepancyKind::AmountMismatch, "p1", "d1");
    assert!(
        report.discrepancies[0].detail.contains("500001 x 1e-5 EUR"),
        "{report}"
    );
}

#[test]
fn another_currency_is_a_currency_mismatch() {
    let mut f = Fixture::consistent();
    f.entry("p1", "c1").amount = ProviderAmount::Exact(money("USD", 300));
    assert_only(&f.audit(), DiscrepancyKind::CurrencyMismatch, "p1", "c1");

    let mut f = Fixture::consistent();
    f.entry("p1", "j1").amount =
        ProviderAmount::convert(Some("XAU"), Some(1000), Scale::MinorUnits);
    assert_only(&f.audit(), DiscrepancyKind::CurrencyMismatch, "p1", "j1");
}

#[test]
fn one_id_applied_more_than_once_is_applied_twice() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d1").applied = 2;
    assert_only(&f.audit(), DiscrepancyKind::AppliedTwice, "p1", "d1");

    // Two records of one id, each applied once.
    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("c1", EntryKind::Credit, eur(300), 1, false));
    assert_only(&f.audit(), DiscrepancyKind::AppliedTwice, "p1", "c1");
}

#[test]
fn rolled_back_but_applied_and_standing_is_not_reversed() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d2").reversed = false;
    assert_only(&f.audit(), DiscrepancyKind::NotReversed, "p1", "d2");

    // The journal never applied it, the provider did.
    let mut f = Fixture::consistent();
    f.entries("p1")
        .push(entry("d3", EntryKind::Debit, eur(150), 1, false));
    assert_only(&f.audit(), DiscrepancyKind::NotReversed, "p1", "d3");
}

#[test]
fn sent_or_pending_is_still_pending_whatever_the_provider_says() {
    let mut f = Fixture::consistent();
    f.journal_tx("d1").state = TxState::Pending;
    assert_only(&f.audit(), DiscrepancyKind::StillPending, "p1", "d1");

    let mut f = Fixture::consistent();
    f.journal
        .push(tx("s1", "p2", TxKind::Credit, TxState::Sent, Some(eur(5))));
    f.renumber();
    assert_only(&f.audit(), DiscrepancyKind::StillPending, "p2", "s1");
}

#[test]
fn journal_providers_without_a_ledger_are_audited_unless_a_subset_is_asked() {
    let mut f = Fixture::consistent();
    f.providers.remove(&provider("p2"));
    let report = f.audit();
    assert_only(&report, DiscrepancyKind::MissingAtProvider, "p2", "e1");
    assert!(
        report.discrepancies[0]
            .detail
            .contains("no ledger of this provider"),
        "{report}"
    );

    let only_p1 = audit_only(&f.journal, &f.providers, &[provider("p1")]);
    assert!(only_p1.is_clean(), "{only_p1}");
    assert_eq!(only_p1.checked, 8);

    // A subset skips the others' faults too.
    let mut f = Fixture::consistent();
    f.entry("p2", "e1").applied = 0;
    assert!(audit_only(&f.journal, &f.providers, &[provider("p1")]).is_clean());
    assert_only(
        &audit_only(&f.journal, &f.providers, &[provider("p2")]),
        DiscrepancyKind::MissingAtProvider,
        "p2",
        "e1",
    );
}

#[test]
fn a_repeated_journal_row_counts_once_the_latest_winning() {
    let mut f = Fixture::consistent();
    let mut later = f.journal_tx("d1").clone();
    later.state = TxState::RolledBack;
    f.journal.push(later);
    f.renumber();
    assert_only(&f.audit(), DiscrepancyKind::NotReversed, "p1", "d1");
}

#[test]
fn the_report_reads_one_line_per_discrepancy_then_a_summary() {
    let mut f = Fixture::consistent();
    f.entry("p1", "d2").reversed = false;
    f.journal_tx("c1").state = TxState::Pending;
    let text = f.audit().to_string();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("STILL_PENDING") || lines[1].starts_with("STILL_PENDING"));
    assert!(lines.iter().any(|l| l.starts_with("NOT_REVERSED")
        && l.contains(&id("d2").to_string())
        && l.contains("journal: ROLLED_BACK debit 200 EUR")
        && l.contains("provider: debit 200 EUR applied")));
    assert_eq!(
        lines[2],
        "audit FAILED: 9 transactions checked, 2 discrepancies (1 NOT_REVERSED, 1 STILL_PENDING)"
    );
}

#[test]
fn hundred_thousandths_convert_exactly_or_not_at_all() {
    let cur = |c| Currency::from_code(c).unwrap();
    let s = Scale::HundredThousandths;
    assert_eq!(s.to_minor(250_000, cur("EUR")), Ok(250));
    assert_eq!(s.to_minor(250_001, cur("EUR")), Err(AmountProblem::Inexact));
    assert_eq!(s.to_minor(100_000, cur("JPY")), Ok(1));
    assert_eq!(s.to_minor(99_999, cur("JPY")), Err(AmountProblem::Inexact));
    assert_eq!(s.to_minor(100, cur("BHD")), Ok(1));
    assert_eq!(
        ProviderAmount::convert(Some("EUR"), None, s),
        ProviderAmount::Unrepresentable {
            currency: "EUR".into(),
            value: String::new(),
            problem: AmountProblem::Missing,
        }
    );
}

/// The converters over real sandboxes, driven through the real adapters.
mod sandboxes {
    use std::path::PathBuf;
    use std::sync::Arc;

    use adapter_api::{
        AccountId, Adapter, AdapterFactory, Direction, MoneyRequest, Outcome, ProviderTxId,
        RollbackRequest,
    };

    use super::*;

    fn build(factory: &dyn AdapterFactory, settings: serde_json::Value) -> Arc<dyn Adapter> {
        factory
            .build(&settings)
            .expect("adapter settings are valid")
    }

    fn keys() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys")
    }

    async fn transfer(
        adapter: &dyn Adapter,
        direction: Direction,
        key: &str,
        minor: i64,
    ) -> Outcome {
        adapter
            .transfer(&MoneyRequest {
                direction,
                tx_id: ProviderTxId::new(id(key).to_string()),
                account: AccountId::new("acc-1"),
                amount: eur(minor),
                reference: Some("round-1".into()),
            })
            .await
    }

    async fn rollback(
        adapter: &dyn Adapter,
        key: &str,
        target: &str,
        minor: Option<i64>,
    ) -> Outcome {
        adapter
            .rollback(&RollbackRequest {
                tx_id: ProviderTxId::new(id(key).to_string()),
                original_tx_id: ProviderTxId::new(id(target).to_string()),
                account: AccountId::new("acc-1"),
                amount: minor.map(eur),
            })
            .await
    }

    /// acc-1 holds EUR 100.00. A debit and a credit settle, a debit beyond
    /// the balance is declined, a debit is rolled back, and a rollback names
    /// a debit the provider never saw.
    async fn drive(adapter: &dyn Adapter) {
        let settled = |o: &Outcome| matches!(o, Outcome::Settled(_));
        let o = transfer(adapter, Direction::Debit, "d1", 500).await;
        assert!(settled(&o), "{o:?}");
        let o = transfer(adapter, Direction::Credit, "c1", 300).await;
        assert!(settled(&o), "{o:?}");
        let o = transfer(adapter, Direction::Debit, "big", 1_000_000).await;
        assert!(matches!(o, Outcome::Declined(_)), "{o:?}");
        let o = transfer(adapter, Direction::Debit, "d2", 200).await;
        assert!(settled(&o), "{o:?}");
        let o = rollback(adapter, "r2", "d2", Some(200)).await;
        assert!(settled(&o), "{o:?}");
        // Repeating the rollback moves nothing.
        let o = rollback(adapter, "r2", "d2", Some(200)).await;
        assert!(settled(&o), "{o:?}");
        let o = rollback(adapter, "r3", "ghost", None).await;
        assert!(settled(&o), "{o:?}");
    }

    /// What `drive` leaves at the provider, normalized.
    fn expected() -> Vec<ProviderEntry> {
        use EntryKind::{Credit, Debit};
        vec![
            entry("d1", Debit, eur(500), 1, false),
            entry("c1", Credit, eur(300), 1, false),
            entry("big", Debit, eur(1_000_000), 0, false),
            entry("d2", Debit, eur(200), 1, true),
        ]
    }

    /// What the journal holds after `drive` through the hub (the rollback
    /// of a debit the hub never saw leaves a tombstone).
    fn journal(on: &str) -> Vec<TxRecord> {
        use TxKind as K;
        use TxState as S;
        let d2 = tx("d2", on, K::Debit, S::RolledBack, Some(eur(200)));
        let ghost = tombstone("ghost", on);
        let mut journal = vec![
            tx("d1", on, K::Debit, S::Settled, Some(eur(500))),
            tx("c1", on, K::Credit, S::Settled, Some(eur(300))),
            tx("big", on, K::Debit, S::Declined, Some(eur(1_000_000))),
            rollback_of("r2", &d2),
            d2,
            rollback_of("r3", &ghost),
            ghost,
        ];
        for (i, t) in journal.iter_mut().enumerate() {
            t.seq = i as i64 + 1;
        }
        journal
    }

    /// Converted entries are what `drive` did, a live fetch sees the same,
    /// and the matching journal audits clean.
    async fn check(dialect: &str, base_url: &str, converted: Vec<ProviderEntry>) {
        assert_eq!(converted, expected(), "{dialect}");
        let fetched = fetch_ledger(dialect, base_url).await.unwrap();
        assert_eq!(fetched, converted, "{dialect}");
        let views = BTreeMap::from([(provider("sb"), fetched)]);
        let report = audit(&journal("sb"), &views);
        assert!(report.is_clean(), "{dialect}: {report}");
        assert_eq!(report.checked, 5, "{dialect}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn json_hmac_ledger_converts() {
        let sandbox = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
            secret: "audit-secret".into(),
            operator: "hub".into(),
            control: true,
        })
        .await
        .unwrap();
        sandbox.seed("acc-1", "EUR", 10_000);
        let adapter = build(
            &adapter_json_hmac::Factory,
            serde_json::json!({"base_url": sandbox.base_url(), "secret": "audit-secret", "operator": "hub"}),
        );
        drive(adapter.as_ref()).await;
        let converted = from_json_hmac(&sandbox.ledger());
        check("json-hmac", &sandbox.base_url(), converted).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn json_rsa_ledger_converts_from_hundred_thousandths() {
        let sandbox = sandbox_json_rsa::Sandbox::start_local(
            sandbox_json_rsa::SandboxConfig {
                control: true,
                ..Default::default()
            }
            .setup()
            .unwrap(),
        )
        .await
        .unwrap();
        sandbox.seed("acc-1", "EUR", 10_000 * 1_000);
        let adapter = build(
            &adapter_json_rsa::Factory,
            serde_json::json!({
                "base_url": sandbox.base_url(),
                "private_key_file": keys().join("operator_private.pem"),
                "provider_public_key_file": keys().join("provider_public.pem"),
            }),
        );
        drive(adapter.as_ref()).await;
        let snapshot = sandbox.ledger();
        // The provider tombstoned the unknown id; that is not an entry.
        assert_eq!(snapshot.tombstones.len(), 1);
        check("json-rsa", &sandbox.base_url(), from_json_rsa(&snapshot)).await;

        // A provider amount that is not whole cents is kept, not rounded,
        // and reported as an amount mismatch.
        let mut odd = snapshot.clone();
        let d1 = id("d1").to_string();
        for t in odd
            .transactions
            .iter_mut()
            .filter(|t| t.transaction_uuid == d1)
        {
            t.amount = Some(500_001);
        }
        let entries = from_json_rsa(&odd);
        let d1_entry = entries.iter().find(|e| e.tx_id == d1).unwrap();
        assert_eq!(
            d1_entry.amount,
            ProviderAmount::Unrepresentable {
                currency: "EUR".into(),
                value: "500001 x 1e-5".into(),
                problem: AmountProblem::Inexact,
            }
        );
        let report = audit(&journal("sb"), &BTreeMap::from([(provider("sb"), entries)]));
        assert_only(&report, DiscrepancyKind::AmountMismatch, "sb", "d1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn form_md5_ledger_converts() {
        let sandbox = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
            secret: "audit-secret".into(),
            provider_id: "hub".into(),
            control: true,
        })
        .await
        .unwrap();
        sandbox.seed("acc-1", "EUR", 10_000);
        let adapter = build(
            &adapter_form_md5::Factory,
            serde_json::json!({"base_url": sandbox.base_url(), "secret": "audit-secret", "provider_id": "hub"}),
        );
        drive(adapter.as_ref()).await;
        let converted = from_form_md5(&sandbox.ledger());
        check("form-md5", &sandbox.base_url(), converted).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sandbox_without_its_control_surface_is_named_as_such() {
        let sandbox = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
            control: false,
            ..Default::default()
        })
        .await
        .unwrap();
        let err = fetch_ledger("json-hmac", &sandbox.base_url())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuditError::ControlSurfaceOff { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("control surface is off"), "{err}");

        let err = fetch_ledger("xml-soap", &sandbox.base_url())
            .await
            .unwrap_err();
        assert!(matches!(err, AuditError::UnknownDialect { .. }), "{err:?}");
    }
}

/// `hub audit`'s whole run over the demo's sandboxes, and the configuration
/// file the demo writes for it.
mod live {
    use adapter_api::{AccountId, AdapterFactory, Direction, MoneyRequest, Outcome, ProviderTxId};

    use super::*;
    use crate::journal::SqliteJournal;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_audits_through_the_file_it_writes() {
        let sandboxes = crate::demo::start_sandboxes().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::demo::config(&sandboxes).unwrap();
        config.journal.path = dir.path().join("hub.db");
        let journal = SqliteJournal::open(&config.journal.path).unwrap();

        let file = crate::demo::write_audit_config(&config).unwrap();
        assert_eq!(file, dir.path().join("demo-audit.toml"));
        let loaded = Config::load(Some(&file)).unwrap();
        assert_eq!(loaded.journal.path, config.journal.path);
        assert_eq!(
            loaded.providers.keys().collect::<Vec<_>>(),
            config.providers.keys().collect::<Vec<_>>()
        );
        for (name, p) in &config.providers {
            assert_eq!(loaded.providers[name].dialect, p.dialect);
            assert_eq!(loaded.providers[name].settings.0, p.settings.0);
        }

        let report = audit_config(&loaded, &journal, &[]).await.unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.checked, 0);

        // A debit at the json-hmac sandbox behind the hub's back.
        let settings = serde_json::Value::Object(config.providers["sandbox"].settings.0.clone());
        let adapter = adapter_json_hmac::Factory.build(&settings).unwrap();
        let outcome = adapter
            .transfer(&MoneyRequest {
                direction: Direction::Debit,
                tx_id: ProviderTxId::new(id("behind").to_string()),
                account: AccountId::new("acc-1"),
                amount: eur(100),
                reference: None,
            })
            .await;
        assert!(matches!(outcome, Outcome::Settled(_)), "{outcome:?}");

        let report = audit_config(&loaded, &journal, &[]).await.unwrap();
        assert_only(
            &report,
            DiscrepancyKind::MissingInJournal,
            "sandbox",
            "behind",
        );
        let others = [provider("sandbox-rsa"), provider("sandbox-md5")];
        assert!(
            audit_config(&loaded, &journal, &others)
                .await
                .unwrap()
                .is_clean()
        );
        let err = audit_config(&loaded, &journal, &[provider("nope")])
            .await
            .unwrap_err();
        assert!(matches!(err, AuditError::UnknownProvider { .. }), "{err:?}");

        sandboxes.shutdown().await;
    }
}
