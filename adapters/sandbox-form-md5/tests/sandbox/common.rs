//! A minimal HTTP/1.1 client and form-md5 signer for the tests: one
//! connection per request (`Connection: close`), raw bytes in and out, so
//! what the server really sent (or did not send) is what the test sees. The
//! signer is written here from the spec, not taken from the crate.

use std::io;
use std::net::SocketAddr;

use md5::{Digest, Md5};
use sandbox_form_md5::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SECRET: &str = "test-secret-9c2e";
pub const PROVIDER: &str = "op1";
pub const FORM: &str = "application/x-www-form-urlencoded";

pub async fn start() -> Sandbox {
    start_with(false).await
}

pub async fn start_with_control() -> Sandbox {
    start_with(true).await
}

async fn start_with(control: bool) -> Sandbox {
    Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        provider_id: PROVIDER.into(),
        control,
    })
    .await
    .expect("sandbox starts")
}

/// `md5(sorted k=v&... + secret)` over decoded values.
pub fn hash_with(secret: &str, pairs: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = format!("{}{secret}", joined.join("&"));
    hex::encode(Md5::digest(text.as_bytes()))
}

/// URL-encodes the pairs in the given order, then `&hash=...` signed with
/// `secret`.
pub fn body_with(secret: &str, pairs: &[(&str, &str)]) -> String {
    let hash = hash_with(secret, pairs);
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .append_pair("hash", &hash)
        .finish()
}

/// A body signed with [`SECRET`].
pub fn body(pairs: &[(&str, &str)]) -> String {
    body_with(SECRET, pairs)
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

    /// The numeric `error` of a 200 reply.
    pub fn error(&self) -> u64 {
        assert_eq!(self.status, 200, "{}", self.text());
        self.json()["error"]
            .as_u64()
            .unwrap_or_else(|| panic!("no numeric error in {}", self.text()))
    }

    /// The `cash` of a reply, as the exact JSON text.
    pub fn cash(&self) -> String {
        let text = self.text();
        let start = text.find("\"cash\":").expect("cash") + "\"cash\":".len();
        text[start..].trim_end_matches('}').to_owned()
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
pub fn raw_request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
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

/// A form POST as the dialect expects it.
pub fn form_request(path: &str, body: &str) -> Vec<u8> {
    raw_request("POST", path, &[("Content-Type", FORM)], body)
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

pub async fn send_raw(sandbox: &Sandbox, request: &[u8]) -> HttpReply {
    parse_reply(&exchange(sandbox.addr(), request).await.expect("exchange"))
}

/// A form POST of this exact body.
pub async fn post(sandbox: &Sandbox, path: &str, body: &str) -> HttpReply {
    send_raw(sandbox, &form_request(path, body)).await
}

pub fn money_body(user: &str, reference: &str, amount: &str, currency: &str) -> String {
    body(&[
        ("providerId", PROVIDER),
        ("userId", user),
        ("reference", reference),
        ("amount", amount),
        ("currency", currency),
        ("roundId", "r-9"),
        ("timestamp", "1732540000000"),
    ])
}

pub async fn bet(sandbox: &Sandbox, user: &str, reference: &str, amount: &str) -> HttpReply {
    post(
        sandbox,
        "/bet.html",
        &money_body(user, reference, amount, "EUR"),
    )
    .await
}

pub async fn result(sandbox: &Sandbox, user: &str, reference: &str, amount: &str) -> HttpReply {
    post(
        sandbox,
        "/result.html",
        &money_body(user, reference, amount, "EUR"),
    )
    .await
}

pub fn refund_body(user: &str, reference: &str) -> String {
    body(&[
        ("providerId", PROVIDER),
        ("userId", user),
        ("reference", reference),
    ])
}

pub async fn refund(sandbox: &Sandbox, user: &str, reference: &str) -> HttpReply {
    post(sandbox, "/refund.html", &refund_body(user, reference)).await
}

pub async fn balance(sandbox: &Sandbox, user: &str, currency: &str) -> HttpReply {
    let body = body(&[
        ("providerId", PROVIDER),
        ("userId", user),
        ("currency", currency),
    ]);
    post(sandbox, "/balance.html", &body).await
}

/// A control-surface request (JSON body, no signature).
pub async fn control(sandbox: &Sandbox, method: &str, path: &str, body: &str) -> HttpReply {
    let request = raw_request(method, path, &[("Content-Type", "application/json")], body);
    send_raw(sandbox, &request).await
}

/// `{"error":N,"description":"..."}` as this provider writes it.
pub fn error_text(error: u16, description: &str) -> String {
    format!(r#"{{"error":{error},"description":"{description}"}}"#)
}
