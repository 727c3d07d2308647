//! The adapter for the form-md5 provider dialect: form-encoded parameters
//! with a `hash` = `md5(sorted k=v&... + secret)` parameter, decimal-string
//! amounts, numeric error codes in unsigned JSON replies, and no status
//! query (`shared/providers/form-md5.md`).
//!
//! Built like every adapter of the hub: a pure [`transformer`] (canonical
//! request -> hashed form body; HTTP status + body -> [`Outcome`]) kept apart
//! from the transport ([`adapter_http::Transport`]: one HTTP/1.1 `POST` with
//! a pooled client), and a pure [`amount`] module for the exact decimal
//! conversions. The adapter is stateless apart from its configuration, clock
//! and connection pool, never retries and never times out on its own: the hub
//! owns deadlines, retries and breakers.
//!
//! The dialect has no status query, so [`Adapter::status`] keeps the trait's
//! default (`TxStatus::Unknown(Unsupported)`) and the [`Descriptor`] says
//! so: an `Unknown` bet can only be resolved by refunding it, an `Unknown`
//! result by repeating it (the provider replays the original answer to a
//! repeated `reference`).
//!
//! Transport failures are classified here, before any reply exists:
//!
//! | failure | outcome |
//! |---|---|
//! | the canonical request does not fit the dialect (non-positive amount, empty id or account) | `NotProcessed(Unrepresentable)`, nothing sent |
//! | connect error (refused, DNS, handshake): no byte of the request written | `NotProcessed(Connect)` |
//! | any failure once the request may have been written (reset, close before a full reply, body read error) | `Unknown(Transport)` |
//! | reply body over 64 KiB | `Unknown(Malformed)` |
//! | the hub's deadline fires (the future is dropped) | nothing is returned; the hub records `Unknown` itself |
//!
//! A balance query moves no money, so it reports the same errors as
//! `Err(..)`.
//!
//! Replies are classified by the [`transformer`]; its module docs hold the
//! full table.

pub mod amount;
mod config;
pub mod transformer;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapter_api::{
    Adapter, AdapterError, BalanceRequest, BoxError, Capabilities, Descriptor, DuplicateHabit,
    Money, MoneyRequest, Outcome, RollbackRequest, UnknownRollbackHabit,
};
use adapter_http::{RawReply, Redaction, Transport, TransportError, Trust};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

pub use config::{ConfigError, FormMd5Config};
pub use transformer::Timestamp;

use config::Endpoints;
use transformer::{Credentials, MalformedReply, WireRequest};

/// The dialect's name, as published in the [`Descriptor`].
pub const DIALECT: &str = "form-md5";

const FORM_URLENCODED: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// Where bets and results get their `timestamp`. Injectable so tests and
/// samples are deterministic.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock before 1970 is a broken host; 0 is as good as any answer.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(millis)
    }
}

/// Builds form-md5 adapters from a provider's settings
/// (`base_url`, `secret`, `provider_id`; see [`FormMd5Config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Factory;

impl adapter_api::AdapterFactory for Factory {
    fn dialect(&self) -> &'static str {
        DIALECT
    }

    fn build(
        &self,
        settings: &serde_json::Value,
    ) -> Result<Arc<dyn Adapter>, adapter_api::SettingsError> {
        let config: FormMd5Config = serde_json::from_value(settings.clone())
            .map_err(|e| adapter_api::SettingsError::from_serde(&e))?;
        let adapter = FormMd5Adapter::new(config)
            .map_err(|e| adapter_api::SettingsError::new(e.field(), e.reason()))?;
        Ok(Arc::new(adapter))
    }
}

/// The form-md5 adapter for one provider endpoint and `providerId`.
///
/// Cheap to share: hold it as `Arc<dyn Adapter>`. `Debug` never prints the
/// secret.
#[derive(Debug)]
pub struct FormMd5Adapter {
    endpoints: Endpoints,
    credentials: Credentials,
    transport: Transport,
    clock: Arc<dyn Clock>,
}

