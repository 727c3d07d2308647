//! The adapter built through its factory with an `https` base URL and a
//! `ca_file`, against the sandbox provider behind a TLS-terminating proxy.

use adapter_api::{AccountId, AdapterError, AdapterFactory, BalanceRequest, Currency, Money};
use adapter_form_md5::Factory;
use sandbox_form_md5::{Sandbox, SandboxConfig};
use serde_json::json;

#[path = "../../http/tests/support/tls.rs"]
mod tls_support;

use tls_support::TestCa;

const SECRET: &str = "tls-secret";
const PROVIDER_ID: &str = "op1";

#[tokio::test]
async fn https_with_a_ca_file_reaches_the_provider() {
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        provider_id: PROVIDER_ID.into(),
        control: false,
    })
    .await
    .unwrap();
    sandbox.seed("acc-1", "EUR", 4_200);
    let ca = TestCa::new();
    let (base_url, proxy) = ca.proxy_to(sandbox.addr()).await;
    let eur = Currency::from_code("EUR").unwrap();
    let request = BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur,
    };

    let adapter = Factory
        .build(&json!({
            "base_url": base_url,
            "secret": SECRET,
            "provider_id": PROVIDER_ID,
            "ca_file": ca.ca_file(),
        }))
        .unwrap();
    assert_eq!(
        adapter.balance(&request).await.unwrap(),
        Money::new(eur, 4_200)
    );

    // Without the CA the webpki roots do not trust the test certificate.
    let untrusting = Factory
        .build(&json!({
            "base_url": base_url,
            "secret": SECRET,
            "provider_id": PROVIDER_ID,
        }))
        .unwrap();
    let error = untrusting.balance(&request).await.unwrap_err();
    assert!(matches!(error, AdapterError::Connect(_)), "{error:?}");
    proxy.abort();
}
