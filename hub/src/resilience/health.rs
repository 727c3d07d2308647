//! Active health checks per endpoint: a cheap read (a balance query of a
//! probe account) on an interval. Any well-formed answer, even "no such
//! account", shows the provider is serving; a connect failure, a timeout or
//! garbage counts against it. Thresholds in a row flip the state, so one
//! lost probe does not move traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use adapter_api::{AccountId, AdapterError, BalanceRequest, Currency};
use tokio::sync::watch;

use super::Attempt;
use crate::config::HealthConfig;

/// What the checks say about one endpoint. Clones share it.
#[derive(Clone, Debug)]
pub struct EndpointHealth {
    healthy: Arc<AtomicBool>,
    changes: watch::Sender<bool>,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        let (changes, _) = watch::channel(true);
        Self {
            healthy: Arc::new(AtomicBool::new(true)),
            changes,
        }
    }
}

impl EndpointHealth {
    /// Whether the endpoint passes its checks (healthy until shown
    /// otherwise).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Sets the state.
    pub fn set(&self, healthy: bool) {
        if self.healthy.swap(healthy, Ordering::AcqRel) != healthy {
            self.changes.send_replace(healthy);
        }
    }

    /// Changes of the state.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }
}

/// Checks one endpoint until the returned task is aborted.
pub struct HealthChecker {
    /// What is checked.
    pub attempt: Attempt,
    /// Where the result goes.
    pub health: EndpointHealth,
    /// How.
    pub config: HealthConfig,
    /// The probe's currency.
    pub currency: Currency,
    /// For logs.
    pub label: String,
}

impl HealthChecker {
    /// Runs the checks forever (spawn it; abort to stop).
    pub async fn run(self) {
        let (mut fails, mut passes) = (0u32, 0u32);
        // Endpoints start healthy; the first check comes one interval in.
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config.interval,
            self.config.interval,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let request = BalanceRequest {
                account: AccountId::new(self.config.probe_account.clone()),
                currency: self.currency,
            };
            let probe = self.attempt.adapter().balance(&request);
            let ok = match tokio::time::timeout(self.config.timeout, probe).await {
                Ok(Ok(_)) | Ok(Err(AdapterError::Declined(_) | AdapterError::Unsupported)) => true,
                Ok(Err(_)) | Err(_) => false,
            };
            if ok {
                passes += 1;
                fails = 0;
                if !self.health.is_healthy() && passes >= self.config.healthy_after {
                    tracing::info!(endpoint = %self.label, "endpoint healthy again");
                    self.health.set(true);
                }
            } else {
                fails += 1;
                passes = 0;
                if self.health.is_healthy() && fails >= self.config.unhealthy_after {
                    tracing::warn!(endpoint = %self.label, "endpoint unhealthy");
                    self.health.set(false);
                }
            }
        }
    }
}
