//! A provider served by an out-of-process adapter plugin (the example Python
//! plugin of `adapters/plugins/python-json-hmac`) behind a real hub: money
//! moves through it like through a built-in adapter, and when the plugin
//! process dies the hub's resilience stack answers for it (nothing moves, a
//! retry with the same key settles once it is back).
//!
//! Python comes from `TOOLS_PYTHON` (scripts/test.sh), else from
//! `scripts/tools.sh python`. Never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use hub_proto::settlement::v1 as pb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;

const TOKEN: &str = "hub-plugin-test-token";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLS_PYTHON").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/tools.sh"))
        .arg("python")
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/tools.sh python failed");
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// Starts the example plugin on `socket`, talking to the sandbox at
/// `base_url`; returns once it says it listens.
async fn start_plugin(dir: &Path, socket: &Path, base_url: &str) -> tokio::process::Child {
    let token = dir.join("token");
    let secret = dir.join("secret");
    std::fs::write(&token, TOKEN).unwrap();
    std::fs::write(&secret, SECRET).unwrap();
    let listen = format!("unix:{}", socket.display());
    let mut child = tokio::process::Command::new(python())
        .args([
            "-m",
            "json_hmac_plugin",
            "--listen",
            &listen,
            "--operator",
            "hub",
        ])
        .arg("--token-file")
        .arg(&token)
        .arg("--secret-file")
        .arg(&secret)
        .args(["--base-url", base_url, "--timeout", "5"])
        .current_dir(root().join("adapters/plugins/python-json-hmac"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the plugin starts within a minute")
        .unwrap()
        .expect("the plugin said something before exiting");
    assert_eq!(line, format!("listening on {listen}"));
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_provider_moves_money_and_its_death_moves_none() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugin.sock");
    let base_url = format!("http://{}", sb.addr());
    let mut plugin = start_plugin(dir.path(), &socket, &base_url).await;

    let (_jdir, journal) = journal_path();
    let providers = format!(
        "[providers.plug]\ndialect = \"plugin\"\naddress = \"unix:{}\"\ntoken = \"{TOKEN}\"\ntimeout = \"3s\"\n\
         [providers.plug.health]\ninterval = \"1h\"\n\
         [providers.plug.breaker]\nconsecutive_failures = 1000\nmin_requests = 100000\n",
        socket.display()
    );
    let partners = "[partners.p1]\nproviders = [\"plug\"]\n";
    let hub = TestHub::start_with(config_toml(&journal, &providers, partners)).await;
    let mut c = hub.client("p1").await;
    let through_plugin = |key: &str, minor: i64| {
        let mut d = debit(key, "acc-1", minor);
        d.provider = "plug".into();
        d
    };

    let tx = c
        .debit(through_plugin("plug-1", 700))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));
    assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    let bal = c
        .get_balance(pb::GetBalanceRequest {
            provider: "plug".into(),
            account: "acc-1".into(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(bal.minor_units, 100_000 - 700);

    // The plugin dies: nothing can reach the provider, the call says so,
    // and nothing moves.
    plugin.kill().await.unwrap();
    let err = c.debit(through_plugin("plug-2", 300)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_UNAVAILABLE"));
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));

    // Back again: the same key settles, once.
    let _ = std::fs::remove_file(&socket);
    let _plugin = start_plugin(dir.path(), &socket, &base_url).await;
    let tx = c
        .debit(through_plugin("plug-2", 300))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 1_000));
    assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    hub.stop().await;
}
