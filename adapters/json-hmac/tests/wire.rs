//! The adapter against a hand-written one-shot HTTP server on a loopback
//! port: what goes on the wire (checked from the server's side), and the
//! transport failures the sandbox cannot produce (a reply cut short, a
//! connection closed without a reply, an oversized reply).

use adapter_api::{
    AccountId, Adapter, AdapterError, Currency, Direction, Money, MoneyRequest, Outcome,
    ProviderTxId, StatusRequest, TxKind, TxStatus,
};
use adapter_json_hmac::transformer::MalformedReply;
use adapter_json_hmac::{JsonHmacAdapter, JsonHmacConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SECRET: &str = "wire-secret";

/// What the server does with the one connection it accepts.
enum Script {
    /// Reads the request, then writes these bytes and closes.
    Reply(Vec<u8>),
    /// Reads the request, then closes without a byte of reply.
    Close,
}

/// The request as the server read it: head (request line and headers) and
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

/// Serves one connection on an ephemeral port and hands back what it read.
async fn one_shot(script: Script) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let seen = read_request(&mut stream).await;
        if let Script::Reply(bytes) = script {
            // The client may stop reading early (an oversized reply).
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
        }
        drop(stream);
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

fn adapter(base_url: String) -> JsonHmacAdapter {
    JsonHmacAdapter::new(JsonHmacConfig {
        base_url,
        secret: SECRET.into(),
        operator: "hub-7".into(),
        ca_file: None,
    })
    .unwrap()
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

fn http_reply(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn the_request_on_the_wire_is_signed_json_from_the_operator() {
    let body = br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1"}"#;
    let reply = http_reply(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    let outcome = adapter(format!("{base_url}/prefix/"))
        .transfer(&debit())
        .await;
    assert!(matches!(outcome, Outcome::Settled(_)), "{outcome:?}");

    let seen = server.await.unwrap();
    let request_line = seen.head.lines().next().unwrap();
    assert_eq!(request_line, "POST /prefix/v1/debit HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-operator"), Some("hub-7"));
    assert_eq!(
        seen.body,
        br#"{"tx_id":"tx-1","account":"acc-1","currency":"EUR","amount":250,"round":"r-9"}"#
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&seen.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(seen.header("x-signature"), Some(expected.as_str()));
    assert!(!seen.head.contains(SECRET));
}

#[tokio::test]
async fn a_chunked_reply_is_read_whole() {
    let reply = http_reply(
        "200 OK",
        "Transfer-Encoding: chunked\r\n",
        b"10\r\n{\"tx_id\":\"tx-1\",\r\n33\r\n\"status\":\"OK\",\"balance\":9750,\"provider_ref\":\"hm-1\"}\r\n0\r\n\r\n",
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    match adapter(base_url).transfer(&debit()).await {
        Outcome::Settled(settlement) => {
            assert_eq!(settlement.provider_ref.as_deref(), Some("hm-1"));
        }
        other => panic!("expected Settled, got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_without_a_reply_is_unknown() {
    let (base_url, server) = one_shot(Script::Close).await;
    match adapter(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    // The provider did read the whole request: it may have applied it.
    assert!(!server.await.unwrap().body.is_empty());
}

#[tokio::test]
async fn a_reply_cut_short_is_unknown() {
    let reply = http_reply(
        "200 OK",
        "Content-Length: 200\r\n",
        br#"{"tx_id":"tx-1","status":"OK""#,
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    match adapter(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_head_cut_short_is_unknown() {
    let (base_url, server) =
        one_shot(Script::Reply(b"HTTP/1.1 200 OK\r\nContent-Le".to_vec())).await;
    assert!(matches!(
        adapter(base_url).transfer(&debit()).await,
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
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    match adapter(base_url).transfer(&debit()).await {
        Outcome::Unknown(AdapterError::Malformed(source)) => assert!(matches!(
            source.downcast_ref::<MalformedReply>(),
            Some(MalformedReply::TooLarge { .. })
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_decline_over_the_wire_is_declined() {
    let body = br#"{"code":"INSUFFICIENT_FUNDS"}"#;
    let reply = http_reply(
        "402 Payment Required",
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    assert!(matches!(
        adapter(base_url).transfer(&debit()).await,
        Outcome::Declined(adapter_api::DeclineReason::InsufficientFunds)
    ));
    server.await.unwrap();
}

fn status_of_debit() -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new("tx-1"),
        kind: TxKind::Debit,
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(Currency::from_code("EUR").unwrap(), 250)),
    }
}

#[tokio::test]
async fn a_status_query_on_the_wire_is_signed_json_from_the_operator() {
    let body = br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#;
    let reply = http_reply(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    let status = adapter(format!("{base_url}/prefix"))
        .status(&status_of_debit())
        .await;
    assert!(matches!(status, TxStatus::Applied(_)), "{status:?}");

    let seen = server.await.unwrap();
    let request_line = seen.head.lines().next().unwrap();
    assert_eq!(request_line, "POST /prefix/v1/status HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-operator"), Some("hub-7"));
    assert_eq!(seen.body, br#"{"tx_id":"tx-1"}"#);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&seen.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(seen.header("x-signature"), Some(expected.as_str()));
}

#[tokio::test]
async fn a_status_query_without_a_full_reply_is_unknown() {
    let (base_url, server) = one_shot(Script::Close).await;
    match adapter(base_url).status(&status_of_debit()).await {
        TxStatus::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    server.await.unwrap();

    let body = vec![b' '; 100 * 1024];
    let reply = http_reply(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        &body,
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    match adapter(base_url).status(&status_of_debit()).await {
        TxStatus::Unknown(AdapterError::Malformed(source)) => assert!(matches!(
            source.downcast_ref::<MalformedReply>(),
            Some(MalformedReply::TooLarge { .. })
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    server.await.unwrap();
}
