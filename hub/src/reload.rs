//! Configuration reload without a restart (SIGHUP, or `admin.v1`
//! ReloadConfig): partners (policies, rate and amount limits, JWT subjects,
//! certificate names), operators, `auth`, and providers.
//!
//! A reload is all or nothing. The new file is loaded and validated like at
//! start; every changed or added provider is built (adapter, resilience
//! stack, exchange logging) and the new authenticators are made, all before
//! anything is swapped. Any error names the field at fault and leaves the
//! running configuration as it was. Then, at once:
//!
//! - new calls see the new partners, operators and providers; a call in
//!   flight finishes with the snapshot it started with (providers are held
//!   by `Arc`, never torn down under a call);
//! - unchanged providers keep their breakers, health and retry budget;
//! - health checks stop for removed or changed endpoints and start for new
//!   ones.
//!
//! Sections bound to sockets, files or background workers (`server`,
//! `journal`, `metrics`, `exchange_log`, `resolver`) need a restart: a
//! change there is refused, as is removing a provider that still has
//! unfinished transactions.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;

use crate::auth::{Authenticator, SharedAuthenticator};
use crate::config::{Config, ConfigError};
use crate::domain::ProviderId;
use crate::engine::{Clock, Engine, Provider};
use crate::operators::{OperatorAuth, SharedOperatorAuth};
use crate::registry::Registry;
use crate::resilience::{HealthChecker, Jitter};

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Partners added, removed or changed.
    pub partners_changed: Vec<String>,
    /// Providers added, removed or changed.
    pub providers_changed: Vec<String>,
}

/// Applies new configurations to a running hub.
pub struct Reloader {
    path: Mutex<Option<PathBuf>>,
    current: tokio::sync::Mutex<Config>,
    engine: Engine,
    auth: SharedAuthenticator,
    operators: SharedOperatorAuth,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    exchange_log: Option<crate::exchange_log::ExchangeLog>,
    health: Mutex<HashMap<ProviderId, Vec<AbortHandle>>>,
}

fn json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The sections a reload may not change, by name.
fn fixed_sections(c: &Config) -> [(&'static str, serde_json::Value); 5] {
    [
        ("server", json(&c.server)),
        ("journal", json(&c.journal)),
        ("metrics", json(&c.metrics)),
        ("exchange_log", json(&c.exchange_log)),
        ("resolver", json(&c.resolver)),
    ]
}

/// Names whose entries differ between `old` and `new` (added, removed or
/// changed), sorted.
fn changed_keys<V: serde::Serialize>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) -> Vec<String> {
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k).map(json) != new.get(*k).map(json))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The providers of `entries`, each with its resilience stack and, when the
/// exchange log is on, logging its exchanges: at start and at every reload.
pub(crate) fn build_providers(
    entries: &BTreeMap<String, crate::config::ProviderConfig>,
    jitter: Arc<dyn Jitter>,
    exchange_log: Option<&crate::exchange_log::ExchangeLog>,
) -> Result<HashMap<ProviderId, Provider>, ConfigError> {
    let built = Registry::builtin().build(entries, jitter)?;
    Ok(match exchange_log {
        Some(log) => log.instrument(built),
        None => built,
    })
}

