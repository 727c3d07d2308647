//! The signed wire samples (`adapters/samples/json-hmac/`, format in
//! `adapters/samples/README.md`) from the adapter's side: for each sample,
//! the canonical request must encode to exactly the sample's body and
//! `X-Signature` with the public transformer functions, and the sample's
//! reply must classify into the stated outcome.
//!
//! A status sample's `canonical` has no `kind`: the status samples ask about
//! a debit (`kind` = debit), with the debit's amount when the sample gives
//! one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adapter_api::{
    AccountId, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest, StatusRequest, TxKind, TxStatus,
};
use adapter_json_hmac::transformer::{
    Signer, WireRequest, classify_balance, classify_rollback, classify_status, classify_transfer,
    encode_balance, encode_rollback, encode_status, encode_transfer,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Sample {
    description: String,
    request: SampleRequest,
    reply: SampleReply,
    canonical: Canonical,
}

#[derive(Debug, Deserialize)]
struct SampleRequest {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct SampleReply {
    status: u16,
    body: String,
}

#[derive(Debug, Deserialize)]
struct Canonical {
    operation: String,
    tx_id: Option<String>,
    account: String,
    currency: Option<String>,
    minor_units: Option<i64>,
    reference: Option<String>,
    original_tx_id: Option<String>,
    outcome: String,
}

impl Canonical {
    fn tx_id(&self) -> ProviderTxId {
        ProviderTxId::new(self.tx_id.clone().expect("a tx_id"))
    }

    fn currency(&self) -> Currency {
        Currency::from_code(self.currency.as_deref().expect("a currency")).expect("ISO 4217")
    }

    /// The amount, when the sample gives one.
    fn amount(&self) -> Option<Money> {
        let minor_units = self.minor_units?;
        Some(Money::new(self.currency(), minor_units))
    }

    fn money_request(&self, direction: Direction) -> MoneyRequest {
        MoneyRequest {
            direction,
            tx_id: self.tx_id(),
            account: AccountId::new(self.account.clone()),
            amount: self.amount().expect("an amount"),
            reference: self.reference.clone(),
        }
    }

    fn rollback_request(&self) -> RollbackRequest {
        RollbackRequest {
            tx_id: self.tx_id(),
            original_tx_id: ProviderTxId::new(
                self.original_tx_id.clone().expect("an original_tx_id"),
            ),
            account: AccountId::new(self.account.clone()),
            amount: self.amount(),
        }
    }

    fn balance_request(&self) -> BalanceRequest {
        BalanceRequest {
            account: AccountId::new(self.account.clone()),
            currency: self.currency(),
        }
    }

    fn status_request(&self) -> StatusRequest {
        StatusRequest {
            tx_id: self.tx_id(),
            kind: TxKind::Debit,
            account: AccountId::new(self.account.clone()),
            amount: self.amount(),
        }
    }
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

fn signer() -> Signer {
    let secret = std::fs::read_to_string(samples_dir().join("secret.txt")).expect("secret.txt");
    Signer::new(secret.trim().as_bytes()).expect("HMAC takes any key")
}

fn decline_reason(name: &str) -> DeclineReason {
    match name {
        "insufficient_funds" => DeclineReason::InsufficientFunds,
        "account_blocked" => DeclineReason::AccountBlocked,
        "limit_exceeded" => DeclineReason::LimitExceeded,
        "wrong_currency" => DeclineReason::WrongCurrency,
        "unknown_account" => DeclineReason::UnknownAccount,
        "duplicate_transaction" => DeclineReason::DuplicateTransaction,
        "already_rolled_back" => DeclineReason::AlreadyRolledBack,
        "not_reversible" => DeclineReason::NotReversible,
        other => panic!("unknown decline reason {other:?}"),
    }
}

/// Checks a money outcome against the sample's `outcome`.
fn assert_outcome(context: &str, expected: &str, outcome: &Outcome) {
    match (expected.split_once(':'), outcome) {
        (None, Outcome::Settled(_)) if expected == "settled" => {}
        (None, Outcome::NotProcessed(_)) if expected == "not_processed" => {}
        (None, Outcome::Unknown(_)) if expected == "unknown" => {}
        (Some(("declined", reason)), Outcome::Declined(got)) => {
            assert_eq!(*got, decline_reason(reason), "{context}");
        }
        _ => panic!("{context}: expected {expected}, classified {outcome:?}"),
    }
}

/// The request the adapter encodes for the sample, and checks its reply.
fn encode_and_classify(context: &str, sample: &Sample, signer: &Signer) -> WireRequest {
    let canonical = &sample.canonical;
    let (status, body) = (sample.reply.status, sample.reply.body.as_bytes());
    let expected = canonical.outcome.as_str();
    match canonical.operation.as_str() {
        "debit" | "credit" => {
            let direction = if canonical.operation == "debit" {
                Direction::Debit
            } else {
                Direction::Credit
            };
            let req = canonical.money_request(direction);
            let outcome = classify_transfer(&req, status, body);
            assert_outcome(context, expected, &outcome);
            if let Outcome::Settled(settlement) = &outcome {
                // A settled transfer's balance is the reply's, in our currency.
                let reply: serde_json::Value = serde_json::from_str(&sample.reply.body)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                let balance = reply["balance"].as_i64().expect("balance");
                assert_eq!(
                    settlement.balance_after,
                    Some(Money::new(req.amount.currency, balance)),
                    "{context}"
                );
                assert_eq!(
                    settlement.provider_ref.as_deref(),
                    reply["provider_ref"].as_str(),
                    "{context}"
                );
            }
            encode_transfer(&req, signer).unwrap_or_else(|e| panic!("{context}: {e}"))
        }
        "rollback" => {
            let req = canonical.rollback_request();
            assert_outcome(context, expected, &classify_rollback(&req, status, body));
            encode_rollback(&req, signer).unwrap_or_else(|e| panic!("{context}: {e}"))
        }
        "balance" => {
            let req = canonical.balance_request();
            let minor_units: i64 = expected
                .strip_prefix("balance:")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{context}: outcome {expected:?}"));
            let balance: Result<Money, AdapterError> = classify_balance(&req, status, body);
            match balance {
                Ok(money) => assert_eq!(money, Money::new(req.currency, minor_units), "{context}"),
                Err(e) => panic!("{context}: {e:?}"),
            }
            encode_balance(&req, signer).unwrap_or_else(|e| panic!("{context}: {e}"))
        }
        "status" => {
            let req = canonical.status_request();
            let got = classify_status(&req, status, body);
            match (expected, &got) {
                ("status:applied", TxStatus::Applied(_))
                | ("status:rolled_back", TxStatus::RolledBack)
                | ("status:not_found", TxStatus::NotFound) => {}
                _ => panic!("{context}: expected {expected}, classified {got:?}"),
            }
            encode_status(&req, signer).unwrap_or_else(|e| panic!("{context}: {e}"))
        }
        other => panic!("{context}: unknown operation {other:?}"),
    }
}

#[test]
fn every_sample_is_encoded_byte_for_byte_and_classified_as_stated() {
    let signer = signer();
    let samples = load_samples();
    assert!(
        (8..=12).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    let mut operations = BTreeMap::<String, usize>::new();
    for (name, sample) in &samples {
        let context = format!("{name} ({})", sample.description);
        let wire = encode_and_classify(&context, sample, &signer);
        assert_eq!(wire.endpoint.path(), sample.request.path, "{context}");
        assert_eq!(
            std::str::from_utf8(&wire.body).expect("utf-8 body"),
            sample.request.body,
            "{context}"
        );
        assert_eq!(
            Some(&wire.signature),
            sample.request.headers.get("X-Signature"),
            "{context}"
        );
        *operations
            .entry(sample.canonical.operation.clone())
            .or_default() += 1;
    }
    // Every operation the samples README names is covered.
    for operation in ["debit", "credit", "rollback", "balance", "status"] {
        assert!(operations.contains_key(operation), "no {operation} sample");
    }
}

#[test]
fn a_reply_naming_another_transaction_is_not_settled() {
    // The sandbox's Tampered fault renames the reply's tx_id; the adapter
    // must not take that as the settlement of the sample's debit.
    let (name, sample) = load_samples().remove(0);
    assert_eq!(sample.canonical.operation, "debit", "{name}");
    let req = sample.canonical.money_request(Direction::Debit);
    let tampered = sample.reply.body.replace(
        &format!("\"tx_id\":\"{}\"", req.tx_id.as_str()),
        &format!("\"tx_id\":\"{}~tampered\"", req.tx_id.as_str()),
    );
    assert_ne!(tampered, sample.reply.body);
    let outcome = classify_transfer(&req, sample.reply.status, tampered.as_bytes());
    assert!(matches!(outcome, Outcome::Unknown(_)), "{outcome:?}");
}
