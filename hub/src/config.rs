//! Configuration: embedded defaults, then a TOML file, then `HUB_*`
//! environment variables (`HUB_SERVER__LISTEN=127.0.0.1:6000`; `__`
//! separates levels). Parsed into typed fields and validated once; every
//! error names the field path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::{PartnerId, ProviderId};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The partner-facing gRPC server.
    pub server: ServerConfig,
    /// The journal store.
    pub journal: JournalConfig,
    /// Providers by name.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Partners by name.
    #[serde(default)]
    pub partners: BTreeMap<String, PartnerConfig>,
    /// The resolver of unknown outcomes.
    #[serde(default)]
    pub resolver: ResolverConfig,
    /// The provider exchange log.
    #[serde(default)]
    pub exchange_log: crate::exchange_log::ExchangeLogConfig,
    /// Partner authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The Prometheus metrics listener.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Operators by name: who may call `admin.v1`.
    #[serde(default)]
    pub operators: BTreeMap<String, OperatorConfig>,
}

/// One operator of the hub. Operators call `admin.v1` only; partners never
/// can, whatever their permissions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// How the operator may authenticate: `api_key` (an operator key,
    /// `ok_...`, from `hub operators keys create`) and `mtls`.
    #[serde(default = "default_methods")]
    pub auth_methods: Vec<crate::auth::AuthMethod>,
    /// Client-certificate names (URI or DNS SAN, or subject CN) that act as
    /// this operator.
    #[serde(default)]
    pub certificate_names: Vec<String>,
}

/// Where Prometheus scrapes `GET /metrics`: a plain HTTP listener apart from
/// the partner port, on loopback unless configured otherwise.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The listener's address (default `127.0.0.1:9464`).
    pub listen: std::net::SocketAddr,
    /// Whether `hub serve` opens the listener.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
            enabled: true,
        }
    }
}

/// How the resolver works through PENDING transactions: status queries,
/// then compensation, retried with full-jitter backoff until the provider
/// answers definitely or the budget is spent (then: a dead letter).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResolverConfig {
    /// How often the queue is polled for due work.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Backoff before the second attempt is drawn from zero to this; it
    /// doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Attempts before an item becomes a dead letter.
    pub max_attempts: u32,
    /// A provider's "no such transaction" is trusted only this long after
    /// the hub last sent it: a request still travelling could land later.
    /// Keep it above every provider's timeout.
    #[serde(with = "humantime_serde")]
    pub settle_after: Duration,
    /// Items worked on at once.
    pub concurrency: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(200),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_attempts: 12,
            settle_after: Duration::from_secs(15),
            concurrency: 16,
        }
    }
}

/// The gRPC server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// How long calls in flight may take to finish at shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Deadline of a call whose client sent none.
    #[serde(with = "humantime_serde")]
    pub default_deadline: Duration,
    /// How long before the partner's deadline the hub answers with what it
    /// knows (the PENDING transaction), so the answer arrives in time.
    #[serde(with = "humantime_serde")]
    pub answer_margin: Duration,
    /// TLS on the partner port (mTLS with `client_ca_file`).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Serve without TLS. Never implied: without `tls` the hub refuses to
    /// start unless this is true (the demo, local tests).
    #[serde(default)]
    pub plaintext: bool,
    /// Largest request message decoded, in bytes; larger ones are refused
    /// (OUT_OF_RANGE) before any handler runs.
    pub max_message_bytes: usize,
    /// Largest request metadata (the HTTP/2 header list), in bytes.
    pub max_metadata_bytes: u32,
    /// Most concurrent HTTP/2 streams (calls) per connection.
    pub max_concurrent_streams: u32,
    /// Most requests of one connection being handled at once; more wait.
    pub concurrency_limit_per_connection: usize,
    /// Most money calls (Debit, Credit, Rollback) the hub works on at once,
    /// counting those whose partner was already answered PENDING and whose
    /// journal and provider work goes on. More are refused at once with
    /// RESOURCE_EXHAUSTED (`HUB_OVERLOADED`) and RetryInfo, before anything
    /// is journaled, so an overload costs the hub bounded memory instead of
    /// a queue that grows until it falls over.
    #[serde(default = "default_max_money_calls_in_flight")]
    pub max_money_calls_in_flight: usize,
    /// HTTP/2 PING interval on idle connections...
    #[serde(with = "humantime_serde")]
    pub http2_keepalive_interval: Duration,
    /// ...and how long an unanswered PING lets the connection live.
    #[serde(with = "humantime_serde")]
    pub http2_keepalive_timeout: Duration,
    /// TCP keepalive on accepted connections.
    #[serde(with = "humantime_serde")]
    pub tcp_keepalive: Duration,
    /// Longest a new connection may take to complete the TLS handshake and
    /// send the HTTP/2 preface; slower ones are closed.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Longest any connection lives: then it is told to go away (clients
    /// reconnect; change feeds resume from their cursor), so no client,
    /// idle, slow or trickling, pins a connection for ever.
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Duration,
    /// How long calls in flight get after `max_connection_age`.
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Duration,
    /// A connection with no call open for this long is closed (after the
    /// last call ends, or after the preface when none came), so a client
    /// that only answers keepalive PINGs, or never finishes sending a
    /// call's headers, does not hold it until `max_connection_age`.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most streams a client may open and reset at once before the
    /// connection is closed (the HTTP/2 rapid-reset attack).
    pub max_pending_reset_streams: usize,
}

