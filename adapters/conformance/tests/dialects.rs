//! Runs the conformance kit over every built-in adapter against its own
//! sandbox provider, and fails unless every scenario passes for each.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use adapter_api::{Adapter, AdapterFactory, Currency, Money};
use adapter_conformance::{Fault, Report, SandboxProbe, Subject, run};
use sandbox_kit::{AccountSeed, Dialect, FaultKind};

/// The kit's view of a sandbox built on `sandbox-kit`.
struct KitProbe<D: Dialect> {
    sandbox: sandbox_kit::Sandbox<D>,
    /// Provider units per minor unit of a currency.
    scale: fn(Currency) -> i64,
    /// The dialect's debit path (faults are injected there).
    debit_path: &'static str,
    currencies: Mutex<HashMap<String, Currency>>,
}

impl<D: Dialect> KitProbe<D> {
    fn new(
        sandbox: sandbox_kit::Sandbox<D>,
        scale: fn(Currency) -> i64,
        debit_path: &'static str,
    ) -> Self {
        Self {
            sandbox,
            scale,
            debit_path,
            currencies: Mutex::new(HashMap::new()),
        }
    }
}

impl<D: Dialect> SandboxProbe for KitProbe<D> {
    fn seed(&self, account: &str, balance: Money) {
        self.currencies
            .lock()
            .unwrap()
            .insert(account.to_owned(), balance.currency);
        self.sandbox.seed_account(&AccountSeed {
            account: account.to_owned(),
            currency: balance.currency.code().to_owned(),
            balance: balance.minor_units * (self.scale)(balance.currency),
            blocked: false,
            limit: None,
        });
    }

    fn block(&self, account: &str) {
        self.sandbox.block(account);
    }

    fn limit(&self, account: &str, per_transaction: Money) {
        self.sandbox.set_limit(
            account,
            Some(per_transaction.minor_units * (self.scale)(per_transaction.currency)),
        );
    }

    fn balance(&self, account: &str) -> Option<Money> {
        let currency = *self.currencies.lock().unwrap().get(account)?;
        let units = self.sandbox.balance(account)?;
        let scale = (self.scale)(currency);
        (units % scale == 0).then(|| Money::new(currency, units / scale))
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
        self.sandbox.set_fault(
            sandbox_kit::Fault::new(kind)
                .on_path(self.debit_path)
                .times(1),
        );
    }

    fn clear_faults(&self) {
        self.sandbox.clear_faults();
    }
}

fn minor_units(_: Currency) -> i64 {
    1
}

fn hundred_thousandths(c: Currency) -> i64 {
    10i64.pow(5 - u32::from(c.exponent()))
}

/// An address nobody listens on.
async fn closed_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn build(factory: &dyn AdapterFactory, settings: serde_json::Value) -> Arc<dyn Adapter> {
    factory
        .build(&settings)
        .expect("adapter settings are valid")
}

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa/keys")
}

async fn json_hmac() -> Subject {
    let sandbox = sandbox_json_hmac::Sandbox::start_local(sandbox_json_hmac::SandboxConfig {
        secret: "conformance-secret".into(),
        operator: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    let settings = |url: String| serde_json::json!({"base_url": url, "secret": "conformance-secret", "operator": "hub"});
    Subject {
        name: "json-hmac".into(),
        adapter: build(&adapter_json_hmac::Factory, settings(sandbox.base_url())),
        unreachable: build(&adapter_json_hmac::Factory, settings(closed_port().await)),
        sandbox: Box::new(KitProbe::new(sandbox, minor_units, "/v1/debit")),
    }
}

async fn json_rsa() -> Subject {
    let sandbox = sandbox_json_rsa::Sandbox::start_local(
        sandbox_json_rsa::SandboxConfig::default().setup().unwrap(),
    )
    .await
    .unwrap();
    let settings = |url: String| {
        serde_json::json!({
            "base_url": url,
            "private_key_file": keys().join("operator_private.pem"),
            "provider_public_key_file": keys().join("provider_public.pem"),
        })
    };
    Subject {
        name: "json-rsa".into(),
        adapter: build(&adapter_json_rsa::Factory, settings(sandbox.base_url())),
        unreachable: build(&adapter_json_rsa::Factory, settings(closed_port().await)),
        sandbox: Box::new(KitProbe::new(
            sandbox,
            hundred_thousandths,
            "/api/transaction/bet",
        )),
    }
}

async fn form_md5() -> Subject {
    let sandbox = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
        secret: "conformance-secret".into(),
        provider_id: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    let settings = |url: String| serde_json::json!({"base_url": url, "secret": "conformance-secret", "provider_id": "hub"});
    Subject {
        name: "form-md5".into(),
        adapter: build(&adapter_form_md5::Factory, settings(sandbox.base_url())),
        unreachable: build(&adapter_form_md5::Factory, settings(closed_port().await)),
        sandbox: Box::new(KitProbe::new(sandbox, minor_units, "/bet.html")),
    }
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
async fn json_hmac_conforms() {
    check(&run(&json_hmac().await).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rsa_conforms() {
    check(&run(&json_rsa().await).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_md5_conforms() {
    check(&run(&form_md5().await).await);
}
