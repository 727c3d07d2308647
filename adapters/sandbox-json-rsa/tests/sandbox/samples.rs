//! The signed samples of `adapters/samples/json-rsa/`, replayed in file
//! name order against one fresh sandbox: each request is accepted and
//! answered with exactly the recorded status, body bytes and signature.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sandbox_json_rsa::AccountSeed;
use serde::Deserialize;

use crate::common::*;

#[derive(Debug, Deserialize)]
struct Sample {
    description: String,
    #[serde(default)]
    seed: Vec<AccountSeed>,
    request: Exchange,
    reply: Answer,
    canonical: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Exchange {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

fn samples() -> Vec<(String, Sample)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).expect("sample file");
            let sample = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not a sample: {e}"));
            (name, sample)
        })
        .collect()
}

#[tokio::test]
async fn every_sample_is_answered_exactly_as_recorded() {
    let samples = samples();
    assert!(
        (8..=12).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    let sandbox = start().await;
    for (name, sample) in &samples {
        for seed in &sample.seed {
            sandbox.seed_account(seed);
        }
        let request = &sample.request;
        let signature = request.headers.get("X-Signature").expect("signed request");
        // The request signature is the operator's (made with openssl).
        assert!(
            verifies_with("operator_public.pem", request.body.as_bytes(), signature),
            "{name}: request signature"
        );
        let headers: Vec<(&str, String)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let reply = send(&sandbox, "POST", &request.path, &headers, &request.body).await;

        assert_eq!(reply.status, sample.reply.status, "{name}");
        assert_eq!(
            reply.text(),
            sample.reply.body,
            "{name}: {}",
            sample.description
        );
        for (header, value) in &sample.reply.headers {
            assert_eq!(
                reply.header(header).as_ref(),
                Some(value),
                "{name}: {header}"
            );
        }
        assert!(reply.signed_by_provider(), "{name}: reply signature");
        assert!(sample.canonical["outcome"].is_string(), "{name}: canonical");
    }
    // The books after the whole run: 1000.00 - 25.00 + 10.00 + 25.00.
    assert_eq!(sandbox.balance("acc-1"), Some(101_000_000));
}
