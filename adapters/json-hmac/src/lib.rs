//! The adapter for the json-hmac provider dialect: JSON bodies signed with
//! `X-Signature: hex(HMAC-SHA256(secret, raw body))`, `X-Operator`, and
//! integer minor units (`shared/providers/json-hmac.md`).
//!
//! Built like every adapter of the hub: a pure [`transformer`] (canonical
//! request -> signed wire body; HTTP status + body -> [`Outcome`]) kept apart
//! from the transport ([`adapter_http::Transport`]: one HTTP/1.1 `POST` with
//! a pooled client). The adapter is stateless apart from its configuration
//! and connection pool, never retries and never times out on its own: the hub
//! owns deadlines, retries and breakers.
//!
//! Transport failures are classified here, before any reply exists:
//!
//! | failure | outcome |
//! |---|---|
//! | the canonical request does not fit the dialect (non-positive amount, empty id) | `NotProcessed(Unrepresentable)`, nothing sent |
//! | connect error (refused, DNS, handshake): no byte of the request written | `NotProcessed(Connect)` |
//! | any failure once the request may have been written (reset, close before a full reply, body read error) | `Unknown(Transport)` |
//! | reply body over 64 KiB | `Unknown(Malformed)` |
//! | the hub's deadline fires (the future is dropped) | nothing is returned; the hub records `Unknown` itself |
//!
//! A status query ([`Adapter::status`]) moves no money, so each of these is
//! `TxStatus::Unknown` of the same error (a connect error included: the
//! distinction is informational there).
//!
//! Replies are classified by the [`transformer`]; its module docs hold the
//! full table.

mod config;
pub mod transformer;

use adapter_api::{
    Adapter, AdapterError, BalanceRequest, BoxError, Capabilities, Descriptor, DuplicateHabit,
    Money, MoneyRequest, Outcome, RollbackRequest, StatusRequest, TxStatus, UnknownRollbackHabit,
};
use adapter_http::{RawReply, Redaction, Transport, TransportError, Trust};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

pub use config::{ConfigError, JsonHmacConfig};

use config::Endpoints;
use transformer::{MalformedReply, Signer, WireRequest};

/// The dialect's name, as published in the [`Descriptor`].
pub const DIALECT: &str = "json-hmac";

const X_SIGNATURE: HeaderName = HeaderName::from_static("x-signature");
const X_OPERATOR: HeaderName = HeaderName::from_static("x-operator");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Builds json-hmac adapters from a provider's settings
/// (`base_url`, `secret`, `operator`; see [`JsonHmacConfig`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Factory;

impl adapter_api::AdapterFactory for Factory {
    fn dialect(&self) -> &'static str {
        DIALECT
    }

    fn build(
        &self,
        settings: &serde_json::Value,
    ) -> Result<std::sync::Arc<dyn Adapter>, adapter_api::SettingsError> {
        let config: JsonHmacConfig = serde_json::from_value(settings.clone())
            .map_err(|e| adapter_api::SettingsError::from_serde(&e))?;
        let adapter = JsonHmacAdapter::new(config)
            .map_err(|e| adapter_api::SettingsError::new(e.field(), e.reason()))?;
        Ok(std::sync::Arc::new(adapter))
    }
}

/// The json-hmac adapter for one provider endpoint and operator.
///
/// Cheap to share: hold it as `Arc<dyn Adapter>`. `Debug` never prints the
/// secret.
#[derive(Debug)]
pub struct JsonHmacAdapter {
    endpoints: Endpoints,
    signer: Signer,
    /// Sent as `X-Operator` on every request.
    operator: HeaderValue,
    transport: Transport,
}

