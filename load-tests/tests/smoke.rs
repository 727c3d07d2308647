//! A seconds-long smoke of the generator: a few hundred closed-loop calls
//! of every kind against an in-process hub routing to an in-process
//! json-hmac sandbox and an echo provider, then the money audit; and the
//! direct driver (the adapter called without the hub). Bounded by
//! a call count, never by time; ephemeral loopback ports only.

use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use hub::config::Config;
use hub::engine::SystemClock;
use hub::journal::SqliteJournal;
use hub::server::Hub;
use hub_load::generator::{self, Load, ProviderSpec, RunSpec, Target};
use hub_load::mix::{Mix, Op};
use hub_load::scenario::{create_keys, hub_toml};
use sandbox_json_hmac::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;

const CALLS: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_drives_the_hub_and_the_money_audit_is_clean() {
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: "smoke-secret".into(),
        operator: "hub".into(),
        control: true,
    })
    .await
    .unwrap();
    let accounts: Vec<String> = (0..4).map(|i| format!("acc-{i}")).collect();
    for a in &accounts {
        sandbox.seed(a, "EUR", 1_000_000_000);
    }
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("hub.db");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let entries = format!(
        "[providers.hmac]\ndialect = \"json-hmac\"\nbase_url = \"{}\"\nsecret = \"smoke-secret\"\noperator = \"hub\"\nconcurrency = 256\n\n[providers.echo]\ndialect = \"echo\"\n\n",
        sandbox.base_url()
    );
    let toml = hub_toml(
        addr,
        &journal_path,
        &["hmac".into(), "echo".into()],
        &entries,
        3,
    );
    let config = Config::from_figment(
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&toml)),
    )
    .unwrap();
    let partners = create_keys(&journal_path, 3).await.unwrap();
    let journal = Arc::new(SqliteJournal::open(&journal_path).unwrap());
    let hub = Hub::with_journal(
        &config,
        journal.clone(),
        Arc::new(SystemClock),
        Arc::new(hub::resilience::SeededJitter::new(3)),
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));

    let target = Target {
        url: format!("http://{addr}"),
        partners,
        providers: ["hmac", "echo"]
            .into_iter()
            .map(|name| ProviderSpec {
                name: name.into(),
                accounts: accounts.clone(),
                currency: "EUR".into(),
            })
            .collect(),
    };
    let spec = RunSpec {
        label: "smoke".into(),
        load: Load::Closed {
            connections: 2,
            streams: 4,
        },
        // Bounded by CALLS; the duration is only a backstop.
        duration: Duration::from_secs(600),
        max_calls: Some(CALLS),
        mix: Mix::standard(),
        seed: 7,
        timeout: Duration::from_secs(30),
        run_id: "smoke".into(),
        progress: false,
    };
    let mut run = generator::run(&target, &spec).await.unwrap();
    assert_eq!(run.summary.calls, CALLS, "every call is in the histograms");
    let per_op: u64 = run.summary.ops.values().map(|o| o.calls).sum();
    assert_eq!(per_op, CALLS);
    assert!(run.summary.ops[&Op::Debit].ok > 0);
    let reconciled = generator::reconcile(&target, &mut run.book, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(reconciled.still_unanswered, 0);
    assert_eq!(reconciled.still_pending, 0);

    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
    let records = hub::audit::read_journal(journal.as_ref()).await.unwrap();
    let hmac = hub::domain::ProviderId::parse("hmac").unwrap();
    let ledger = hub::audit::fetch_ledger("json-hmac", &sandbox.base_url())
        .await
        .unwrap();
    let ledgers = hub::audit::audit_only(
        &records,
        &[(hmac.clone(), ledger)].into_iter().collect(),
        &[hmac],
    );
    let audit = hub_load::audit::check(&target, &run.book, &records, Some(&ledgers));
    eprintln!("{audit}");
    assert!(audit.is_clean(), "{audit}");
    assert!(audit.accepted > 0);
    assert!(audit.ledger_checked > 0);
    // Exactly one journal transaction per accepted money call.
    assert_eq!(
        audit.journal_transactions,
        audit.accepted + audit.refused_in_journal
    );
    assert!(audit.states.get("SETTLED").is_some_and(|n| *n > 0));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_catches_a_journal_that_disagrees_with_the_book() {
    // A book with one settled debit, and a journal that holds nothing.
    let target = Target {
        url: "http://127.0.0.1:9".into(),
        partners: vec![hub_load::generator::Partner {
            name: "lp-0".into(),
            key: "k".into(),
        }],
        providers: vec![ProviderSpec {
            name: "echo".into(),
            accounts: vec!["acc-0".into()],
            currency: "EUR".into(),
        }],
    };
    let book = generator::Book {
        told: vec![generator::Told {
            call: generator::Call {
                op: Op::Debit,
                partner: 0,
                provider: 0,
                account: 0,
                key: "k-1".into(),
                amount: 5,
                target_key: None,
            },
            state: hub_proto::settlement::v1::TransactionState::Settled as i32,
            tx_id: String::new(),
        }],
        ..Default::default()
    };
    let audit = hub_load::audit::check(&target, &book, &[], None);
    assert_eq!(audit.discrepancies.len(), 1, "{audit}");
    assert!(audit.discrepancies[0].starts_with("MISSING_IN_JOURNAL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_driver_moves_money_through_the_adapter_without_the_hub() {
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: "direct-secret".into(),
        operator: "hub".into(),
        control: true,
    })
    .await
    .unwrap();
    sandbox.seed("acc-0", "EUR", 1_000_000_000);
    let adapter = adapter_json_hmac::JsonHmacAdapter::new(adapter_json_hmac::JsonHmacConfig {
        base_url: sandbox.base_url(),
        secret: "direct-secret".into(),
        operator: "hub".into(),
        ca_file: None,
    })
    .unwrap();
    let target = Target {
        url: "http://127.0.0.1:9".into(),
        partners: vec![hub_load::generator::Partner {
            name: "lp-0".into(),
            key: "unused".into(),
        }],
        providers: vec![ProviderSpec {
            name: "hmac".into(),
            accounts: vec!["acc-0".into()],
            currency: "EUR".into(),
        }],
    };
    let spec = RunSpec {
        label: "direct".into(),
        load: Load::Closed {
            connections: 1,
            streams: 4,
        },
        duration: Duration::from_secs(600),
        max_calls: Some(100),
        mix: Mix::debits_only(),
        seed: 3,
        timeout: Duration::from_secs(30),
        run_id: "direct".into(),
        progress: false,
    };
    let run = generator::run_direct(&target, Arc::new(adapter), &spec)
        .await
        .unwrap();
    assert_eq!(run.summary.ok, 100, "{:?}", run.summary.errors);
    assert_eq!(run.book.told.len(), 100);
    let ledger = hub::audit::fetch_ledger("json-hmac", &sandbox.base_url())
        .await
        .unwrap();
    assert_eq!(ledger.len(), 100);
    for told in &run.book.told {
        // The provider-side id is the one the hub would have sent.
        let id = hub::domain::TransactionId::derive(
            &hub::domain::PartnerId::parse("lp-0").unwrap(),
            &hub::domain::IdempotencyKey::parse(&told.call.key).unwrap(),
        );
        assert_eq!(told.tx_id, id.as_str());
        assert!(ledger.iter().any(|e| e.tx_id == told.tx_id));
    }
    sandbox.shutdown().await;
}