impl ServerConfig {
    /// Checks the listener's limits; whether TLS or plaintext is configured
    /// at all is checked at start-up ([`ServerConfig::transport`]), so that
    /// tools that never serve need neither.
    fn validate(&self) -> Result<(), (String, &'static str)> {
        let checks: [(bool, &str, &'static str); 13] = [
            (
                !self.max_connection_age.is_zero(),
                "max_connection_age",
                "must be positive",
            ),
            (
                self.max_pending_reset_streams >= 1,
                "max_pending_reset_streams",
                "must be at least 1",
            ),
            (
                self.max_message_bytes >= 1,
                "max_message_bytes",
                "must be positive",
            ),
            (
                self.max_metadata_bytes >= 1024,
                "max_metadata_bytes",
                "must be at least 1024",
            ),
            (
                self.max_concurrent_streams >= 1,
                "max_concurrent_streams",
                "must be at least 1",
            ),
            (
                self.concurrency_limit_per_connection >= 1,
                "concurrency_limit_per_connection",
                "must be at least 1",
            ),
            (
                self.max_money_calls_in_flight >= 1,
                "max_money_calls_in_flight",
                "must be at least 1",
            ),
            (
                !self.http2_keepalive_interval.is_zero(),
                "http2_keepalive_interval",
                "must be positive",
            ),
            (
                !self.http2_keepalive_timeout.is_zero(),
                "http2_keepalive_timeout",
                "must be positive",
            ),
            (
                !self.tcp_keepalive.is_zero(),
                "tcp_keepalive",
                "must be positive",
            ),
            (
                !self.handshake_timeout.is_zero(),
                "handshake_timeout",
                "must be positive",
            ),
            (
                !self.idle_timeout.is_zero(),
                "idle_timeout",
                "must be positive",
            ),
            (
                !(self.plaintext && self.tls.is_some()),
                "plaintext",
                "cannot be true when server.tls is configured",
            ),
        ];
        if let Some((_, field, reason)) = checks.iter().find(|(ok, _, _)| !ok) {
            return Err((format!("server.{field}"), reason));
        }
        if let Some(tls) = &self.tls {
            let files = [
                ("cert_file", Some(&tls.cert_file)),
                ("key_file", Some(&tls.key_file)),
                ("client_ca_file", tls.client_ca_file.as_ref()),
                ("client_crl_file", tls.client_crl_file.as_ref()),
            ];
            for (field, path) in files {
                if path.is_some_and(|p| p.as_os_str().is_empty()) {
                    return Err((format!("server.tls.{field}"), "must name a file"));
                }
            }
            if tls.client_crl_file.is_some() && tls.client_ca_file.is_none() {
                return Err((
                    "server.tls.client_crl_file".into(),
                    "needs client_ca_file (revocation lists are of client certificates)",
                ));
            }
            if tls.reload_interval.is_zero() {
                return Err(("server.tls.reload_interval".into(), "must be positive"));
            }
        }
        Ok(())
    }

    /// Checks at start-up that the listener is either TLS or explicitly
    /// plaintext; returns the TLS settings, if any.
    pub fn transport(&self) -> Result<Option<&crate::tls::TlsConfig>, ConfigError> {
        match (&self.tls, self.plaintext) {
            (Some(tls), _) => Ok(Some(tls)),
            (None, true) => Ok(None),
            (None, false) => Err(ConfigError::Invalid {
                field: "server.tls".into(),
                reason: "not configured: set server.tls.cert_file and server.tls.key_file, \
                         or server.plaintext = true for local use only"
                    .into(),
            }),
        }
    }
}

/// The journal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The SQLite file.
    pub path: PathBuf,
}

