//! The signed samples in `adapters/samples/form-md5/`, replayed in file name
//! order against one fresh sandbox: every request must verify and get
//! exactly the recorded reply (status, content type, body bytes).

use std::path::PathBuf;

use sandbox_form_md5::{AccountSeed, Sandbox, SandboxConfig};
use serde::Deserialize;

use crate::common::*;

#[derive(Debug, Deserialize)]
struct Sample {
    description: String,
    #[serde(default)]
    seed: Vec<AccountSeed>,
    request: Exchange,
    reply: RecordedReply,
    canonical: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Exchange {
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct RecordedReply {
    status: u16,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/form-md5")
}

fn load() -> Vec<(String, Sample)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .expect("samples directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("readable sample");
            let sample = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not a sample: {e}"));
            (name, sample)
        })
        .collect()
}

#[tokio::test]
async fn every_sample_replays_byte_for_byte_in_order() {
    let secret = std::fs::read_to_string(samples_dir().join("secret.txt")).expect("secret.txt");
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: secret.trim_end().to_owned(),
        provider_id: "op1".into(),
        control: false,
    })
    .await
    .expect("sandbox starts");

    let samples = load();
    assert!(
        (8..=12).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    let mut operations = std::collections::BTreeSet::new();
    for (name, sample) in &samples {
        for seed in &sample.seed {
            sandbox.seed_account(seed);
        }
        let headers: Vec<(&str, &str)> = sample
            .request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let request = raw_request("POST", &sample.request.path, &headers, &sample.request.body);
        let reply = send_raw(&sandbox, &request).await;

        assert_eq!(
            reply.status, sample.reply.status,
            "{name}: {}",
            sample.description
        );
        assert_eq!(
            reply.text(),
            sample.reply.body,
            "{name}: {}",
            sample.description
        );
        for (header, value) in &sample.reply.headers {
            assert_eq!(
                reply.header(header).as_deref(),
                Some(value.as_str()),
                "{name}: {header}"
            );
        }
        operations.insert(
            sample.canonical["operation"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for operation in ["balance", "debit", "credit", "rollback"] {
        assert!(operations.contains(operation), "no {operation} sample");
    }
    // The samples' story leaves these books.
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));
    assert_eq!(sandbox.balance("acc-2"), Some(100));
    assert_eq!(sandbox.balance("acc-3"), Some(3_750));
}

#[test]
fn sample_hashes_are_md5_of_the_sorted_decoded_parameters() {
    // Recomputed here, independently of the server: the hash in every
    // sample is over its own parameters, so an edited body is caught even
    // before the replay.
    let secret = std::fs::read_to_string(samples_dir().join("secret.txt")).expect("secret.txt");
    for (name, sample) in load() {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(sample.request.body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let hash = pairs
            .iter()
            .find(|(k, _)| k == "hash")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name}: no hash"));
        let others: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "hash")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(hash_with(secret.trim_end(), &others), hash, "{name}");
        assert!(
            sample.request.body.ends_with(&format!("&hash={hash}")),
            "{name}: hash is the last parameter"
        );
    }
}
