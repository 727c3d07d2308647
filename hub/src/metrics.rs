//! Prometheus metrics, served as text on `GET /metrics` by a separate HTTP
//! listener (`[metrics] listen`, loopback by default).
//!
//! Events are counted where they happen, into one process-wide [`Metrics`]
//! (like the default registry of every Prometheus client: one hub per
//! process). States that live elsewhere (breakers, health, the resolver
//! queue, dead letters, PENDING transactions) are read at each scrape by
//! [`refresh`], so a scrape always shows the present, never a stale copy.
//!
//! Every series is named `hub_*`; labels are bounded sets (RPC names,
//! configured partners and providers, outcome classes), never ids.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::engine::Engine;
use crate::resilience::BreakerState;

/// Labels of a partner call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// The method name, such as `Debit`.
    pub rpc: String,
    /// The partner, empty if the call was refused before it was known.
    pub partner: String,
    /// The provider the call named, empty for calls that name none.
    pub provider: String,
}

/// Labels of a finished partner call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcCodeLabels {
    /// The method name.
    pub rpc: String,
    /// The partner.
    pub partner: String,
    /// The provider.
    pub provider: String,
    /// The gRPC status code name, such as `OK` or `UNAVAILABLE`.
    pub code: String,
}

/// Labels of one attempt at a provider endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The provider.
    pub provider: String,
    /// `primary` or `backup`.
    pub endpoint: String,
    /// `transfer`, `rollback`, `balance` or `status`.
    pub operation: String,
}

/// Labels of an attempt's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The provider.
    pub provider: String,
    /// `primary` or `backup`.
    pub endpoint: String,
    /// The operation.
    pub operation: String,
    /// `settled`, `declined`, `not_processed`, `unknown` (money calls);
    /// `answered`, `failed` (queries).
    pub outcome: String,
}

/// Labels of a provider.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// The provider.
    pub provider: String,
}

/// Labels of a provider endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The provider.
    pub provider: String,
    /// `primary` or `backup`.
    pub endpoint: String,
}

/// Labels of a breaker transition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// The provider.
    pub provider: String,
    /// `primary` or `backup`.
    pub endpoint: String,
    /// The state entered: `open`, `half_open`, `closed`.
    pub to: String,
}

/// Labels of a call the stack refused without calling the provider.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    /// The provider.
    pub provider: String,
    /// `concurrency_limit` or `circuit_open`.
    pub reason: String,
}

/// Labels of a rate-limit refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLabels {
    /// The partner.
    pub partner: String,
    /// `partner` or `provider` (the per partner+provider limit).
    pub scope: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric of the hub.
