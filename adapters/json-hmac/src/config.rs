//! Configuration of the json-hmac adapter, validated once at construction.
//!
//! [`JsonHmacConfig`] is what an operator writes; `Endpoints` is what the
//! adapter keeps after validation: one ready URI per provider endpoint, so no
//! URL is ever parsed on the money path.

use std::fmt;
use std::path::PathBuf;

use adapter_http::{BaseUrl, BaseUrlError, CaFileError};
use http::Uri;

use crate::transformer::Endpoint;

/// How to reach and authenticate to one json-hmac provider.
///
/// `Debug` never prints the secret.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonHmacConfig {
    /// The provider's base URL, `http://host:port` or `https://host:port`
    /// with an optional path prefix. `https` is TLS (rustls) trusting
    /// `ca_file`, or the `webpki-roots` CAs without one.
    pub base_url: String,
    /// The shared HMAC-SHA256 key the provider issued. Must not be empty.
    pub secret: String,
    /// Our operator id at the provider, sent as `X-Operator`. Must be a
    /// non-empty header value of visible ASCII characters.
    pub operator: String,
    /// PEM file of the CA certificate(s) trusted for an `https` base URL,
    /// instead of the `webpki-roots` CAs. Optional; read at construction.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for JsonHmacConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonHmacConfig")
            .field("base_url", &self.base_url)
            .field("secret", &"<redacted>")
            .field("operator", &self.operator)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Why a [`JsonHmacConfig`] was refused. Displayed as `field: reason`
/// ([`ConfigError::field`], [`ConfigError::reason`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// `base_url` is not an `http://` or `https://` URL with a host and
    /// nothing but an optional path.
    BaseUrl(BaseUrlError),
    /// `secret` is empty.
    SecretEmpty,
    /// `operator` is empty or not a visible-ASCII header value.
    OperatorInvalid,
    /// `ca_file` cannot be read or holds no valid CA certificate.
    CaFile(CaFileError),
}

impl ConfigError {
    /// The setting this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::BaseUrl(_) => BaseUrlError::FIELD,
            ConfigError::SecretEmpty => "secret",
            ConfigError::OperatorInvalid => "operator",
            ConfigError::CaFile(_) => CaFileError::FIELD,
        }
    }

    /// What is wrong with the setting, without its name.
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::BaseUrl(e) => e.reason(),
            ConfigError::SecretEmpty => "must not be empty",
            ConfigError::OperatorInvalid => "must be non-empty visible ASCII",
            ConfigError::CaFile(e) => e.reason(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.reason())
    }
}

impl From<BaseUrlError> for ConfigError {
    fn from(error: BaseUrlError) -> Self {
        ConfigError::BaseUrl(error)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::BaseUrl(e) => Some(e),
            ConfigError::CaFile(e) => Some(e),
            _ => None,
        }
    }
}

/// The provider's endpoints, resolved against a validated base URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    debit: Uri,
    credit: Uri,
    rollback: Uri,
    balance: Uri,
    status: Uri,
}

impl Endpoints {
    /// Validates `base_url` and derives every endpoint from it.
    pub(crate) fn parse(base_url: &str) -> Result<Self, ConfigError> {
        let base_url = BaseUrl::parse(base_url)?;
        let join = |endpoint: Endpoint| base_url.endpoint(endpoint.path());
        Ok(Self {
            debit: join(Endpoint::Debit)?,
            credit: join(Endpoint::Credit)?,
            rollback: join(Endpoint::Rollback)?,
            balance: join(Endpoint::Balance)?,
            status: join(Endpoint::Status)?,
        })
    }

    /// The full URI of `endpoint`.
    pub(crate) fn uri(&self, endpoint: Endpoint) -> &Uri {
        match endpoint {
            Endpoint::Debit => &self.debit,
            Endpoint::Credit => &self.credit,
            Endpoint::Rollback => &self.rollback,
            Endpoint::Balance => &self.balance,
            Endpoint::Status => &self.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_the_base_url() {
        let endpoints = Endpoints::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            endpoints.uri(Endpoint::Debit).to_string(),
            "http://127.0.0.1:8080/v1/debit"
        );
        let endpoints = Endpoints::parse("http://provider.local/api/").unwrap();
        assert_eq!(
            endpoints.uri(Endpoint::Rollback).to_string(),
            "http://provider.local/api/v1/rollback"
        );
        assert_eq!(
            endpoints.uri(Endpoint::Balance).to_string(),
            "http://provider.local/api/v1/balance"
        );
        assert_eq!(
            endpoints.uri(Endpoint::Credit).to_string(),
            "http://provider.local/api/v1/credit"
        );
        assert_eq!(
            endpoints.uri(Endpoint::Status).to_string(),
            "http://provider.local/api/v1/status"
        );
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
    fn errors_display_as_field_then_reason() {
        let errors = [
            Endpoints::parse("").err(),
            Endpoints::parse("ftp://provider.local").err(),
            Endpoints::parse("http://user@provider.local").err(),
            Some(ConfigError::BaseUrl(BaseUrlError::Host)),
            Some(ConfigError::SecretEmpty),
            Some(ConfigError::OperatorInvalid),
        ];
        for error in errors {
            let Some(error) = error else {
                panic!("a bad base_url was accepted");
            };
            let shown = error.to_string();
            assert_eq!(shown, format!("{}: {}", error.field(), error.reason()));
            assert!(!error.reason().contains(error.field()), "{shown}");
        }
        let invalid = Endpoints::parse("http://pro vider").err();
        assert!(
            invalid
                .as_ref()
                .and_then(std::error::Error::source)
                .is_some(),
            "the URI error is kept as the source"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let config = JsonHmacConfig {
            base_url: "http://127.0.0.1:1".into(),
            secret: "s3cr3t-value".into(),
            operator: "op-1".into(),
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("op-1"), "{shown}");
    }
}
