//! Operating the hub: the Prometheus metrics move as a scripted run goes
//! (calls, a breaker trip, a dead letter, rate limits, the journal), the
//! request id follows a call, the Grafana dashboard and the alert rules
//! query only metrics a running hub exports, and promtool accepts and
//! unit-tests the rules.
//!
//! The metrics registry is process-wide, and the scripted run asserts
//! exact counts: run these tests the way the test command does (nextest,
//! one process per test). Under plain `cargo test` the tests of this file
//! share one registry and the counts include each other's calls.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    PROVIDER, TestHub, by_key, config_toml, debit, debited, fetched, hmac_provider, journal_path,
    sandbox, state,
};
use hub_proto::settlement::v1 as pb;
use sandbox_json_hmac::{Fault, FaultKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// The body of `GET /metrics`.
async fn scrape(hub: &TestHub) -> String {
    let mut s = tokio::net::TcpStream::connect(hub.metrics_addr)
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: hub\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain"), "{head}");
    body.to_owned()
}

/// The value of the sample `name{labels}` (labels in any order, all of
/// them given), if exported.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let have: BTreeSet<String> = rest
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let want: BTreeSet<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        (have == want).then(|| value.parse().ok())?
    })
}

/// Scrapes until `check` holds (the resolver and health run on their own
/// schedules), failing after a bound.
async fn eventually(hub: &TestHub, what: &str, check: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let text = scrape(hub).await;
        if check(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("metrics never showed {what}:\n{}", scrape(hub).await);
}

const FAST_RESOLVER: &str = "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\nmax_attempts = 3\nsettle_after = \"500ms\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_scripted_run() {
    // `sb` serves; `door` is the same ledger behind a door that will close
    // (for a dead letter); `down` has nothing listening (for a breaker trip).
    let sb = sandbox().await;
    let door = sb
        .also_serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let down = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let quiet =
        |name: &str, extra: &str| format!("[providers.{name}.health]\ninterval = \"1h\"\n{extra}");
    let providers = hmac_provider(PROVIDER, sb.addr(), &quiet(PROVIDER, ""))
        + &hmac_provider(
            "door",
            door.addr(),
            &quiet(
                "door",
                "[providers.door.breaker]\nconsecutive_failures = 1000\nmin_requests = 100000\n",
            ),
        )
        + &hmac_provider(
            "down",
            down,
            &quiet(
                "down",
                "[providers.down.retry]\nmax_attempts = 1\n\
                 [providers.down.breaker]\nconsecutive_failures = 2\nopen_base = \"1h\"\nopen_max = \"1h\"\n",
            ),
        )
        + FAST_RESOLVER;
    let partners = "[partners.p1]\nproviders = [\"sb\", \"door\", \"down\"]\n\
                    [partners.lim]\nproviders = [\"sb\"]\n[partners.lim.rate]\nper_second = 1\nburst = 1\n";
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_toml(&path, &providers, partners)).await;
    let mut c = hub.client("p1").await;

    // Three debits that settle.
    for i in 0..3 {
        let tx = debited(&mut c, debit(&format!("ok-{i}"), "acc-1", 100)).await;
        assert_eq!(state(&tx), pb::TransactionState::Settled);
    }
    let text = scrape(&hub).await;
    let ok = [
        ("rpc", "Debit"),
        ("partner", "p1"),
        ("provider", "sb"),
        ("code", "OK"),
    ];
    assert_eq!(sample(&text, "hub_rpc_requests_total", &ok), Some(3.0));
    assert_eq!(
        sample(
            &text,
            "hub_rpc_duration_seconds_count",
            &[("rpc", "Debit"), ("partner", "p1"), ("provider", "sb")]
        ),
        Some(3.0)
    );
    let settled = [
        ("provider", "sb"),
        ("endpoint", "primary"),
        ("operation", "transfer"),
        ("outcome", "settled"),
    ];
    assert_eq!(
        sample(&text, "hub_provider_attempts_total", &settled),
        Some(3.0)
    );
    assert!(sample(&text, "hub_journal_commit_duration_seconds_count", &[]).unwrap() >= 3.0);
    assert!(sample(&text, "hub_journal_commit_batch_size_count", &[]).unwrap() >= 3.0);
    assert_eq!(sample(&text, "hub_dead_letters", &[]), Some(0.0));

    // A bad request is counted with its code, and no provider label.
    let err = c.debit(debit("bad", "", 100)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let text = scrape(&hub).await;
    let bad = [
        ("rpc", "Debit"),
        ("partner", "p1"),
        ("provider", ""),
        ("code", "INVALID_ARGUMENT"),
    ];
    assert_eq!(sample(&text, "hub_rpc_requests_total", &bad), Some(1.0));

    // A breaker trip: two refused connections open `down`'s breaker, then
    // calls are refused before the provider.
    for i in 0..3 {
        let mut d = debit(&format!("down-{i}"), "acc-1", 100);
        d.provider = "down".into();
        let err = c.debit(d).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    }
    let endpoint = [("provider", "down"), ("endpoint", "primary")];
    let text = eventually(&hub, "the breaker open", |t| {
        sample(t, "hub_breaker_state", &endpoint) == Some(2.0)
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "hub_breaker_transitions_total",
            &[
                ("provider", "down"),
                ("endpoint", "primary"),
                ("to", "open")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "hub_provider_rejections_total",
            &[("provider", "down"), ("reason", "circuit_open")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "hub_provider_attempts_total",
            &[
                ("provider", "down"),
                ("endpoint", "primary"),
                ("operation", "transfer"),
                ("outcome", "not_processed")
            ]
        ),
        Some(2.0)
    );

    // A dead letter: the reply of a debit at `door` is lost, its status
    // queries fail, and the door closes for good.
    door.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    door.set_fault(Fault::new(FaultKind::ErrorRate(1.0)).on_path("/v1/status"));
    let mut d = debit("stranded", "acc-1", 300);
    d.provider = "door".into();
    let tx = c.debit(d).await.unwrap().into_inner().transaction.unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    door.shutdown().await;
    let text = eventually(&hub, "one dead letter", |t| {
        sample(t, "hub_dead_letters", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "hub_pending_transactions", &[]), Some(1.0));
    assert_eq!(sample(&text, "hub_resolver_queue_depth", &[]), Some(0.0));
    let still = fetched(&mut c, by_key("stranded")).await;
    assert_eq!(state(&still), pb::TransactionState::Pending);

    // A rate limit: the second call within the second is refused and
    // counted for the partner.
    let mut lim = hub.client("lim").await;
    let balance = || pb::GetBalanceRequest {
        provider: PROVIDER.into(),
        account: "acc-1".into(),
        currency_code: "EUR".into(),
    };
    lim.get_balance(balance()).await.unwrap();
    let err = lim.get_balance(balance()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    let text = scrape(&hub).await;
    assert_eq!(
        sample(
            &text,
            "hub_rate_limited_total",
            &[("partner", "lim"), ("scope", "partner")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "hub_rpc_requests_total",
            &[
                ("rpc", "GetBalance"),
                ("partner", "lim"),
                ("provider", ""),
                ("code", "RESOURCE_EXHAUSTED")
            ]
        ),
        Some(1.0)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_carries_the_partners_request_id_or_a_fresh_one() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;

    let mut req = tonic::Request::new(debit("rid-1", "acc-1", 100));
    req.metadata_mut()
        .insert("x-request-id", "partner-req-42".parse().unwrap());
    let resp = c.debit(req).await.unwrap();
    assert_eq!(
        resp.metadata().get("x-request-id").unwrap(),
        "partner-req-42"
    );

    // An unusable one is replaced.
    let mut req = tonic::Request::new(debit("rid-2", "acc-1", 100));
    req.metadata_mut()
        .insert("x-request-id", "has spaces in it".parse().unwrap());
    let resp = c.debit(req).await.unwrap();
    let id = resp
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    // Errors carry it too.
    let mut req = tonic::Request::new(debit("rid-3", "", 100));
    req.metadata_mut()
        .insert("x-request-id", "partner-req-43".parse().unwrap());
    let err = c.debit(req).await.unwrap_err();
    assert_eq!(
        err.metadata().get("x-request-id").unwrap(),
        "partner-req-43"
    );
    hub.stop().await;
}

/// Metric names (as in `# TYPE` lines) that `text` (PromQL in a dashboard
/// or rules file) refers to.
fn queried_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("hub_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + e);
        // `hub_*` in prose is no metric.
        if boundary && end > start + 4 {
            let mut name = &text[start..end];
            for suffix in ["_bucket", "_sum", "_count", "_total"] {
                if let Some(stripped) = name.strip_suffix(suffix) {
                    name = stripped;
                    break;
                }
            }
            names.insert(name.to_owned());
        }
        i = end;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_alert_rules_query_only_exported_metrics() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    // One call, so that the per-call series exist.
    let mut c = hub.client("p1").await;
    c.debit(debit("one", "acc-1", 100)).await.unwrap();
    let text = scrape(&hub).await;
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    assert!(exported.len() >= 15, "{exported:?}");

    let dashboard =
        std::fs::read_to_string(repo_root().join("ops/grafana/hub-dashboard.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let exprs: Vec<String> = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 15);
    let dash_metrics = queried_metrics(&exprs.join("\n"));
    let rules = std::fs::read_to_string(repo_root().join("ops/prometheus/hub-rules.yml")).unwrap();
    let rule_metrics = queried_metrics(&rules);
    for (source, metrics) in [("dashboard", &dash_metrics), ("rules", &rule_metrics)] {
        assert!(!metrics.is_empty());
        let missing: Vec<_> = metrics.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{source} queries unexported {missing:?}"
        );
    }
    // The check can fail: a query of a name the hub does not export is
    // caught by the same comparison.
    let planted = queried_metrics("rate(hub_no_such_metric_total[5m])");
    assert!(!planted.is_subset(&exported), "{planted:?}");
    hub.stop().await;
}

/// promtool: `$PROMTOOL` (exported by scripts/test.sh), else installed
/// by scripts/tools.sh.
fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return p.into();
    }
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/tools.sh"))
        .arg("promtool")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/tools.sh promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = repo_root().join("ops/prometheus");
    for args in [
        &["check", "rules", "hub-rules.yml"][..],
        &["test", "rules", "hub-rules.test.yml"][..],
    ] {
        let out = std::process::Command::new(promtool())
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
