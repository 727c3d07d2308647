//! Configuration of the json-rsa adapter, validated once at construction.
//!
//! [`JsonRsaConfig`] is what an operator writes: the provider's base URL and
//! the paths of two PEM files. `Endpoints` is what the adapter keeps after
//! validation: one ready URI per provider endpoint, so no URL is ever parsed
//! on the money path. The keys are loaded by [`crate::signing`].

use std::path::PathBuf;

use adapter_http::{BaseUrl, BaseUrlError, CaFileError};
use http::Uri;

use crate::signing::KeyError;
use crate::transformer::Endpoint;

/// How to reach and authenticate to one json-rsa provider. Holds paths, not
/// keys, so `Debug` shows nothing secret.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRsaConfig {
    /// The provider's base URL, `http://host:port` or `https://host:port`
    /// with an optional path prefix. `https` is TLS (rustls) trusting
    /// `ca_file`, or the `webpki-roots` CAs without one.
    pub base_url: String,
    /// PEM file of the operator's RSA private key (PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`, 2048 to 4096 bits), which signs requests.
    pub private_key_file: PathBuf,
    /// PEM file of the provider's RSA public key (`PUBLIC KEY`,
    /// SubjectPublicKeyInfo, 2048 to 8192 bits), which verifies replies.
    pub provider_public_key_file: PathBuf,
    /// PEM file of the CA certificate(s) trusted for an `https` base URL,
    /// instead of the `webpki-roots` CAs. Optional; read at construction.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Why a [`JsonRsaConfig`] was refused. Each message starts with the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `base_url` is not an `http://` or `https://` URL with a host and
    /// nothing but an optional path.
    #[error("base_url: {}", .0.reason())]
    BaseUrl(#[source] BaseUrlError),
    /// `private_key_file` is missing, unreadable or not an RSA private key.
    #[error("private_key_file: {0}")]
    PrivateKey(#[source] KeyError),
    /// `provider_public_key_file` is missing, unreadable or not an RSA
    /// public key.
    #[error("provider_public_key_file: {0}")]
    ProviderPublicKey(#[source] KeyError),
    /// `ca_file` cannot be read or holds no valid CA certificate.
    #[error("ca_file: {}", .0.reason())]
    CaFile(#[source] CaFileError),
}

impl ConfigError {
    /// The setting this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::BaseUrl(_) => BaseUrlError::FIELD,
            ConfigError::PrivateKey(_) => "private_key_file",
            ConfigError::ProviderPublicKey(_) => "provider_public_key_file",
            ConfigError::CaFile(_) => CaFileError::FIELD,
        }
    }
}

impl From<BaseUrlError> for ConfigError {
    fn from(error: BaseUrlError) -> Self {
        ConfigError::BaseUrl(error)
    }
}

/// The provider's endpoints, resolved against a validated base URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    uris: [Uri; Endpoint::ALL.len()],
}

fn index(endpoint: Endpoint) -> usize {
    match endpoint {
        Endpoint::Balance => 0,
        Endpoint::Bet => 1,
        Endpoint::Win => 2,
        Endpoint::Rollback => 3,
        Endpoint::Lookup => 4,
    }
}

impl Endpoints {
    /// Validates `base_url` and derives every endpoint from it.
    pub(crate) fn parse(base_url: &str) -> Result<Self, ConfigError> {
        let base_url = BaseUrl::parse(base_url)?;
        let join = |endpoint: Endpoint| base_url.endpoint(endpoint.path());
        Ok(Self {
            uris: [
                join(Endpoint::Balance)?,
                join(Endpoint::Bet)?,
                join(Endpoint::Win)?,
                join(Endpoint::Rollback)?,
                join(Endpoint::Lookup)?,
            ],
        })
    }

    /// The full URI of `endpoint`.
    pub(crate) fn uri(&self, endpoint: Endpoint) -> &Uri {
        &self.uris[index(endpoint)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_the_base_url() {
        let endpoints = Endpoints::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            endpoints.uri(Endpoint::Bet).to_string(),
            "http://127.0.0.1:8080/api/transaction/bet"
        );
        let endpoints = Endpoints::parse("http://provider.local/rsa/").unwrap();
        let expected = [
            (
                Endpoint::Balance,
                "http://provider.local/rsa/api/user/balance",
            ),
            (
                Endpoint::Bet,
                "http://provider.local/rsa/api/transaction/bet",
            ),
            (
                Endpoint::Win,
                "http://provider.local/rsa/api/transaction/win",
            ),
            (
                Endpoint::Rollback,
                "http://provider.local/rsa/api/transaction/rollback",
            ),
            (
                Endpoint::Lookup,
                "http://provider.local/rsa/api/transaction/lookup",
            ),
        ];
        for (endpoint, uri) in expected {
            assert_eq!(endpoints.uri(endpoint).to_string(), uri);
        }
        assert_eq!(Endpoint::ALL.map(index), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn bad_base_urls_are_refused_naming_base_url() {
        // The URL rules themselves are adapter-http's (tested there); this
        // checks they reach this adapter's settings error.
        for url in ["ftp://provider.local", "http://user@provider.local", ""] {
            match Endpoints::parse(url) {
                Err(e @ ConfigError::BaseUrl(_)) => assert_eq!(e.field(), "base_url"),
                other => panic!("{url:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn settings_deserialize_strictly() {
        let config: JsonRsaConfig = serde_json::from_value(serde_json::json!({
            "base_url": "http://127.0.0.1:1",
            "private_key_file": "/keys/operator.pem",
            "provider_public_key_file": "/keys/provider.pem",
        }))
        .unwrap();
        assert_eq!(config.private_key_file, PathBuf::from("/keys/operator.pem"));
        let unknown = serde_json::from_value::<JsonRsaConfig>(serde_json::json!({
            "base_url": "http://127.0.0.1:1",
            "private_key_file": "a",
            "provider_public_key_file": "b",
            "secret": "c",
        }));
        assert!(unknown.is_err());
    }
}
