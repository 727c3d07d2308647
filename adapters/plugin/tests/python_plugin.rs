//! The example Python plugin (adapters/plugins/python-json-hmac) behind the
//! bridge, against a json-hmac sandbox: the conformance kit must pass every
//! scenario, exactly as for the built-in json-hmac adapter. Then the plugin
//! process is killed for real.
//!
//! Python comes from `TOOLS_PYTHON`, or else from `scripts/tools.sh python`
//! (which creates the pinned venv on first use). Never skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, AdapterFactory, Currency, Direction, Money, MoneyRequest,
    Outcome, ProviderTxId,
};
use adapter_conformance::{Fault, Report, SandboxProbe, Subject, run};
use sandbox_kit::{AccountSeed, FaultKind};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "conformance-plugin-token";
const SECRET: &str = "conformance-secret";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The pinned Python: `TOOLS_PYTHON`, or the project venv (created if needed).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/tools.sh"))
        .arg("python")
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/tools.sh");
    assert!(out.status.success(), "scripts/tools.sh python failed");
    let path = String::from_utf8(out.stdout).expect("a UTF-8 path");
    PathBuf::from(path.trim())
}

/// A running plugin process; killed when dropped.
struct Plugin {
    child: Child,
    address: String,
}

impl Plugin {
    async fn start(python: &Path, dir: &Path, name: &str, base_url: &str) -> Self {
        let token = dir.join("token");
        let secret = dir.join("secret");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::write(&secret, SECRET).unwrap();
        let socket = dir.join(format!("{name}.sock"));
        let listen = format!("unix:{}", socket.display());
        let mut child = Command::new(python)
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
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the plugin starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the plugin says it listens within a minute")
            .expect("its stdout is readable")
            .expect("the plugin printed a line before exiting");
        assert_eq!(line, format!("listening on {listen}"));
        Self {
            child,
            address: listen,
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        adapter_plugin::Factory
            .build(&serde_json::json!({"address": self.address, "token": TOKEN}))
            .expect("the plugin describes itself")
    }
}

/// The kit's view of the json-hmac sandbox (integer minor units).
struct Probe {
    sandbox: sandbox_json_hmac::Sandbox,
    currencies: Mutex<HashMap<String, Currency>>,
}

impl SandboxProbe for Probe {
    fn seed(&self, account: &str, balance: Money) {
        self.currencies
            .lock()
            .unwrap()
            .insert(account.to_owned(), balance.currency);
        self.sandbox.seed_account(&AccountSeed {
            account: account.to_owned(),
            currency: balance.currency.code().to_owned(),
            balance: balance.minor_units,
            blocked: false,
            limit: None,
        });
    }

    fn block(&self, account: &str) {
        self.sandbox.block(account);
    }

    fn limit(&self, account: &str, per_transaction: Money) {
        self.sandbox
            .set_limit(account, Some(per_transaction.minor_units));
    }

    fn balance(&self, account: &str) -> Option<Money> {
        let currency = *self.currencies.lock().unwrap().get(account)?;
        Some(Money::new(currency, self.sandbox.balance(account)?))
    }

    fn requests_for(&self, tx_id: &str) -> u64 {
        self.sandbox.requests_for(tx_id)
    }

    fn inject(&self, fault: Fault) {
        let kind = match fault {
            Fault::Garbage => FaultKind::Garbage,
            Fault::Tampered => FaultKind::Tampered,
            Fault::DropAfterCommit => FaultKind::DropAfterCommit,
            Fault::ServerErrorAfterCommit => FaultKind::ServerErrorAfterCommit,
            Fault::UnavailableBeforeProcessing => FaultKind::ErrorRate(1.0),
        };
        self.sandbox
            .set_fault(sandbox_kit::Fault::new(kind).on_path("/v1/debit").times(1));
    }

    fn clear_faults(&self) {
        self.sandbox.clear_faults();
    }
}

/// An HTTP address nobody listens on.
async fn closed_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn check(report: &Report) {
    println!("{report}");
    assert_eq!(
        report.ran,
        adapter_conformance::SCENARIOS.len(),
        "every scenario runs"
    );
    assert!(report.ok(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_plugin_conforms_and_a_killed_plugin_is_not_processed() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
        secret: SECRET.into(),
        operator: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    let plugin = Plugin::start(&python, dir.path(), "plugin", &sandbox.base_url()).await;
    // The same plugin aimed at a provider nobody serves: it must say
    // NOT_PROCESSED with a connect error, which the bridge trusts.
    let stranded = Plugin::start(&python, dir.path(), "stranded", &closed_port().await).await;

    let adapter = plugin.adapter();
    assert_eq!(
        adapter_plugin::Factory
            .build(&serde_json::json!({"address": plugin.address, "token": TOKEN}))
            .map(|a| a.descriptor().default_timeout)
            .ok(),
        Some(Duration::from_secs(2))
    );
    let subject = Subject {
        name: "python json-hmac plugin".into(),
        adapter: adapter.clone(),
        unreachable: stranded.adapter(),
        sandbox: Box::new(Probe {
            sandbox,
            currencies: Mutex::new(HashMap::new()),
        }),
    };
    check(&run(&subject).await);

    // Kill the plugin process: nothing listens, nothing is sent.
    let Plugin { mut child, .. } = plugin;
    child.kill().await.unwrap();
    let o = adapter
        .transfer(&MoneyRequest {
            direction: Direction::Debit,
            tx_id: ProviderTxId::new("after-the-kill"),
            account: AccountId::new("acc-1"),
            amount: Money::new(Currency::from_code("EUR").unwrap(), 1),
            reference: None,
        })
        .await;
    assert!(
        matches!(o, Outcome::NotProcessed(AdapterError::Connect(_))),
        "{o:?}"
    );
}