impl FormMd5Adapter {
    /// Validates `config` and builds the adapter, stamping bets and results
    /// with the [`SystemClock`]. The base URL must be
    /// `http[s]://host[:port][/prefix]`, the secret non-empty, the provider
    /// id non-empty without control characters and `ca_file`, when set, a
    /// PEM file of CA certificates.
    ///
    /// No connection is made here; requests need a Tokio runtime.
    pub fn new(config: FormMd5Config) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// As [`FormMd5Adapter::new`], with `clock` for the `timestamp`
    /// parameter.
    pub fn with_clock(config: FormMd5Config, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let endpoints = Endpoints::parse(&config.base_url)?;
        if config.secret.is_empty() {
            return Err(ConfigError::SecretEmpty);
        }
        config::check_provider_id(&config.provider_id)?;
        let transport = Transport::with_trust(Trust::from_ca_file(config.ca_file.as_deref()))
            .map_err(ConfigError::CaFile)?
            .with_redaction(exchange_redaction(&config.secret));
        Ok(Self {
            endpoints,
            credentials: Credentials::new(config.provider_id, config.secret),
            transport,
            clock,
        })
    }

    /// POSTs the form body (the hash travels in it, so the only header is
    /// the content type) and reads the whole reply.
    async fn exchange(&self, wire: WireRequest) -> Result<RawReply, TransportError> {
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(CONTENT_TYPE, FORM_URLENCODED);
        let uri = self.endpoints.uri(wire.endpoint);
        self.transport.post(uri, headers, wire.body).await
    }
}

/// What this dialect's logged exchanges hide: the `hash` form parameter
/// (an MD5 over the parameters and the shared secret, which would let the
/// secret be searched for offline), and the secret itself wherever it
/// might show. Every other parameter is kept as sent.
pub fn exchange_redaction(secret: &str) -> Redaction {
    Redaction::new().field("hash").secret(secret)
}

/// The dialect's error for a reply body over the transport's limit.
fn too_large(limit: usize) -> BoxError {
    Box::new(MalformedReply::TooLarge { limit })
}

