//! The signed wire samples (`adapters/samples/json-hmac/`, format in
//! `adapters/samples/README.md`) replayed in file name order against one
//! fresh sandbox: every request must verify and get exactly the sample's
//! reply (status, listed headers, body bytes).

use std::path::{Path, PathBuf};

use sandbox_json_hmac::{Sandbox, SandboxConfig};
use serde::Deserialize;

use crate::common::*;

#[derive(Debug, Deserialize)]
struct Sample {
    description: String,
    #[serde(default)]
    seed: Vec<Seed>,
    request: WireRequest,
    reply: WireReply,
}

#[derive(Debug, Deserialize)]
struct Seed {
    account: String,
    currency: String,
    balance: i64,
}

#[derive(Debug, Deserialize)]
struct WireRequest {
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct WireReply {
    status: u16,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-hmac")
}

/// Every `*.json` sample, sorted by file name.
fn load_samples() -> Vec<(String, Sample)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .expect("samples directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).expect("readable sample");
            let sample = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            (name, sample)
        })
        .collect()
}

#[tokio::test]
async fn every_sample_gets_exactly_its_reply_in_order() {
    let secret = std::fs::read_to_string(samples_dir().join("secret.txt")).expect("secret.txt");
    let samples = load_samples();
    assert!(
        (8..=12).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    let operator = samples[0].1.request.headers["X-Operator"].clone();
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: secret.trim().to_owned(),
        operator,
        control: false,
    })
    .await
    .expect("sandbox starts");

    for (name, sample) in &samples {
        for seed in &sample.seed {
            sandbox.seed(&seed.account, &seed.currency, seed.balance);
        }
        let headers: Vec<(&str, String)> = sample
            .request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let reply = send(
            &sandbox,
            "POST",
            &sample.request.path,
            &headers,
            &sample.request.body,
        )
        .await;
        let context = format!("{name} ({})", sample.description);
        assert_eq!(
            reply.status,
            sample.reply.status,
            "{context}: {}",
            reply.text()
        );
        assert_eq!(reply.text(), sample.reply.body, "{context}");
        for (header, value) in &sample.reply.headers {
            assert_eq!(
                reply.header(header).as_deref(),
                Some(value.as_str()),
                "{context}: header {header}"
            );
        }
    }
    // The replay (02) moved nothing, the rollback gave the debit back.
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));
    assert_eq!(sandbox.balance("acc-2"), Some(100));
    assert_eq!(sandbox.requests_for("hx-d-0001"), 2);
}

#[tokio::test]
async fn a_sample_with_its_signature_broken_is_refused() {
    let secret = std::fs::read_to_string(samples_dir().join("secret.txt")).expect("secret.txt");
    let (_, sample) = load_samples().remove(0);
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: format!("{}-other", secret.trim()),
        operator: "hub".into(),
        control: false,
    })
    .await
    .expect("sandbox starts");
    for seed in &sample.seed {
        sandbox.seed(&seed.account, &seed.currency, seed.balance);
    }
    let headers: Vec<(&str, String)> = sample
        .request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let reply = send(
        &sandbox,
        "POST",
        &sample.request.path,
        &headers,
        &sample.request.body,
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.text());
}