impl JsonHmacAdapter {
    /// Validates `config` and builds the adapter. The base URL must be
    /// `http[s]://host[:port][/prefix]`, the secret non-empty, the operator
    /// a non-empty visible-ASCII header value and `ca_file`, when set, a PEM
    /// file of CA certificates.
    ///
    /// No connection is made here; requests need a Tokio runtime.
    pub fn new(config: JsonHmacConfig) -> Result<Self, ConfigError> {
        let endpoints = Endpoints::parse(&config.base_url)?;
        if config.secret.is_empty() {
            return Err(ConfigError::SecretEmpty);
        }
        let signer = Signer::new(config.secret.as_bytes()).map_err(|_| ConfigError::SecretEmpty)?;
        if config.operator.is_empty() || !config.operator.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::OperatorInvalid);
        }
        let operator =
            HeaderValue::from_str(&config.operator).map_err(|_| ConfigError::OperatorInvalid)?;
        let transport = Transport::with_trust(Trust::from_ca_file(config.ca_file.as_deref()))
            .map_err(ConfigError::CaFile)?
            .with_redaction(exchange_redaction(&config.secret));
        Ok(Self {
            endpoints,
            signer,
            operator,
            transport,
        })
    }

    /// POSTs the signed JSON body as our operator and reads the whole reply.
    async fn exchange(&self, wire: WireRequest) -> Result<RawReply, TransportError> {
        let signature = HeaderValue::from_str(&wire.signature)
            .map_err(|e| TransportError::Build(Box::new(e)))?;
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(X_SIGNATURE, signature);
        headers.insert(X_OPERATOR, self.operator.clone());
        let uri = self.endpoints.uri(wire.endpoint);
        self.transport.post(uri, headers, wire.body).await
    }
}

/// What this dialect's logged exchanges hide: the `X-Signature` header
/// (an HMAC of the body under the shared secret), and the secret itself
/// wherever it might show. Bodies carry no secret; they are kept whole.
pub fn exchange_redaction(secret: &str) -> Redaction {
    Redaction::new().header(X_SIGNATURE).secret(secret)
}

/// The dialect's error for a reply body over the transport's limit.
fn too_large(limit: usize) -> BoxError {
    Box::new(MalformedReply::TooLarge { limit })
}

