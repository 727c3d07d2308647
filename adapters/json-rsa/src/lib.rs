//! The adapter for the json-rsa provider dialect: JSON bodies signed with
//! RSA-SHA256 in both directions (`X-Signature`, base64 PKCS#1 v1.5),
//! amounts in integers of 1e-5 of the currency, a fresh `request_uuid` per
//! HTTP call beside the stable `transaction_uuid`, HTTP 200 with a `status`
//! string for every business answer (`shared/providers/json-rsa.md`).
//!
//! Built like every adapter of the hub: a pure [`transformer`] (canonical
//! request -> signed wire body; signed HTTP reply -> [`Outcome`]) kept apart
//! from the transport ([`adapter_http::Transport`]: one HTTP/1.1 `POST` with
//! a pooled client), with the key handling in [`signing`] and the amount
//! conversion in [`units`]. The adapter is stateless apart from its
//! configuration, keys and connection pool, never retries and never times out
//! on its own: the hub owns deadlines, retries and breakers.
//!
//! Transport failures are classified here, before any reply exists:
//!
//! | failure | outcome |
//! |---|---|
//! | the canonical request does not fit the dialect (non-positive amount, an amount that overflows in 1e-5 units, a currency finer than 1e-5, empty id) | `NotProcessed(Unrepresentable)`, nothing sent |
//! | connect error (refused, DNS, handshake): no byte of the request written | `NotProcessed(Connect)` |
//! | any failure once the request may have been written (reset, close before a full reply, body read error) | `Unknown(Transport)` |
//! | reply body over 64 KiB | `Unknown(Malformed)` |
//! | the hub's deadline fires (the future is dropped) | nothing is returned; the hub records `Unknown` itself |
//!
//! Balance and status queries report the same failures as
//! `Err(..)` / `TxStatus::Unknown(..)`. A status query of a rollback is
//! `TxStatus::Unknown(Unsupported)` without a request: the provider's lookup
//! knows bets and wins only. Replies are classified by the [`transformer`];
//! its module docs hold the full tables.

mod config;
pub mod signing;
pub mod transformer;
pub mod units;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use adapter_api::{
    Adapter, AdapterError, BalanceRequest, BoxError, Capabilities, Descriptor, DuplicateHabit,
    Money, MoneyRequest, Outcome, RollbackRequest, SettingsError, StatusRequest, TxStatus,
    UnknownRollbackHabit,
};
use adapter_http::{RawReply, Redaction, Transport, TransportError, Trust};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

pub use config::{ConfigError, JsonRsaConfig};

use config::Endpoints;
use signing::{Signer, Verifier};
use transformer::{MalformedReply, RequestUuid, WireReply, WireRequest};

/// The dialect's name, as published in the [`Descriptor`].
pub const DIALECT: &str = "json-rsa";

const X_SIGNATURE: HeaderName = HeaderName::from_static("x-signature");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Builds json-rsa adapters from a provider's settings
/// (`base_url`, `private_key_file`, `provider_public_key_file`; see
/// [`JsonRsaConfig`]). The key files are read and checked here, once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Factory;

impl adapter_api::AdapterFactory for Factory {
    fn dialect(&self) -> &'static str {
        DIALECT
    }

    fn build(&self, settings: &serde_json::Value) -> Result<Arc<dyn Adapter>, SettingsError> {
        let config: JsonRsaConfig =
            serde_json::from_value(settings.clone()).map_err(|e| SettingsError::from_serde(&e))?;
        let adapter = JsonRsaAdapter::new(config)
            .map_err(|e| SettingsError::new(e.field(), e.to_string()))?;
        Ok(Arc::new(adapter))
    }
}

/// Where the adapter gets each call's `request_uuid`.
type RequestUuids = Arc<dyn Fn() -> RequestUuid + Send + Sync>;

/// The json-rsa adapter for one provider endpoint and operator key.
///
/// Cheap to share: hold it as `Arc<dyn Adapter>`. `Debug` never prints the
/// private key.
pub struct JsonRsaAdapter {
    endpoints: Endpoints,
    signer: Signer,
    verifier: Verifier,
    transport: Transport,
    request_uuids: RequestUuids,
}

