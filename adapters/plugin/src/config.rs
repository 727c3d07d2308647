//! The bridge's settings, validated once when the provider is built.
//!
//! [`PluginConfig`] is what an operator writes under a provider with
//! `dialect = "plugin"`; [`Address`] and the token are what the bridge keeps.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};

/// How to reach and authenticate to one adapter plugin.
///
/// `Debug` never prints the token.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Where the plugin listens: `unix:/path/to/socket`, or `IP:port` on the
    /// loopback interface (`127.0.0.1:7001`, `[::1]:7001`). The channel is
    /// not encrypted, so other hosts are refused.
    pub address: String,
    /// The shared token, sent as `authorization: Bearer <token>` on every
    /// call. Exactly one of `token` and `token_file` must be set.
    #[serde(default)]
    pub token: Option<String>,
    /// A file holding the shared token (surrounding whitespace ignored),
    /// read once at build.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Longest wait for a connection to the plugin; a call that cannot
    /// connect in time is `NotProcessed`. Default 1 s.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for the plugin's `Describe` answer when the provider is
    /// built. Default 5 s.
    #[serde(default = "default_describe_timeout", with = "humantime_serde")]
    pub describe_timeout: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_describe_timeout() -> Duration {
    Duration::from_secs(5)
}

impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("describe_timeout", &self.describe_timeout)
            .finish()
    }
}

/// Where a plugin listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A Unix domain socket.
    Unix(PathBuf),
    /// A TCP port on a loopback address.
    Tcp(SocketAddr),
}

impl Address {
    /// Parses `unix:PATH` or a loopback `IP:port`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(ConfigError::Address("unix: needs a socket path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            ConfigError::Address("must be unix:/path or a loopback IP:port such as 127.0.0.1:7001")
        })?;
        if !addr.ip().is_loopback() {
            return Err(ConfigError::Address(
                "a TCP plugin must listen on a loopback address (the channel is not encrypted)",
            ));
        }
        if addr.port() == 0 {
            return Err(ConfigError::Address("the port must not be 0"));
        }
        Ok(Address::Tcp(addr))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// The `authorization` metadata value for a token. `Debug` never prints it.
#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) AsciiMetadataValue);

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// Reads the token from `token` or `token_file` (exactly one).
    pub(crate) fn from_config(config: &PluginConfig) -> Result<Self, ConfigError> {
        let token = match (&config.token, &config.token_file) {
            (Some(token), None) => token.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|_| ConfigError::TokenFile)?
                .trim()
                .to_owned(),
            (Some(_), Some(_)) => return Err(ConfigError::TokenTwice),
            (None, None) => return Err(ConfigError::TokenMissing),
        };
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::TokenInvalid);
        }
        let value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| ConfigError::TokenInvalid)?;
        Ok(Self(value))
    }
}

/// Why a [`PluginConfig`] was refused, or the plugin's self-description.
/// Displayed as `field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `address` is not a Unix socket path or a loopback `IP:port`.
    #[error("address: {0}")]
    Address(&'static str),
    /// Neither `token` nor `token_file` is set.
    #[error("token: one of token and token_file is required")]
    TokenMissing,
    /// Both `token` and `token_file` are set.
    #[error("token_file: give token or token_file, not both")]
    TokenTwice,
    /// `token_file` cannot be read.
    #[error("token_file: cannot be read")]
    TokenFile,
    /// The token is empty or not visible ASCII.
    #[error("token: must be non-empty visible ASCII")]
    TokenInvalid,
    /// A timeout is zero.
    #[error("{0}: must be positive")]
    ZeroTimeout(&'static str),
    /// The plugin did not answer `Describe`, or answered out of contract.
    #[error("address: the plugin's Describe failed: {0}")]
    Describe(String),
}

impl ConfigError {
    /// The setting this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Address(_) | ConfigError::Describe(_) => "address",
            ConfigError::TokenMissing | ConfigError::TokenInvalid => "token",
            ConfigError::TokenTwice | ConfigError::TokenFile => "token_file",
            ConfigError::ZeroTimeout(field) => field,
        }
    }

    /// What is wrong with the setting, without its name.
    pub fn reason(&self) -> String {
        let shown = self.to_string();
        let prefix = format!("{}: ", self.field());
        shown
            .strip_prefix(&prefix)
            .map(str::to_owned)
            .unwrap_or(shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_paths_or_loopback_ports() {
        assert_eq!(
            Address::parse("unix:/run/plugin.sock"),
            Ok(Address::Unix("/run/plugin.sock".into()))
        );
        assert_eq!(
            Address::parse("127.0.0.1:7001"),
            Ok(Address::Tcp("127.0.0.1:7001".parse().unwrap()))
        );
        assert_eq!(
            Address::parse("[::1]:7001"),
            Ok(Address::Tcp("[::1]:7001".parse().unwrap()))
        );
        for bad in [
            "unix:",
            "10.0.0.1:7001",
            "0.0.0.0:7001",
            "localhost:7001",
            "127.0.0.1",
            "127.0.0.1:0",
            "http://127.0.0.1:7001",
            "",
        ] {
            let error = Address::parse(bad).expect_err(bad);
            assert_eq!(error.field(), "address", "{bad}");
        }
    }

    fn config(token: Option<&str>, token_file: Option<PathBuf>) -> PluginConfig {
        PluginConfig {
            address: "unix:/x".into(),
            token: token.map(str::to_owned),
            token_file,
            connect_timeout: default_connect_timeout(),
            describe_timeout: default_describe_timeout(),
        }
    }

    #[test]
    fn exactly_one_valid_token_is_required() {
        assert!(Bearer::from_config(&config(Some("t0k3n"), None)).is_ok());
        assert_eq!(
            Bearer::from_config(&config(None, None)).err(),
            Some(ConfigError::TokenMissing)
        );
        assert_eq!(
            Bearer::from_config(&config(Some("a"), Some("/x".into()))).err(),
            Some(ConfigError::TokenTwice)
        );
        for bad in ["", "two words", "caf\u{e9}"] {
            assert_eq!(
                Bearer::from_config(&config(Some(bad), None)).err(),
                Some(ConfigError::TokenInvalid),
                "{bad:?}"
            );
        }
        assert_eq!(
            Bearer::from_config(&config(None, Some("/nonexistent/token".into()))).err(),
            Some(ConfigError::TokenFile)
        );
    }

    #[test]
    fn token_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let bearer = Bearer::from_config(&config(None, Some(path))).unwrap();
        assert_eq!(bearer.0.to_str().unwrap(), "Bearer s3cr3t");
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", config(Some("s3cr3t-value"), None));
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        let bearer = Bearer::from_config(&config(Some("s3cr3t-value"), None)).unwrap();
        assert!(!format!("{bearer:?}").contains("s3cr3t"));
    }

    #[test]
    fn errors_display_as_field_then_reason() {
        for error in [
            ConfigError::Address("x"),
            ConfigError::TokenMissing,
            ConfigError::TokenTwice,
            ConfigError::TokenFile,
            ConfigError::TokenInvalid,
            ConfigError::ZeroTimeout("connect_timeout"),
            ConfigError::Describe("no answer".into()),
        ] {
            assert_eq!(
                error.to_string(),
                format!("{}: {}", error.field(), error.reason())
            );
        }
    }
}
