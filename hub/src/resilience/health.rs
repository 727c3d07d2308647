//! Active health checks per endpoint: a cheap read (a balance query of a
//! probe account) on an interval. Any well-formed answer, even "no such
//! account", shows the provider is serving; a connect failure, a timeout or
//! garbage counts against it. Thresholds in a row flip the state, so one
//! lost probe does not move traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use adapter_api::{AccountId, AdapterError, BalanceRequest, Currency, Money};
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
        let mut streak = Streak::default();
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
            let ok = passed(tokio::time::timeout(self.config.timeout, probe).await.ok());
            match streak.record(ok, self.health.is_healthy(), &self.config) {
                Some(true) => {
                    tracing::info!(endpoint = %self.label, "endpoint healthy again");
                    self.health.set(true);
                }
                Some(false) => {
                    tracing::warn!(endpoint = %self.label, "endpoint unhealthy");
                    self.health.set(false);
                }
                None => {}
            }
        }
    }
}

/// Whether a probe's answer (`None`: it timed out) shows the endpoint
/// serving: any well-formed answer does, a refusal included.
fn passed(answer: Option<Result<Money, AdapterError>>) -> bool {
    matches!(
        answer,
        Some(Ok(_) | Err(AdapterError::Declined(_) | AdapterError::Unsupported))
    )
}

/// Checks in a row, and when they flip the state.
#[derive(Debug, Default)]
struct Streak {
    fails: u32,
    passes: u32,
}

impl Streak {
    /// Counts one check of an endpoint that is `healthy` now; the new state
    /// if this check flips it.
    fn record(&mut self, ok: bool, healthy: bool, config: &HealthConfig) -> Option<bool> {
        if ok {
            self.passes = self.passes.saturating_add(1);
            self.fails = 0;
            (!healthy && self.passes >= config.healthy_after).then_some(true)
        } else {
            self.fails = self.fails.saturating_add(1);
            self.passes = 0;
            (healthy && self.fails >= config.unhealthy_after).then_some(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use adapter_api::{
        Adapter, Capabilities, DeclineReason, Descriptor, DuplicateHabit, MoneyRequest, Outcome,
        RollbackRequest, UnknownRollbackHabit,
    };
    use tokio::time::Instant;

    use super::*;

    fn config(unhealthy_after: u32, healthy_after: u32) -> HealthConfig {
        HealthConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(300),
            unhealthy_after,
            healthy_after,
            ..HealthConfig::default()
        }
    }

    #[test]
    fn only_checks_in_a_row_flip_the_state() {
        let config = config(3, 2);
        let mut streak = Streak::default();
        let mut healthy = true;
        let mut run = |checks: &[bool]| {
            checks
                .iter()
                .map(|&ok| {
                    let flip = streak.record(ok, healthy, &config);
                    if let Some(h) = flip {
                        healthy = h;
                    }
                    flip
                })
                .collect::<Vec<_>>()
        };
        // Two failures, a pass, two failures: never three in a row.
        assert_eq!(run(&[false, false, true, false, false]), [None; 5]);
        // The third in a row flips it, once.
        assert_eq!(run(&[false, false]), [Some(false), None]);
        // Back after two passes in a row, not one.
        assert_eq!(
            run(&[true, false, true, true, true]),
            [None, None, None, Some(true), None]
        );
    }

    #[test]
    fn any_well_formed_answer_passes() {
        let eur = Currency::from_code("EUR").unwrap();
        assert!(passed(Some(Ok(Money::new(eur, 5)))));
        assert!(passed(Some(Err(AdapterError::Declined(
            DeclineReason::UnknownAccount
        )))));
        assert!(passed(Some(Err(AdapterError::Unsupported))));
        assert!(!passed(Some(Err(AdapterError::HttpStatus { status: 503 }))));
        assert!(!passed(Some(Err(AdapterError::Connect("refused".into())))));
        assert!(!passed(None), "a probe that timed out");
    }

    #[derive(Clone, Copy)]
    enum Mode {
        Answers,
        Refuses,
        Fails,
        Hangs,
    }

    /// A provider whose balance queries behave as `mode` says.
    struct Probed {
        mode: Mutex<Mode>,
        probes: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Adapter for Probed {
        fn descriptor(&self) -> Descriptor {
            Descriptor {
                dialect: "probed",
                capabilities: Capabilities {
                    balance: true,
                    status: false,
                },
                duplicates: DuplicateHabit::ReplaysOriginal,
                rollback_of_unknown: UnknownRollbackHabit::AcknowledgesWithTombstone,
                default_timeout: Duration::from_secs(1),
            }
        }

        async fn transfer(&self, _: &MoneyRequest) -> Outcome {
            unreachable!("health checks move no money")
        }

        async fn rollback(&self, _: &RollbackRequest) -> Outcome {
            unreachable!("health checks move no money")
        }

        async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
            self.probes.fetch_add(1, Ordering::SeqCst);
            let mode = *self.mode.lock().unwrap();
            match mode {
                Mode::Answers => Ok(Money::new(req.currency, 0)),
                Mode::Refuses => Err(AdapterError::Declined(DeclineReason::UnknownAccount)),
                Mode::Fails => Err(AdapterError::HttpStatus { status: 503 }),
                Mode::Hangs => std::future::pending().await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_on_the_interval_flip_the_state_after_their_thresholds() {
        let adapter = Arc::new(Probed {
            mode: Mutex::new(Mode::Refuses),
            probes: AtomicU32::new(0),
        });
        let health = EndpointHealth::default();
        let mut changes = health.subscribe();
        let checker = HealthChecker {
            attempt: Attempt::new(adapter.clone(), Duration::from_secs(3)),
            health: health.clone(),
            config: config(2, 2),
            currency: Currency::from_code("EUR").unwrap(),
            label: "test/primary".into(),
        };
        let task = tokio::spawn(checker.run());
        let set = |mode| *adapter.mode.lock().unwrap() = mode;
        let probes = || adapter.probes.load(Ordering::SeqCst);

        // A refusal is an answer: five probes, one a second, and no change.
        let quiet = tokio::time::timeout(Duration::from_millis(5_500), changes.changed()).await;
        assert!(quiet.is_err(), "no change while the provider answers");
        assert_eq!(probes(), 5);
        assert!(health.is_healthy());

        // Probes that outlast their timeout fail: the second in a row
        // (at 7 s, cut at 7.3 s) makes the endpoint unhealthy.
        set(Mode::Hangs);
        let t0 = Instant::now();
        changes.changed().await.unwrap();
        assert!(!*changes.borrow_and_update());
        assert!(!health.is_healthy());
        assert_eq!(t0.elapsed(), Duration::from_millis(1_800));
        assert_eq!(probes(), 7);

        // Failing answers keep it so; two answers in a row bring it back.
        set(Mode::Fails);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!health.is_healthy());
        set(Mode::Answers);
        let t0 = Instant::now();
        changes.changed().await.unwrap();
        assert!(*changes.borrow_and_update());
        assert!(health.is_healthy());
        // Set at 10.3 s: the probes at 11 s and 12 s pass.
        assert_eq!(t0.elapsed(), Duration::from_millis(1_700));
        task.abort();
    }
}