/// One provider: which dialect its adapter speaks, the per-call timeout, and
/// the adapter's own settings (endpoints, keys, secrets), which the dialect's
/// factory validates.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProviderConfig {
    /// The dialect its adapter speaks (`json-hmac`, `json-rsa`, `form-md5`),
    /// or `plugin` for an out-of-process adapter plugin.
    pub dialect: String,
    /// Longest a single provider call may take before its outcome is
    /// Unknown; the adapter's default when absent.
    #[serde(default, with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// The circuit breaker of each endpoint.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Retries of calls that provably moved nothing.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Most calls in flight to this provider; more are refused at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Active health checks of each endpoint.
    #[serde(default)]
    pub health: HealthConfig,
    /// A backup endpoint of the same provider (same ledger): adapter
    /// settings that replace the primary's (typically `base_url`). It takes
    /// traffic while the primary is unhealthy or its breaker is open, and a
    /// call only after the primary provably did nothing with it.
    #[serde(default)]
    pub backup: Option<Settings>,
    /// Everything else in the entry, for the adapter.
    #[serde(flatten)]
    pub settings: Settings,
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(5 * 60)
}

/// About 4 KiB each while in flight: 16 MiB at the limit.
fn default_max_money_calls_in_flight() -> usize {
    4096
}

fn default_concurrency() -> usize {
    64
}

/// When an endpoint's breaker opens, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Open after this many failures in a row (NotProcessed or Unknown).
    pub consecutive_failures: u32,
    /// Open when the success rate over `window` falls below this (0 to 1)...
    pub min_success_rate: f64,
    /// ...with at least this many calls in the window.
    pub min_requests: u32,
    /// The success-rate window (whole seconds, at least 1).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// First open period; each further opening doubles it, with jitter.
    #[serde(with = "humantime_serde")]
    pub open_base: Duration,
    /// Longest open period.
    #[serde(with = "humantime_serde")]
    pub open_max: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            min_success_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            open_base: Duration::from_millis(500),
            open_max: Duration::from_secs(30),
        }
    }
}

/// Retries of calls that provably moved nothing (and of read-only queries).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry is drawn from zero to this (full
    /// jitter); it doubles per retry.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Retries may add at most this fraction of recent calls (0 to 1)...
    pub budget_ratio: f32,
    /// ...plus this many retries per second.
    pub budget_min_per_second: u32,
    /// The window the budget counts recent calls over (1 to 60 s).
    #[serde(with = "humantime_serde")]
    pub budget_window: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(500),
            budget_ratio: 0.2,
            budget_min_per_second: 5,
            budget_window: Duration::from_secs(10),
        }
    }
}

/// Active health checks: a cheap read (a balance query of a probe account)
/// whose well-formed answer, even a refusal, shows the provider is serving.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between checks.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a check may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Failed checks in a row that make an endpoint unhealthy.
    pub unhealthy_after: u32,
    /// Passed checks in a row that make it healthy again.
    pub healthy_after: u32,
    /// Account the probe asks about (need not exist).
    pub probe_account: String,
    /// Currency of the probe.
    pub probe_currency: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            unhealthy_after: 2,
            healthy_after: 2,
            probe_account: "hub-health-probe".into(),
            probe_currency: "EUR".into(),
        }
    }
}

