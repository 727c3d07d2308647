//! A minimal HTTP/1.1 client for the tests: one connection per request
//! (`Connection: close`), raw bytes in and out, so that what the server
//! really sent (or did not send) is what the test sees.

use std::io;
use std::net::SocketAddr;

use sandbox_kit::{Dialect, Sandbox, Setup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::toy::{KEY, Toy};

pub type ToySandbox = Sandbox<Toy>;

pub async fn start() -> ToySandbox {
    Sandbox::start_local(Toy::default())
        .await
        .expect("sandbox starts")
}

pub async fn start_with_control() -> ToySandbox {
    Sandbox::start_local(Setup::new(Toy::default()).with_control(true))
        .await
        .expect("sandbox starts")
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

/// Headers of an authenticated toy request.
pub fn keyed() -> Vec<(&'static str, String)> {
    vec![("X-Key", KEY.to_owned())]
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

pub async fn send<D: Dialect>(
    sandbox: &Sandbox<D>,
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

/// An authenticated dialect POST.
pub async fn post<D: Dialect>(sandbox: &Sandbox<D>, path: &str, body: &str) -> HttpReply {
    send(sandbox, "POST", path, &keyed(), body).await
}

pub async fn debit<D: Dialect>(
    sandbox: &Sandbox<D>,
    tx_id: &str,
    account: &str,
    amount: i64,
) -> HttpReply {
    post(sandbox, "/debit", &format!("{tx_id}:{account}:{amount}")).await
}

pub async fn credit<D: Dialect>(
    sandbox: &Sandbox<D>,
    tx_id: &str,
    account: &str,
    amount: i64,
) -> HttpReply {
    post(sandbox, "/credit", &format!("{tx_id}:{account}:{amount}")).await
}

pub async fn balance<D: Dialect>(sandbox: &Sandbox<D>, account: &str) -> HttpReply {
    post(sandbox, "/balance", account).await
}

/// A control-surface request (JSON body, no key).
pub async fn control<D: Dialect>(
    sandbox: &Sandbox<D>,
    method: &str,
    path: &str,
    body: &str,
) -> HttpReply {
    let headers = [("Content-Type", "application/json".to_owned())];
    send(sandbox, method, path, &headers, body).await
}
