//! Unknown outcomes resolved, dead letters, and crash recovery, with real
//! faults through the sandboxes and a real hub process killed mid-flight.

mod common;
#[path = "common/process.rs"]
mod process;

use std::time::Duration;

use common::*;
use hub::engine::Clock;
use hub::journal::Journal;
use hub_proto::settlement::v1 as pb;
use process::{HubProcess, free_port};
use sandbox_json_hmac::{Fault, FaultKind, Sandbox};

/// A resolver that polls often and trusts "not found" soon: fit for tests
/// whose provider calls take at most a few hundred milliseconds.
/// Audits `journal` against the json-hmac sandbox behind provider `sb`.
async fn audit_hmac(
    journal: &dyn Journal,
    sb: &sandbox_json_hmac::Sandbox,
) -> hub::audit::AuditReport {
    audit_books(
        journal,
        [(PROVIDER, hub::audit::from_json_hmac(&sb.ledger()))],
    )
    .await
}

/// Audits the journal against each named provider's books.
async fn audit_books<const N: usize>(
    journal: &dyn Journal,
    books: [(&str, Vec<hub::audit::ProviderEntry>); N],
) -> hub::audit::AuditReport {
    let txs = hub::audit::read_journal(journal).await.unwrap();
    let ledgers = books
        .into_iter()
        .map(|(provider, entries)| (hub::domain::ProviderId::parse(provider).unwrap(), entries))
        .collect();
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

/// A sandbox that applies the next debit and drops its reply, and fails
/// the first three status queries (so the partner sees PENDING), behind a
/// hub whose resolver polls fast.
async fn losing_a_debit_reply() -> (Sandbox, tempfile::TempDir, TestHub) {
    let sb = sandbox().await;
    sb.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(1.0))
            .on_path("/v1/status")
            .times(3),
    );
    let (dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &(quiet_provider(sb.addr()) + FAST_RESOLVER),
        &[PROVIDER],
    ))
    .await;
    (sb, dir, hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_debit_reply_is_resolved_by_status_query() {
    let (sb, _dir, hub) = losing_a_debit_reply().await;
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
    let report = audit_hmac(hub.journal.as_ref(), &sb).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 1);
    hub.stop().await;
}

