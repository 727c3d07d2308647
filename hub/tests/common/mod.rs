//! Test harness: a real hub on an ephemeral loopback port, a real json-hmac
//! sandbox provider, a journal file in a temporary directory, and clients
//! with partner keys.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use hub::config::Config;
use hub::domain::PartnerId;
use hub::engine::{Clock, SystemClock};
use hub::journal::{Journal, SqliteJournal};
use hub::server::Hub;
use hub_proto::settlement::v1 as pb;
use pb::settlement_service_client::SettlementServiceClient;
use sandbox_json_hmac::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const SECRET: &str = "test-json-hmac-secret";
pub const PROVIDER: &str = "sb";

/// Adds the API key to every call.
pub type Intercept =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

pub type Client = SettlementServiceClient<InterceptedService<Channel, Intercept>>;

pub type AdminClient = hub_proto::admin::v1::admin_service_client::AdminServiceClient<
    InterceptedService<Channel, Intercept>,
>;

/// Starts a sandbox on an ephemeral port with the test accounts.
pub async fn sandbox() -> Sandbox {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    sandbox_on(listener).await
}

/// Starts a sandbox on `listener` with the test accounts.
pub async fn sandbox_on(listener: TcpListener) -> Sandbox {
    let s = Sandbox::start(
        listener,
        SandboxConfig {
            secret: SECRET.into(),
            operator: "hub".into(),
            control: false,
        },
    )
    .await
    .unwrap();
    s.seed("acc-1", "EUR", 100_000);
    s.seed("acc-2", "EUR", 1_000);
    s
}

/// A json-hmac provider entry named `name` for the sandbox at `addr`,
/// with `extra` lines appended to the entry.
pub fn hmac_provider(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        r#"
        [providers.{name}]
        dialect = "json-hmac"
        base_url = "http://{addr}"
        secret = "{SECRET}"
        operator = "hub"
        timeout = "3s"
        concurrency = 512
        {extra}
        "#
    )
}

/// The test provider on `sandbox` without background health probes (their
/// requests would show in the sandbox's counts).
pub fn quiet_provider(sandbox: SocketAddr) -> String {
    hmac_provider(
        PROVIDER,
        sandbox,
        &format!("[providers.{PROVIDER}.health]\ninterval = \"1h\""),
    )
}

/// A whole test configuration: `providers` (TOML entries), partners p1
/// and p2 allowed on `allowed`, p3 on none.
pub fn config_with(journal: &std::path::Path, providers: &str, allowed: &[&str]) -> Config {
    let allowed = allowed
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    config_toml(
        journal,
        providers,
        &format!(
            "[partners.p1]\nproviders = [{allowed}]\n[partners.p2]\nproviders = [{allowed}]\n[partners.p3]\nproviders = []\n"
        ),
    )
}

/// A whole test configuration with `providers` and `partners` as given.
pub fn config_toml(journal: &std::path::Path, providers: &str, partners: &str) -> Config {
    let toml = config_text(journal, providers, partners);
    Config::from_figment(
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&toml)),
    )
    .unwrap()
}

/// The TOML text of [`config_toml`], for a configuration file.
pub fn config_text(journal: &std::path::Path, providers: &str, partners: &str) -> String {
    format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        shutdown_grace = "3s"
        default_deadline = "10s"
        answer_margin = "20ms"
        plaintext = true

        [journal]
        path = "{}"

        {providers}

        {partners}
        "#,
        journal.display()
    )
}

pub fn config(journal: PathBuf, sandbox: SocketAddr) -> Config {
    config_with(&journal, &hmac_provider(PROVIDER, sandbox, ""), &[PROVIDER])
}

/// A running hub.
pub struct TestHub {
    pub addr: SocketAddr,
    /// Where `GET /metrics` answers.
    pub metrics_addr: SocketAddr,
    pub journal: Arc<SqliteJournal>,
    pub config: Config,
    /// Applies new configurations to this hub.
    pub reloader: Arc<hub::reload::Reloader>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), hub::server::ServeError>>>,
}

impl TestHub {
    /// Starts a hub over the journal file at `path`, routing to `sandbox`.
    pub async fn start(path: PathBuf, sandbox: SocketAddr) -> TestHub {
        Self::start_with(config(path, sandbox)).await
    }

    /// Starts a hub configured from the file at `path`, which its reloads
    /// read again.
    pub async fn start_from_file(path: &std::path::Path) -> TestHub {
        let config = Config::load(Some(path)).unwrap();
        Self::start_inner(config, Some(path.to_owned())).await
    }

    /// Starts a hub with `config` (its journal file included).
    pub async fn start_with(config: Config) -> TestHub {
        Self::start_inner(config, None).await
    }

