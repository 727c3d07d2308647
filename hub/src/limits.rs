//! Partner rate limits (governor's GCRA): one limiter per partner for every
//! call, and one per partner and provider for calls that reach a provider.
//! Checked before any journal write or provider call; a refusal is
//! RESOURCE_EXHAUSTED with RetryInfo (when to try again) and QuotaFailure
//! (which quota).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::domain::{PartnerId, ProviderId};
use crate::error::HubError;

/// A partner's request-rate limits. Absent values mean unlimited.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Calls per second, all RPCs together.
    pub per_second: Option<NonZeroU32>,
    /// Calls allowed at once above the rate (default: one second's worth).
    pub burst: Option<NonZeroU32>,
    /// Calls per second to each provider (money calls and balance queries).
    pub per_provider_per_second: Option<NonZeroU32>,
    /// Burst to each provider (default: one second's worth).
    pub per_provider_burst: Option<NonZeroU32>,
}

fn quota(rate: NonZeroU32, burst: Option<NonZeroU32>) -> Quota {
    Quota::per_second(rate).allow_burst(burst.unwrap_or(rate))
}

/// One limiter and the quota it was built with (to tell, at a reload,
/// whether it can be kept).
type Limiter = (Quota, Arc<DefaultDirectRateLimiter>);

/// Every partner's limiters, built from configuration. Clones share the
/// limiters.
#[derive(Default, Clone)]
pub struct RateLimits {
    partners: HashMap<PartnerId, Limiter>,
    providers: HashMap<(PartnerId, ProviderId), Limiter>,
}

fn limiter(quota: Quota) -> Limiter {
    (quota, Arc::new(RateLimiter::direct(quota)))
}

/// `fresh` with each limiter whose quota `previous` already had under the
/// same key replaced by that one, state and all.
fn keep<K: Eq + std::hash::Hash>(fresh: &mut HashMap<K, Limiter>, previous: &HashMap<K, Limiter>) {
    for (key, entry) in fresh.iter_mut() {
        if let Some(old) = previous.get(key).filter(|old| old.0 == entry.0) {
            entry.1 = old.1.clone();
        }
    }
}

impl RateLimits {
    /// Limiters for each partner's `config` over the providers it may use.
    pub fn new<'a>(
        partners: impl IntoIterator<Item = (&'a PartnerId, &'a RateConfig, &'a [ProviderId])>,
    ) -> Self {
        let mut limits = Self::default();
        for (partner, config, providers) in partners {
            if let Some(rate) = config.per_second {
                limits
                    .partners
                    .insert(partner.clone(), limiter(quota(rate, config.burst)));
            }
            if let Some(rate) = config.per_provider_per_second {
                for provider in providers {
                    limits.providers.insert(
                        (partner.clone(), provider.clone()),
                        limiter(quota(rate, config.per_provider_burst)),
                    );
                }
            }
        }
        limits
    }

    /// These limits, where `previous` (the configuration being replaced)
    /// had the same quota for the same partner (and provider), carrying on
    /// with its limiter: a reload must not hand every partner a fresh burst.
    /// A changed quota starts a new limiter.
    pub fn keeping(mut self, previous: &RateLimits) -> Self {
        keep(&mut self.partners, &previous.partners);
        keep(&mut self.providers, &previous.providers);
        self
    }

    /// Admits one call of `partner`, or says when to come back.
    pub fn check_partner(&self, partner: &PartnerId) -> Result<(), HubError> {
        match self.partners.get(partner) {
            Some((_, l)) => admit(l, "partner", format!("partner:{partner}"))
                .inspect_err(|_| count(partner, "partner")),
            None => Ok(()),
        }
    }

    /// Admits one call of `partner` to `provider`, or says when to come back.
    pub fn check_provider(
        &self,
        partner: &PartnerId,
        provider: &ProviderId,
    ) -> Result<(), HubError> {
        match self.providers.get(&(partner.clone(), provider.clone())) {
            Some((_, l)) => admit(
                l,
                "partner+provider",
                format!("partner:{partner}/provider:{provider}"),
            )
            .inspect_err(|_| count(partner, "provider")),
            None => Ok(()),
        }
    }
}

fn count(partner: &PartnerId, scope: &str) {
    crate::metrics::get()
        .rate_limited
        .get_or_create(&crate::metrics::RateLabels {
            partner: partner.to_string(),
            scope: scope.to_owned(),
        })
        .inc();
}

fn admit(
    limiter: &DefaultDirectRateLimiter,
    scope: &'static str,
    subject: String,
) -> Result<(), HubError> {
    limiter.check().map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        HubError::RateLimited {
            scope,
            subject,
            retry_after: wait.max(Duration::from_millis(1)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> PartnerId {
        PartnerId::parse(s).unwrap()
    }

    fn prov(s: &str) -> ProviderId {
        ProviderId::parse(s).unwrap()
    }

    #[test]
    fn a_partner_over_its_burst_is_refused_with_when_to_retry() {
        let config = RateConfig {
            per_second: NonZeroU32::new(2),
            burst: NonZeroU32::new(3),
            ..Default::default()
        };
        let (p, q) = (pid("p1"), pid("p2"));
        let providers = [prov("sb")];
        let limits = RateLimits::new([(&p, &config, &providers[..])]);
        for _ in 0..3 {
            limits.check_partner(&p).unwrap();
        }
        match limits.check_partner(&p) {
            Err(HubError::RateLimited {
                scope, retry_after, ..
            }) => {
                assert_eq!(scope, "partner");
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another partner (no limits configured) is unaffected.
        for _ in 0..100 {
            limits.check_partner(&q).unwrap();
        }
    }

    #[test]
    fn provider_limits_are_per_partner_and_provider() {
        let config = RateConfig {
            per_provider_per_second: NonZeroU32::new(1),
            ..Default::default()
        };
        let p = pid("p1");
        let providers = [prov("a"), prov("b")];
        let limits = RateLimits::new([(&p, &config, &providers[..])]);
        limits.check_provider(&p, &prov("a")).unwrap();
        assert!(matches!(
            limits.check_provider(&p, &prov("a")),
            Err(HubError::RateLimited {
                scope: "partner+provider",
                ..
            })
        ));
        // The other provider has its own allowance.
        limits.check_provider(&p, &prov("b")).unwrap();
        // No partner-wide limit was configured.
        for _ in 0..10 {
            limits.check_partner(&p).unwrap();
        }
    }

    #[test]
    fn a_reload_keeps_a_used_up_allowance_unless_its_quota_changed() {
        let rate = |per_second| RateConfig {
            per_second: NonZeroU32::new(per_second),
            per_provider_per_second: NonZeroU32::new(per_second),
            ..Default::default()
        };
        let (p, q) = (pid("p1"), pid("p2"));
        let providers = [prov("sb")];
        let old = RateLimits::new([
            (&p, &rate(2), &providers[..]),
            (&q, &rate(2), &providers[..]),
        ]);
        for partner in [&p, &q] {
            for _ in 0..2 {
                old.check_partner(partner).unwrap();
                old.check_provider(partner, &prov("sb")).unwrap();
            }
        }
        // p1's quotas are unchanged, p2's are raised.
        let new = RateLimits::new([
            (&p, &rate(2), &providers[..]),
            (&q, &rate(3), &providers[..]),
        ])
        .keeping(&old);
        assert!(new.check_partner(&p).is_err(), "p1 got a fresh burst");
        assert!(new.check_provider(&p, &prov("sb")).is_err());
        for _ in 0..3 {
            new.check_partner(&q).unwrap();
            new.check_provider(&q, &prov("sb")).unwrap();
        }
    }
}
