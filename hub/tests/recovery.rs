//! Unknown outcomes resolved, dead letters, and crash recovery, with real
//! faults through the sandboxes and a real hub process killed mid-flight.

mod common;
#[path = "common/process.rs"]
mod process;

use std::time::Duration;

use common::*;
use hub::journal::Journal;
use hub_proto::settlement::v1 as pb;
use process::{HubProcess, free_port};
use sandbox_json_hmac::{Fault, FaultKind};

/// A resolver that polls often and trusts "not found" soon: fit for tests
/// whose provider calls take at most a few hundred milliseconds.
/// Audits `journal` against the json-hmac sandbox behind provider `sb`.
async fn audit_hmac(
    journal: &dyn Journal,
    sb: &sandbox_json_hmac::Sandbox,
) -> hub::audit::AuditReport {
    let txs = hub::audit::read_journal(journal).await.unwrap();
    let ledgers = std::collections::BTreeMap::from([(
        hub::domain::ProviderId::parse(PROVIDER).unwrap(),
        hub::audit::from_json_hmac(&sb.ledger()),
    )]);
    hub::audit::audit(&txs, &ledgers)
}

const FAST_RESOLVER: &str = "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\nmax_attempts = 4\nsettle_after = \"500ms\"";

async fn wait_final(c: &mut Client, key: &str) -> pb::Transaction {
    for _ in 0..200 {
        let tx = fetched(c, by_key(key)).await;
        if state(&tx) != pb::TransactionState::Pending {
            return tx;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{key} stayed PENDING");
}

fn md5_entry(addr: &str) -> String {
    format!(
        "[providers.md5]\ndialect = \"form-md5\"\nbase_url = \"{addr}\"\nsecret = \"md5-secret\"\nprovider_id = \"hub\"\n[providers.md5.health]\ninterval = \"1h\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_debit_reply_is_resolved_by_status_query() {
    let sb = sandbox().await;
    sb.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    // The first status queries fail too, so the partner sees PENDING.
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(1.0))
            .on_path("/v1/status")
            .times(3),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &(hmac_provider(
            PROVIDER,
            sb.addr(),
            "[providers.sb.health]\ninterval = \"1h\"",
        ) + FAST_RESOLVER),
        &[PROVIDER],
    ))
    .await;
    let mut c = hub.client("p1").await;
    let tx = debited(&mut c, debit("lost", "acc-1", 700)).await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    let done = wait_final(&mut c, "lost").await;
    assert_eq!(state(&done), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));
    assert_eq!(
        sb.requests_for(&tx.transaction_id),
        1,
        "the debit was sent once"
    );
    assert!(hub.journal.list_work(None).await.unwrap().is_empty());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_status_query_a_lost_debit_is_compensated_and_a_lost_credit_sent_again() {
    let md5 = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
        secret: "md5-secret".into(),
        provider_id: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    md5.seed("acc-1", "EUR", 100_000);
    md5.set_fault(
        sandbox_form_md5::Fault::new(sandbox_form_md5::FaultKind::DropAfterCommit)
            .on_path("/bet.html")
            .times(1),
    );
    md5.set_fault(
        sandbox_form_md5::Fault::new(sandbox_form_md5::FaultKind::DropAfterCommit)
            .on_path("/result.html")
            .times(1),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &(md5_entry(&md5.base_url()) + FAST_RESOLVER),
        &["md5"],
    ))
    .await;
    let mut c = hub.client("p1").await;

    let tx = c
        .debit(pb::DebitRequest {
            provider: "md5".into(),
            ..debit("lost-bet", "acc-1", 2_500)
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    assert_eq!(md5.balance("acc-1"), Some(97_500), "the bet did apply");
    let done = wait_final(&mut c, "lost-bet").await;
    assert_eq!(state(&done), pb::TransactionState::RolledBack);
    assert_eq!(
        md5.balance("acc-1"),
        Some(100_000),
        "compensated by a refund"
    );

    let tx = c
        .credit(pb::CreditRequest {
            provider: "md5".into(),
            ..credit("lost-win", "acc-1", 1_000)
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    let done = wait_final(&mut c, "lost-win").await;
    assert_eq!(state(&done), pb::TransactionState::Settled);
    assert_eq!(md5.balance("acc-1"), Some(101_000), "credited exactly once");
    let txs = hub::audit::read_journal(hub.journal.as_ref())
        .await
        .unwrap();
    let ledgers = std::collections::BTreeMap::from([(
        hub::domain::ProviderId::parse("md5").unwrap(),
        hub::audit::from_form_md5(&md5.ledger()),
    )]);
    let report = hub::audit::audit(&txs, &ledgers);
    assert!(report.is_clean(), "{report}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_past_the_budget_dead_letters_and_a_replay_resolves() {
    // The provider's ledger lives in `keeper`; the hub talks to `door`.
    let keeper = sandbox().await;
    let door = keeper
        .also_serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let door_addr = door.addr();
    door.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    // The status query right after the lost reply fails too.
    door.set_fault(
        Fault::new(FaultKind::ErrorRate(1.0))
            .on_path("/v1/status")
            .times(3),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &(hmac_provider(PROVIDER, door_addr, "[providers.sb.health]\ninterval = \"1h\"\n[providers.sb.breaker]\nconsecutive_failures = 1000\nmin_requests = 100000")
            + FAST_RESOLVER),
        &[PROVIDER],
    ))
    .await;
    let mut c = hub.client("p1").await;
    let tx = debited(&mut c, debit("stranded", "acc-1", 300)).await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    // The provider goes away.
    door.shutdown().await;
    let id = hub::domain::TransactionId::parse(&tx.transaction_id).unwrap();
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = hub.journal.list_work(Some(true)).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(dead.len(), 1, "the item is a dead letter");
    assert_eq!(dead[0].tx_id, id);
    assert!(dead[0].last_error.is_some());
    let still = wait_for_state(&mut c, "stranded").await;
    assert_eq!(
        still,
        pb::TransactionState::Pending,
        "still PENDING to the partner"
    );

    // The provider returns; an operator replays the dead letter.
    let _door = keeper
        .also_serve(tokio::net::TcpListener::bind(door_addr).await.unwrap())
        .unwrap();
    // With the operator's command, against the running hub's journal.
    let cli_config = path.with_extension("cli.toml");
    std::fs::write(
        &cli_config,
        format!("[journal]\npath = \"{}\"\n", path.display()),
    )
    .unwrap();
    let hub_cmd = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("--config")
            .arg(&cli_config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, listed) = hub_cmd(&["dead-letters", "list"]);
    assert!(ok && listed.contains(&tx.transaction_id), "{listed}");
    let (ok, _) = hub_cmd(&[
        "dead-letters",
        "replay",
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert!(!ok, "replaying an unknown dead letter fails");
    let (ok, out) = hub_cmd(&["dead-letters", "replay", &tx.transaction_id]);
    assert!(ok, "{out}");
    let done = wait_final(&mut c, "stranded").await;
    assert_eq!(state(&done), pb::TransactionState::Settled);
    assert_eq!(keeper.balance("acc-1"), Some(100_000 - 300));
    assert!(hub.journal.list_work(None).await.unwrap().is_empty());
    let report = audit_hmac(hub.journal.as_ref(), &keeper).await;
    assert!(report.is_clean(), "{report}");
    hub.stop().await;
}

async fn wait_for_state(c: &mut Client, key: &str) -> pb::TransactionState {
    let tx = fetched(c, by_key(key)).await;
    state(&tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_flight_resumes_and_every_transaction_ends_once() {
    let sb = sandbox().await;
    // Hold every debit at the provider for a while.
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(1_500))).on_path("/v1/debit"));
    let dir = tempfile::tempdir().unwrap();
    let journal_file = dir.path().join("hub.db");
    let config_file = dir.path().join("hub.toml");
    std::fs::write(
        &config_file,
        format!(
            "[journal]\npath = \"{}\"\n{}\n{}\n[partners.p1]\nproviders = [\"{PROVIDER}\"]\n",
            journal_file.display(),
            hmac_provider(
                PROVIDER,
                sb.addr(),
                "[providers.sb.health]\ninterval = \"1h\""
            ),
            FAST_RESOLVER.replace("500ms", "2500ms"),
        ),
    )
    .unwrap();
    let key = {
        let j = hub::journal::SqliteJournal::open(&journal_file).unwrap();
        let k = hub::auth::generate_key(&hub::domain::PartnerId::parse("p1").unwrap(), "t", 0);
        j.insert_key(k.record).await.unwrap();
        k.key
    };

    let port = free_port();
    let mut first = HubProcess::start(&config_file, port).await;
    let calls = 25;
    let mut tasks = Vec::new();
    for i in 0..calls {
        let (addr, key) = (first.addr, key.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = client_at(addr, &key).await;
            let _ = c.debit(debit(&format!("k-{i}"), "acc-1", 10)).await;
        }));
    }
    // Kill the hub while at least 20 calls are held at the provider.
    for _ in 0..200 {
        if sb.money_requests() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sb.money_requests() >= 20, "calls reached the provider");
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    sb.clear_faults();

    // Restart on the same journal and let the resolver drain.
    let second = HubProcess::start(&config_file, port).await;
    let journal = hub::journal::SqliteJournal::open(&journal_file).unwrap();
    let mut open = usize::MAX;
    for _ in 0..400 {
        let all = journal.scan(0, 1_000).await.unwrap();
        open = all.iter().filter(|t| t.state.is_open()).count();
        if open == 0 && journal.list_work(None).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(open, 0, "every transaction ended");
    drop(second);

    // Recovery resumed interrupted transactions: the change feed shows them
    // going SENT -> PENDING (parked at start) before their final state.
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let changes = journal.changes(&p1, None, 0, 10_000).await.unwrap();
    let parked = changes
        .iter()
        .filter(|ch| ch.tx.state == hub::domain::TxState::Pending)
        .count();
    assert!(parked >= 1, "recovery resumed at least one transaction");

    // The audit: the journal and the provider's ledger agree, nothing PENDING.
    let report = audit_hmac(&journal, &sb).await;
    println!("{report}");
    assert_eq!(report.checked, calls);
    assert!(report.is_clean(), "{report}");
}
