//! What this adapter's logged exchanges show: every signed sample
//! (`adapters/samples/form-md5/`) redacted by the dialect's declared
//! [`exchange_redaction`], and a live bet against the sandbox recorded
//! through the adapter's own transport. The `hash` parameter and the secret
//! must be absent; every other parameter as sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use adapter_api::exchange::{self, Exchange, ExchangeReply, REDACTED, Recorder};
use adapter_api::{AccountId, Adapter, Currency, Direction, Money, MoneyRequest, ProviderTxId};
use adapter_form_md5::transformer::{Credentials, encode_transfer};
use adapter_form_md5::{Clock, FormMd5Adapter, FormMd5Config, Timestamp, exchange_redaction};
use sandbox_form_md5::{Sandbox, SandboxConfig};
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

fn samples() -> Vec<(String, Sample)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/form-md5");
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

/// `body` with the value of its `hash` parameter replaced, and that value.
fn without_hash(body: &str) -> (String, String) {
    let (before, after) = body.split_once("hash=").expect("a hash parameter");
    let (hash, rest) = after.split_once('&').map_or((after, ""), |(h, r)| (h, r));
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!("&{rest}")
    };
    (format!("{before}hash={REDACTED}{rest}"), hash.to_owned())
}

#[test]
fn every_sample_loses_its_hash_and_keeps_the_other_parameters() {
    let secret = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/form-md5/secret.txt"),
    )
    .unwrap()
    .trim()
    .to_owned();
    let redaction = exchange_redaction(&secret);
    let samples = samples();
    assert!(samples.len() >= 12, "{} samples", samples.len());
    for (name, sample) in samples {
        let content_type = sample
            .request
            .headers
            .get("Content-Type")
            .map(String::as_str);
        let shown = redaction.body(content_type, sample.request.body.as_bytes());
        let (expected, hash) = without_hash(&sample.request.body);
        assert_eq!(shown.text, expected, "{name}");
        assert_eq!(hash.len(), 32, "{name}: an MD5 hex");
        assert!(!shown.text.contains(&hash), "{name}");
        assert!(!shown.text.contains(&secret), "{name}");
        // Replies are JSON without secrets: kept byte for byte (97.50 stays
        // 97.50).
        let reply = redaction.body(Some("application/json"), sample.reply.body.as_bytes());
        assert_eq!(reply.text, sample.reply.body, "{name}");
    }
}

#[derive(Default)]
struct Keep(Mutex<Vec<Exchange>>);

impl Recorder for Keep {
    fn record(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }
}

const NOW: u64 = 1_732_540_000_000;

#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(NOW)
    }
}

#[tokio::test]
async fn a_live_bet_is_recorded_without_hash_or_secret() {
    const SECRET: &str = "exchange-log-secret";
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        provider_id: "op1".into(),
        control: false,
    })
    .await
    .unwrap();
    sandbox.seed("acc-1", "EUR", 10_000);
    let adapter = FormMd5Adapter::with_clock(
        FormMd5Config {
            base_url: sandbox.base_url(),
            secret: SECRET.into(),
            provider_id: "op1".into(),
            ca_file: None,
        },
        Arc::new(FixedClock),
    )
    .unwrap();
    let bet = MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("c4b2e7a1-5d9f-5b28-8f13-7a5e3d2b0099"),
        account: AccountId::new("acc-1"),
        amount: Money::new(Currency::from_code("EUR").unwrap(), 250),
        reference: Some("r-9".into()),
    };
    let keep = Arc::new(Keep::default());
    let outcome = exchange::scope(keep.clone(), adapter.transfer(&bet)).await;
    assert_eq!(outcome.class(), "settled");

    let wire = encode_transfer(
        &bet,
        &Credentials::new("op1", SECRET),
        Timestamp::from_millis(NOW),
    )
    .unwrap();
    let logged = keep.0.lock().unwrap().clone();
    let [exchange] = &logged[..] else {
        panic!("one exchange expected: {logged:?}");
    };
    let sent = std::str::from_utf8(&wire.body).unwrap();
    assert_eq!(exchange.request.body.text, without_hash(sent).0);
    assert!(exchange.url.ends_with("/bet.html"), "{}", exchange.url);
    let ExchangeReply::Received { status, message } = &exchange.reply else {
        panic!("{:?}", exchange.reply);
    };
    assert_eq!(*status, 200);
    assert!(
        message.body.text.contains("\"error\":0"),
        "{}",
        message.body.text
    );
    let all = format!("{exchange:?}");
    assert!(!all.contains(&wire.hash), "{all}");
    assert!(!all.contains(SECRET), "{all}");
}