fn rsa_keys() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_json_rsa_bet_reply_is_resolved_by_lookup_and_audits_clean() {
    let rsa = sandbox_json_rsa::Sandbox::start_local(
        sandbox_json_rsa::SandboxConfig::default().setup().unwrap(),
    )
    .await
    .unwrap();
    // json-rsa keeps 1e-5 of a unit: EUR 1,000.00.
    rsa.seed("acc-1", "EUR", 100_000 * 1_000);
    rsa.set_fault(
        sandbox_json_rsa::Fault::new(sandbox_json_rsa::FaultKind::DropAfterCommit)
            .on_path("/api/transaction/bet")
            .times(1),
    );
    // The first lookups fail too, so the partner sees PENDING.
    rsa.set_fault(
        sandbox_json_rsa::Fault::new(sandbox_json_rsa::FaultKind::ErrorRate(1.0))
            .on_path("/api/transaction/lookup")
            .times(3),
    );
    let entry = format!(
        "[providers.rsa]\ndialect = \"json-rsa\"\nbase_url = \"{}\"\nprivate_key_file = \"{}\"\nprovider_public_key_file = \"{}\"\n[providers.rsa.health]\ninterval = \"1h\"\n",
        rsa.base_url(),
        rsa_keys().join("operator_private.pem").display(),
        rsa_keys().join("provider_public.pem").display(),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(&path, &(entry + FAST_RESOLVER), &["rsa"])).await;
    let mut c = hub.client("p1").await;
    let tx = debited(
        &mut c,
        pb::DebitRequest {
            provider: "rsa".into(),
            ..debit("lost-bet", "acc-1", 700)
        },
    )
    .await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    let done = wait_final(&mut c, "lost-bet").await;
    assert_eq!(state(&done), pb::TransactionState::Settled);
    assert_eq!(rsa.balance("acc-1"), Some((100_000 - 700) * 1_000));
    assert_eq!(
        rsa.requests_for(&tx.transaction_id),
        1,
        "the bet was sent once"
    );
    assert!(hub.journal.list_work(None).await.unwrap().is_empty());

    let report = audit_books(
        hub.journal.as_ref(),
        [("rsa", hub::audit::from_json_rsa(&rsa.ledger()))],
    )
    .await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_shows_a_lost_debit_pending_then_final_with_no_gap() {
    let (sb, _dir, hub) = losing_a_debit_reply().await;
    let mut c = hub.client("p1").await;
    // Opened before the debit: it sees every change live.
    let mut feed = c
        .watch_transactions(pb::WatchTransactionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let tx = debited(&mut c, debit("watched", "acc-1", 400)).await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);

    let mut seen = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), feed.message())
            .await
            .expect("the final state reaches the feed")
            .unwrap()
            .expect("the feed stays open");
        let t = m.transaction.unwrap();
        assert_eq!(t.transaction_id, tx.transaction_id);
        let final_state = state(&t) != pb::TransactionState::Pending;
        seen.push((m.cursor, state(&t)));
        if final_state {
            break;
        }
    }
    let states: Vec<_> = seen.iter().map(|(_, s)| *s).collect();
    let (last, before) = states.split_last().unwrap();
    assert_eq!(*last, pb::TransactionState::Settled, "{states:?}");
    assert!(
        !before.is_empty() && before.iter().all(|s| *s == pb::TransactionState::Pending),
        "PENDING first: {states:?}"
    );
    // No gap: the feed carried every change the journal made to it, in
    // order (SENT and PENDING both read PENDING), and the final one last.
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let journaled = hub.journal.changes(&p1, None, 0, 100).await.unwrap();
    let cursors: Vec<_> = seen.iter().map(|(c, _)| c.clone()).collect();
    let expected: Vec<_> = journaled
        .iter()
        .map(|ch| hub::service::encode_position(ch.seq))
        .collect();
    assert_eq!(cursors, expected);
    assert_eq!(journaled.len(), 3, "SENT, PENDING, SETTLED");
    let report = audit_hmac(hub.journal.as_ref(), &sb).await;
    assert!(report.is_clean(), "{report}");
    hub.stop().await;
}

