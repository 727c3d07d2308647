//! Every adapter (the three built-in dialects and the plugin bridge) fed
//! garbage, truncated, oversized and wrongly-typed replies: each one is
//! classified (no panic), and none of them is ever trusted: a money
//! movement is `Unknown`, a balance query an error, a status query
//! `TxStatus::Unknown`.
//!
//! The built-ins are driven through their pure reply classifiers (what their
//! transport hands over), with every HTTP status; the oversized case also
//! goes through the real HTTP transport, whose size limit is part of the
//! contract. The bridge is driven through protobuf decoding plus its
//! classifier (what tonic hands over). Bounded in time: a fixed number of
//! cases per property.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use adapter_api::{
    AccountId, Adapter, AdapterFactory, BalanceRequest, Currency, Direction, Money, MoneyRequest,
    Outcome, ProviderTxId, RollbackRequest, StatusRequest, TxKind, TxStatus,
};
use hub_proto::adapter::v1 as pb;
use proptest::prelude::*;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ------------------------------------------------------------- requests

const TX: &str = "b3a1f6d2-4c8e-5a17-9e02-6f4d2c1a0001";
const RB: &str = "b3a1f6d2-4c8e-5a17-9e02-6f4d2c1a0003";
const UUID: &str = "9a1e0c52-7d3b-4f6a-8b21-000000000002";

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn transfer_req(direction: Direction) -> MoneyRequest {
    MoneyRequest {
        direction,
        tx_id: ProviderTxId::new(TX),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), 2_500),
        reference: Some("r-1".into()),
    }
}

fn rollback_req() -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new(RB),
        original_tx_id: ProviderTxId::new(TX),
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 2_500)),
    }
}

fn balance_req() -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur(),
    }
}

fn status_req() -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new(TX),
        kind: TxKind::Debit,
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 2_500)),
    }
}

// ------------------------------------------------------- valid replies
//
// One valid reply per dialect and operation: the seeds that truncation and
// retyping start from (each is checked to classify as trusted first, so a
// mutation that is still trusted would be a real finding).

fn hmac_seeds() -> [(&'static str, String); 4] {
    [
        (
            "transfer",
            format!(r#"{{"tx_id":"{TX}","status":"OK","balance":9750,"provider_ref":"hm-1"}}"#),
        ),
        (
            "rollback",
            format!(r#"{{"tx_id":"{RB}","status":"OK","balance":10000}}"#),
        ),
        (
            "balance",
            r#"{"account":"acc-1","currency":"EUR","balance":10000}"#.to_owned(),
        ),
        (
            "status",
            format!(
                r#"{{"tx_id":"{TX}","status":"OK","kind":"debit","amount":2500,"currency":"EUR"}}"#
            ),
        ),
    ]
}

fn rsa_seeds() -> [(&'static str, String); 3] {
    [
        (
            "transfer",
            format!(
                r#"{{"request_uuid":"{UUID}","transaction_uuid":"{TX}","balance":97500000,"currency":"EUR","status":"RS_OK"}}"#
            ),
        ),
        (
            "rollback",
            format!(
                r#"{{"request_uuid":"{UUID}","transaction_uuid":"{RB}","balance":101000000,"status":"RS_OK"}}"#
            ),
        ),
        (
            "balance",
            format!(
                r#"{{"request_uuid":"{UUID}","user":"acc-1","currency":"EUR","balance":100000000,"status":"RS_OK"}}"#
            ),
        ),
    ]
}

fn md5_seeds() -> [(&'static str, String); 3] {
    [
        (
            "transfer",
            r#"{"error":0,"transactionId":"p-1","currency":"EUR","cash":97.50}"#.to_owned(),
        ),
        (
            "rollback",
            r#"{"error":0,"transactionId":"p-2"}"#.to_owned(),
        ),
        (
            "balance",
            r#"{"error":0,"currency":"EUR","cash":100.00}"#.to_owned(),
        ),
    ]
}

// --------------------------------------------------------- classifiers

/// Whether the adapter trusted the reply (anything but "unknown"/error).
type Classify = fn(op: &str, status: u16, body: &[u8]) -> bool;

fn trusted_outcome(o: Outcome) -> bool {
    !matches!(o, Outcome::Unknown(_))
}

fn trusted_status(s: TxStatus) -> bool {
    !matches!(s, TxStatus::Unknown(_))
}

fn hmac(op: &str, status: u16, body: &[u8]) -> bool {
    use adapter_json_hmac::transformer as t;
    match op {
        "transfer" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Debit),
            status,
            body,
        )),
        "credit" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Credit),
            status,
            body,
        )),
        "rollback" => trusted_outcome(t::classify_rollback(&rollback_req(), status, body)),
        "balance" => t::classify_balance(&balance_req(), status, body).is_ok(),
        "status" => trusted_status(t::classify_status(&status_req(), status, body)),
        _ => unreachable!("{op}"),
    }
}

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/json-rsa/keys")
}