impl ProviderConfig {
    fn validate_resilience(&self) -> Result<(), (&'static str, &'static str)> {
        let (b, r, h) = (&self.breaker, &self.retry, &self.health);
        let checks: [(bool, &'static str, &'static str); 12] = [
            (
                b.consecutive_failures >= 1,
                "breaker.consecutive_failures",
                "must be at least 1",
            ),
            (
                (0.0..=1.0).contains(&b.min_success_rate),
                "breaker.min_success_rate",
                "must be between 0 and 1",
            ),
            (
                b.window >= Duration::from_secs(1),
                "breaker.window",
                "must be at least 1s",
            ),
            (
                !b.open_base.is_zero(),
                "breaker.open_base",
                "must be positive",
            ),
            (
                b.open_max >= b.open_base,
                "breaker.open_max",
                "must be at least breaker.open_base",
            ),
            (
                r.max_attempts >= 1,
                "retry.max_attempts",
                "must be at least 1",
            ),
            (
                r.backoff_max >= r.backoff_base,
                "retry.backoff_max",
                "must be at least retry.backoff_base",
            ),
            (
                (0.0..=1.0).contains(&r.budget_ratio),
                "retry.budget_ratio",
                "must be between 0 and 1",
            ),
            (
                (Duration::from_secs(1)..=Duration::from_secs(60)).contains(&r.budget_window),
                "retry.budget_window",
                "must be between 1s and 60s",
            ),
            (self.concurrency >= 1, "concurrency", "must be at least 1"),
            (
                !h.interval.is_zero() && !h.timeout.is_zero(),
                "health.interval",
                "interval and timeout must be positive",
            ),
            (
                h.unhealthy_after >= 1 && h.healthy_after >= 1,
                "health.unhealthy_after",
                "thresholds must be at least 1",
            ),
        ];
        match checks.iter().find(|(ok, _, _)| !ok) {
            Some((_, field, reason)) => Err((field, reason)),
            None => Ok(()),
        }
    }
}

/// A provider's adapter settings. They hold secrets, so `Debug` shows only
/// the setting names.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Settings(pub serde_json::Map<String, serde_json::Value>);

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One partner.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Providers this partner may use.
    pub providers: Vec<String>,
    /// Request-rate limits.
    #[serde(default)]
    pub rate: crate::limits::RateConfig,
    /// Amount limits by ISO 4217 currency code.
    #[serde(default)]
    pub amounts: BTreeMap<String, AmountLimit>,
    /// Its roles: what its calls may do (`move`, `read`, `reports`,
    /// `admin`).
    #[serde(default = "default_permissions")]
    pub permissions: Vec<crate::auth::Permission>,
    /// How it may authenticate (`api_key`, `jwt`, `mtls`).
    #[serde(default = "default_methods")]
    pub auth_methods: Vec<crate::auth::AuthMethod>,
    /// OAuth2 client ids (token subjects) that act as this partner.
    #[serde(default)]
    pub jwt_subjects: Vec<String>,
    /// Client-certificate names (URI or DNS SAN, or subject CN) that act as
    /// this partner.
    #[serde(default)]
    pub certificate_names: Vec<String>,
}

fn default_methods() -> Vec<crate::auth::AuthMethod> {
    vec![crate::auth::AuthMethod::ApiKey]
}

/// How partners authenticate, beyond API keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// OAuth2 client-credentials JWT bearer tokens, checked against a JWKS.
    pub jwt: Option<crate::jwt::JwtConfig>,
}

fn default_permissions() -> Vec<crate::auth::Permission> {
    vec![crate::auth::Permission::Move, crate::auth::Permission::Read]
}

/// What a partner may move in one currency, in minor units.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AmountLimit {
    /// Largest single debit or credit.
    pub per_transaction: Option<i64>,
    /// Most debits and credits together per UTC day.
    pub per_day: Option<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
                shutdown_grace: Duration::from_secs(10),
                default_deadline: Duration::from_secs(30),
                answer_margin: Duration::from_millis(50),
                tls: None,
                plaintext: false,
                max_message_bytes: 1024 * 1024,
                max_metadata_bytes: 16 * 1024,
                max_concurrent_streams: 100,
                concurrency_limit_per_connection: 64,
                max_money_calls_in_flight: default_max_money_calls_in_flight(),
                http2_keepalive_interval: Duration::from_secs(30),
                http2_keepalive_timeout: Duration::from_secs(10),
                tcp_keepalive: Duration::from_secs(60),
                handshake_timeout: Duration::from_secs(10),
                max_connection_age: Duration::from_secs(30 * 60),
                max_connection_age_grace: Duration::from_secs(60),
                idle_timeout: default_idle_timeout(),
                max_pending_reset_streams: 100,
            },
            journal: JournalConfig {
                path: PathBuf::from("data/hub.db"),
            },
            providers: BTreeMap::new(),
            partners: BTreeMap::new(),
            resolver: ResolverConfig::default(),
            exchange_log: crate::exchange_log::ExchangeLogConfig::default(),
            auth: AuthConfig::default(),
            metrics: MetricsConfig::default(),
            operators: BTreeMap::new(),
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, of the wrong type, or unknown; the message names
    /// the field path and where the value came from.
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    /// A value parsed but is not acceptable.
    #[error("configuration: {field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// `HUB_*` environment variables as configuration overrides