    async fn start_inner(config: Config, file: Option<PathBuf>) -> TestHub {
        let journal = Arc::new(SqliteJournal::open(&config.journal.path).unwrap());
        let hub = Hub::with_journal(
            &config,
            journal.clone(),
            Arc::new(SystemClock),
            Arc::new(hub::resilience::SeededJitter::new(7)),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_addr = metrics.local_addr().unwrap();
        let mut hub = hub.with_metrics_listener(metrics);
        if let Some(file) = file {
            hub = hub.with_config_file(file);
        }
        let reloader = hub.reloader().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(hub.serve(listener, async {
            let _ = stopped.await;
        }));
        TestHub {
            addr,
            metrics_addr,
            reloader,
            journal,
            config,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Creates an API key for `partner`.
    pub async fn key(&self, partner: &str) -> String {
        let k = hub::auth::generate_key(
            &PartnerId::parse(partner).unwrap(),
            "test",
            SystemClock.now_us(),
        );
        self.journal.insert_key(k.record).await.unwrap();
        k.key
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A client authenticated with `key` (none if `None`).
    pub async fn client_with(&self, key: Option<String>) -> Client {
        let channel = self.channel().await;
        let intercept: Intercept = Box::new(move |mut req: tonic::Request<()>| {
            if let Some(k) = &key {
                req.metadata_mut().insert("x-api-key", k.parse().unwrap());
            }
            Ok(req)
        });
        SettlementServiceClient::with_interceptor(channel, intercept)
    }

    /// Creates an operator key for `operator` (configured under
    /// `[operators.<name>]`).
    pub async fn operator_key(&self, operator: &str) -> String {
        let k =
            hub::operators::generate_operator_key(operator, "test", SystemClock.now_us()).unwrap();
        self.journal.insert_key(k.record).await.unwrap();
        k.key
    }

    /// An admin client sending `key` (none if `None`).
    pub async fn admin_with(&self, key: Option<String>) -> AdminClient {
        let channel = self.channel().await;
        let intercept: Intercept = Box::new(move |mut req: tonic::Request<()>| {
            if let Some(k) = &key {
                req.metadata_mut().insert("x-api-key", k.parse().unwrap());
            }
            Ok(req)
        });
        hub_proto::admin::v1::admin_service_client::AdminServiceClient::with_interceptor(
            channel, intercept,
        )
    }

    /// An admin client for a fresh key of `operator`.
    pub async fn admin(&self, operator: &str) -> AdminClient {
        let key = self.operator_key(operator).await;
        self.admin_with(Some(key)).await
    }

    /// A client for a fresh key of `partner`.
    pub async fn client(&self, partner: &str) -> Client {
        let key = self.key(partner).await;
        self.client_with(Some(key)).await
    }

    /// Stops the hub gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("hub stops in time")
                .unwrap()
                .unwrap();
        }
    }
}

/// A temporary directory with a journal path in it.
pub fn journal_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    (dir, path)
}

pub fn eur(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: "EUR".into(),
        minor_units: minor,
    })
}

pub fn debit(key: &str, account: &str, minor: i64) -> pb::DebitRequest {
    pb::DebitRequest {
        idempotency_key: key.into(),
        provider: PROVIDER.into(),
        account: account.into(),
        amount: eur(minor),
        reference: "r-1".into(),
    }
}

pub fn credit(key: &str, account: &str, minor: i64) -> pb::CreditRequest {
    pb::CreditRequest {
        idempotency_key: key.into(),
        provider: PROVIDER.into(),
        account: account.into(),
        amount: eur(minor),
        reference: String::new(),
    }
}

/// The transaction a debit was answered with; panics on an error status.
pub async fn debited(
    c: &mut Client,
    req: impl tonic::IntoRequest<pb::DebitRequest>,
) -> pb::Transaction {
    c.debit(req)
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap()
}

/// A debit whose client deadline is `deadline`: the hub answers by then,
/// with the PENDING transaction if the provider has not.
pub async fn debited_within(
    c: &mut Client,
    req: pb::DebitRequest,
    deadline: Duration,
) -> pb::Transaction {
    let mut req = tonic::Request::new(req);
    req.set_timeout(deadline);
    debited(c, req).await
}

/// The transaction GetTransaction found; panics on an error status.
pub async fn fetched(c: &mut Client, req: pb::GetTransactionRequest) -> pb::Transaction {
    c.get_transaction(req)
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap()
}

pub fn state(tx: &pb::Transaction) -> pb::TransactionState {
    pb::TransactionState::try_from(tx.state).unwrap()
}

/// The ErrorInfo reason of a status, if any.
pub fn reason(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|i| i.reason.clone())
}

/// The fields named by a status's BadRequest details.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// A client of the hub at `addr` with API key `key`.
pub async fn client_at(addr: SocketAddr, key: &str) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = key.to_owned();
    let intercept: Intercept = Box::new(move |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("x-api-key", key.parse().unwrap());
        Ok(req)
    });
    SettlementServiceClient::with_interceptor(channel, intercept)
}

/// A GetTransaction request by idempotency key.
pub fn by_key(key: impl Into<String>) -> pb::GetTransactionRequest {
    pb::GetTransactionRequest {
        lookup: Some(pb::get_transaction_request::Lookup::IdempotencyKey(
            key.into(),
        )),
    }
}

/// A GetTransaction request by transaction id.
pub fn by_id(id: impl Into<String>) -> pb::GetTransactionRequest {
    pb::GetTransactionRequest {
        lookup: Some(pb::get_transaction_request::Lookup::TransactionId(
            id.into(),
        )),
    }
}