impl fmt::Debug for JsonRsaAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRsaAdapter")
            .field("endpoints", &self.endpoints)
            .field("signer", &self.signer)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl JsonRsaAdapter {
    /// Validates `config`, loads both keys and builds the adapter. The base
    /// URL must be `http[s]://host[:port][/prefix]`; the key files and
    /// `ca_file`, when set, must hold what [`JsonRsaConfig`] says.
    ///
    /// No connection is made here; requests need a Tokio runtime.
    pub fn new(config: JsonRsaConfig) -> Result<Self, ConfigError> {
        let endpoints = Endpoints::parse(&config.base_url)?;
        let signer =
            Signer::from_pem_file(&config.private_key_file).map_err(ConfigError::PrivateKey)?;
        let verifier = Verifier::from_pem_file(&config.provider_public_key_file)
            .map_err(ConfigError::ProviderPublicKey)?;
        let transport = Transport::with_trust(Trust::from_ca_file(config.ca_file.as_deref()))
            .map_err(ConfigError::CaFile)?
            .with_redaction(exchange_redaction());
        Ok(Self {
            endpoints,
            signer,
            verifier,
            transport,
            request_uuids: Arc::new(RequestUuid::new_v4),
        })
    }

    /// Replaces the source of `request_uuid`s (a fresh UUID v4 per HTTP call
    /// by default). For tests that need to know the exact bytes sent; a
    /// source that repeats itself would let one call's reply pass for
    /// another's.
    pub fn with_request_uuids(
        mut self,
        source: impl Fn() -> RequestUuid + Send + Sync + 'static,
    ) -> Self {
        self.request_uuids = Arc::new(source);
        self
    }

    /// POSTs the signed JSON body and reads the whole reply.
    async fn exchange(&self, wire: &WireRequest) -> Result<RawReply, TransportError> {
        let signature = HeaderValue::from_str(&wire.signature)
            .map_err(|e| TransportError::Build(Box::new(e)))?;
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(X_SIGNATURE, signature);
        let uri = self.endpoints.uri(wire.endpoint);
        self.transport.post(uri, headers, wire.body.clone()).await
    }
}

/// The reply as the transformer reads it, still unverified. `X-Signature`
/// counts only when present exactly once: two are ambiguous, treated as
/// none.
fn as_wire(reply: &RawReply) -> WireReply<'_> {
    let mut signatures = reply.headers.get_all(X_SIGNATURE).iter();
    let signature = match (signatures.next(), signatures.next()) {
        (Some(only), None) => Some(only.as_bytes()),
        _ => None,
    };
    WireReply {
        status: reply.status,
        signature,
        body: &reply.body,
    }
}

/// What this dialect's logged exchanges hide: the `X-Signature` header of
/// requests and replies (RSA signatures of the bodies). The keys never
/// travel; bodies carry no secret and are kept whole.
pub fn exchange_redaction() -> Redaction {
    Redaction::new().header(X_SIGNATURE)
}

/// The dialect's error for a reply body over the transport's limit.
fn too_large(limit: usize) -> BoxError {
    Box::new(MalformedReply::TooLarge { limit })
}

