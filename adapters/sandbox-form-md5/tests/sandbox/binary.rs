//! The `sandbox-form-md5` binary, as demos and load tests run it: its
//! secret, seeds and control surface behave as the library's.

use std::path::Path;

use sandbox_kit::process::SandboxProcess;

use crate::common::{
    PROVIDER, SECRET, exchange, form_request, money_body, parse_reply, post, start_with_control,
};

#[tokio::test]
async fn the_binary_serves_its_seeds_and_control_surface_like_the_library() {
    let library = start_with_control().await;
    let binary = SandboxProcess::start_beside(
        Path::new(env!("CARGO_BIN_EXE_sandbox-form-md5")),
        &["--secret", SECRET, "--provider-id", PROVIDER],
        &[("acc-7", "EUR", 12_345), ("acc-8", "JPY", 500)],
        &library,
    )
    .await
    .unwrap();
    let (from_binary, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(from_binary, from_library);

    // The same signed bet moves both the same way.
    let body = money_body("acc-7", "tx-bin-1", "3.45", "EUR");
    let reply = post(&library, "/bet.html", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let from_binary = parse_reply(
        &exchange(binary.addr(), &form_request("/bet.html", &body))
            .await
            .unwrap(),
    );
    assert_eq!(from_binary.status, 200, "{}", from_binary.text());
    let (from_binary, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(from_binary, from_library);

    // Faults are switched through the control surface.
    binary
        .set_fault(r#"{"kind":{"error_rate":1.0}}"#)
        .await
        .unwrap();
    let body = money_body("acc-7", "tx-bin-2", "0.01", "EUR");
    let raw = exchange(binary.addr(), &form_request("/bet.html", &body))
        .await
        .unwrap();
    assert_eq!(parse_reply(&raw).status, 503);
}
