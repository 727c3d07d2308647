//! A provider's base URL, validated once at construction so that no URL is
//! ever parsed on the money path: `http[s]://host[:port][/prefix]`,
//! nothing more.

use std::fmt;

use http::Uri;
use http::uri::{Authority, InvalidUri, Scheme};

/// A validated `http[s]://host[:port][/prefix]` base URL.
///
/// The `http` scheme (the sandbox providers, a provider behind a local
/// TLS-terminating proxy) and `https` (TLS from the [`Transport`]) are
/// accepted; user info, a query and a fragment are refused. A trailing `/`
/// on the prefix is ignored.
///
/// [`Transport`]: crate::Transport
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// The path prefix without its trailing `/`: empty, or `/` and more.
    prefix: String,
}

impl BaseUrl {
    /// Validates `base_url`.
    ///
    /// # Errors
    ///
    /// A [`BaseUrlError`] naming what is wrong: not a URI at all, not
    /// `http://` nor `https://`, no host, or user info, a query or a
    /// fragment.
    pub fn parse(base_url: &str) -> Result<Self, BaseUrlError> {
        if base_url.contains(['?', '#']) {
            return Err(BaseUrlError::Extra);
        }
        let uri: Uri = base_url.parse().map_err(BaseUrlError::Invalid)?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            _ => return Err(BaseUrlError::Scheme),
        };
        let authority = uri.authority().ok_or(BaseUrlError::Host)?;
        if authority.as_str().contains('@') {
            return Err(BaseUrlError::Extra);
        }
        if authority.host().is_empty() {
            return Err(BaseUrlError::Host);
        }
        Ok(Self {
            scheme,
            authority: authority.clone(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The full URI of the endpoint at `path` under the prefix: `/v1/debit`
    /// under `http://host/api/` is `http://host/api/v1/debit` (and `https`
    /// stays `https`). A `path`
    /// without a leading `/` gets one.
    ///
    /// # Errors
    ///
    /// [`BaseUrlError::Invalid`] when `path` makes the URI invalid (a space,
    /// say); a path of visible ASCII never does.
    pub fn endpoint(&self, path: &str) -> Result<Uri, BaseUrlError> {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!(
            "{}://{}{}{slash}{path}",
            self.scheme, self.authority, self.prefix
        )
        .parse()
        .map_err(BaseUrlError::Invalid)
    }
}

/// Why a base URL was refused. Displayed as `base_url: reason`
/// ([`BaseUrlError::FIELD`], [`BaseUrlError::reason`]).
#[derive(Debug)]
pub enum BaseUrlError {
    /// Not a valid URI.
    Invalid(InvalidUri),
    /// Neither an `http://` nor an `https://` URL.
    Scheme,
    /// No host.
    Host,
    /// User info, a query or a fragment.
    Extra,
}

impl BaseUrlError {
    /// The name of the setting every adapter reads a base URL from.
    pub const FIELD: &'static str = "base_url";
    /// [`BaseUrlError::reason`] of [`BaseUrlError::Invalid`].
    pub const INVALID: &'static str = "not a valid URL";
    /// [`BaseUrlError::reason`] of [`BaseUrlError::Scheme`].
    pub const SCHEME: &'static str = "only the http and https schemes are supported";
    /// [`BaseUrlError::reason`] of [`BaseUrlError::Host`].
    pub const HOST: &'static str = "a host is required";
    /// [`BaseUrlError::reason`] of [`BaseUrlError::Extra`].
    pub const EXTRA: &'static str = "user info, query and fragment are not allowed";

    /// What is wrong with the base URL, without the setting's name.
    pub fn reason(&self) -> &'static str {
        match self {
            BaseUrlError::Invalid(_) => Self::INVALID,
            BaseUrlError::Scheme => Self::SCHEME,
            BaseUrlError::Host => Self::HOST,
            BaseUrlError::Extra => Self::EXTRA,
        }
    }
}

impl fmt::Display for BaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Self::FIELD, self.reason())
    }
}

impl std::error::Error for BaseUrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BaseUrlError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: &Result<BaseUrl, BaseUrlError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(BaseUrlError::Invalid(_)) => "invalid",
            Err(BaseUrlError::Scheme) => "scheme",
            Err(BaseUrlError::Host) => "host",
            Err(BaseUrlError::Extra) => "extra",
        }
    }

    #[test]
    fn base_urls_are_validated() {
        let cases = [
            ("http://127.0.0.1:8080", "ok"),
            ("http://provider.local", "ok"),
            ("http://provider.local/api/", "ok"),
            ("http://[::1]:80/x", "ok"),
            ("https://provider.local", "ok"),
            ("https://provider.local:8443/api/", "ok"),
            ("HTTPS://provider.local", "ok"),
            ("ftp://provider.local", "scheme"),
            ("provider.local:80", "scheme"),
            ("/v1", "scheme"),
            ("http://user:pw@provider.local", "extra"),
            ("http://user@provider.local", "extra"),
            ("http://provider.local/?a=b", "extra"),
            ("http://provider.local/#x", "extra"),
            ("http://pro vider", "invalid"),
            ("", "invalid"),
        ];
        for (url, expected) in cases {
            assert_eq!(kind(&BaseUrl::parse(url)), expected, "{url:?}");
        }
    }

    #[test]
    fn endpoints_join_the_prefix() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                "/v1/debit",
                "http://127.0.0.1:8080/v1/debit",
            ),
            (
                "http://127.0.0.1:8080/",
                "/bet.html",
                "http://127.0.0.1:8080/bet.html",
            ),
            (
                "http://provider.local/api",
                "/v1/credit",
                "http://provider.local/api/v1/credit",
            ),
            (
                "http://provider.local/api//",
                "/v1/credit",
                "http://provider.local/api/v1/credit",
            ),
            (
                "https://provider.local:8443/api/",
                "/v1/debit",
                "https://provider.local:8443/api/v1/debit",
            ),
            (
                "http://provider.local/rsa/",
                "api/user/balance",
                "http://provider.local/rsa/api/user/balance",
            ),
        ];
        for (base, path, expected) in cases {
            let uri = BaseUrl::parse(base).and_then(|b| b.endpoint(path));
            assert_eq!(
                uri.map(|u| u.to_string()).ok().as_deref(),
                Some(expected),
                "{base} {path}"
            );
        }
        let bad_path = BaseUrl::parse("http://h").and_then(|b| b.endpoint("/a b"));
        assert!(matches!(bad_path, Err(BaseUrlError::Invalid(_))));
    }

    #[test]
    fn errors_name_base_url_then_the_reason() {
        let errors = [
            BaseUrl::parse("").err(),
            BaseUrl::parse("ftp://provider.local").err(),
            BaseUrl::parse("http://user@provider.local").err(),
            Some(BaseUrlError::Host),
        ];
        for error in errors {
            let Some(error) = error else {
                panic!("a bad base_url was accepted");
            };
            let shown = error.to_string();
            assert_eq!(shown, format!("base_url: {}", error.reason()));
            assert!(!error.reason().contains("base_url"), "{shown}");
        }
        assert_eq!(
            BaseUrlError::Scheme.to_string(),
            "base_url: only the http and https schemes are supported"
        );
        let invalid = BaseUrl::parse("http://pro vider").err();
        assert!(
            invalid
                .as_ref()
                .and_then(std::error::Error::source)
                .is_some(),
            "the URI error is kept as the source"
        );
    }
}
