//! The adapter against a hand-written one-shot HTTP server on a loopback
//! port: what goes on the wire (checked from the server's side, with the
//! hash recomputed here), the injected clock, and the transport failures a
//! sandbox cannot produce (a reply cut short, a connection closed without a
//! reply, an oversized reply).

use std::sync::Arc;

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest, Settlement,
};
use adapter_form_md5::transformer::MalformedReply;
use adapter_form_md5::{Clock, FormMd5Adapter, FormMd5Config, Timestamp};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SECRET: &str = "wire-secret";

/// A clock stopped at one instant.
#[derive(Debug)]
struct FixedClock(u64);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0)
    }
}

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

    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap()
    }

    fn params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
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

fn adapter(base_url: String) -> FormMd5Adapter {
    FormMd5Adapter::with_clock(
        FormMd5Config {
            base_url,
            secret: SECRET.into(),
            provider_id: "op-7".into(),
            ca_file: None,
        },
        Arc::new(FixedClock(1_732_540_000_000)),
    )
    .unwrap()
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn debit() -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), 250),
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

fn ok_reply(body: &[u8]) -> Vec<u8> {
    http_reply(
        "200 OK",
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    )
}

/// The provider's check, written here: decode, drop `hash`, sort by name,
/// join raw, append the secret, MD5.
fn provider_hash(params: &[(String, String)]) -> String {
    let mut others: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "hash").collect();
    others.sort();
    let joined: Vec<String> = others.iter().map(|(k, v)| format!("{k}={v}")).collect();
    hex::encode(Md5::digest(format!("{}{SECRET}", joined.join("&"))))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_bet_on_the_wire_is_a_hashed_form_stamped_by_the_clock() {
    let (base_url, server) = one_shot(Script::Reply(ok_reply(
        br#"{"error":0,"transactionId":"fm-5521","currency":"EUR","cash":97.50}"#,
    )))
    .await;
    let outcome = adapter(format!("{base_url}/prefix/"))
        .transfer(&debit())
        .await;
    match outcome {
        Outcome::Settled(settlement) => assert_eq!(
            settlement,
            Settlement {
                balance_after: Some(Money::new(eur(), 9_750)),
                provider_ref: Some("fm-5521".into()),
            }
        ),
        other => panic!("expected Settled, got {other:?}"),
    }

    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /prefix/bet.html HTTP/1.1");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let params = seen.params();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "providerId",
            "userId",
            "reference",
            "amount",
            "currency",
            "roundId",
            "timestamp",
            "hash"
        ]
    );
    assert_eq!(param(&params, "providerId"), Some("op-7"));
    assert_eq!(param(&params, "userId"), Some("acc-1"));
    assert_eq!(param(&params, "reference"), Some("tx-1"));
    assert_eq!(param(&params, "amount"), Some("2.50"));
    assert_eq!(param(&params, "currency"), Some("EUR"));
    assert_eq!(param(&params, "roundId"), Some("r-9"));
    assert_eq!(param(&params, "timestamp"), Some("1732540000000"));
    assert_eq!(
        param(&params, "hash"),
        Some(provider_hash(&params).as_str())
    );
    assert!(!String::from_utf8_lossy(&seen.body).contains(SECRET));
    assert!(!seen.head.contains(SECRET));
}

#[tokio::test]
async fn a_refund_on_the_wire_names_the_bet() {
    let (base_url, server) = one_shot(Script::Reply(ok_reply(
        br#"{"error":0,"transactionId":"fm-5522"}"#,
    )))
    .await;
    let req = RollbackRequest {
        tx_id: ProviderTxId::new("rb-1"),
        original_tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 250)),
    };
    match adapter(base_url).rollback(&req).await {
        Outcome::Settled(settlement) => {
            assert_eq!(settlement.provider_ref.as_deref(), Some("fm-5522"));
            assert_eq!(settlement.balance_after, None);
        }
        other => panic!("expected Settled, got {other:?}"),
    }
    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /refund.html HTTP/1.1");
    let params = seen.params();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["providerId", "userId", "reference", "hash"]);
    assert_eq!(param(&params, "reference"), Some("tx-1"));
    assert_eq!(
        param(&params, "hash"),
        Some(provider_hash(&params).as_str())
    );
}

#[tokio::test]
async fn a_balance_on_the_wire() {
    let (base_url, server) = one_shot(Script::Reply(ok_reply(
        br#"{"error":0,"currency":"EUR","cash":100.00}"#,
    )))
    .await;
    let req = BalanceRequest {
        account: AccountId::new("acc 1&x"),
        currency: eur(),
    };
    assert_eq!(
        adapter(base_url).balance(&req).await.unwrap(),
        Money::new(eur(), 10_000)
    );
    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /balance.html HTTP/1.1");
    assert_eq!(
        String::from_utf8(seen.body.clone()).unwrap(),
        format!(
            "providerId=op-7&userId=acc+1%26x&currency=EUR&hash={}",
            provider_hash(&seen.params())
        )
    );
    assert_eq!(param(&seen.params(), "userId"), Some("acc 1&x"));
}

#[tokio::test]
async fn a_chunked_reply_is_read_whole() {
    let reply = http_reply(
        "200 OK",
        "Transfer-Encoding: chunked\r\n",
        b"10\r\n{\"error\":0,\"tran\r\n34\r\nsactionId\":\"fm-1\",\"currency\":\"EUR\",\"cash\":97.50}    \r\n0\r\n\r\n",
    );
    let (base_url, server) = one_shot(Script::Reply(reply)).await;
    match adapter(base_url).transfer(&debit()).await {
        Outcome::Settled(settlement) => {
            assert_eq!(settlement.provider_ref.as_deref(), Some("fm-1"));
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
        br#"{"error":0,"transactionId":"fm-1""#,
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
    let (base_url, server) = one_shot(Script::Reply(ok_reply(&body))).await;
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
    let (base_url, server) = one_shot(Script::Reply(ok_reply(
        br#"{"error":1,"description":"insufficient balance"}"#,
    )))
    .await;
    assert!(matches!(
        adapter(base_url).transfer(&debit()).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
    server.await.unwrap();
}
