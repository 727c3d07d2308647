//! What this adapter's logged exchanges show: every signed sample
//! (`adapters/samples/json-rsa/`) redacted by the dialect's declared
//! [`exchange_redaction`], and a live bet against the sandbox recorded
//! through the adapter's own transport. The signatures of both directions
//! must be absent; bodies and other headers as sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use adapter_api::exchange::{self, Exchange, ExchangeReply, REDACTED, Recorder};
use adapter_api::{AccountId, Adapter, Currency, Direction, Money, MoneyRequest, ProviderTxId};
use adapter_json_rsa::{JsonRsaAdapter, JsonRsaConfig, exchange_redaction};
use http::{HeaderMap, HeaderName, HeaderValue};
use sandbox_json_rsa::{Sandbox, SandboxConfig};
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa");
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

#[test]
fn every_sample_loses_its_signatures_and_keeps_the_rest() {
    let redaction = exchange_redaction();
    let samples = samples();
    assert!(samples.len() >= 12, "{} samples", samples.len());
    let mut reply_signatures = 0;
    for (name, sample) in samples {
        for part in [&sample.request, &sample.reply] {
            let shown = redaction.headers(&header_map(&part.headers));
            let mut shown_sorted = shown.clone();
            shown_sorted.sort();
            let expected: Vec<(String, String)> = part
                .headers
                .iter()
                .map(|(k, v)| {
                    let k = k.to_ascii_lowercase();
                    let v = if k == "x-signature" { REDACTED } else { v };
                    (k, v.to_owned())
                })
                .collect();
            assert_eq!(shown_sorted, expected, "{name}");
            if let Some(signature) = part.headers.get("X-Signature") {
                assert!(!format!("{shown:?}").contains(signature.as_str()), "{name}");
                reply_signatures += usize::from(std::ptr::eq(part, &sample.reply));
            }
            let body = redaction.body(Some("application/json"), part.body.as_bytes());
            assert_eq!(body.text, part.body, "{name}");
        }
    }
    assert!(reply_signatures >= 10, "replies are signed too");
}

#[derive(Default)]
struct Keep(Mutex<Vec<Exchange>>);

impl Recorder for Keep {
    fn record(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }
}

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/json-rsa/keys")
        .join(name)
}

#[tokio::test]
async fn a_live_bet_is_recorded_without_either_signature() {
    let sandbox = Sandbox::start_local(SandboxConfig::default().setup().unwrap())
        .await
        .unwrap();
    sandbox.seed("acc-1", "EUR", 10_000_000);
    let adapter = JsonRsaAdapter::new(JsonRsaConfig {
        base_url: sandbox.base_url(),
        private_key_file: key("operator_private.pem"),
        provider_public_key_file: key("provider_public.pem"),
        ca_file: None,
    })
    .unwrap();
    let bet = MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("b3a1f6d2-4c8e-5a17-9e02-6f4d2c1a0099"),
        account: AccountId::new("acc-1"),
        amount: Money::new(Currency::from_code("EUR").unwrap(), 250),
        reference: Some("r-1".into()),
    };
    let keep = Arc::new(Keep::default());
    let outcome = exchange::scope(keep.clone(), adapter.transfer(&bet)).await;
    assert_eq!(outcome.class(), "settled");

    let logged = keep.0.lock().unwrap().clone();
    let [exchange] = &logged[..] else {
        panic!("one exchange expected: {logged:?}");
    };
    let ExchangeReply::Received { status, message } = &exchange.reply else {
        panic!("{:?}", exchange.reply);
    };
    assert_eq!(*status, 200);
    for headers in [&exchange.request.headers, &message.headers] {
        let signature = headers.iter().find(|(k, _)| k == "x-signature");
        assert_eq!(
            signature.map(|(_, v)| v.as_str()),
            Some(REDACTED),
            "{headers:?}"
        );
        // Nothing else that could be a signature: only short values.
        assert!(headers.iter().all(|(_, v)| v.len() < 64), "{headers:?}");
    }
    assert!(exchange.request.body.text.contains("\"amount\":250000"));
    assert!(message.body.text.contains("\"status\":\"RS_OK\""));
}
