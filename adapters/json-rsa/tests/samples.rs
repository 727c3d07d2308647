//! The signed json-rsa samples (`adapters/samples/json-rsa/*.json`): for
//! each, the transformer must produce the sample's request byte for byte
//! (path, body and signature: RSA PKCS#1 v1.5 is deterministic) from its
//! canonical request and fixed `request_uuid`, and must classify the
//! sample's signed reply as the sample states. The sandbox provider is
//! tested against the same files, so a misreading of the spec on either side
//! shows up here.

use std::path::{Path, PathBuf};

use adapter_api::{
    AccountId, BalanceRequest, Currency, DeclineReason, Direction, Money, MoneyRequest, Outcome,
    ProviderTxId, RollbackRequest, StatusRequest, TxKind, TxStatus,
};
use adapter_json_rsa::signing::{Signer, Verifier};
use adapter_json_rsa::transformer::{self, RequestUuid, WireReply, WireRequest};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    description: String,
    #[serde(default)]
    #[allow(dead_code)]
    seed: Option<serde_json::Value>,
    request: Exchange,
    reply: Reply,
    canonical: Canonical,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    path: String,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    status: u16,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Canonical {
    operation: String,
    tx_id: Option<String>,
    account: String,
    currency: String,
    minor_units: Option<i64>,
    reference: Option<String>,
    original_tx_id: Option<String>,
    request_uuid: Option<String>,
    outcome: String,
}

fn header<'a>(
    headers: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa")
}

fn samples() -> Vec<(String, Sample)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let sample: Sample =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, sample)
        })
        .collect()
}

fn keys() -> (Signer, Verifier) {
    let dir = samples_dir().join("keys");
    (
        Signer::from_pem_file(&dir.join("operator_private.pem")).unwrap(),
        Verifier::from_pem_file(&dir.join("provider_public.pem")).unwrap(),
    )
}

/// What the hub asked for, rebuilt from a sample's canonical section.
enum Request {
    Transfer(MoneyRequest),
    Rollback(RollbackRequest),
    Balance(BalanceRequest),
    Status(StatusRequest),
}

fn canonical_request(c: &Canonical) -> Request {
    let currency = Currency::from_code(&c.currency).unwrap();
    let money = c.minor_units.map(|m| Money::new(currency, m));
    let tx_id = || ProviderTxId::new(c.tx_id.clone().expect("tx_id"));
    let account = AccountId::new(c.account.clone());
    let transfer = |direction| {
        Request::Transfer(MoneyRequest {
            direction,
            tx_id: tx_id(),
            account: account.clone(),
            amount: money.expect("minor_units"),
            reference: c.reference.clone(),
        })
    };
    match c.operation.as_str() {
        "debit" => transfer(Direction::Debit),
        "credit" => transfer(Direction::Credit),
        "rollback" => Request::Rollback(RollbackRequest {
            tx_id: tx_id(),
            original_tx_id: ProviderTxId::new(c.original_tx_id.clone().expect("original_tx_id")),
            account,
            amount: money,
        }),
        "balance" => Request::Balance(BalanceRequest { account, currency }),
        // The samples look up the bets and wins of earlier samples; the
        // canonical section does not say which, and the wire does not
        // either: a debit's lookup is a win's.
        "status" => Request::Status(StatusRequest {
            tx_id: tx_id(),
            kind: TxKind::Debit,
            account,
            amount: money,
        }),
        other => panic!("unknown operation {other:?}"),
    }
}

fn decline_name(reason: DeclineReason) -> &'static str {
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

/// An outcome in the samples' notation.
fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Settled(_) => "settled".into(),
        Outcome::Declined(reason) => format!("declined:{}", decline_name(*reason)),
        Outcome::NotProcessed(e) => format!("not_processed ({e:?})"),
        Outcome::Unknown(e) => format!("unknown ({e:?})"),
    }
}

fn status_name(status: &TxStatus) -> String {
    match status {
        TxStatus::Applied(_) => "status:applied".into(),
        TxStatus::RolledBack => "status:rolled_back".into(),
        TxStatus::NotFound => "status:not_found".into(),
        TxStatus::Declined(reason) => format!("status:declined:{}", decline_name(*reason)),
        TxStatus::Unknown(e) => format!("unknown ({e:?})"),
    }
}