#[async_trait::async_trait]
impl Adapter for FormMd5Adapter {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            dialect: DIALECT,
            capabilities: Capabilities {
                balance: true,
                status: false,
            },
            duplicates: DuplicateHabit::ReplaysOriginal,
            rollback_of_unknown: UnknownRollbackHabit::NotFoundError,
            default_timeout: Duration::from_secs(5),
        }
    }

    async fn transfer(&self, req: &MoneyRequest) -> Outcome {
        let wire = match transformer::encode_transfer(req, &self.credentials, self.clock.now()) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_transfer(req, reply.status, &reply.body),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn rollback(&self, req: &RollbackRequest) -> Outcome {
        let wire = match transformer::encode_rollback(req, &self.credentials) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_rollback(req, reply.status, &reply.body),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        let wire = transformer::encode_balance(req, &self.credentials)?;
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_balance(req, reply.status, &reply.body),
            Err(error) => Err(error.into_adapter_error(too_large)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_api::{AccountId, AdapterFactory, StatusRequest, TxKind, TxStatus};
    use serde_json::json;

    fn config() -> FormMd5Config {
        FormMd5Config {
            base_url: "http://127.0.0.1:9".into(),
            secret: "very-secret-key".into(),
            provider_id: "op1".into(),
            ca_file: None,
        }
    }

    #[test]
    fn construction_validates_every_field() {
        assert!(FormMd5Adapter::new(config()).is_ok());
        let bad = |edit: fn(&mut FormMd5Config)| {
            let mut config = config();
            edit(&mut config);
            FormMd5Adapter::new(config).err()
        };
        assert!(matches!(
            bad(|c| c.base_url = "ftp://127.0.0.1:9".into()),
            Some(ConfigError::BaseUrl(adapter_http::BaseUrlError::Scheme))
        ));
        assert!(matches!(
            bad(|c| c.secret.clear()),
            Some(ConfigError::SecretEmpty)
        ));
        assert!(matches!(
            bad(|c| c.provider_id.clear()),
            Some(ConfigError::ProviderIdInvalid)
        ));
        assert!(matches!(
            bad(|c| c.provider_id = "op\r\n1".into()),
            Some(ConfigError::ProviderIdInvalid)
        ));
    }

    #[test]
    fn the_factory_names_the_setting_that_is_wrong() {
        let build = |settings: serde_json::Value| Factory.build(&settings).err();
        assert_eq!(Factory.dialect(), DIALECT);
        let good = json!({
            "base_url": "http://127.0.0.1:9",
            "secret": "very-secret-key",
            "provider_id": "op1",
        });
        assert!(build(good.clone()).is_none());
        let with = |key: &str, value: serde_json::Value| {
            let mut settings = good.clone();
            settings[key] = value;
            settings
        };
        let without = |key: &str| {
            let mut settings = good.clone();
            settings.as_object_mut().map(|m| m.remove(key));
            settings
        };
        let cases = [
            ("missing base_url", without("base_url"), "base_url"),
            ("missing secret", without("secret"), "secret"),
            ("missing provider_id", without("provider_id"), "provider_id"),
            ("unknown field", with("operator", json!("hub")), "operator"),
            (
                "ftp base_url",
                with("base_url", json!("ftp://x")),
                "base_url",
            ),
            ("empty secret", with("secret", json!("")), "secret"),
            (
                "missing ca_file",
                with("ca_file", json!("/nonexistent/ca.pem")),
                "ca_file",
            ),
            (
                "empty provider_id",
                with("provider_id", json!("")),
                "provider_id",
            ),
            (
                "control in provider_id",
                with("provider_id", json!("a\tb")),
                "provider_id",
            ),
        ];
        for (name, settings, field) in cases {
            let Some(error) = build(settings) else {
                panic!("{name}: accepted");
            };
            assert_eq!(error.field, field, "{name}: {error}");
            assert!(!error.reason.is_empty(), "{name}");
            assert!(!error.to_string().contains("very-secret-key"), "{error}");
        }
        let error = build(with("base_url", json!("ftp://x"))).unwrap();
        assert_eq!(
            error.to_string(),
            "base_url: only the http and https schemes are supported"
        );
        // A secret of the wrong type names the field without echoing it.
        let error = build(with("secret", json!(12345))).unwrap();
        assert!(error.reason.contains("invalid type"), "{error}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let adapter = FormMd5Adapter::new(config()).unwrap();
        let shown = format!("{adapter:?}");
        assert!(!shown.contains("very-secret-key"), "{shown}");
        assert!(shown.contains("op1"), "{shown}");
        let shown = format!("{:?}", config());
        assert!(!shown.contains("very-secret-key"), "{shown}");
    }

    #[test]
    fn descriptor() {
        let adapter = FormMd5Adapter::new(config()).unwrap();
        assert_eq!(
            adapter.descriptor(),
            Descriptor {
                dialect: "form-md5",
                capabilities: Capabilities {
                    balance: true,
                    status: false,
                },
                duplicates: DuplicateHabit::ReplaysOriginal,
                rollback_of_unknown: UnknownRollbackHabit::NotFoundError,
                default_timeout: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn there_is_no_status_query() {
        let adapter = FormMd5Adapter::new(config()).unwrap();
        let req = StatusRequest {
            tx_id: adapter_api::ProviderTxId::new("tx-1"),
            kind: TxKind::Debit,
            account: AccountId::new("acc-1"),
            amount: None,
        };
        // The default needs no runtime and sends nothing (port 9 is closed).
        let status = futures_lite_block_on(adapter.status(&req));
        assert!(
            matches!(status, TxStatus::Unknown(AdapterError::Unsupported)),
            "{status:?}"
        );
    }

    #[test]
    fn the_system_clock_is_after_2024() {
        // 2024-01-01T00:00:00Z in milliseconds.
        assert!(SystemClock.now().as_millis() > 1_704_067_200_000);
    }

    /// Polls a future that completes without waking (the trait's default
    /// `status`), so this test needs no runtime.
    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the default status query awaited something"),
        }
    }
}