struct RsaKeys {
    provider: adapter_json_rsa::signing::Signer,
    verifier: adapter_json_rsa::signing::Verifier,
}

fn rsa_keys() -> &'static RsaKeys {
    static KEYS: std::sync::OnceLock<RsaKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| RsaKeys {
        provider: adapter_json_rsa::signing::Signer::from_pem_file(
            &keys().join("provider_private.pem"),
        )
        .unwrap(),
        verifier: adapter_json_rsa::signing::Verifier::from_pem_file(
            &keys().join("provider_public.pem"),
        )
        .unwrap(),
    })
}

/// json-rsa replies are signed: garbage is signed with the provider's real
/// key, so the parser behind the signature check is what gets exercised.
fn rsa(op: &str, status: u16, body: &[u8]) -> bool {
    use adapter_json_rsa::transformer::{self as t, RequestUuid, WireReply};
    let keys = rsa_keys();
    let signature = keys.provider.sign(body).unwrap();
    let reply = WireReply {
        status,
        signature: Some(signature.as_bytes()),
        body,
    };
    let uuid = RequestUuid::from_str(UUID).unwrap();
    match op {
        "transfer" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Debit),
            &uuid,
            &reply,
            &keys.verifier,
        )),
        "credit" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Credit),
            &uuid,
            &reply,
            &keys.verifier,
        )),
        "rollback" => trusted_outcome(t::classify_rollback(
            &rollback_req(),
            &uuid,
            &reply,
            &keys.verifier,
        )),
        "balance" => t::classify_balance(&balance_req(), &uuid, &reply, &keys.verifier).is_ok(),
        "status" => trusted_status(t::classify_status(
            &status_req(),
            &uuid,
            &reply,
            &keys.verifier,
        )),
        _ => unreachable!("{op}"),
    }
}

fn md5(op: &str, status: u16, body: &[u8]) -> bool {
    use adapter_form_md5::transformer as t;
    match op {
        "transfer" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Debit),
            status,
            body,
        )),
        "credit" => trusted_outcome(t::classify_transfer(
            &transfer_req(Direction::Credit),
            status,
            body,
        )),
        "rollback" => trusted_outcome(t::classify_rollback(&rollback_req(), status, body)),
        "balance" => t::classify_balance(&balance_req(), status, body).is_ok(),
        // form-md5 has no status query.
        "status" => false,
        _ => unreachable!("{op}"),
    }
}

const DIALECTS: [(&str, Classify); 3] = [("json-hmac", hmac), ("json-rsa", rsa), ("form-md5", md5)];

fn seeds(dialect: &str) -> Vec<(&'static str, String)> {
    match dialect {
        "json-hmac" => hmac_seeds().to_vec(),
        "json-rsa" => rsa_seeds().to_vec(),
        _ => md5_seeds().to_vec(),
    }
}

#[test]
fn the_seeds_are_trusted_as_they_are() {
    for (dialect, classify) in DIALECTS {
        for (op, body) in seeds(dialect) {
            assert!(classify(op, 200, body.as_bytes()), "{dialect} {op}: {body}");
        }
    }
}

// ----------------------------------------------------------- strategies

fn any_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(200u16),
        1 => prop::sample::select(vec![201u16, 204, 302, 400, 401, 402, 403, 404, 409, 500, 503]),
        1 => 0u16..1000,
    ]
}

fn op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["transfer", "credit", "rollback", "balance", "status"])
}

/// Bytes that are not a reply: random, random text, JSON of the wrong shape,
/// or big.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        "\\PC{0,128}".prop_map(String::into_bytes),
        prop::sample::select(vec![
            "",
            "null",
            "[]",
            "{}",
            "true",
            "0",
            "\"OK\"",
            "[{}]",
            "{\"code\":5}",
            "{\"error\":\"0\"}",
            "{\"tx_id\":null}",
            "NaN",
            "1e999",
            "{\"a\":1,\"a\":1}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (1usize..4, any::<u8>()).prop_map(|(kib, b)| vec![b; kib * 70 * 1024]),
    ]
}

