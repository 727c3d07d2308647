//! What this adapter's logged exchanges show: every signed sample
//! (`adapters/samples/json-hmac/`) redacted by the dialect's declared
//! [`exchange_redaction`], and a live debit against the sandbox recorded
//! through the adapter's own transport. The signature and the secret must
//! be absent; everything else as sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use adapter_api::exchange::{self, Exchange, ExchangeReply, REDACTED, Recorder};
use adapter_api::{AccountId, Adapter, Currency, Direction, Money, MoneyRequest, ProviderTxId};
use adapter_json_hmac::transformer::{Signer, encode_transfer};
use adapter_json_hmac::{JsonHmacAdapter, JsonHmacConfig, exchange_redaction};
use http::{HeaderMap, HeaderName, HeaderValue};
use sandbox_json_hmac::{Sandbox, SandboxConfig};
use serde::Deserialize;

#[derive(Deserialize)]
struct Sample {
    request: Part,
    reply: Part,
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: String,
}

fn header_map(headers: &BTreeMap<String, String>) -> HeaderMap {
    headers
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

fn samples() -> Vec<(String, Sample)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-hmac");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let sample = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.display().to_string(), sample)
        })
        .collect()
}

fn sample_secret() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-hmac/secret.txt");
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[test]
fn every_sample_loses_its_signature_and_keeps_the_rest() {
    let secret = sample_secret();
    let redaction = exchange_redaction(&secret);
    let samples = samples();
    assert!(samples.len() >= 12, "{} samples", samples.len());
    for (name, sample) in samples {
        let signature = &sample.request.headers["X-Signature"];
        let shown = redaction.headers(&header_map(&sample.request.headers));
        let expected: Vec<(String, String)> = sample
            .request
            .headers
            .iter()
            .map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                let v = if k == "x-signature" { REDACTED } else { v };
                (k, v.to_owned())
            })
            .collect();
        let mut shown_sorted = shown.clone();
        shown_sorted.sort();
        assert_eq!(shown_sorted, expected, "{name}");

        // Bodies carry no secret: kept byte for byte, both ways.
        for part in [&sample.request, &sample.reply] {
            let body = redaction.body(Some("application/json"), part.body.as_bytes());
            assert_eq!(body.text, part.body, "{name}");
            assert!(!body.truncated && !body.escaped, "{name}");
        }
        let all = format!("{shown:?}");
        assert!(!all.contains(signature.as_str()), "{name}: {all}");
        assert!(!all.contains(&secret), "{name}: {all}");
    }
}

#[derive(Default)]
struct Keep(Mutex<Vec<Exchange>>);

impl Recorder for Keep {
    fn record(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }
}

#[tokio::test]
async fn a_live_debit_is_recorded_without_signature_or_secret() {
    const SECRET: &str = "exchange-log-secret";
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        operator: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    sandbox.seed("acc-1", "EUR", 10_000);
    let adapter = JsonHmacAdapter::new(JsonHmacConfig {
        base_url: sandbox.base_url(),
        secret: SECRET.into(),
        operator: "hub".into(),
        ca_file: None,
    })
    .unwrap();
    let debit = MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx-log-1"),
        account: AccountId::new("acc-1"),
        amount: Money::new(Currency::from_code("EUR").unwrap(), 250),
        reference: Some("r-1".into()),
    };
    let keep = Arc::new(Keep::default());
    let outcome = exchange::scope(keep.clone(), adapter.transfer(&debit)).await;
    assert_eq!(outcome.class(), "settled");

    let wire = encode_transfer(&debit, &Signer::new(SECRET.as_bytes()).unwrap()).unwrap();
    let logged = keep.0.lock().unwrap().clone();
    let [exchange] = &logged[..] else {
        panic!("one exchange expected: {logged:?}");
    };
    assert!(exchange.url.ends_with("/v1/debit"), "{}", exchange.url);
    assert_eq!(exchange.request.body.text.as_bytes(), &wire.body[..]);
    assert!(
        exchange
            .request
            .headers
            .contains(&("x-signature".into(), REDACTED.into()))
    );
    assert!(
        exchange
            .request
            .headers
            .contains(&("x-operator".into(), "hub".into()))
    );
    assert_eq!(exchange.reply.status(), Some(200));
    let ExchangeReply::Received { message, .. } = &exchange.reply else {
        panic!("{:?}", exchange.reply);
    };
    assert!(message.body.text.contains("\"tx_id\":\"tx-log-1\""));
    let all = format!("{exchange:?}");
    assert!(!all.contains(&wire.signature), "{all}");
    assert!(!all.contains(SECRET), "{all}");
}
