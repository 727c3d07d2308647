//! The adapter against a hand-written HTTP server on a loopback port: what
//! goes on the wire (checked from the server's side), and the transport
//! failures the sandbox cannot produce (a reply cut short, a connection
//! closed without a reply, an oversized reply, a doubled signature header).

use std::path::{Path, PathBuf};

use adapter_api::{
    AccountId, Adapter, AdapterError, Currency, Direction, Money, MoneyRequest, Outcome,
    ProviderTxId,
};
use adapter_json_rsa::signing::{Signer, Verifier};
use adapter_json_rsa::transformer::{MalformedReply, RequestUuid};
use adapter_json_rsa::{JsonRsaAdapter, JsonRsaConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const RU: &str = "00000000-0000-4000-8000-0000000000aa";

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/json-rsa/keys")
        .join(name)
}

/// The provider's signature of `body`, as the sandbox would make it.
fn provider_signature(body: &[u8]) -> String {
    Signer::from_pem_file(&key("provider_private.pem"))
        .unwrap()
        .sign(body)
        .unwrap()
}

/// What the server does with each connection it accepts.
#[derive(Clone)]
enum Script {
    /// Reads the request, then writes these bytes and closes.
    Reply(Vec<u8>),
    /// Reads the request, then closes without a byte of reply.
    Close,
}

/// A request as the server read it: head (request line and headers) and
/// body.
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// Serves `scripts.len()` connections on an ephemeral port, one script each,
/// and hands back what it read.
async fn serve(scripts: Vec<Script>) -> (String, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for script in scripts {
            let (mut stream, _) = listener.accept().await.unwrap();
            seen.push(read_request(&mut stream).await);
            if let Script::Reply(bytes) = script {
                // The client may stop reading early (an oversized reply).
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
            }
        }
        seen
    });
    (base_url, task)
}

async fn read_request(stream: &mut TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a full head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut seen = Seen {
        head,
        body: Vec::new(),
    };
    let length: usize = seen
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending the body");
        body.extend_from_slice(&chunk[..n]);
    }
    seen.body = body;
    seen
}

fn adapter(base_url: String) -> JsonRsaAdapter {
    JsonRsaAdapter::new(JsonRsaConfig {
        base_url,
        private_key_file: key("operator_private.pem"),
        provider_public_key_file: key("provider_public.pem"),
        ca_file: None,
    })
    .unwrap()
}

fn fixed(base_url: String) -> JsonRsaAdapter {
    adapter(base_url).with_request_uuids(|| RU.parse().unwrap())
}

fn debit() -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Money::new(Currency::from_code("EUR").unwrap(), 250),
        reference: Some("r-9".into()),
    }
}

fn settled_body(request_uuid: &str) -> Vec<u8> {
    format!(
        r#"{{"request_uuid":"{request_uuid}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}}"#
    )
    .into_bytes()
}

fn http_reply(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A 200 reply with `body`, its length and the provider's signature.
fn signed_reply(body: &[u8]) -> Vec<u8> {
    http_reply(
        "200 OK",
        &format!(
            "Content-Length: {}\r\nX-Signature: {}\r\n",
            body.len(),
            provider_signature(body)
        ),
        body,
    )
}

#[tokio::test]
async fn the_request_on_the_wire_is_signed_json() {
    let (base_url, server) = serve(vec![Script::Reply(signed_reply(&settled_body(RU)))]).await;
    let outcome = fixed(format!("{base_url}/prefix/"))
        .transfer(&debit())
        .await;
    assert!(matches!(outcome, Outcome::Settled(_)), "{outcome:?}");

    let seen = server.await.unwrap().pop().unwrap();
    let request_line = seen.head.lines().next().unwrap();
    assert_eq!(request_line, "POST /prefix/api/transaction/bet HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.body,
        format!(
            r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","user":"acc-1","currency":"EUR","amount":250000,"round":"r-9"}}"#
        )
        .into_bytes()
    );
    let operator = Verifier::from_pem_file(&key("operator_public.pem")).unwrap();
    let signature = seen.header("x-signature").unwrap();
    assert_eq!(
        operator.verify(&seen.body, Some(signature.as_bytes())),
        Ok(())
    );
    let private = std::fs::read_to_string(key("operator_private.pem")).unwrap();
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!seen.head.contains(line));
    }
}

