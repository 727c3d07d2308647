//! The `sandbox-json-hmac` binary, as demos and load tests run it: its
//! seeds and control surface behave as the library's.

use std::path::Path;

use sandbox_kit::process::SandboxProcess;

use crate::common::{
    OPERATOR, SECRET, debit_body, exchange, parse_reply, post, raw_request, signed_headers,
    start_with_control,
};

#[tokio::test]
async fn the_binary_serves_its_seeds_and_control_surface_like_the_library() {
    let library = start_with_control().await;
    let binary = SandboxProcess::start_beside(
        Path::new(env!("CARGO_BIN_EXE_sandbox-json-hmac")),
        &["--secret", SECRET, "--operator", OPERATOR],
        &[("acc-7", "EUR", 12_345), ("acc-8", "JPY", 500)],
        &library,
    )
    .await
    .unwrap();

    let (ledger, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(ledger, from_library);
    assert!(ledger.to_string().contains("12345"), "{ledger}");

    // The same signed debit moves both the same way.
    let body = debit_body("tx-bin-1", "acc-7", 345);
    let reply = post(&library, "/v1/debit", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request = raw_request("POST", "/v1/debit", &signed_headers(&body), &body);
    let raw = exchange(binary.addr(), &request).await.unwrap();
    let from_binary = parse_reply(&raw);
    assert_eq!(from_binary.status, 200, "{}", from_binary.text());
    assert_eq!(from_binary.json()["balance"], reply.json()["balance"]);
    let (from_binary, from_library) = binary.ledgers(&library).await.unwrap();
    assert_eq!(from_binary, from_library);

    // Faults are switched through the control surface.
    binary
        .set_fault(r#"{"kind":{"error_rate":1.0}}"#)
        .await
        .unwrap();
    let body = debit_body("tx-bin-2", "acc-7", 1);
    let raw = exchange(
        binary.addr(),
        &raw_request("POST", "/v1/debit", &signed_headers(&body), &body),
    )
    .await
    .unwrap();
    assert_eq!(parse_reply(&raw).status, 503);
}
