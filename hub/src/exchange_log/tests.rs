use std::sync::atomic::AtomicI64;

use adapter_api::{
    AccountId, BalanceRequest, Currency, Direction, Money, MoneyRequest, RollbackRequest,
    StatusRequest,
};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::*;

/// A clock tests set by hand (µs).
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const T0: i64 = 1_700_000_000_000_000;
const DEBIT: &str = "0191e1b0-0000-7000-8000-000000000001";
const OTHER: &str = "0191e1b0-0000-7000-8000-000000000002";
const ROLLBACK: &str = "0191e1b0-0000-7000-8000-000000000003";

fn open(config: &ExchangeLogConfig) -> (tempfile::TempDir, ExchangeLog, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let log = ExchangeLog::open(&dir.path().join("x.db"), config, clock.clone()).unwrap();
    (dir, log, clock)
}

fn provider() -> ProviderId {
    ProviderId::parse("acme").unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(Currency::from_code("EUR").unwrap(), minor)
}

fn debit_op(tx: &str) -> Operation {
    Operation::Transfer(MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new(tx),
        account: AccountId::new("acc-1"),
        amount: eur(250),
        reference: None,
    })
}

fn status_op(tx: &str) -> Operation {
    Operation::Status(StatusRequest {
        tx_id: ProviderTxId::new(tx),
        kind: adapter_api::TxKind::Debit,
        account: AccountId::new("acc-1"),
        amount: Some(eur(250)),
    })
}

fn rollback_op(tx: &str, original: &str) -> Operation {
    Operation::Rollback(RollbackRequest {
        tx_id: ProviderTxId::new(tx),
        original_tx_id: ProviderTxId::new(original),
        account: AccountId::new("acc-1"),
        amount: Some(eur(250)),
    })
}

fn balance_op() -> Operation {
    Operation::Balance(BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: Currency::from_code("EUR").unwrap(),
    })
}

fn exchange(path: &str, reply: ExchangeReply, latency_ms: u64) -> Exchange {
    Exchange {
        method: "POST".into(),
        url: format!("http://provider.test{path}"),
        request: Message {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-signature".into(), exchange::REDACTED.into()),
            ],
            body: Body {
                text: r#"{"tx_id":"t","amount":250}"#.into(),
                len: 26,
                truncated: false,
                escaped: false,
            },
        },
        reply,
        latency: Duration::from_millis(latency_ms),
    }
}

fn ok(status: u16, body: &str) -> ExchangeReply {
    ExchangeReply::Received {
        status,
        message: Message {
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body {
                text: body.into(),
                len: body.len(),
                truncated: false,
                escaped: false,
            },
        },
    }
}

fn tx(id: &str) -> TransactionId {
    TransactionId::parse(id).unwrap()
}