/// A JSON value of another kind than `original`.
fn other_kind(original: &serde_json::Value, pick: usize) -> serde_json::Value {
    use serde_json::Value as V;
    let candidates = [
        V::Bool(true),
        V::String("1".into()),
        serde_json::json!(1.5),
        serde_json::json!(-7),
        serde_json::json!([1]),
        serde_json::json!({"k": 1}),
    ];
    let kind = |v: &V| match v {
        V::Null => 0,
        V::Bool(_) => 1,
        V::Number(_) => 2,
        V::String(_) => 3,
        V::Array(_) => 4,
        V::Object(_) => 5,
    };
    let others: Vec<_> = candidates
        .into_iter()
        .filter(|c| kind(c) != kind(original))
        .collect();
    others[pick % others.len()].clone()
}

// ----------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn garbage_is_never_trusted(op in op(), status in any_status(), body in garbage()) {
        for (dialect, classify) in DIALECTS {
            prop_assert!(!classify(op, status, &body), "{dialect} {op} trusted {status}");
        }
    }

    #[test]
    fn truncated_replies_are_never_trusted(cut in any::<prop::sample::Index>(), status in any_status()) {
        for (dialect, classify) in DIALECTS {
            for (op, body) in seeds(dialect) {
                let body = body.as_bytes();
                let short = &body[..cut.index(body.len())];
                prop_assert!(!classify(op, status, short), "{dialect} {op}: {:?}", String::from_utf8_lossy(short));
            }
        }
    }

    #[test]
    fn wrongly_typed_fields_are_never_trusted(field in any::<prop::sample::Index>(), pick in 0usize..6, status in any_status()) {
        for (dialect, classify) in DIALECTS {
            for (op, body) in seeds(dialect) {
                let mut value: serde_json::Value = serde_json::from_str(&body).unwrap();
                let object = value.as_object_mut().unwrap();
                let key = object.keys().nth(field.index(object.len())).unwrap().clone();
                let retyped = other_kind(&object[&key], pick);
                object.insert(key.clone(), retyped);
                let body = serde_json::to_vec(&value).unwrap();
                prop_assert!(!classify(op, status, &body), "{dialect} {op}: {}", String::from_utf8_lossy(&body));
            }
        }
    }
}

// ------------------------------------------------------------- bridge

fn bridge_transfer(bytes: &[u8]) -> Outcome {
    // What tonic does: a reply that does not decode is a failed call.
    let reply =
        pb::TransferResponse::decode(bytes).map_err(|e| adapter_plugin::reply::CallError::Failed {
            code: tonic::Code::Internal as i32,
            message: e.to_string(),
        });
    adapter_plugin::reply::transfer(&transfer_req(Direction::Debit), reply)
}

fn bridge_rollback(bytes: &[u8]) -> Outcome {
    let reply =
        pb::RollbackResponse::decode(bytes).map_err(|e| adapter_plugin::reply::CallError::Failed {
            code: tonic::Code::Internal as i32,
            message: e.to_string(),
        });
    adapter_plugin::reply::rollback(&rollback_req(), reply)
}

fn bridge_balance(bytes: &[u8]) -> bool {
    let reply = pb::GetBalanceResponse::decode(bytes).map_err(|e| {
        adapter_plugin::reply::CallError::Failed {
            code: 13,
            message: e.to_string(),
        }
    });
    adapter_plugin::reply::balance(&balance_req(), reply).is_ok()
}

fn bridge_status(bytes: &[u8]) -> TxStatus {
    let reply = pb::GetStatusResponse::decode(bytes).map_err(|e| {
        adapter_plugin::reply::CallError::Failed {
            code: 13,
            message: e.to_string(),
        }
    });
    adapter_plugin::reply::status(&status_req(), reply)
}

/// Protobuf fields with random numbers, wire types and payloads: wrongly
/// typed fields (a string where a varint belongs), unknown fields, bad
/// lengths.
fn wire_fields() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (1u32..10, 0u32..6, prop::collection::vec(any::<u8>(), 0..24)),
        0..8,
    )
    .prop_map(|fields| {
        let mut out = Vec::new();
        for (number, wire_type, payload) in fields {
            prost::encoding::encode_varint(u64::from(number << 3 | wire_type), &mut out);
            out.extend_from_slice(&payload);
        }
        out
    })
}

