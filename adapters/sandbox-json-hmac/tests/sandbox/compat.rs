//! The API the hub, its demo and the adapter's tests use, exactly as they
//! call it: this must keep compiling and working across the kit refactor.

use std::time::Duration;

use sandbox_json_hmac::{Fault, FaultKind, Sandbox, SandboxConfig};
use tokio::net::TcpListener;

async fn start_like_the_demo() -> std::io::Result<Sandbox> {
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: "s".into(),
        operator: "hub".into(),
        control: false,
    })
    .await?;
    sandbox.seed("acc-1", "EUR", 100_000);
    Ok(sandbox)
}

#[tokio::test]
async fn the_callers_api_is_unchanged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let on_listener = Sandbox::start(
        listener,
        SandboxConfig {
            secret: "s".into(),
            operator: "hub".into(),
            control: false,
        },
    )
    .await
    .expect("starts");
    assert!(on_listener.base_url().starts_with("http://127.0.0.1:"));
    on_listener.shutdown().await;

    let sb = start_like_the_demo().await.expect("starts");
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    sb.set_fault(
        Fault::new(FaultKind::Latency(Duration::from_millis(1)))
            .on_path("/v1/debit")
            .times(1),
    );
    sb.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));
    assert_eq!(sb.faults().len(), 2);
    sb.clear_faults();
    assert!(sb.ledger().transaction("nope").is_none());
    assert_eq!((sb.requests_for("nope"), sb.money_requests()), (0, 0));
    assert_eq!(sb.addr().ip().to_string(), "127.0.0.1");
    let _shown = format!("{sb:?}");
    sb.shutdown().await;
}
