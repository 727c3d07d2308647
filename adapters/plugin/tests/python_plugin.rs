//! The example Python plugin (adapters/plugins/python-json-hmac) behind the
//! bridge, against a json-hmac sandbox: the conformance kit must pass every
//! scenario, exactly as for the built-in json-hmac adapter. Then the plugin
//! process is killed for real.
//!
//! Python comes from `TOOLS_PYTHON`, or else from `scripts/tools.sh python`
//! (which creates the pinned venv on first use). Never skipped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, AdapterFactory, Currency, Direction, Money, MoneyRequest,
    Outcome, ProviderTxId,
};
use adapter_conformance::{Fault, Report, SandboxProbe, Subject, run};
use sandbox_kit::{AccountSeed, FaultKind};

const TOKEN: &str = "conformance-plugin-token";
const SECRET: &str = "conformance-secret";

#[path = "support/python.rs"]
mod python;

use python::PythonPlugin;

/// The plugin process and the bridge to it.
struct Plugin(PythonPlugin);

impl Plugin {
    async fn start(dir: &Path, name: &str, base_url: &str) -> Self {
        Plugin(PythonPlugin::start(dir, name, TOKEN, SECRET, base_url).await)
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        adapter_plugin::Factory
            .build(&serde_json::json!({"address": self.0.address, "token": TOKEN}))
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
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
        secret: SECRET.into(),
        operator: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    let plugin = Plugin::start(dir.path(), "plugin", &sandbox.base_url()).await;
    // The same plugin aimed at a provider nobody serves: it must say
    // NOT_PROCESSED with a connect error, which the bridge trusts.
    let stranded = Plugin::start(dir.path(), "stranded", &closed_port().await).await;

    let adapter = plugin.adapter();
    assert_eq!(
        adapter_plugin::Factory
            .build(&serde_json::json!({"address": plugin.0.address, "token": TOKEN}))
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
    let Plugin(PythonPlugin { mut child, .. }) = plugin;
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