#[tokio::test]
async fn a_transaction_shows_every_attempt_of_every_call_in_time_order() {
    let (_dir, log, clock) = open(&ExchangeLogConfig::default());
    // The debit: an abandoned attempt... (one call, one exchange)
    let debit = CallRecorder::of(&log, &provider(), &debit_op(DEBIT));
    clock.0.store(T0 + 5_000_000, Ordering::SeqCst);
    debit.record(exchange("/v1/debit", ExchangeReply::Abandoned, 3_000));
    // ...then a status query that took two attempts...
    let status = CallRecorder::of(&log, &provider(), &status_op(DEBIT));
    clock.0.store(T0 + 6_000_000, Ordering::SeqCst);
    status.record(exchange("/v1/status", ok(503, ""), 10));
    clock.0.store(T0 + 7_000_000, Ordering::SeqCst);
    status.record(exchange("/v1/status", ok(200, r#"{"status":"OK"}"#), 20));
    // ...and a rollback of it, under its own id.
    let rollback = CallRecorder::of(&log, &provider(), &rollback_op(ROLLBACK, DEBIT));
    clock.0.store(T0 + 8_000_000, Ordering::SeqCst);
    rollback.record(exchange(
        "/v1/rollback",
        ExchangeReply::Failed {
            error: "could not connect to the provider".into(),
            maybe_sent: false,
        },
        1,
    ));
    // Other transactions and balance queries are not its.
    CallRecorder::of(&log, &provider(), &debit_op(OTHER)).record(exchange(
        "/v1/debit",
        ok(200, "{}"),
        5,
    ));
    CallRecorder::of(&log, &provider(), &balance_op()).record(exchange(
        "/v1/balance",
        ok(200, "{}"),
        5,
    ));
    log.flush().await;

    let entries = log.exchanges(&tx(DEBIT)).await.unwrap();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.operation, e.attempt, e.status(), e.exchange.latency))
        .collect();
    assert_eq!(
        seen,
        [
            (ExchangeOperation::Debit, 1, None, Duration::from_secs(3)),
            (
                ExchangeOperation::Status,
                1,
                Some(503),
                Duration::from_millis(10)
            ),
            (
                ExchangeOperation::Status,
                2,
                Some(200),
                Duration::from_millis(20)
            ),
            (
                ExchangeOperation::Rollback,
                1,
                None,
                Duration::from_millis(1)
            ),
        ]
    );
    // Sent at: recorded when the exchange ended, minus its latency.
    assert_eq!(entries[0].at_us, T0 + 2_000_000);
    assert_eq!(entries[2].at_us, T0 + 7_000_000 - 20_000);
    assert_eq!(
        entries[3].tx_id.as_ref().map(|t| t.as_str()),
        Some(ROLLBACK)
    );
    assert_eq!(
        entries[3].related_tx_id.as_ref().map(|t| t.as_str()),
        Some(DEBIT)
    );
    assert_eq!(entries[0].provider, provider());
    // Everything recorded comes back as it was.
    assert_eq!(
        entries[2].exchange,
        exchange("/v1/status", ok(200, r#"{"status":"OK"}"#), 20)
    );
    // The rollback's own log has only its exchange.
    let own = log.exchanges(&tx(ROLLBACK)).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].operation, ExchangeOperation::Rollback);

    // By time: the balance query (no transaction) is there too.
    let all = log.between(T0, T0 + 60_000_000, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert!(
        all.iter()
            .any(|e| e.operation == ExchangeOperation::Balance && e.tx_id.is_none())
    );
    assert_eq!(log.between(T0, T0 + 60_000_000, 2).await.unwrap().len(), 2);
    let stats = log.stats();
    assert_eq!((stats.recorded, stats.written, stats.dropped), (6, 6, 0));
}

#[test]
fn entries_round_trip_through_compression() {
    let long = "x".repeat(10_000);
    let original = Exchange {
        request: Message {
            headers: vec![("x-odd".into(), "caf\\xe9".into())],
            body: Body {
                text: format!("\\xff{long}"),
                len: 70_000,
                truncated: true,
                escaped: true,
            },
        },
        ..exchange("/bet.html", ok(200, "{\"cash\":97.50}"), 7)
    };
    let value = to_json(&original);
    // One compressor for every entry, as the writer uses it per batch: each
    // entry must still come out as a stream of its own.
    let mut compressor = Compressor::new();
    let packed = compressor.compress(&value).unwrap();
    assert!(packed.len() < 1_000, "compressed to {} bytes", packed.len());
    let back = decompress(&packed).unwrap();
    let (method, request, reply) = from_json(&back).unwrap();
    assert_eq!(method, original.method);
    assert_eq!(request, original.request);
    assert_eq!(reply, original.reply);
    for reply in [
        ExchangeReply::Abandoned,
        ExchangeReply::Failed {
            error: "reset".into(),
            maybe_sent: true,
        },
    ] {
        let e = exchange("/", reply.clone(), 1);
        let (_, _, back) =
            from_json(&decompress(&compressor.compress(&to_json(&e)).unwrap()).unwrap()).unwrap();
        assert_eq!(back, reply);
    }
    assert_eq!(
        decompress(&compressor.compress(&value).unwrap()),
        Some(value),
        "the reused state starts clean"
    );
    // Not zlib, or not ours: no entry, no panic.
    assert!(decompress(b"not zlib").is_none());
    assert!(from_json(&json!({"method": "POST"})).is_none());
}

#[tokio::test]
async fn pruning_deletes_what_is_older_than_the_retention_in_chunks() {
    let config = ExchangeLogConfig {
        retention: Duration::from_secs(3600),
        ..ExchangeLogConfig::default()
    };
    let (_dir, log, clock) = open(&config);
    // More old entries than one delete chunk, then a few recent ones.
    let old = CallRecorder::of(&log, &provider(), &debit_op(DEBIT));
    for _ in 0..(PRUNE_CHUNK + 500) {
        old.record(exchange("/v1/debit", ok(200, "{}"), 0));
    }
    clock.0.store(T0 + 2 * 3_600_000_000, Ordering::SeqCst);
    let recent = CallRecorder::of(&log, &provider(), &debit_op(OTHER));
    for _ in 0..3 {
        recent.record(exchange("/v1/debit", ok(200, "{}"), 0));
    }
    log.flush().await;
    assert_eq!(log.stats().dropped, 0, "the queue took them all");

    // Retention is one hour: the first batch is two hours old.
    let pruned = log.prune().await.unwrap();
    assert_eq!(pruned, (PRUNE_CHUNK + 500) as u64);
    assert!(log.exchanges(&tx(DEBIT)).await.unwrap().is_empty());
    assert_eq!(log.exchanges(&tx(OTHER)).await.unwrap().len(), 3);
    assert_eq!(log.prune().await.unwrap(), 0);
    assert_eq!(log.stats().pruned, pruned);

    // The pruner task does the same on its interval.
    clock.0.store(T0 + 4 * 3_600_000_000, Ordering::SeqCst);
    let config = ExchangeLogConfig {
        prune_interval: Duration::from_millis(10),
        ..config
    };
    let pruner = ExchangeLog {
        inner: Arc::new(Inner {
            queue: log.inner.queue.clone(),
            reader: log.inner.reader.clone(),
            clock: clock.clone(),
            retention: config.retention,
            prune_interval: config.prune_interval,
            counters: log.inner.counters.clone(),
        }),
    };
    let task = tokio::spawn(pruner.run_pruner());
    let mut left = 3;
    for _ in 0..200 {
        left = log.exchanges(&tx(OTHER)).await.unwrap().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let config = ExchangeLogConfig {
        queue: 2,
        ..ExchangeLogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let log = ExchangeLog::open(&path, &config, clock).unwrap();
    // Another connection holds the write lock: the writer stalls on its
    // first batch.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let call = CallRecorder::of(&log, &provider(), &debit_op(DEBIT));
    call.record(exchange("/v1/debit", ok(200, "{}"), 0));
    // Let the writer take it (and stall), then fill the queue and more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    for _ in 0..5 {
        call.record(exchange("/v1/debit", ok(200, "{}"), 0));
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "recording never waits"
    );
    let stats = log.stats();
    assert_eq!((stats.recorded, stats.dropped), (6, 3));
    blocker.execute_batch("COMMIT").unwrap();
    log.flush().await;
    let entries = log.exchanges(&tx(DEBIT)).await.unwrap();
    assert_eq!(entries.len(), 3);
    // Numbers count what was sent, dropped entries included.
    let attempts: Vec<_> = entries.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(log.stats().written, 3);
}

#[test]
fn configuration_has_defaults_durations_and_field_paths() {
    let load = |toml: &str| {
        Config::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    };
    let config = load("").unwrap();
    assert!(config.exchange_log.enabled);
    assert_eq!(
        config.exchange_log.retention,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(
        config.exchange_log.path_beside(Path::new("data/hub.db")),
        Path::new("data/hub-exchanges.db")
    );
    assert_eq!(
        config.exchange_log.path_beside(Path::new("journal")),
        Path::new("journal-exchanges")
    );

    let config = load(
        "[exchange_log]\nretention = \"7d\"\nprune_interval = \"10m\"\npath = \"/var/x.db\"\nenabled = false\n",
    )
    .unwrap();
    let log = &config.exchange_log;
    assert_eq!(log.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(log.prune_interval, Duration::from_secs(600));
    assert_eq!(
        log.path_beside(Path::new("data/hub.db")),
        Path::new("/var/x.db")
    );
    assert!(!log.enabled);

    for (toml, field) in [
        ("retention = \"0s\"", "exchange_log.retention"),
        ("prune_interval = \"0s\"", "exchange_log.prune_interval"),
        ("queue = 0", "exchange_log.queue"),
        ("path = \"\"", "exchange_log.path"),
    ] {
        match load(&format!("[exchange_log]\n{toml}\n")) {
            Err(crate::config::ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{toml}: {other:?}"),
        }
    }
    let unknown = load("[exchange_log]\nretension = \"1d\"\n").unwrap_err();
    assert!(unknown.to_string().contains("retension"), "{unknown}");
    let bad = load("[exchange_log]\nretention = \"a month\"\n").unwrap_err();
    assert!(bad.to_string().contains("exchange_log.retention"), "{bad}");
}

#[tokio::test]
async fn a_disabled_log_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.journal.path = dir.path().join("hub.db");
    config.exchange_log.enabled = false;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock(AtomicI64::new(T0)));
    assert!(
        ExchangeLog::from_config(&config, clock.clone())
            .unwrap()
            .is_none()
    );
    assert!(!dir.path().join("hub-exchanges.db").exists());
    config.exchange_log.enabled = true;
    assert!(ExchangeLog::from_config(&config, clock).unwrap().is_some());
    assert!(dir.path().join("hub-exchanges.db").exists());
}