#[tokio::test]
async fn every_call_gets_a_fresh_request_uuid() {
    let (base_url, server) = serve(vec![Script::Close, Script::Close]).await;
    let adapter = adapter(base_url);
    // Unknown either way (closed without a reply); what matters is the wire.
    adapter.transfer(&debit()).await;
    adapter.transfer(&debit()).await;
    let seen = server.await.unwrap();
    let uuids: Vec<RequestUuid> = seen
        .iter()
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            body["request_uuid"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(uuids.len(), 2);
    assert_ne!(uuids[0], uuids[1]);
    for uuid in &uuids {
        let parsed = uuid::Uuid::parse_str(uuid.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }
    // The same transaction both times.
    for s in &seen {
        let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(body["transaction_uuid"], "tx-1");
    }
}

#[tokio::test]
async fn a_reply_to_another_request_uuid_is_not_ours() {
    // Properly signed by the provider, but the answer to another call.
    let body = settled_body("00000000-0000-4000-8000-0000000000bb");
    let (base_url, server) = serve(vec![Script::Reply(signed_reply(&body))]).await;
    match fixed(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Malformed(source)) => assert!(matches!(
            source.downcast_ref::<MalformedReply>(),
            Some(MalformedReply::RequestUuidMismatch)
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_chunked_reply_is_read_whole_and_verified() {
    let body = settled_body(RU);
    let (first, second) = body.split_at(20);
    let mut chunked = format!("{:x}\r\n", first.len()).into_bytes();
    chunked.extend_from_slice(first);
    chunked.extend_from_slice(format!("\r\n{:x}\r\n", second.len()).as_bytes());
    chunked.extend_from_slice(second);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = http_reply(
        "200 OK",
        &format!(
            "Transfer-Encoding: chunked\r\nX-Signature: {}\r\n",
            provider_signature(&body)
        ),
        &chunked,
    );
    let (base_url, server) = serve(vec![Script::Reply(reply)]).await;
    match fixed(base_url).transfer(&debit()).await {
        Outcome::Settled(settlement) => assert_eq!(
            settlement.balance_after.map(|m| m.minor_units),
            Some(975_000)
        ),
        other => panic!("expected Settled, got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn two_signature_headers_are_no_signature() {
    let body = settled_body(RU);
    let signature = provider_signature(&body);
    let reply = http_reply(
        "200 OK",
        &format!(
            "Content-Length: {}\r\nX-Signature: {signature}\r\nX-Signature: {signature}\r\n",
            body.len()
        ),
        &body,
    );
    let (base_url, server) = serve(vec![Script::Reply(reply)]).await;
    assert!(matches!(
        fixed(base_url).transfer(&debit()).await,
        Outcome::Unknown(AdapterError::BadSignature)
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_without_a_reply_is_unknown() {
    let (base_url, server) = serve(vec![Script::Close]).await;
    match fixed(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    // The provider did read the whole request: it may have applied it.
    assert!(!server.await.unwrap()[0].body.is_empty());
}

#[tokio::test]
async fn a_reply_cut_short_is_unknown() {
    let reply = http_reply(
        "200 OK",
        "Content-Length: 300\r\n",
        br#"{"request_uuid":"x","status":"RS_OK""#,
    );
    let (base_url, server) = serve(vec![Script::Reply(reply)]).await;
    match fixed(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    server.await.unwrap();

    let (base_url, server) = serve(vec![Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
    )])
    .await;
    assert!(matches!(
        fixed(base_url).transfer(&debit()).await,
        Outcome::Unknown(AdapterError::Transport(_))
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn an_oversized_reply_is_unknown_malformed() {
    let body = vec![b' '; 100 * 1024];
    let reply = http_reply(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        &body,
    );
    let (base_url, server) = serve(vec![Script::Reply(reply)]).await;
    match fixed(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Malformed(source)) => assert!(matches!(
            source.downcast_ref::<MalformedReply>(),
            Some(MalformedReply::TooLarge { .. })
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    server.await.unwrap();
}
