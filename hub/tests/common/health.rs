//! Provider health as `grpc.health.v1` reports it, for the hub crate's
//! tests (the SDK's tests share `common` but not tonic-health): include
//! with `#[path = "common/health.rs"] mod health;`.

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::TestHub;

/// What `grpc.health.v1` says of `provider` (its service
/// `provider.NAME`); panics if it is not reported.
pub async fn provider_health(hub: &TestHub, provider: &str) -> ServingStatus {
    let status = HealthClient::new(hub.channel().await)
        .check(HealthCheckRequest {
            service: format!("provider.{provider}"),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    ServingStatus::try_from(status).unwrap()
}

/// Polls `provider`'s health until it is `want` (or panics after 3 s).
/// A provider not reported yet (just after the start) is not `want`.
pub async fn wait_provider_health(hub: &TestHub, provider: &str, want: ServingStatus) {
    let mut health = HealthClient::new(hub.channel().await);
    for _ in 0..60 {
        let status = health
            .check(HealthCheckRequest {
                service: format!("provider.{provider}"),
            })
            .await;
        match status {
            Ok(s) if s.get_ref().status == want as i32 => return,
            Ok(_) => {}
            Err(e) => assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("provider.{provider} never became {want:?}");
}