#[async_trait::async_trait]
impl Adapter for JsonRsaAdapter {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            dialect: DIALECT,
            capabilities: Capabilities {
                balance: true,
                status: true,
            },
            duplicates: DuplicateHabit::ReplaysSameRefusesDifferent,
            rollback_of_unknown: UnknownRollbackHabit::AcknowledgesWithTombstone,
            default_timeout: Duration::from_secs(5),
        }
    }

    async fn transfer(&self, req: &MoneyRequest) -> Outcome {
        let wire = match transformer::encode_transfer(req, (self.request_uuids)(), &self.signer) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(&wire).await {
            Ok(reply) => transformer::classify_transfer(
                req,
                &wire.request_uuid,
                &as_wire(&reply),
                &self.verifier,
            ),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn rollback(&self, req: &RollbackRequest) -> Outcome {
        let wire = match transformer::encode_rollback(req, (self.request_uuids)(), &self.signer) {
            Ok(wire) => wire,
            Err(error) => return Outcome::NotProcessed(error),
        };
        match self.exchange(&wire).await {
            Ok(reply) => transformer::classify_rollback(
                req,
                &wire.request_uuid,
                &as_wire(&reply),
                &self.verifier,
            ),
            Err(error) => error.into_outcome(too_large),
        }
    }

    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        let wire = transformer::encode_balance(req, (self.request_uuids)(), &self.signer)?;
        let reply = self
            .exchange(&wire)
            .await
            .map_err(|e| e.into_adapter_error(too_large))?;
        transformer::classify_balance(req, &wire.request_uuid, &as_wire(&reply), &self.verifier)
    }

    async fn status(&self, req: &StatusRequest) -> TxStatus {
        let wire = match transformer::encode_status(req, (self.request_uuids)(), &self.signer) {
            Ok(wire) => wire,
            Err(error) => return TxStatus::Unknown(error),
        };
        match self.exchange(&wire).await {
            Ok(reply) => transformer::classify_status(
                req,
                &wire.request_uuid,
                &as_wire(&reply),
                &self.verifier,
            ),
            Err(error) => TxStatus::Unknown(error.into_adapter_error(too_large)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_api::AdapterFactory;
    use std::path::{Path, PathBuf};

    fn keys() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa/keys")
    }

    fn test_keys() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys")
    }

    fn settings() -> serde_json::Value {
        serde_json::json!({
            "base_url": "http://127.0.0.1:9",
            "private_key_file": keys().join("operator_private.pem"),
            "provider_public_key_file": keys().join("provider_public.pem"),
        })
    }

    fn build_error(edit: impl FnOnce(&mut serde_json::Value)) -> SettingsError {
        let mut settings = settings();
        edit(&mut settings);
        match Factory.build(&settings) {
            Ok(_) => panic!("built from {settings}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_factory_builds_from_settings() {
        assert_eq!(Factory.dialect(), "json-rsa");
        let adapter = Factory.build(&settings()).unwrap();
        assert_eq!(adapter.descriptor().dialect, "json-rsa");
    }

    #[test]
    fn settings_errors_name_the_field() {
        let e = build_error(|s| s["base_url"] = "ftp://127.0.0.1:9".into());
        assert_eq!(e.field, "base_url");

        let e = build_error(|s| s["ca_file"] = "/nonexistent/ca.pem".into());
        assert_eq!(e.field, "ca_file");
        assert!(e.reason.contains(adapter_http::CaFileError::READ), "{e}");

        let e = build_error(|s| {
            s.as_object_mut().map(|m| m.remove("private_key_file"));
        });
        assert_eq!(e.field, "private_key_file");
        assert!(e.reason.contains("missing field"), "{e}");

        let e = build_error(|s| s["secret"] = "x".into());
        assert_eq!(e.field, "secret");
        assert!(e.reason.contains("unknown field"), "{e}");

        let e = build_error(|s| s["private_key_file"] = "/nonexistent/operator.pem".into());
        assert_eq!(e.field, "private_key_file");
        assert!(
            e.reason.contains("cannot read /nonexistent/operator.pem"),
            "{e}"
        );

        let e = build_error(|s| {
            s["provider_public_key_file"] = keys().join("missing.pem").to_string_lossy().into()
        });
        assert_eq!(e.field, "provider_public_key_file");

        // The keys swapped: a public key where the private one belongs.
        let e = build_error(|s| {
            s["private_key_file"] = keys().join("operator_public.pem").to_string_lossy().into()
        });
        assert_eq!(e.field, "private_key_file");
        assert!(e.reason.contains("found a PUBLIC KEY"), "{e}");
        let e = build_error(|s| {
            s["provider_public_key_file"] =
                keys().join("provider_private.pem").to_string_lossy().into()
        });
        assert_eq!(e.field, "provider_public_key_file");
        assert!(e.reason.contains("found a PRIVATE KEY"), "{e}");

        // Keys of another algorithm or too small.
        let e = build_error(|s| {
            s["private_key_file"] = test_keys().join("ec_private.pem").to_string_lossy().into()
        });
        assert_eq!(e.field, "private_key_file");
        assert!(e.reason.contains("not an RSA key"), "{e}");
        let e = build_error(|s| {
            s["provider_public_key_file"] = test_keys()
                .join("rsa1024_public.pem")
                .to_string_lossy()
                .into()
        });
        assert_eq!(e.field, "provider_public_key_file");
        assert!(e.reason.contains("1024 bits"), "{e}");

        // Not PEM at all.
        let e = build_error(|s| {
            s["provider_public_key_file"] = test_keys().join("README.md").to_string_lossy().into()
        });
        assert_eq!(e.field, "provider_public_key_file");
        assert!(e.reason.contains("no PEM key section"), "{e}");

        // Wrong JSON types.
        let e = build_error(|s| s["base_url"] = 5.into());
        assert!(e.reason.contains("invalid type"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let adapter = JsonRsaAdapter::new(serde_json::from_value(settings()).unwrap()).unwrap();
        let shown = format!("{adapter:?}");
        let pem = std::fs::read_to_string(keys().join("operator_private.pem")).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn descriptor() {
        let adapter = JsonRsaAdapter::new(serde_json::from_value(settings()).unwrap()).unwrap();
        assert_eq!(
            adapter.descriptor(),
            Descriptor {
                dialect: "json-rsa",
                capabilities: Capabilities {
                    balance: true,
                    status: true,
                },
                duplicates: DuplicateHabit::ReplaysSameRefusesDifferent,
                rollback_of_unknown: UnknownRollbackHabit::AcknowledgesWithTombstone,
                default_timeout: Duration::from_secs(5),
            }
        );
    }
}
