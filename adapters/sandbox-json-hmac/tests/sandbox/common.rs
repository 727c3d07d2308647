//! A minimal HTTP/1.1 + HMAC client for the tests: one connection per
//! request (`Connection: close`), raw bytes in and out, so that what the
//! server really sent (or did not send) is what the test sees.

use std::io;
use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sandbox_json_hmac::{Sandbox, SandboxConfig};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SECRET: &str = "test-secret-7f3a";
pub const OPERATOR: &str = "hub";

pub async fn start() -> Sandbox {
    start_with(false).await
}

pub async fn start_with_control() -> Sandbox {
    start_with(true).await
}

async fn start_with(control: bool) -> Sandbox {
    Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        operator: OPERATOR.into(),
        control,
    })
    .await
    .expect("sandbox starts")
}

pub fn sign_with(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn sign(body: &str) -> String {
    sign_with(SECRET, body)
}

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `code` of an error reply.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Builds a raw HTTP/1.1 request.
pub fn raw_request(method: &str, path: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// Headers of a correctly signed dialect request.
pub fn signed_headers(body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/json".into()),
        ("X-Operator", OPERATOR.into()),
        ("X-Signature", sign(body)),
    ]
}

/// Sends raw bytes on a new connection and reads until the server closes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(reply)
}

/// Parses a complete reply; panics on anything but a well-framed one.
pub fn parse_reply(raw: &[u8]) -> HttpReply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8(raw[..split].to_vec()).expect("ascii head");
    let body = raw[split + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let reply = HttpReply { status, head, body };
    let length: usize = reply
        .header("content-length")
        .expect("content-length")
        .parse()
        .expect("numeric content-length");
    assert_eq!(length, reply.body.len(), "framing of {:?}", reply.head);
    reply
}

pub async fn send(
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> HttpReply {
    let raw = exchange(sandbox.addr(), &raw_request(method, path, headers, body))
        .await
        .expect("exchange");
    parse_reply(&raw)
}

/// A correctly signed dialect POST.
pub async fn post(sandbox: &Sandbox, path: &str, body: &str) -> HttpReply {
    send(sandbox, "POST", path, &signed_headers(body), body).await
}

pub fn debit_body(tx_id: &str, account: &str, amount: i64) -> String {
    serde_json::json!({
        "tx_id": tx_id, "account": account, "currency": "EUR", "amount": amount, "round": "r-9"
    })
    .to_string()
}

pub async fn debit(sandbox: &Sandbox, tx_id: &str, account: &str, amount: i64) -> HttpReply {
    post(sandbox, "/v1/debit", &debit_body(tx_id, account, amount)).await
}

pub async fn credit(sandbox: &Sandbox, tx_id: &str, account: &str, amount: i64) -> HttpReply {
    post(sandbox, "/v1/credit", &debit_body(tx_id, account, amount)).await
}

pub async fn rollback(sandbox: &Sandbox, tx_id: &str, ref_tx_id: &str) -> HttpReply {
    let body = serde_json::json!({ "tx_id": tx_id, "ref_tx_id": ref_tx_id }).to_string();
    post(sandbox, "/v1/rollback", &body).await
}

pub async fn status(sandbox: &Sandbox, tx_id: &str) -> HttpReply {
    let body = serde_json::json!({ "tx_id": tx_id }).to_string();
    post(sandbox, "/v1/status", &body).await
}

pub async fn balance(sandbox: &Sandbox, account: &str, currency: &str) -> HttpReply {
    let body = serde_json::json!({ "account": account, "currency": currency }).to_string();
    post(sandbox, "/v1/balance", &body).await
}

/// A control-surface request (JSON body, no signature).
pub async fn control(sandbox: &Sandbox, method: &str, path: &str, body: &str) -> HttpReply {
    let headers = [("Content-Type", "application/json".to_owned())];
    send(sandbox, method, path, &headers, body).await
}
