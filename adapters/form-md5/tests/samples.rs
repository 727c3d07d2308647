//! The signed form-md5 samples in `adapters/samples/form-md5/` (format:
//! `adapters/samples/README.md`), from the adapter's side:
//!
//! - each canonical request, encoded with the sample's `timestamp`, is the
//!   sample's request byte for byte (path, body, `hash`), and the sample's
//!   `hash` is what a provider computes from its body and the secret;
//! - each sample reply classifies into the sample's stated outcome;
//! - replayed in file-name order through the real adapter against one
//!   fresh sandbox seeded as the samples say, every exchange ends in the
//!   stated outcome too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest,
};
use adapter_form_md5::transformer::{self, Credentials, Timestamp, WireRequest};
use adapter_form_md5::{Clock, FormMd5Adapter, FormMd5Config};
use md5::{Digest, Md5};
use sandbox_form_md5::{Sandbox, SandboxConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Sample {
    description: String,
    #[serde(default)]
    seed: Vec<Seed>,
    request: Exchange,
    reply: Exchange,
    canonical: Canonical,
}

#[derive(Debug, Deserialize)]
struct Seed {
    account: String,
    currency: String,
    balance: i64,
}

#[derive(Debug, Deserialize)]
struct Exchange {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct Canonical {
    operation: String,
    #[serde(default)]
    tx_id: Option<String>,
    account: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    minor_units: Option<i64>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    original_tx_id: Option<String>,
    #[serde(default)]
    provider_id: Option<String>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    outcome: String,
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/form-md5")
}

fn load() -> (String, Vec<(String, Sample)>) {
    let dir = samples_dir();
    let secret = std::fs::read_to_string(dir.join("secret.txt"))
        .unwrap_or_else(|e| panic!("{}/secret.txt: {e}", dir.display()));
    let secret = secret.trim_end_matches(['\n', '\r']).to_owned();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", dir.display());
    let samples = files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let sample: Sample =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, sample)
        })
        .collect();
    (secret, samples)
}