#[async_trait::async_trait]
impl Adapter for JsonHmacAdapter {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            dialect: DIALECT,
            capabilities: Capabilities {
                balance: true,
                status: true,
            },
            duplicates: DuplicateHabit::ReplaysOriginal,
            rollback_of_unknown: UnknownRollbackHabit::NotFoundError,
            default_timeout: std::time::Duration::from_secs(5),
        }
    }

    async fn transfer(&self, req: &MoneyRequest) -> Outcome {
        let wire = match transformer::encode_transfer(req, &self.signer) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_transfer(req, reply.status, &reply.body),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn rollback(&self, req: &RollbackRequest) -> Outcome {
        let wire = match transformer::encode_rollback(req, &self.signer) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_rollback(req, reply.status, &reply.body),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        let wire = transformer::encode_balance(req, &self.signer)?;
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_balance(req, reply.status, &reply.body),
            Err(error) => Err(error.into_adapter_error(too_large)),
        }
    }

    async fn status(&self, req: &StatusRequest) -> TxStatus {
        let wire = match transformer::encode_status(req, &self.signer) {
            Ok(wire) => wire,
            Err(error) => return TxStatus::Unknown(error),
        };
        match self.exchange(wire).await {
            Ok(reply) => transformer::classify_status(req, reply.status, &reply.body),
            Err(error) => TxStatus::Unknown(error.into_adapter_error(too_large)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JsonHmacConfig {
        JsonHmacConfig {
            base_url: "http://127.0.0.1:9".into(),
            secret: "very-secret-key".into(),
            operator: "hub".into(),
            ca_file: None,
        }
    }

    #[test]
    fn construction_validates_every_field() {
        assert!(JsonHmacAdapter::new(config()).is_ok());
        let bad = |edit: fn(&mut JsonHmacConfig)| {
            let mut config = config();
            edit(&mut config);
            JsonHmacAdapter::new(config).err()
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
            bad(|c| c.operator.clear()),
            Some(ConfigError::OperatorInvalid)
        ));
        assert!(matches!(
            bad(|c| c.operator = "hub one".into()),
            Some(ConfigError::OperatorInvalid)
        ));
        assert!(matches!(
            bad(|c| c.operator = "hub\r\nX-Evil: 1".into()),
            Some(ConfigError::OperatorInvalid)
        ));
        assert!(matches!(
            bad(|c| c.operator = "hüb".into()),
            Some(ConfigError::OperatorInvalid)
        ));
        let shown = bad(|c| c.base_url = "ftp://x".into())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(shown.starts_with("base_url:"), "{shown}");
    }

    #[test]
    fn the_factory_names_the_setting_that_is_wrong() {
        use adapter_api::AdapterFactory;
        use serde_json::json;

        let build = |settings: serde_json::Value| Factory.build(&settings).err();
        assert_eq!(Factory.dialect(), DIALECT);
        assert!(
            build(json!({
                "base_url": "http://127.0.0.1:9",
                "secret": "very-secret-key",
                "operator": "hub",
            }))
            .is_none()
        );

        let cases = [
            (
                "missing secret",
                json!({"base_url": "http://127.0.0.1:9", "operator": "hub"}),
                "secret",
            ),
            (
                "unknown field",
                json!({
                    "base_url": "http://127.0.0.1:9",
                    "secret": "very-secret-key",
                    "operator": "hub",
                    "timeout": "5s",
                }),
                "timeout",
            ),
            (
                "ftp base_url",
                json!({
                    "base_url": "ftp://127.0.0.1:9",
                    "secret": "very-secret-key",
                    "operator": "hub",
                }),
                "base_url",
            ),
            (
                "empty secret",
                json!({"base_url": "http://127.0.0.1:9", "secret": "", "operator": "hub"}),
                "secret",
            ),
            (
                "missing ca_file",
                json!({
                    "base_url": "https://127.0.0.1:9",
                    "secret": "very-secret-key",
                    "operator": "hub",
                    "ca_file": "/nonexistent/ca.pem",
                }),
                "ca_file",
            ),
            (
                "bad operator",
                json!({
                    "base_url": "http://127.0.0.1:9",
                    "secret": "very-secret-key",
                    "operator": "hub one",
                }),
                "operator",
            ),
        ];
        for (name, settings, field) in cases {
            let Some(error) = build(settings) else {
                panic!("{name}: accepted");
            };
            assert_eq!(error.field, field, "{name}: {error}");
            assert!(!error.reason.is_empty(), "{name}");
        }

        // A validation error's reason does not repeat the field's name.
        let Some(error) = build(json!({
            "base_url": "ftp://127.0.0.1:9",
            "secret": "very-secret-key",
            "operator": "hub",
        })) else {
            panic!("ftp accepted");
        };
        assert_eq!(
            error.reason,
            ConfigError::BaseUrl(adapter_http::BaseUrlError::Scheme).reason()
        );
        assert_eq!(
            error.to_string(),
            "base_url: only the http and https schemes are supported"
        );
        // The secret never appears in an error.
        let Some(error) = build(json!({
            "base_url": "ftp://x",
            "secret": "very-secret-key",
            "operator": "hub",
        })) else {
            panic!("ftp accepted");
        };
        assert!(!error.to_string().contains("very-secret-key"), "{error}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let adapter = JsonHmacAdapter::new(config()).unwrap();
        let shown = format!("{adapter:?}");
        assert!(!shown.contains("very-secret-key"), "{shown}");
        assert!(!shown.contains(&hex::encode("very-secret-key")), "{shown}");
    }

    #[test]
    fn descriptor() {
        let adapter = JsonHmacAdapter::new(config()).unwrap();
        assert_eq!(
            adapter.descriptor(),
            Descriptor {
                dialect: "json-hmac",
                capabilities: Capabilities {
                    balance: true,
                    status: true,
                },
                duplicates: DuplicateHabit::ReplaysOriginal,
                rollback_of_unknown: UnknownRollbackHabit::NotFoundError,
                default_timeout: std::time::Duration::from_secs(5),
            }
        );
    }
}
