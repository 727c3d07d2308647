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
use secrecy::SecretString;
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
}

/// The journal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The SQLite file.
    pub path: PathBuf,
}

/// One provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The dialect its adapter speaks.
    pub dialect: Dialect,
    /// Base URL of its API (`http://host:port`).
    pub base_url: String,
    /// Shared signing secret.
    #[serde(serialize_with = "redacted")]
    pub secret: SecretString,
    /// Our operator id at the provider.
    pub operator: String,
    /// Longest a single provider call may take before its outcome is
    /// Unknown.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Provider dialects with a built-in adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// JSON bodies, HMAC-SHA256 signatures, minor units.
    JsonHmac,
}

/// One partner.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Providers this partner may use.
    pub providers: Vec<String>,
}

fn redacted<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[redacted]")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
                shutdown_grace: Duration::from_secs(10),
                default_deadline: Duration::from_secs(30),
                answer_margin: Duration::from_millis(50),
            },
            journal: JournalConfig {
                path: PathBuf::from("data/hub.db"),
            },
            providers: BTreeMap::new(),
            partners: BTreeMap::new(),
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

impl Config {
    /// Defaults, then `file` (if given), then `HUB_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        Self::from_figment(fig.merge(Env::prefixed("HUB_").split("__")))
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
        for (name, p) in &self.providers {
            ProviderId::parse(name)
                .map_err(|e| invalid(format!("providers.{name}"), &e.to_string()))?;
            if !p.base_url.starts_with("http://") {
                return Err(invalid(
                    format!("providers.{name}.base_url"),
                    "must be an http:// URL",
                ));
            }
            if p.timeout.is_zero() {
                return Err(invalid(
                    format!("providers.{name}.timeout"),
                    "must be positive",
                ));
            }
        }
        for (name, p) in &self.partners {
            PartnerId::parse(name)
                .map_err(|e| invalid(format!("partners.{name}"), &e.to_string()))?;
            for (i, prov) in p.providers.iter().enumerate() {
                if !self.providers.contains_key(prov) {
                    return Err(invalid(
                        format!("partners.{name}.providers[{i}]"),
                        &format!("no provider named {prov:?} is configured"),
                    ));
                }
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
        assert_eq!(cfg.providers["sb"].timeout, Duration::from_secs(2));
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
        let err = with_toml(&PROVIDER.replace("http://", "ftp://")).unwrap_err();
        assert!(err.to_string().contains("providers.sb.base_url"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let cfg = with_toml(PROVIDER).unwrap();
        assert!(!format!("{cfg:?}").contains("secret = \"s\""));
        let shown = toml_like(&cfg);
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    fn toml_like(cfg: &Config) -> String {
        format!("{:?}", figment::Provider::data(&Serialized::defaults(cfg)))
    }
}
