//! `hub audit`, the real binary: it reads the journal named by the
//! configuration and each provider's ledger from its sandbox's control
//! surface, prints the report, and exits non-zero on any discrepancy.

mod common;

use common::*;
use hub::engine::{Clock, SystemClock};
use hub::journal::{Journal, Recorded};
use hub_proto::settlement::v1 as pb;

/// `hub --config CONFIG audit`: whether it exited 0, and what it printed.
fn hub_audit(config: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(config)
        .arg("audit")
        .env("HUB_LOG", "warn")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_audit_passes_a_clean_journal_and_names_a_planted_discrepancy() {
    // The audit reads the ledger over the sandbox's control surface.
    let sb = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
        secret: SECRET.into(),
        operator: "hub".into(),
        control: true,
    })
    .await
    .unwrap();
    sb.seed("acc-1", "EUR", 100_000);
    let (dir, path) = journal_path();
    let providers = hmac_provider(PROVIDER, sb.addr(), "");
    let partners = format!("[partners.p1]\nproviders = [\"{PROVIDER}\"]\n");
    let config_file = dir.path().join("hub.toml");
    std::fs::write(&config_file, config_text(&path, &providers, &partners)).unwrap();

    // Real money through a hub, then the hub stops: a quiet journal.
    let hub = TestHub::start_from_file(&config_file).await;
    let mut c = hub.client("p1").await;
    let tx = debited(&mut c, debit("d-1", "acc-1", 700)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    let journal = hub.journal.clone();
    hub.stop().await;

    let (ok, out) = hub_audit(&config_file);
    assert!(ok, "{out}");
    assert!(out.contains("audit clean: 1 transactions checked"), "{out}");

    // Planted: a debit the journal holds SETTLED that the provider never
    // saw.
    let intent = hub::journal::Intent {
        partner: hub::domain::PartnerId::parse("p1").unwrap(),
        key: hub::domain::IdempotencyKey::parse("ghost").unwrap(),
        kind: hub::domain::TxKind::Debit,
        provider: hub::domain::ProviderId::parse(PROVIDER).unwrap(),
        account: hub::domain::Account::parse("acc-1").unwrap(),
        amount: adapter_api::Money::new(adapter_api::Currency::from_code("EUR").unwrap(), 300),
        reference: None,
        fingerprint: hub::domain::Fingerprint::of(&[b"ghost"]),
        now_us: SystemClock.now_us(),
        daily_limit: None,
    };
    let hub::journal::Begin::Started(ghost) = journal.begin(intent).await.unwrap() else {
        panic!("planted debit not started");
    };
    journal
        .record(
            &ghost.id,
            Recorded::Settled {
                balance_after: None,
                provider_ref: None,
            },
            SystemClock.now_us(),
        )
        .await
        .unwrap();
    drop(journal);

    let (ok, out) = hub_audit(&config_file);
    assert!(!ok, "a discrepancy fails the command: {out}");
    let line = out
        .lines()
        .find(|l| l.contains(&ghost.id.to_string()))
        .unwrap_or_else(|| panic!("the planted transaction is named: {out}"));
    assert!(line.starts_with("MISSING_AT_PROVIDER"), "{line}");
    assert!(
        !out.contains(&tx.transaction_id),
        "only the planted one is reported: {out}"
    );
    assert!(
        out.contains(
            "audit FAILED: 2 transactions checked, 1 discrepancies (1 MISSING_AT_PROVIDER)"
        ),
        "{out}"
    );
}
