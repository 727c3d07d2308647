//! Runs the conformance kit over every built-in adapter against its own
//! sandbox provider, and fails unless every scenario passes for each.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use adapter_api::{
    Adapter, AdapterError, AdapterFactory, BalanceRequest, Currency, Descriptor, Money,
    MoneyRequest, Outcome, RollbackRequest, StatusRequest, TxStatus,
};
use adapter_conformance::{Fault, Report, SandboxProbe, Subject, run};
use sandbox_kit::{AccountSeed, Dialect, FaultKind};

/// The kit's view of a sandbox built on `sandbox-kit`.
struct KitProbe<D: Dialect> {
    sandbox: sandbox_kit::Sandbox<D>,
    /// Provider units per minor unit of a currency; `None` when the
    /// provider's units are coarser than the currency's minor unit.
    scale: fn(Currency) -> Option<i64>,
    /// The dialect's debit path (faults are injected there).
    debit_path: &'static str,
    currencies: Mutex<HashMap<String, Currency>>,
}

impl<D: Dialect> KitProbe<D> {
    fn new(
        sandbox: sandbox_kit::Sandbox<D>,
        scale: fn(Currency) -> Option<i64>,
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
            balance: self.units(balance),
            blocked: false,
            limit: None,
        });
    }

    fn block(&self, account: &str) {
        self.sandbox.block(account);
    }

    fn limit(&self, account: &str, per_transaction: Money) {
        self.sandbox
            .set_limit(account, Some(self.units(per_transaction)));
    }

    fn balance(&self, account: &str) -> Option<Money> {
        let currency = *self.currencies.lock().unwrap().get(account)?;
        let units = self.sandbox.balance(account)?;
        let scale = (self.scale)(currency)?;
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

    fn max_amount(&self, currency: Currency) -> Option<i64> {
        Some(i64::MAX / (self.scale)(currency)?)
    }
}

impl<D: Dialect> KitProbe<D> {
    /// `money` in the provider's units. The kit seeds only amounts that
    /// `max_amount` allows, so anything else is a bug in the kit.
    fn units(&self, money: Money) -> i64 {
        (self.scale)(money.currency)
            .and_then(|scale| money.minor_units.checked_mul(scale))
            .unwrap_or_else(|| panic!("{money} does not fit the provider's units"))
    }
}

fn minor_units(_: Currency) -> Option<i64> {
    Some(1)
}

fn hundred_thousandths(c: Currency) -> Option<i64> {
    5u32.checked_sub(u32::from(c.exponent()))
        .map(|places| 10i64.pow(places))
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
    json_hmac_with(|adapter| adapter).await
}

/// The json-hmac subject, its adapter wrapped by `wrap`.
async fn json_hmac_with(wrap: impl Fn(Arc<dyn Adapter>) -> Arc<dyn Adapter>) -> Subject {
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
        adapter: wrap(build(
            &adapter_json_hmac::Factory,
            settings(sandbox.base_url()),
        )),
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

/// A bug planted in a working adapter, to show that the kit notices it.
#[derive(Clone, Copy, Debug)]
enum Bug {
    /// Amounts and balances pass through `f64`, as a careless conversion
    /// does: exact up to 2^53 minor units, rounded above.
    FloatAmounts,
    /// A transaction id repeated with another amount comes back Unknown
    /// instead of the provider's replay.
    DuplicateUnknown,
}

/// An adapter with a [`Bug`]; everything else goes to the real one.
struct Mutant {
    inner: Arc<dyn Adapter>,
    bug: Bug,
    /// Amount last sent per transaction id.
    sent: Mutex<HashMap<String, i64>>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn through_float(minor_units: i64) -> i64 {
    minor_units as f64 as i64
}

// `Adapter` is an `async_trait` trait; these are the signatures it expands to.
impl Adapter for Mutant {
    fn descriptor(&self) -> Descriptor {
        self.inner.descriptor()
    }

    fn transfer<'s, 'r, 'f>(&'s self, req: &'r MoneyRequest) -> BoxFuture<'f, Outcome>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let mut req = req.clone();
            match self.bug {
                Bug::FloatAmounts => req.amount.minor_units = through_float(req.amount.minor_units),
                Bug::DuplicateUnknown => {
                    let earlier = self
                        .sent
                        .lock()
                        .unwrap()
                        .insert(req.tx_id.as_str().to_owned(), req.amount.minor_units);
                    if earlier.is_some_and(|a| a != req.amount.minor_units) {
                        return Outcome::Unknown(AdapterError::Malformed("planted".into()));
                    }
                }
            }
            self.inner.transfer(&req).await
        })
    }

    fn rollback<'s, 'r, 'f>(&'s self, req: &'r RollbackRequest) -> BoxFuture<'f, Outcome>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        self.inner.rollback(req)
    }

    fn balance<'s, 'r, 'f>(
        &'s self,
        req: &'r BalanceRequest,
    ) -> BoxFuture<'f, Result<Money, AdapterError>>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let mut balance = self.inner.balance(req).await?;
            if let Bug::FloatAmounts = self.bug {
                balance.minor_units = through_float(balance.minor_units);
            }
            Ok(balance)
        })
    }

    fn status<'s, 'r, 'f>(&'s self, req: &'r StatusRequest) -> BoxFuture<'f, TxStatus>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        self.inner.status(req)
    }
}

/// The kit over json-hmac with `bug` planted: the scenarios that fail.
async fn failing_with(bug: Bug) -> Vec<&'static str> {
    let subject = json_hmac_with(|inner| {
        Arc::new(Mutant {
            inner,
            bug,
            sent: Mutex::new(HashMap::new()),
        })
    })
    .await;
    let report = run(&subject).await;
    println!("{bug:?}: {report}");
    assert_eq!(report.ran, adapter_conformance::SCENARIOS.len());
    report.failures.iter().map(|f| f.scenario).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_fails_an_adapter_that_converts_through_floats() {
    assert_eq!(
        failing_with(Bug::FloatAmounts).await,
        [
            "conversion: generated amounts in exponents 0, 2, 3, 4 settle exactly",
            "conversion: amounts at the provider's and i64's limits settle exactly",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_fails_an_adapter_that_makes_a_replay_unknown() {
    assert_eq!(
        failing_with(Bug::DuplicateUnknown).await,
        ["same id with another amount follows the duplicate habit"]
    );
}