fn settled_bytes() -> Vec<u8> {
    pb::TransferResponse {
        transaction_id: TX.into(),
        outcome: pb::Outcome::Settled as i32,
        decline_reason: 0,
        balance_after: Some(pb::Money {
            currency_code: "EUR".into(),
            minor_units: 9_750,
        }),
        provider_reference: "p-1".into(),
        error: None,
    }
    .encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_bridge_never_trusts_garbage(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        wire_fields(),
        (1usize..3).prop_map(|n| vec![0x0a; n * 70 * 1024]),
    ]) {
        prop_assert!(matches!(bridge_transfer(&bytes), Outcome::Unknown(_)));
        prop_assert!(matches!(bridge_rollback(&bytes), Outcome::Unknown(_)));
        prop_assert!(!bridge_balance(&bytes));
        prop_assert!(matches!(bridge_status(&bytes), TxStatus::Unknown(_)));
    }

    #[test]
    fn a_truncated_settlement_never_becomes_a_decline_or_not_processed(cut in any::<prop::sample::Index>()) {
        let bytes = settled_bytes();
        let short = &bytes[..cut.index(bytes.len())];
        // Protobuf has no end marker (gRPC's length prefix catches a cut
        // frame); a cut between fields only loses optional fields.
        prop_assert!(matches!(bridge_transfer(short), Outcome::Unknown(_) | Outcome::Settled(_)));
    }

    #[test]
    fn the_bridge_never_trusts_a_wrong_transaction_id(id in "\\PC{0,40}", outcome in -2i32..8) {
        prop_assume!(id != TX);
        let bytes = pb::TransferResponse {
            transaction_id: id,
            outcome,
            ..pb::TransferResponse::decode(settled_bytes().as_slice()).unwrap()
        }
        .encode_to_vec();
        prop_assert!(matches!(bridge_transfer(&bytes), Outcome::Unknown(_)));
    }
}

// ---------------------------------------------- oversized, over the wire

/// An HTTP/1.1 server that answers every request with `reply`.
async fn canned(reply: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let reply = Arc::new(reply);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                // Read the head and the declared body, then answer.
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, task)
}

fn http_reply(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A valid reply padded past the transport's 64 KiB limit with JSON
/// whitespace: only the size makes it untrusted.
fn padded(seed: &str) -> Vec<u8> {
    let mut body = seed.as_bytes().to_vec();
    body.extend(std::iter::repeat_n(b' ', 80 * 1024));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_replies_are_unknown_through_the_real_transport() {
    let hmac_seed = hmac_seeds()[0].1.clone();
    let md5_seed = md5_seeds()[0].1.clone();
    let (hmac_url, hmac_server) = canned(http_reply(&padded(&hmac_seed))).await;
    let (md5_url, md5_server) = canned(http_reply(&padded(&md5_seed))).await;
    // json-rsa: signed with the provider's key, so only the size is wrong.
    let rsa_body = padded(&rsa_seeds()[0].1);
    let signature = rsa_keys().provider.sign(&rsa_body).unwrap();
    let mut rsa_reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-signature: {signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        rsa_body.len()
    )
    .into_bytes();
    rsa_reply.extend_from_slice(&rsa_body);
    let (rsa_url, rsa_server) = canned(rsa_reply).await;

    let adapters: Vec<(&str, Arc<dyn Adapter>)> = vec![
        (
            "json-hmac",
            adapter_json_hmac::Factory
                .build(&serde_json::json!({"base_url": hmac_url, "secret": "s", "operator": "hub"}))
                .unwrap(),
        ),
        (
            "form-md5",
            adapter_form_md5::Factory
                .build(
                    &serde_json::json!({"base_url": md5_url, "secret": "s", "provider_id": "hub"}),
                )
                .unwrap(),
        ),
        (
            "json-rsa",
            adapter_json_rsa::Factory
                .build(&serde_json::json!({
                    "base_url": rsa_url,
                    "private_key_file": keys().join("operator_private.pem"),
                    "provider_public_key_file": keys().join("provider_public.pem"),
                }))
                .unwrap(),
        ),
    ];
    for (name, adapter) in adapters {
        let o = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            adapter.transfer(&transfer_req(Direction::Debit)),
        )
        .await
        .expect("answered");
        assert!(
            matches!(o, Outcome::Unknown(adapter_api::AdapterError::Malformed(_))),
            "{name}: {o:?}"
        );
    }
    for server in [hmac_server, md5_server, rsa_server] {
        server.abort();
    }
}
