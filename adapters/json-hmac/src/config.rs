//! Configuration of the json-hmac adapter, validated once at construction.
//!
//! [`JsonHmacConfig`] is what an operator writes; `Endpoints` is what the
//! adapter keeps after validation: one ready URI per provider endpoint, so no
//! URL is ever parsed on the money path.

use std::fmt;

use http::Uri;
use http::uri::InvalidUri;

use crate::transformer::Endpoint;

/// How to reach and authenticate to one json-hmac provider.
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct JsonHmacConfig {
    /// The provider's base URL, `http://host:port` with an optional path
    /// prefix. Only the plain `http` scheme is supported for now (the
    /// sandbox providers and a provider behind a local TLS-terminating proxy
    /// speak it); an `https` URL is refused at construction.
    pub base_url: String,
    /// The shared HMAC-SHA256 key the provider issued. Must not be empty.
    pub secret: String,
    /// Our operator id at the provider, sent as `X-Operator`. Must be a
    /// non-empty header value of visible ASCII characters.
    pub operator: String,
}

impl fmt::Debug for JsonHmacConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonHmacConfig")
            .field("base_url", &self.base_url)
            .field("secret", &"<redacted>")
            .field("operator", &self.operator)
            .finish()
    }
}

/// Why a [`JsonHmacConfig`] was refused. Each message names the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `base_url` does not parse as a URI.
    #[error("base_url: not a valid URL")]
    BaseUrlInvalid(#[source] InvalidUri),
    /// `base_url` is not an `http://` URL.
    #[error("base_url: only the http scheme is supported")]
    BaseUrlScheme,
    /// `base_url` has no host.
    #[error("base_url: a host is required")]
    BaseUrlHost,
    /// `base_url` carries user info, a query or a fragment.
    #[error("base_url: user info, query and fragment are not allowed")]
    BaseUrlExtra,
    /// `secret` is empty.
    #[error("secret: must not be empty")]
    SecretEmpty,
    /// `operator` is empty or not a visible-ASCII header value.
    #[error("operator: must be non-empty visible ASCII")]
    OperatorInvalid,
}

/// The provider's endpoints, resolved against a validated base URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    debit: Uri,
    credit: Uri,
    rollback: Uri,
    balance: Uri,
}

impl Endpoints {
    /// Validates `base_url` and derives every endpoint from it.
    pub(crate) fn parse(base_url: &str) -> Result<Self, ConfigError> {
        if base_url.contains(['?', '#']) {
            return Err(ConfigError::BaseUrlExtra);
        }
        let uri: Uri = base_url.parse().map_err(ConfigError::BaseUrlInvalid)?;
        if uri.scheme_str() != Some("http") {
            return Err(ConfigError::BaseUrlScheme);
        }
        let authority = uri.authority().ok_or(ConfigError::BaseUrlHost)?;
        if authority.as_str().contains('@') {
            return Err(ConfigError::BaseUrlExtra);
        }
        if authority.host().is_empty() {
            return Err(ConfigError::BaseUrlHost);
        }
        let prefix = uri.path().trim_end_matches('/');
        let join = |endpoint: Endpoint| -> Result<Uri, ConfigError> {
            format!("http://{authority}{prefix}{}", endpoint.path())
                .parse()
                .map_err(ConfigError::BaseUrlInvalid)
        };
        Ok(Self {
            debit: join(Endpoint::Debit)?,
            credit: join(Endpoint::Credit)?,
            rollback: join(Endpoint::Rollback)?,
            balance: join(Endpoint::Balance)?,
        })
    }

    /// The full URI of `endpoint`.
    pub(crate) fn uri(&self, endpoint: Endpoint) -> &Uri {
        match endpoint {
            Endpoint::Debit => &self.debit,
            Endpoint::Credit => &self.credit,
            Endpoint::Rollback => &self.rollback,
            Endpoint::Balance => &self.balance,
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
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(matches!(
            Endpoints::parse("https://provider.local"),
            Err(ConfigError::BaseUrlScheme)
        ));
        assert!(matches!(
            Endpoints::parse("provider.local:80"),
            Err(ConfigError::BaseUrlScheme)
        ));
        assert!(matches!(
            Endpoints::parse("/v1"),
            Err(ConfigError::BaseUrlScheme)
        ));
        assert!(matches!(
            Endpoints::parse("http://user:pw@provider.local"),
            Err(ConfigError::BaseUrlExtra)
        ));
        assert!(matches!(
            Endpoints::parse("http://provider.local/?a=b"),
            Err(ConfigError::BaseUrlExtra)
        ));
        assert!(matches!(
            Endpoints::parse("http://provider.local/#x"),
            Err(ConfigError::BaseUrlExtra)
        ));
        assert!(matches!(
            Endpoints::parse("http://pro vider"),
            Err(ConfigError::BaseUrlInvalid(_))
        ));
        assert!(matches!(
            Endpoints::parse(""),
            Err(ConfigError::BaseUrlInvalid(_))
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        let config = JsonHmacConfig {
            base_url: "http://127.0.0.1:1".into(),
            secret: "s3cr3t-value".into(),
            operator: "op-1".into(),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("op-1"), "{shown}");
    }
}
