//! The outermost layer of the gRPC port: a request id and a tracing span for
//! every call, and the call's count and latency in the metrics.
//!
//! The request id is the caller's `x-request-id` when it sends a sane one
//! (1 to 128 characters of `A-Z a-z 0-9 . _ : -`), otherwise a fresh UUIDv7;
//! it is echoed in the response's `x-request-id` header and is a field of
//! the `rpc` span, so every log line of the call carries it, the detached
//! money path included (its task runs inside the span).
//!
//! The instant the call reached the hub is stamped here too ([`Arrival`]),
//! so the partner's deadline is counted from then, not from when the
//! handler starts after the auth layers.
//!
//! Labels are learned as the call goes: the auth layer names the partner,
//! the service the provider (once validated, so label values stay a bounded
//! set), through the [`CallContext`] in the request's extensions.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::HeaderValue;
use tokio::time::Instant;
use tonic::body::Body;
use tracing::Instrument;

use crate::domain::{PartnerId, ProviderId};

/// The metadata key of the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID: usize = 128;

#[derive(Default)]
struct Labels {
    partner: String,
    provider: String,
}

/// What the layers of one call learn about it, for its metrics.
#[derive(Clone)]
pub struct CallContext {
    request_id: Arc<str>,
    labels: Arc<Mutex<Labels>>,
}

impl CallContext {
    fn new(request_id: String) -> Self {
        Self {
            request_id: request_id.into(),
            labels: Arc::default(),
        }
    }

    /// The call's context, when the telemetry layer is in front.
    pub fn of<T>(req: &tonic::Request<T>) -> Option<&CallContext> {
        req.extensions().get::<CallContext>()
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Names the authenticated partner.
    pub fn set_partner(&self, partner: &PartnerId) {
        self.labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .partner = partner.to_string();
    }

    /// Names the (configured) provider the call goes to.
    pub fn set_provider(&self, provider: &ProviderId) {
        self.labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .provider = provider.to_string();
    }

    fn labels(&self) -> (String, String) {
        let l = self.labels.lock().unwrap_or_else(PoisonError::into_inner);
        (l.partner.clone(), l.provider.clone())
    }
}

/// When a call reached the hub: stamped in its request's extensions by the
/// outermost layer, so time spent in the layers after it counts against the
/// partner's deadline.
#[derive(Clone, Copy, Debug)]
pub struct Arrival(pub Instant);

/// When the call `req` reached the hub, if the telemetry layer is in front.
pub fn arrival<T>(req: &tonic::Request<T>) -> Option<Instant> {
    req.extensions().get::<Arrival>().map(|a| a.0)
}

/// Names the provider of the call `req`, if the telemetry layer is in front.
pub fn set_provider<T>(req: &tonic::Request<T>, provider: &ProviderId) {
    if let Some(ctx) = CallContext::of(req) {
        ctx.set_provider(provider);
    }
}

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_REQUEST_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_owned())
}

/// The layer; `services` are the gRPC path prefixes whose calls are counted
/// (such as `/settlement.v1.SettlementService/`), each call under its method
/// name. Other paths (health, reflection) get a request id and span only.
#[derive(Clone)]
pub struct TelemetryLayer {
    services: Arc<[&'static str]>,
}

impl TelemetryLayer {
    /// Counts calls to the services under `services`.
    pub fn new(services: &[&'static str]) -> Self {
        Self {
            services: services.into(),
        }
    }
}

impl<S> tower::Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Telemetry {
            inner,
            services: self.services.clone(),
        }
    }
}

/// The service [`TelemetryLayer`] builds.
#[derive(Clone)]
pub struct Telemetry<S> {
    inner: S,
    services: Arc<[&'static str]>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Telemetry<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        req.extensions_mut().insert(Arrival(started));
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = req.uri().path().to_owned();
        let rpc = self
            .services
            .iter()
            .find_map(|prefix| path.strip_prefix(prefix))
            .map(str::to_owned);
        let request_id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(sane_request_id)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let ctx = CallContext::new(request_id);
        req.extensions_mut().insert(ctx.clone());
        let span = tracing::info_span!(
            "rpc",
            request_id = %ctx.request_id,
            rpc = rpc.as_deref().unwrap_or(&path),
        );
        Box::pin(
            async move {
                let mut resp = inner.call(req).await?;
                if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
                    resp.headers_mut().insert(REQUEST_ID_HEADER, v);
                }
                if let Some(rpc) = rpc {
                    // An error is a trailers-only response: its status is in
                    // the headers. A unary success carries OK in trailers.
                    let code = resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from);
                    let (partner, provider) = ctx.labels();
                    // A stream's latency is its whole life: not a latency.
                    let streaming = rpc.starts_with("Watch");
                    crate::metrics::get().observe_rpc(
                        &rpc,
                        &partner,
                        &provider,
                        code,
                        (!streaming).then(|| started.elapsed()),
                    );
                    tracing::debug!(code = ?code, elapsed = ?started.elapsed(), "call answered");
                }
                Ok(resp)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_taken() {
        let ok = |s: &str| sane_request_id(&HeaderValue::from_str(s).unwrap());
        assert_eq!(ok("req-42:a.b_c").as_deref(), Some("req-42:a.b_c"));
        assert_eq!(ok(""), None);
        assert_eq!(ok("has space"), None);
        assert_eq!(ok("quote\"d"), None);
        assert_eq!(ok(&"x".repeat(129)), None);
        assert!(ok(&"x".repeat(128)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_arrival_is_stamped_before_the_layers_after_this_one_run() {
        use std::time::Duration;
        use tower::{Layer, ServiceExt};

        let seen = Arc::new(Mutex::new(None));
        let handler = {
            let seen = seen.clone();
            tower::service_fn(move |req: http::Request<Body>| {
                let seen = seen.clone();
                async move {
                    // Time the auth and gate layers take before the handler.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let req = tonic::Request::from_http(req);
                    *seen.lock().unwrap() = Some((arrival(&req), Instant::now()));
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
                }
            })
        };
        let reached = Instant::now();
        TelemetryLayer::new(&[])
            .layer(handler)
            .oneshot(http::Request::new(Body::empty()))
            .await
            .unwrap();
        let (arrived, handled) = seen.lock().unwrap().expect("the handler ran");
        assert_eq!(arrived, Some(reached));
        assert_eq!(handled - reached, Duration::from_millis(300));
    }
}
