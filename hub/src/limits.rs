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

/// Every partner's limiters, built once from configuration.
#[derive(Default)]
pub struct RateLimits {
    partners: HashMap<PartnerId, Arc<DefaultDirectRateLimiter>>,
    providers: HashMap<(PartnerId, ProviderId), Arc<DefaultDirectRateLimiter>>,
}

impl RateLimits {
    /// Limiters for each partner's `config` over the providers it may use.
    pub fn new<'a>(
        partners: impl IntoIterator<Item = (&'a PartnerId, &'a RateConfig, &'a [ProviderId])>,
    ) -> Self {
        let mut limits = Self::default();
        for (partner, config, providers) in partners {
            if let Some(rate) = config.per_second {
                limits.partners.insert(
                    partner.clone(),
                    Arc::new(RateLimiter::direct(quota(rate, config.burst))),
                );
            }
            if let Some(rate) = config.per_provider_per_second {
                for provider in providers {
                    limits.providers.insert(
                        (partner.clone(), provider.clone()),
                        Arc::new(RateLimiter::direct(quota(rate, config.per_provider_burst))),
                    );
                }
            }
        }
        limits
    }

    /// Admits one call of `partner`, or says when to come back.
    pub fn check_partner(&self, partner: &PartnerId) -> Result<(), HubError> {
        match self.partners.get(partner) {
            Some(l) => admit(l, "partner", format!("partner:{partner}"))
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
            Some(l) => admit(
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
}