/// Why a call was refused: its status code and ErrorInfo reason.
fn refusal<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (tonic::Code, Option<String>) {
    let status = r.expect_err("refused");
    (status.code(), reason(&status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_work_left_at_start_takes_no_money_call_until_it_is_resumed() {
    let slow = sandbox().await;
    let other = sandbox().await;
    // The resumed transaction's status query is held at the provider until
    // the test lets it go: the recovery window stays open meanwhile.
    slow.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/status"));
    let (_dir, path) = journal_path();
    // A debit a previous hub sent and never heard back about.
    let planted = {
        let journal = hub::journal::SqliteJournal::open(&path).unwrap();
        let intent = hub::journal::Intent {
            partner: hub::domain::PartnerId::parse("p1").unwrap(),
            key: hub::domain::IdempotencyKey::parse("planted").unwrap(),
            kind: hub::domain::TxKind::Debit,
            provider: hub::domain::ProviderId::parse(PROVIDER).unwrap(),
            account: hub::domain::Account::parse("acc-1").unwrap(),
            amount: adapter_api::Money::new(adapter_api::Currency::from_code("EUR").unwrap(), 500),
            reference: None,
            fingerprint: hub::domain::Fingerprint::of(&[b"planted"]),
            now_us: hub::engine::SystemClock.now_us(),
            daily_limit: None,
        };
        let hub::journal::Begin::Started(tx) = journal.begin(intent).await.unwrap() else {
            panic!("planted debit not started");
        };
        assert_eq!(tx.state, hub::domain::TxState::Sent);
        tx
    };
    // Its own timeout, long enough that only the test ends the window.
    let slow_entry = format!(
        "[providers.sb]\ndialect = \"json-hmac\"\nbase_url = \"http://{}\"\nsecret = \"{SECRET}\"\noperator = \"hub\"\ntimeout = \"60s\"\n[providers.sb.health]\ninterval = \"1h\"\n",
        slow.addr()
    );
    let providers = slow_entry
        + &hmac_provider(
            "other",
            other.addr(),
            "[providers.other.health]\ninterval = \"1h\"",
        )
        + FAST_RESOLVER;
    let hub = TestHub::start_with(config_with(&path, &providers, &[PROVIDER, "other"])).await;
    let mut c = hub.client("p1").await;
    let recovering = (
        tonic::Code::Unavailable,
        Some("PROVIDER_RECOVERING".to_owned()),
    );

    // While the planted debit is being resumed: no debit, no rollback (of
    // it, or a tombstone under that provider) for its provider ...
    assert_eq!(
        refusal(c.debit(debit("blocked", "acc-1", 100)).await),
        recovering
    );
    let rollback_of = |key: &str, target: pb::rollback_request::Target| pb::RollbackRequest {
        idempotency_key: key.into(),
        target: Some(target),
        provider: PROVIDER.into(),
    };
    let by_debit_key = pb::rollback_request::Target::OriginalIdempotencyKey("planted".into());
    let by_debit_id = pb::rollback_request::Target::TransactionId(planted.id.to_string());
    let unseen_key = pb::rollback_request::Target::OriginalIdempotencyKey("never-seen".into());
    for (key, target) in [
        ("rb-key", by_debit_key.clone()),
        ("rb-id", by_debit_id),
        ("rb-tomb", unseen_key),
    ] {
        assert_eq!(
            refusal(c.rollback(rollback_of(key, target)).await),
            recovering,
            "{key}"
        );
    }
    // ... while another provider is served.
    let served = debited(
        &mut c,
        pb::DebitRequest {
            provider: "other".into(),
            ..debit("elsewhere", "acc-1", 100)
        },
    )
    .await;
    assert_eq!(state(&served), pb::TransactionState::Settled);
    let rolled = c
        .rollback(rollback_of(
            "rb-elsewhere",
            pb::rollback_request::Target::TransactionId(served.transaction_id.clone()),
        ))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&rolled), pb::TransactionState::RolledBack);
    // The refused calls journaled nothing and reached no provider.
    for key in ["blocked", "rb-key", "rb-id", "rb-tomb", "never-seen"] {
        let found = c.get_transaction(by_key(key)).await;
        assert_eq!(found.unwrap_err().code(), tonic::Code::NotFound, "{key}");
    }
    assert_eq!(slow.money_requests(), 0);
    assert!(!hub.journal.list_work(Some(false)).await.unwrap().is_empty());

    // The status query goes through: the planted debit has been resumed,
    // and its provider takes money calls again.
    slow.clear_faults();
    let mut after = None;
    for _ in 0..400 {
        match c.debit(debit("after", "acc-1", 100)).await {
            Ok(r) => {
                after = r.into_inner().transaction;
                break;
            }
            Err(s) if reason(&s).as_deref() == Some("PROVIDER_RECOVERING") => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    let after = after.expect("served once recovered");
    assert_eq!(state(&after), pb::TransactionState::Settled);
    let rolled = c
        .rollback(rollback_of(
            "rb-after",
            pb::rollback_request::Target::OriginalIdempotencyKey("after".into()),
        ))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&rolled), pb::TransactionState::RolledBack);

    // The planted debit ends too (never applied: compensated), and both
    // providers' books agree with the journal.
    let done = wait_final(&mut c, "planted").await;
    assert_eq!(state(&done), pb::TransactionState::RolledBack);
    assert_eq!(slow.balance("acc-1"), Some(100_000));
    assert_eq!(other.balance("acc-1"), Some(100_000));
    let report = audit_books(
        hub.journal.as_ref(),
        [
            (PROVIDER, hub::audit::from_json_hmac(&slow.ledger())),
            ("other", hub::audit::from_json_hmac(&other.ledger())),
        ],
    )
    .await;
    assert!(report.is_clean(), "{report}");
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
    let report = audit_books(
        hub.journal.as_ref(),
        [("md5", hub::audit::from_form_md5(&md5.ledger()))],
    )
    .await;
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
            quiet_provider(sb.addr()),
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

    // What the killed hub left: transactions whose outcome it never heard.
    // Once the restart has ended them all (below), it ended these too.
    let interrupted = {
        let journal = hub::journal::SqliteJournal::open(&journal_file).unwrap();
        let all = journal.scan(0, 1_000).await.unwrap();
        all.iter().filter(|t| t.state.is_open()).count()
    };
    assert!(
        interrupted > 0,
        "the kill left SENT or PENDING transactions"
    );

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
