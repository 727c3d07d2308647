//! Routing by configuration: one adapter factory per dialect, and the
//! providers built from the config's `[providers.*]` entries. A new provider
//! that speaks an existing dialect is configuration only; a new dialect is a
//! factory added to [`Registry::builtin`].

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use adapter_api::{AdapterFactory, Currency};

use crate::config::{ConfigError, ProviderConfig};
use crate::domain::ProviderId;
use crate::engine::Provider;
use crate::resilience::{Jitter, stack};

/// The dialects the hub can speak.
pub struct Registry {
    factories: BTreeMap<&'static str, Box<dyn AdapterFactory>>,
}

impl Registry {
    /// The built-in dialects, out-of-process adapter plugins (`plugin`), and
    /// [`echo`](crate::echo) for benchmarks.
    pub fn builtin() -> Self {
        Self::with(vec![
            Box::new(adapter_json_hmac::Factory),
            Box::new(adapter_json_rsa::Factory),
            Box::new(adapter_form_md5::Factory),
            Box::new(adapter_plugin::Factory),
            Box::new(crate::echo::Factory),
        ])
    }

    /// A registry of exactly these factories.
    pub fn with(factories: Vec<Box<dyn AdapterFactory>>) -> Self {
        Self {
            factories: factories.into_iter().map(|f| (f.dialect(), f)).collect(),
        }
    }

    /// Builds every configured provider with its resilience stack; the
    /// first bad entry is an error naming its field
    /// (`providers.acme.secret: ...`).
    pub fn build(
        &self,
        providers: &BTreeMap<String, ProviderConfig>,
        jitter: Arc<dyn Jitter>,
    ) -> Result<HashMap<ProviderId, Provider>, ConfigError> {
        let mut built = HashMap::with_capacity(providers.len());
        for (name, p) in providers {
            let invalid = |field: &str, reason: String| ConfigError::Invalid {
                field: if field.is_empty() {
                    format!("providers.{name}")
                } else {
                    format!("providers.{name}.{field}")
                },
                reason,
            };
            let id = ProviderId::parse(name).map_err(|e| invalid("", e.to_string()))?;
            let factory = self.factories.get(p.dialect.as_str()).ok_or_else(|| {
                invalid(
                    "dialect",
                    format!(
                        "unknown dialect {:?}; known: {}",
                        p.dialect,
                        self.factories
                            .keys()
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let primary = factory
                .build(&serde_json::Value::Object(p.settings.0.clone()))
                .map_err(|e| invalid(&e.field, e.reason))?;
            let backup = match &p.backup {
                None => None,
                Some(overrides) => {
                    let mut settings = p.settings.0.clone();
                    settings.extend(overrides.0.clone());
                    Some(
                        factory
                            .build(&serde_json::Value::Object(settings))
                            .map_err(|e| invalid(&format!("backup.{}", e.field), e.reason))?,
                    )
                }
            };
            let probe_currency = Currency::from_code(&p.health.probe_currency)
                .map_err(|e| invalid("health.probe_currency", e.to_string()))?;
            let (service, endpoints) = stack(name, primary, backup, p, jitter.clone());
            built.insert(
                id,
                Provider {
                    service,
                    endpoints,
                    health: p.health.clone(),
                    probe_currency,
                },
            );
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::SeededJitter;

    fn entry(dialect: &str, settings: serde_json::Value) -> BTreeMap<String, ProviderConfig> {
        let serde_json::Value::Object(settings) = settings else {
            panic!("settings must be an object");
        };
        BTreeMap::from([(
            "acme".to_owned(),
            serde_json::from_value(serde_json::json!({"dialect": dialect}))
                .map(|mut c: ProviderConfig| {
                    c.settings = crate::config::Settings(settings);
                    c
                })
                .unwrap(),
        )])
    }

    impl Registry {
        fn build_for_test(
            &self,
            p: &BTreeMap<String, ProviderConfig>,
        ) -> Result<HashMap<ProviderId, Provider>, ConfigError> {
            self.build(p, Arc::new(SeededJitter::new(1)))
        }
    }

    fn field_of(r: Result<HashMap<ProviderId, Provider>, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { field, .. }) => field,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn a_provider_of_a_known_dialect_is_configuration_only() {
        let built = Registry::builtin()
            .build_for_test(&entry(
                "json-hmac",
                serde_json::json!({"base_url": "http://127.0.0.1:9", "secret": "s", "operator": "hub"}),
            ))
            .unwrap();
        let acme = &built[&ProviderId::parse("acme").unwrap()];
        assert_eq!(acme.endpoints.len(), 1);
        assert_eq!(
            acme.endpoints[0]
                .breaker
                .inner()
                .adapter()
                .descriptor()
                .dialect,
            "json-hmac"
        );
    }

    #[tokio::test]
    async fn an_echo_provider_settles_without_a_network() {
        let built = Registry::builtin()
            .build_for_test(&entry("echo", serde_json::json!({})))
            .unwrap();
        let acme = &built[&ProviderId::parse("acme").unwrap()];
        let adapter = acme.endpoints[0].breaker.inner().adapter();
        assert_eq!(adapter.descriptor().dialect, "echo");
        let debit = adapter_api::MoneyRequest {
            direction: adapter_api::Direction::Debit,
            tx_id: adapter_api::ProviderTxId::new("t-1"),
            account: adapter_api::AccountId::new("acc-1"),
            amount: adapter_api::Money::new(Currency::from_code("EUR").unwrap(), 100),
            reference: None,
        };
        assert_eq!(adapter.transfer(&debit).await.class(), "settled");
    }

    #[test]
    fn bad_entries_name_the_field() {
        let r = Registry::builtin();
        assert_eq!(
            field_of(r.build_for_test(&entry("json-xml", serde_json::json!({})))),
            "providers.acme.dialect"
        );
        assert_eq!(
            field_of(r.build_for_test(&entry(
                "json-hmac",
                serde_json::json!({"base_url": "http://127.0.0.1:9", "operator": "hub"})
            ))),
            "providers.acme.secret"
        );
        assert_eq!(
            field_of(r.build_for_test(&entry(
                "json-hmac",
                serde_json::json!({"base_url": "http://127.0.0.1:9", "secret": "s", "operator": "hub", "colour": "red"})
            ))),
            "providers.acme.colour"
        );
        assert_eq!(
            field_of(r.build_for_test(&entry(
                "json-hmac",
                serde_json::json!({"base_url": "ftp://x", "secret": "s", "operator": "hub"})
            ))),
            "providers.acme.base_url"
        );
    }
}
