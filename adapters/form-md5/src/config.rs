//! Configuration of the form-md5 adapter, validated once at construction.
//!
//! [`FormMd5Config`] is what an operator writes; `Endpoints` is what the
//! adapter keeps after validation: one ready URI per provider endpoint, so no
//! URL is ever parsed on the money path.

use std::fmt;
use std::path::PathBuf;

use adapter_http::{BaseUrl, BaseUrlError, CaFileError};
use http::Uri;

use crate::transformer::Endpoint;

/// How to reach and authenticate to one form-md5 provider.
///
/// `Debug` never prints the secret.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormMd5Config {
    /// The provider's base URL, `http://host:port` or `https://host:port`
    /// with an optional path prefix. `https` is TLS (rustls) trusting
    /// `ca_file`, or the `webpki-roots` CAs without one.
    pub base_url: String,
    /// The shared secret the provider issued, appended to the hashed
    /// parameters. Must not be empty.
    pub secret: String,
    /// Our id at the provider, sent as `providerId` in every request. Must
    /// not be empty nor hold control characters.
    pub provider_id: String,
    /// PEM file of the CA certificate(s) trusted for an `https` base URL,
    /// instead of the `webpki-roots` CAs. Optional; read at construction.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for FormMd5Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormMd5Config")
            .field("base_url", &self.base_url)
            .field("secret", &"<redacted>")
            .field("provider_id", &self.provider_id)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Why a [`FormMd5Config`] was refused. Displayed as `field: reason`
/// ([`ConfigError::field`], [`ConfigError::reason`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// `base_url` is not an `http://` or `https://` URL with a host and
    /// nothing but an optional path.
    BaseUrl(BaseUrlError),
    /// `secret` is empty.
    SecretEmpty,
    /// `provider_id` is empty or holds control characters.
    ProviderIdInvalid,
    /// `ca_file` cannot be read or holds no valid CA certificate.
    CaFile(CaFileError),
}

impl ConfigError {
    /// The setting this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::BaseUrl(_) => BaseUrlError::FIELD,
            ConfigError::SecretEmpty => "secret",
            ConfigError::ProviderIdInvalid => "provider_id",
            ConfigError::CaFile(_) => CaFileError::FIELD,
        }
    }

    /// What is wrong with the setting, without its name.
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::BaseUrl(e) => e.reason(),
            ConfigError::SecretEmpty => "must not be empty",
            ConfigError::ProviderIdInvalid => "must be non-empty, without control characters",
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
    bet: Uri,
    result: Uri,
    refund: Uri,
    balance: Uri,
}

impl Endpoints {
    /// Validates `base_url` and derives every endpoint from it.
    pub(crate) fn parse(base_url: &str) -> Result<Self, ConfigError> {
        let base_url = BaseUrl::parse(base_url)?;
        let join = |endpoint: Endpoint| base_url.endpoint(endpoint.path());
        Ok(Self {
            bet: join(Endpoint::Bet)?,
            result: join(Endpoint::Result)?,
            refund: join(Endpoint::Refund)?,
            balance: join(Endpoint::Balance)?,
        })
    }

    /// The full URI of `endpoint`.
    pub(crate) fn uri(&self, endpoint: Endpoint) -> &Uri {
        match endpoint {
            Endpoint::Bet => &self.bet,
            Endpoint::Result => &self.result,
            Endpoint::Refund => &self.refund,
            Endpoint::Balance => &self.balance,
        }
    }
}

/// Checks `provider_id`: non-empty, no control characters (it is hashed
/// and sent in every request).
pub(crate) fn check_provider_id(provider_id: &str) -> Result<(), ConfigError> {
    if provider_id.is_empty() || provider_id.chars().any(char::is_control) {
        return Err(ConfigError::ProviderIdInvalid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_the_base_url() {
        let endpoints = Endpoints::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            endpoints.uri(Endpoint::Bet).to_string(),
            "http://127.0.0.1:8080/bet.html"
        );
        let endpoints = Endpoints::parse("http://provider.local/api/").unwrap();
        assert_eq!(
            endpoints.uri(Endpoint::Refund).to_string(),
            "http://provider.local/api/refund.html"
        );
        assert_eq!(
            endpoints.uri(Endpoint::Balance).to_string(),
            "http://provider.local/api/balance.html"
        );
        assert_eq!(
            endpoints.uri(Endpoint::Result).to_string(),
            "http://provider.local/api/result.html"
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
    fn provider_ids_are_checked() {
        assert!(check_provider_id("op1").is_ok());
        assert!(check_provider_id("op 1/ü").is_ok());
        assert!(matches!(
            check_provider_id(""),
            Err(ConfigError::ProviderIdInvalid)
        ));
        assert!(matches!(
            check_provider_id("op\n1"),
            Err(ConfigError::ProviderIdInvalid)
        ));
    }

    #[test]
    fn errors_display_as_field_then_reason() {
        let errors = [
            Endpoints::parse("").err(),
            Endpoints::parse("ftp://provider.local").err(),
            Endpoints::parse("http://user@provider.local").err(),
            Some(ConfigError::BaseUrl(BaseUrlError::Host)),
            Some(ConfigError::SecretEmpty),
            Some(ConfigError::ProviderIdInvalid),
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
        let config = FormMd5Config {
            base_url: "http://127.0.0.1:1".into(),
            secret: "s3cr3t-value".into(),
            provider_id: "op-1".into(),
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("op-1"), "{shown}");
    }
}