/// (`HUB_SERVER__LISTEN` sets `server.listen`). `HUB_CONFIG` and `HUB_LOG`
/// belong to the command line, not the configuration.
pub fn env_overrides() -> Env {
    Env::prefixed("HUB_").ignore(&["CONFIG", "LOG"]).split("__")
}

impl Config {
    /// Defaults, then `file` (if given), then `HUB_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        Self::from_figment(fig.merge(env_overrides()))
    }

    /// Extracts and validates a configuration from any figment.
    pub fn from_figment(fig: Figment) -> Result<Self, ConfigError> {
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.to_owned(),
        };
        if self.server.answer_margin >= self.server.default_deadline {
            return Err(invalid(
                "server.answer_margin".into(),
                "must be shorter than server.default_deadline",
            ));
        }
        self.server
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        self.exchange_log
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        for (name, p) in &self.providers {
            ProviderId::parse(name)
                .map_err(|e| invalid(format!("providers.{name}"), &e.to_string()))?;
            if p.timeout.is_some_and(|t| t.is_zero()) {
                return Err(invalid(
                    format!("providers.{name}.timeout"),
                    "must be positive",
                ));
            }
            p.validate_resilience()
                .map_err(|(field, reason)| invalid(format!("providers.{name}.{field}"), reason))?;
        }
        if let Some(jwt) = &self.auth.jwt {
            jwt.validate().map_err(|e| match e {
                crate::jwt::JwtError::Config { field, reason } => {
                    invalid(format!("auth.jwt.{field}"), &reason)
                }
                other => invalid("auth.jwt".into(), &other.to_string()),
            })?;
        }
        for (name, p) in &self.partners {
            PartnerId::parse(name)
                .map_err(|e| invalid(format!("partners.{name}"), &e.to_string()))?;
            for subject in &p.jwt_subjects {
                if let Some(other) = self
                    .partners
                    .iter()
                    .find(|(n, o)| *n != name && o.jwt_subjects.contains(subject))
                {
                    return Err(invalid(
                        format!("partners.{name}.jwt_subjects"),
                        &format!("{subject:?} also belongs to partner {}", other.0),
                    ));
                }
            }
            for (code, limit) in &p.amounts {
                let field = format!("partners.{name}.amounts.{code}");
                adapter_api::Currency::from_code(code)
                    .map_err(|_| invalid(field.clone(), "not an ISO 4217 currency code"))?;
                if limit.per_transaction.is_some_and(|v| v <= 0)
                    || limit.per_day.is_some_and(|v| v <= 0)
                {
                    return Err(invalid(field, "limits must be positive"));
                }
            }
            for c in &p.certificate_names {
                if let Some((op, _)) = self
                    .operators
                    .iter()
                    .find(|(_, o)| o.certificate_names.contains(c))
                {
                    return Err(invalid(
                        format!("partners.{name}.certificate_names"),
                        &format!("{c:?} also belongs to operator {op}"),
                    ));
                }
            }
            for (i, prov) in p.providers.iter().enumerate() {
                if !self.providers.contains_key(prov) {
                    return Err(invalid(
                        format!("partners.{name}.providers[{i}]"),
                        &format!("no provider named {prov:?} is configured"),
                    ));
                }
            }
        }
        for (name, o) in &self.operators {
            PartnerId::parse(name)
                .map_err(|e| invalid(format!("operators.{name}"), &e.to_string()))?;
            if o.auth_methods.contains(&crate::auth::AuthMethod::Jwt) {
                return Err(invalid(
                    format!("operators.{name}.auth_methods"),
                    "operators authenticate with an operator API key or a client certificate, not jwt",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_toml(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    }

    const PROVIDER: &str = r#"
        [providers.sb]
        dialect = "json-hmac"
        base_url = "http://127.0.0.1:9"
        secret = "s"
        operator = "hub"
        timeout = "2s"
    "#;

    #[test]
    fn a_file_overrides_defaults() {
        let cfg = with_toml(&format!(
            "{PROVIDER}\n[server]\nlisten = \"127.0.0.1:7000\"\n[partners.p1]\nproviders = [\"sb\"]"
        ))
        .unwrap();
        assert_eq!(cfg.server.listen.port(), 7000);
        assert_eq!(cfg.server.shutdown_grace, Duration::from_secs(10));
        assert_eq!(cfg.providers["sb"].timeout, Some(Duration::from_secs(2)));
        assert_eq!(cfg.providers["sb"].dialect, "json-hmac");
        assert_eq!(cfg.providers["sb"].settings.0["operator"], "hub");
    }

    #[test]
    fn errors_name_the_field() {
        let err = with_toml("[server]\nshutdown_grace = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("server.shutdown_grace"), "{err}");
        let err = with_toml("[server]\nlisten_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
        let err = with_toml("[partners.p1]\nproviders = [\"nope\"]").unwrap_err();
        assert!(
            err.to_string().contains("partners.p1.providers[0]"),
            "{err}"
        );
        let err = with_toml(&PROVIDER.replace("\"2s\"", "\"0s\"")).unwrap_err();
        assert!(err.to_string().contains("providers.sb.timeout"), "{err}");
    }

    #[test]
    fn server_tls_and_limits_parse_and_validate() {
        let cfg = with_toml(
            "[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_ca_file = \"ca.pem\"",
        )
        .unwrap();
        let tls = cfg.server.tls.as_ref().unwrap();
        assert_eq!(tls.reload_interval, Duration::from_secs(5));
        assert_eq!(tls.client_ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert!(cfg.server.transport().unwrap().is_some());
        assert_eq!(cfg.server.max_message_bytes, 1024 * 1024);
        assert_eq!(cfg.server.max_metadata_bytes, 16 * 1024);
        assert_eq!(cfg.server.max_concurrent_streams, 100);
        assert_eq!(cfg.server.handshake_timeout, Duration::from_secs(10));
        assert_eq!(cfg.server.idle_timeout, Duration::from_secs(300));
        let cfg = with_toml("[server]\nidle_timeout = \"750ms\"").unwrap();
        assert_eq!(cfg.server.idle_timeout, Duration::from_millis(750));

        let cfg = with_toml("[server]\nplaintext = true").unwrap();
        assert!(cfg.server.transport().unwrap().is_none());
        let err = with_toml("").unwrap().server.transport().unwrap_err();
        assert!(err.to_string().contains("server.tls"), "{err}");

        for (toml, field) in [
            (
                "[server]\nplaintext = true\n[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"",
                "server.plaintext",
            ),
            (
                "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nreload_interval = \"0s\"",
                "server.tls.reload_interval",
            ),
            (
                "[server.tls]\ncert_file = \"\"\nkey_file = \"k\"",
                "server.tls.cert_file",
            ),
            (
                "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nclient_crl_file = \"crl.pem\"",
                "server.tls.client_crl_file",
            ),
            (
                "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nkey_password = \"x\"",
                "key_password",
            ),
            (
                "[server]\nmax_metadata_bytes = 10",
                "server.max_metadata_bytes",
            ),
            (
                "[server]\nmax_message_bytes = 0",
                "server.max_message_bytes",
            ),
            (
                "[server]\nhandshake_timeout = \"0s\"",
                "server.handshake_timeout",
            ),
            ("[server]\nidle_timeout = \"0s\"", "server.idle_timeout"),
        ] {
            let err = with_toml(toml).unwrap_err();
            assert!(err.to_string().contains(field), "{toml}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let cfg = with_toml(PROVIDER).unwrap();
        let shown = format!("{cfg:?}");
        assert!(shown.contains("\"secret\""), "{shown}");
        assert!(!shown.contains("\"s\""), "{shown}");
    }
}