/// Checks the request side of one sample and classifies its reply into the
/// samples' outcome notation.
fn replay(name: &str, sample: &Sample, signer: &Signer, verifier: &Verifier) -> String {
    let c = &sample.canonical;
    let request_uuid: RequestUuid = c
        .request_uuid
        .as_deref()
        .expect("json-rsa samples give the request_uuid")
        .parse()
        .unwrap();
    let request = canonical_request(c);
    let wire: WireRequest = match &request {
        Request::Transfer(r) => transformer::encode_transfer(r, request_uuid, signer),
        Request::Rollback(r) => transformer::encode_rollback(r, request_uuid, signer),
        Request::Balance(r) => transformer::encode_balance(r, request_uuid, signer),
        Request::Status(r) => transformer::encode_status(r, request_uuid, signer),
    }
    .unwrap_or_else(|e| panic!("{name}: {e}"));

    assert_eq!(wire.endpoint.path(), sample.request.path, "{name}: path");
    assert_eq!(
        String::from_utf8_lossy(&wire.body),
        sample.request.body,
        "{name}: body"
    );
    assert_eq!(
        Some(wire.signature.as_str()),
        header(&sample.request.headers, "X-Signature"),
        "{name}: request signature"
    );
    if let Some(content_type) = header(&sample.request.headers, "Content-Type") {
        assert_eq!(content_type, "application/json", "{name}");
    }

    let reply = WireReply {
        status: sample.reply.status,
        signature: header(&sample.reply.headers, "X-Signature").map(str::as_bytes),
        body: sample.reply.body.as_bytes(),
    };
    assert!(
        verifier.verify(reply.body, reply.signature).is_ok(),
        "{name}: the sample reply's signature does not verify"
    );
    let uuid = &wire.request_uuid;
    match &request {
        Request::Transfer(r) => {
            outcome_name(&transformer::classify_transfer(r, uuid, &reply, verifier))
        }
        Request::Rollback(r) => {
            outcome_name(&transformer::classify_rollback(r, uuid, &reply, verifier))
        }
        Request::Balance(r) => match transformer::classify_balance(r, uuid, &reply, verifier) {
            Ok(money) => format!("balance:{}", money.minor_units),
            Err(e) => format!("error ({e:?})"),
        },
        Request::Status(r) => status_name(&transformer::classify_status(r, uuid, &reply, verifier)),
    }
}

#[test]
fn every_sample_is_reproduced_and_classified() {
    let samples = samples();
    assert!(!samples.is_empty(), "no json-rsa samples");
    let (signer, verifier) = keys();
    for (name, sample) in &samples {
        let outcome = replay(name, sample, &signer, &verifier);
        assert_eq!(
            outcome, sample.canonical.outcome,
            "{name} ({})",
            sample.description
        );
    }
}

#[test]
fn a_sample_reply_is_trusted_only_for_its_own_request() {
    let (_, verifier) = keys();
    let mut checked = 0;
    for (name, sample) in samples() {
        let c = &sample.canonical;
        let Request::Transfer(req) = canonical_request(c) else {
            continue;
        };
        let reply = WireReply {
            status: sample.reply.status,
            signature: header(&sample.reply.headers, "X-Signature").map(str::as_bytes),
            body: sample.reply.body.as_bytes(),
        };
        // The same signed reply, presented as the answer to another call.
        let other: RequestUuid = "9a1e0c52-7d3b-4f6a-8b21-0000000000ff".parse().unwrap();
        let outcome = transformer::classify_transfer(&req, &other, &reply, &verifier);
        assert!(
            matches!(outcome, Outcome::Unknown(_)),
            "{name}: replayed reply classified {outcome:?}"
        );
        // The same bytes with a signature that is not the provider's.
        let mut tampered = reply;
        tampered.signature = Some(b"AAAA");
        assert!(matches!(
            transformer::classify_transfer(&req, &other, &tampered, &verifier),
            Outcome::Unknown(adapter_api::AdapterError::BadSignature)
        ));
        checked += 1;
    }
    assert!(checked > 0, "no bet or win samples");
}