impl Reloader {
    /// A reloader for a hub started with `config`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        engine: Engine,
        auth: SharedAuthenticator,
        operators: SharedOperatorAuth,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
        exchange_log: Option<crate::exchange_log::ExchangeLog>,
    ) -> Self {
        Self {
            path: Mutex::new(None),
            current: tokio::sync::Mutex::new(config),
            engine,
            auth,
            operators,
            clock,
            jitter,
            exchange_log,
            health: Mutex::new(HashMap::new()),
        }
    }

    /// Names the file [`Reloader::reload`] reads (the one the hub started
    /// with).
    pub fn set_path(&self, path: PathBuf) {
        *self.path.lock().unwrap_or_else(PoisonError::into_inner) = Some(path);
    }

    /// The configuration in force.
    pub async fn current(&self) -> Config {
        self.current.lock().await.clone()
    }

    /// Re-reads the configuration file (and `HUB_*` overrides) and applies
    /// it.
    pub async fn reload(&self) -> Result<ReloadReport, ConfigError> {
        let path = self
            .path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(path) = path else {
            return Err(ConfigError::Invalid {
                field: "--config".into(),
                reason: "the hub was started without a configuration file".into(),
            });
        };
        let new = Config::load(Some(&path))?;
        self.apply(new).await
    }

    /// Applies `new`, all or nothing (see the module docs).
    pub async fn apply(&self, new: Config) -> Result<ReloadReport, ConfigError> {
        let mut current = self.current.lock().await;
        for ((field, old), (_, now)) in fixed_sections(&current)
            .into_iter()
            .zip(fixed_sections(&new))
        {
            if old != now {
                return Err(ConfigError::Invalid {
                    field: field.into(),
                    reason: "changes here need a restart; the running configuration stays".into(),
                });
            }
        }
        let providers_changed = changed_keys(&current.providers, &new.providers);
        let partners_changed = changed_keys(&current.partners, &new.partners);

        // Removing a provider strands its unfinished transactions.
        let open =
            self.engine
                .journal()
                .list_work(None)
                .await
                .map_err(|e| ConfigError::Invalid {
                    field: "providers".into(),
                    reason: format!("cannot check for unfinished transactions: {e}"),
                })?;
        for name in &providers_changed {
            if !new.providers.contains_key(name) {
                let n = open.iter().filter(|w| w.provider.as_str() == name).count();
                if n > 0 {
                    return Err(ConfigError::Invalid {
                        field: format!("providers.{name}"),
                        reason: format!(
                            "{n} unfinished transactions still need this provider; it stays"
                        ),
                    });
                }
            }
        }

        // Build everything new before swapping anything.
        let rebuild: BTreeMap<String, crate::config::ProviderConfig> = new
            .providers
            .iter()
            .filter(|(name, _)| providers_changed.contains(name))
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        let built = build_providers(&rebuild, self.jitter.clone(), self.exchange_log.as_ref())?;
        let auth =
            Authenticator::from_config(&new, self.engine.journal().clone(), self.clock.clone())?
                .keeping_rate_state(&self.auth.load());
        let operators = OperatorAuth::from_config(&new, self.engine.journal().clone())?;

        // Swap.
        let old = self.engine.providers();
        let mut next: HashMap<ProviderId, Arc<Provider>> = old
            .iter()
            .filter(|(id, _)| {
                new.providers.contains_key(id.as_str())
                    && !providers_changed.contains(&id.to_string())
            })
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        let fresh: Vec<ProviderId> = built.keys().cloned().collect();
        for (id, p) in built {
            next.insert(id, Arc::new(p));
        }
        self.engine.replace_providers(Arc::new(next));
        self.auth.store(Arc::new(auth));
        self.operators.store(Arc::new(operators));
        for name in &providers_changed {
            if let Ok(id) = ProviderId::parse(name) {
                self.stop_health(&id);
            }
        }
        let now = self.engine.providers();
        for id in &fresh {
            if let Some(p) = now.get(id) {
                self.start_health(id, p);
            }
        }
        crate::metrics::init_series(&self.engine, &new);
        *current = new;
        tracing::info!(
            partners = ?partners_changed,
            providers = ?providers_changed,
            "configuration reloaded"
        );
        Ok(ReloadReport {
            partners_changed,
            providers_changed,
        })
    }

    /// Starts the health checks of every provider's endpoints.
    pub fn start_all_health(&self) {
        for (id, p) in self.engine.providers().iter() {
            self.start_health(id, p);
        }
    }

    /// Stops every health check.
    pub fn stop_all_health(&self) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        for handle in health.drain().flat_map(|(_, h)| h) {
            handle.abort();
        }
    }

    fn start_health(&self, id: &ProviderId, provider: &Provider) {
        let handles = provider
            .endpoints
            .iter()
            .map(|endpoint| {
                let checker = HealthChecker {
                    attempt: endpoint.breaker.inner().clone(),
                    health: endpoint.health.clone(),
                    config: provider.health.clone(),
                    currency: provider.probe_currency,
                    label: format!("{id}/{}", endpoint.name),
                };
                tokio::spawn(checker.run()).abort_handle()
            })
            .collect();
        let old = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), handles);
        for handle in old.into_iter().flatten() {
            handle.abort();
        }
    }

    fn stop_health(&self, id: &ProviderId) {
        let old = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        for handle in old.into_iter().flatten() {
            handle.abort();
        }
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop_all_health();
    }
}
