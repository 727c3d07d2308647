//! The `sandbox-json-rsa` binary, as demos and load tests run it: its
//! default keys, seeds and control surface behave as the library's.

use std::path::Path;

use sandbox_kit::process::SandboxProcess;

use crate::common::{
    BET, exchange, parse_reply, post, raw_request, signed_headers, start_with_control,
    transfer_body,
};

#[tokio::test]
async fn the_binary_serves_its_seeds_and_control_surface_like_the_library() {
    let library = start_with_control().await;
    let binary = SandboxProcess::start_beside(
        Path::new(env!("CARGO_BIN_EXE_sandbox-json-rsa")),
        &[],
        &[("acc-7", "EUR", 1_234_500), ("acc-8", "JPY", 500)],
        &library,
    )
    .await
    .unwrap();
    let (from_binary, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(from_binary, from_library);

    // The same signed bet moves both the same way.
    let body = transfer_body("req-bin-1", "tx-bin-1", "acc-7", 34_500);
    let reply = post(&library, BET, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let raw = exchange(
        binary.addr(),
        &raw_request("POST", BET, &signed_headers(&body), &body),
    )
    .await
    .unwrap();
    let from_binary = parse_reply(&raw);
    assert_eq!(from_binary.status, 200, "{}", from_binary.text());
    let (from_binary, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(from_binary, from_library);

    // Faults are switched through the control surface.
    binary
        .set_fault(r#"{"kind":{"error_rate":1.0}}"#)
        .await
        .unwrap();
    let body = transfer_body("req-bin-2", "tx-bin-2", "acc-7", 1);
    let raw = exchange(
        binary.addr(),
        &raw_request("POST", BET, &signed_headers(&body), &body),
    )
    .await
    .unwrap();
    assert_eq!(parse_reply(&raw).status, 503);
}