pub struct Metrics {
    registry: Registry,
    /// Partner calls by RPC, partner, provider and status code.
    pub rpc_requests: Family<RpcCodeLabels, Counter>,
    /// Latency of unary partner calls.
    pub rpc_duration: Histograms<RpcLabels>,
    /// Attempts at providers by outcome class.
    pub provider_attempts: Family<OutcomeLabels, Counter>,
    /// Latency of attempts at providers.
    pub provider_attempt_duration: Histograms<AttemptLabels>,
    /// Breaker state per endpoint: 0 closed, 1 half-open, 2 open.
    pub breaker_state: Family<EndpointLabels, Gauge>,
    /// Breaker transitions.
    pub breaker_transitions: Family<TransitionLabels, Counter>,
    /// Whether active health checks pass (1) or not (0).
    pub endpoint_healthy: Family<EndpointLabels, Gauge>,
    /// Retries made by the resilience stack.
    pub retries: Family<ProviderLabels, Counter>,
    /// Retries refused because the retry budget was spent.
    pub retry_budget_exhausted: Family<ProviderLabels, Counter>,
    /// Calls refused by the stack before reaching the provider.
    pub provider_rejections: Family<RejectionLabels, Counter>,
    /// Rate-limit refusals.
    pub rate_limited: Family<RateLabels, Counter>,
    /// Resolver work items waiting (dead letters excluded).
    pub resolver_queue_depth: Gauge,
    /// Age of the oldest waiting resolver item, in seconds.
    pub resolver_oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Dead letters waiting for an operator.
    pub dead_letters: Gauge,
    /// Transactions in state PENDING.
    pub pending_transactions: Gauge,
    /// Money calls the hub is working on (`server.max_money_calls_in_flight`
    /// bounds it).
    pub money_calls_in_flight: Gauge,
    /// Money calls refused because that many were in flight.
    pub overloaded: Counter,
    /// Duration of journal commits.
    pub journal_commit_duration: Histogram,
    /// Writes per journal commit (group commit batch size).
    pub journal_batch_size: Histogram,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("hub");
        let m = Metrics {
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(latency_histogram),
            provider_attempts: Family::default(),
            provider_attempt_duration: Family::new_with_constructor(latency_histogram),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            endpoint_healthy: Family::default(),
            retries: Family::default(),
            retry_budget_exhausted: Family::default(),
            provider_rejections: Family::default(),
            rate_limited: Family::default(),
            resolver_queue_depth: Gauge::default(),
            resolver_oldest_age: Gauge::default(),
            dead_letters: Gauge::default(),
            pending_transactions: Gauge::default(),
            money_calls_in_flight: Gauge::default(),
            overloaded: Counter::default(),
            journal_commit_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            journal_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "rpc_requests",
            "Partner calls by RPC, partner, provider and gRPC status code",
            m.rpc_requests.clone(),
        );
        r.register(
            "rpc_duration_seconds",
            "Latency of unary partner calls",
            m.rpc_duration.clone(),
        );
        r.register(
            "provider_attempts",
            "Attempts at provider endpoints by outcome class",
            m.provider_attempts.clone(),
        );
        r.register(
            "provider_attempt_duration_seconds",
            "Latency of attempts at provider endpoints",
            m.provider_attempt_duration.clone(),
        );
        r.register(
            "breaker_state",
            "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        r.register(
            "breaker_transitions",
            "Circuit breaker transitions by the state entered",
            m.breaker_transitions.clone(),
        );
        r.register(
            "endpoint_healthy",
            "Whether active health checks of the endpoint pass (1) or not (0)",
            m.endpoint_healthy.clone(),
        );
        r.register(
            "provider_retries",
            "Retries made by the resilience stack",
            m.retries.clone(),
        );
        r.register(
            "provider_retry_budget_exhausted",
            "Retries refused because the retry budget was spent",
            m.retry_budget_exhausted.clone(),
        );
        r.register(
            "provider_rejections",
            "Calls refused before reaching the provider (concurrency limit, open circuit)",
            m.provider_rejections.clone(),
        );
        r.register(
            "rate_limited",
            "Calls refused by a partner rate limit",
            m.rate_limited.clone(),
        );
        r.register(
            "resolver_queue_depth",
            "Resolver work items waiting (dead letters excluded)",
            m.resolver_queue_depth.clone(),
        );
        r.register(
            "resolver_oldest_item_age_seconds",
            "Age of the oldest waiting resolver item",
            m.resolver_oldest_age.clone(),
        );
        r.register(
            "dead_letters",
            "Dead letters waiting for an operator",
            m.dead_letters.clone(),
        );
        r.register(
            "pending_transactions",
            "Transactions in state PENDING",
            m.pending_transactions.clone(),
        );
        r.register(
            "money_calls_in_flight",
            "Money calls the hub is working on, answered or not",
            m.money_calls_in_flight.clone(),
        );
        r.register(
            "overloaded",
            "Money calls refused because server.max_money_calls_in_flight were in flight",
            m.overloaded.clone(),
        );
        r.register(
            "journal_commit_duration_seconds",
            "Duration of journal commits (fsync included)",
            m.journal_commit_duration.clone(),
        );
        r.register(
            "journal_commit_batch_size",
            "Writes applied per journal commit",
            m.journal_batch_size.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one partner call.
    pub fn observe_rpc(
        &self,
        rpc: &str,
        partner: &str,
        provider: &str,
        code: tonic::Code,
        elapsed: Option<Duration>,
    ) {
        self.rpc_requests
            .get_or_create(&RpcCodeLabels {
                rpc: rpc.to_owned(),
                partner: partner.to_owned(),
                provider: provider.to_owned(),
                code: code_name(code).to_owned(),
            })
            .inc();
        if let Some(elapsed) = elapsed {
            self.rpc_duration
                .get_or_create(&RpcLabels {
                    rpc: rpc.to_owned(),
                    partner: partner.to_owned(),
                    provider: provider.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }
}

/// Creates, at zero, every series whose labels the configuration already
/// determines (per provider endpoint and per partner), so that dashboards
/// and alerts see a 0 rather than no data before the first event. (Attempt
/// series are created with their endpoint's [`AttemptMetrics`].)
pub fn init_series(engine: &Engine, config: &crate::config::Config) {
    let m = get();
    for (id, provider) in engine.providers().iter() {
        let provider_name = id.to_string();
        let labels = ProviderLabels {
            provider: provider_name.clone(),
        };
        m.retries.get_or_create(&labels).inc_by(0);
        m.retry_budget_exhausted.get_or_create(&labels).inc_by(0);
        for reason in ["concurrency_limit", "circuit_open"] {
            m.provider_rejections
                .get_or_create(&RejectionLabels {
                    provider: provider_name.clone(),
                    reason: reason.to_owned(),
                })
                .inc_by(0);
        }
        for endpoint in &provider.endpoints {
            for to in ["open", "half_open", "closed"] {
                m.breaker_transitions
                    .get_or_create(&TransitionLabels {
                        provider: provider_name.clone(),
                        endpoint: endpoint.name.to_owned(),
                        to: to.to_owned(),
                    })
                    .inc_by(0);
            }
        }
    }
    for partner in config.partners.keys() {
        for scope in ["partner", "provider"] {
            m.rate_limited
                .get_or_create(&RateLabels {
                    partner: partner.clone(),
                    scope: scope.to_owned(),
                })
                .inc_by(0);
        }
    }
}

/// The outcome classes of an attempt, by operation.
const ATTEMPT_OUTCOMES: &[(&str, &[&str])] = &[
    (
        "transfer",
        &["settled", "declined", "not_processed", "unknown"],
    ),
    (
        "rollback",
        &["settled", "declined", "not_processed", "unknown"],
    ),
    ("balance", &["answered", "failed"]),
    ("status", &["answered", "failed"]),
];

/// One provider endpoint's attempt series, created (at zero) once when the
/// endpoint is built: counting an attempt is then a lookup, with no label
/// to allocate or family to lock on the call path. The default counts
/// nothing (unlabelled attempts in tests).
#[derive(Clone, Default)]
pub struct AttemptMetrics(Option<Arc<AttemptSeries>>);

struct AttemptSeries {
    counts: Vec<(&'static str, &'static str, Counter)>,
    durations: Vec<(&'static str, Histogram)>,
}

impl AttemptMetrics {
    /// The series of `provider`'s `endpoint`.
    pub fn new(provider: &str, endpoint: &str) -> Self {
        let m = get();
        let mut counts = Vec::new();
        let mut durations = Vec::new();
        for (operation, outcomes) in ATTEMPT_OUTCOMES {
            let labels = AttemptLabels {
                provider: provider.to_owned(),
                endpoint: endpoint.to_owned(),
                operation: (*operation).to_owned(),
            };
            let histogram = m.provider_attempt_duration.get_or_create(&labels).clone();
            durations.push((*operation, histogram));
            for outcome in *outcomes {
                let labels = OutcomeLabels {
                    provider: provider.to_owned(),
                    endpoint: endpoint.to_owned(),
                    operation: (*operation).to_owned(),
                    outcome: (*outcome).to_owned(),
                };
                let counter = m.provider_attempts.get_or_create(&labels).clone();
                counts.push((*operation, *outcome, counter));
            }
        }
        Self(Some(Arc::new(AttemptSeries { counts, durations })))
    }

    /// Counts one attempt of `operation` that ended as `outcome` (names of
    /// [`ATTEMPT_OUTCOMES`]) after `elapsed`.
    pub fn observe(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let Some(s) = &self.0 else { return };
        if let Some((_, _, c)) = s
            .counts
            .iter()
            .find(|(o, r, _)| *o == operation && *r == outcome)
        {
            c.inc();
        }
        if let Some((_, h)) = s.durations.iter().find(|(o, _)| *o == operation) {
            h.observe(elapsed.as_secs_f64());
        }
    }
}

/// The hub's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// The upper-case name of a gRPC code, as in the gRPC specification.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Reads the states that live elsewhere into their gauges: breakers and
/// health of every endpoint, the resolver queue, dead letters and PENDING
/// transactions.
pub async fn refresh(engine: &Engine) {
    let m = get();
    for (id, provider) in engine.providers().iter() {
        for endpoint in &provider.endpoints {
            let labels = EndpointLabels {
                provider: id.to_string(),
                endpoint: endpoint.name.to_owned(),
            };
            let state = match endpoint.breaker.state() {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            m.breaker_state.get_or_create(&labels).set(state);
            m.endpoint_healthy
                .get_or_create(&labels)
                .set(i64::from(endpoint.health.is_healthy()));
        }
    }
    let now_us = crate::engine::Clock::now_us(&crate::engine::SystemClock);
    match engine.journal().queue_stats().await {
        Ok(q) => {
            m.resolver_queue_depth.set(to_i64(q.queued));
            m.dead_letters.set(to_i64(q.dead));
            m.pending_transactions.set(to_i64(q.pending));
            let age_us = q.oldest_queued_us.map_or(0, |c| (now_us - c).max(0));
            // Microseconds to seconds; precision loss past 2^53 µs is moot.
            #[allow(clippy::cast_precision_loss)]
            m.resolver_oldest_age.set(age_us as f64 / 1e6);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the resolver queue"),
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, engine: Engine) {
    tracing::info!(addr = ?listener.local_addr().ok(), "metrics listener ready");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let engine = engine.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let engine = engine.clone();
            async move { Ok::<_, std::convert::Infallible>(answer(&req, &engine).await) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = conn {
                tracing::debug!(error = %e, "metrics: connection ended with an error");
            }
        });
    }
}

async fn answer(req: &Request<Incoming>, engine: &Engine) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &'static str, body: String| {
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        resp
    };
    match (req.method(), req.uri().path()) {
        (&http::Method::GET, "/metrics") => {
            refresh(engine).await;
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                get().encode(),
            )
        }
        (_, "/metrics") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; metrics are at /metrics\n".into(),
        ),
    }
}