fn params(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(body: &str, name: &str) -> Option<String> {
    params(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The provider's hash check, written here independently of the adapter.
fn provider_hash(body: &str, secret: &str) -> String {
    let mut others: Vec<(String, String)> = params(body)
        .into_iter()
        .filter(|(k, _)| k != "hash")
        .collect();
    others.sort();
    let joined: Vec<String> = others.iter().map(|(k, v)| format!("{k}={v}")).collect();
    hex::encode(Md5::digest(format!("{}{secret}", joined.join("&"))))
}

fn timestamp(name: &str, canonical: &Canonical) -> Timestamp {
    let millis = match &canonical.timestamp {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Timestamp::from_millis(millis.unwrap_or_else(|| panic!("{name}: no usable timestamp")))
}

/// The canonical request a sample stands for.
enum Request {
    Transfer(MoneyRequest),
    Rollback(RollbackRequest),
    Balance(BalanceRequest),
}

fn currency(name: &str, canonical: &Canonical) -> Currency {
    let code = canonical
        .currency
        .as_deref()
        .unwrap_or_else(|| panic!("{name}: no currency"));
    Currency::from_code(code).unwrap_or_else(|e| panic!("{name}: {code}: {e}"))
}

fn request(name: &str, canonical: &Canonical) -> Request {
    let account = AccountId::new(canonical.account.clone());
    let tx_id = || {
        ProviderTxId::new(
            canonical
                .tx_id
                .clone()
                .unwrap_or_else(|| panic!("{name}: no tx_id")),
        )
    };
    match canonical.operation.as_str() {
        op @ ("debit" | "credit") => Request::Transfer(MoneyRequest {
            direction: if op == "debit" {
                Direction::Debit
            } else {
                Direction::Credit
            },
            tx_id: tx_id(),
            account,
            amount: Money::new(
                currency(name, canonical),
                canonical
                    .minor_units
                    .unwrap_or_else(|| panic!("{name}: no minor_units")),
            ),
            reference: canonical.reference.clone(),
        }),
        "rollback" => Request::Rollback(RollbackRequest {
            tx_id: canonical
                .tx_id
                .clone()
                .map_or_else(|| ProviderTxId::new("rollback"), ProviderTxId::new),
            original_tx_id: ProviderTxId::new(
                canonical
                    .original_tx_id
                    .clone()
                    .unwrap_or_else(|| panic!("{name}: no original_tx_id")),
            ),
            account,
            amount: canonical
                .minor_units
                .map(|m| Money::new(currency(name, canonical), m)),
        }),
        "balance" => Request::Balance(BalanceRequest {
            account,
            currency: currency(name, canonical),
        }),
        other => panic!("{name}: operation {other:?} is not one form-md5 has"),
    }
}

/// What an outcome or balance result is, in the samples' vocabulary.
fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Settled(_) => "settled".into(),
        Outcome::Declined(reason) => format!("declined:{}", reason_name(*reason)),
        Outcome::NotProcessed(_) => "not_processed".into(),
        Outcome::Unknown(_) => "unknown".into(),
    }
}

fn balance_name(result: &Result<Money, AdapterError>) -> String {
    match result {
        Ok(money) => format!("balance:{}", money.minor_units),
        Err(AdapterError::Declined(reason)) => format!("declined:{}", reason_name(*reason)),
        Err(AdapterError::Rejected { .. } | AdapterError::Connect(_)) => "not_processed".into(),
        Err(_) => "unknown".into(),
    }
}

fn reason_name(reason: DeclineReason) -> &'static str {
    match reason {
        DeclineReason::InsufficientFunds => "insufficient_funds",
        DeclineReason::AccountBlocked => "account_blocked",
        DeclineReason::LimitExceeded => "limit_exceeded",
        DeclineReason::WrongCurrency => "wrong_currency",
        DeclineReason::UnknownAccount => "unknown_account",
        DeclineReason::DuplicateTransaction => "duplicate_transaction",
        DeclineReason::AlreadyRolledBack => "already_rolled_back",
        DeclineReason::NotReversible => "not_reversible",
        DeclineReason::Other => "other",
    }
}

fn provider_id(name: &str, sample: &Sample) -> String {
    sample
        .canonical
        .provider_id
        .clone()
        .or_else(|| param(&sample.request.body, "providerId"))
        .unwrap_or_else(|| panic!("{name}: no providerId"))
}

#[test]
fn the_adapter_writes_every_sample_request_and_classifies_its_reply() {
    let (secret, samples) = load();
    let mut operations = std::collections::BTreeSet::new();
    for (name, sample) in &samples {
        let canonical = &sample.canonical;
        operations.insert(canonical.operation.clone());
        let credentials = Credentials::new(provider_id(name, sample), secret.clone());
        let request = request(name, canonical);
        let wire: WireRequest = match &request {
            Request::Transfer(req) => {
                transformer::encode_transfer(req, &credentials, timestamp(name, canonical))
            }
            Request::Rollback(req) => transformer::encode_rollback(req, &credentials),
            Request::Balance(req) => transformer::encode_balance(req, &credentials),
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));

        // The request, byte for byte.
        assert_eq!(
            Some(wire.endpoint.path()),
            sample.request.path.as_deref(),
            "{name}: path"
        );
        assert_eq!(
            std::str::from_utf8(&wire.body).unwrap(),
            sample.request.body,
            "{name}: body ({})",
            sample.description
        );
        assert_eq!(
            Some(wire.hash.clone()),
            param(&sample.request.body, "hash"),
            "{name}: hash"
        );
        // And the sample agrees with the spec's hash rule.
        assert_eq!(
            provider_hash(&sample.request.body, &secret),
            wire.hash,
            "{name}: the sample's hash is not md5(sorted k=v&... + secret)"
        );

        // The reply, classified as stated.
        let status = sample.reply.status.unwrap_or(200);
        let body = sample.reply.body.as_bytes();
        let got = match &request {
            Request::Transfer(req) => {
                outcome_name(&transformer::classify_transfer(req, status, body))
            }
            Request::Rollback(req) => {
                outcome_name(&transformer::classify_rollback(req, status, body))
            }
            Request::Balance(req) => {
                balance_name(&transformer::classify_balance(req, status, body))
            }
        };
        assert_eq!(got, canonical.outcome, "{name}: {}", sample.description);
    }
    for operation in ["debit", "credit", "rollback", "balance"] {
        assert!(
            operations.contains(operation),
            "no {operation} sample in {}",
            samples_dir().display()
        );
    }
}

/// A clock the replay sets to each sample's timestamp.
#[derive(Debug, Default)]
struct SetClock(AtomicU64);

impl Clock for SetClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn the_samples_replayed_through_the_adapter_end_as_stated() {
    let (secret, samples) = load();
    let provider = provider_id(&samples[0].0, &samples[0].1);
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: secret.clone(),
        provider_id: provider.clone(),
        control: false,
    })
    .await
    .unwrap();
    let clock = Arc::new(SetClock::default());
    let adapter = FormMd5Adapter::with_clock(
        FormMd5Config {
            base_url: sandbox.base_url(),
            secret,
            provider_id: provider.clone(),
            ca_file: None,
        },
        clock.clone(),
    )
    .unwrap();

    for (name, sample) in &samples {
        assert_eq!(
            provider_id(name, sample),
            provider,
            "{name}: one providerId"
        );
        for seed in &sample.seed {
            sandbox.seed(&seed.account, &seed.currency, seed.balance);
        }
        let got = match request(name, &sample.canonical) {
            Request::Transfer(req) => {
                clock.0.store(
                    timestamp(name, &sample.canonical).as_millis(),
                    Ordering::SeqCst,
                );
                outcome_name(&adapter.transfer(&req).await)
            }
            Request::Rollback(req) => outcome_name(&adapter.rollback(&req).await),
            Request::Balance(req) => balance_name(&adapter.balance(&req).await),
        };
        assert_eq!(
            got, sample.canonical.outcome,
            "{name}: {}",
            sample.description
        );
    }
    sandbox.shutdown().await;
}
