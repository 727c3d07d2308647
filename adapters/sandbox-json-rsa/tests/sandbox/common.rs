//! A minimal HTTP/1.1 client for the tests: one connection per request
//! (`Connection: close`), raw bytes in and out, so that what the server
//! really sent (or did not send) is what the test sees. It signs requests
//! as the operator and checks reply signatures as the hub would, with its
//! own RSA code (the rsa crate's primitives, not the sandbox's modules).

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sandbox_json_rsa::{Sandbox, SandboxConfig};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/json-rsa/keys");

pub fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).expect("key file")
}

pub async fn start() -> Sandbox {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with_control() -> Sandbox {
    start_with(SandboxConfig {
        control: true,
        ..SandboxConfig::default()
    })
    .await
}

pub async fn start_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start_local(config.setup().expect("keys load"))
        .await
        .expect("sandbox starts")
}

/// Base64 RSA-SHA256 PKCS#1 v1.5 signature of `body` with the PEM key in
/// `KEYS/<key>`.
pub fn sign_with(key: &str, body: &[u8]) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(&pem(key)).expect("private key");
    STANDARD.encode(SigningKey::<Sha256>::new(key).sign(body).to_bytes())
}

/// The operator's signature of `body`.
pub fn sign(body: &str) -> String {
    sign_with("operator_private.pem", body.as_bytes())
}

/// True when `signature` is `KEYS/<public key>`'s signature of `body`.
pub fn verifies_with(public_key: &str, body: &[u8], signature: &str) -> bool {
    let key = RsaPublicKey::from_public_key_pem(&pem(public_key)).expect("public key");
    let Ok(raw) = STANDARD.decode(signature) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key)
        .verify(body, &signature)
        .is_ok()
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

    /// The `status` string of the body.
    pub fn rs(&self) -> String {
        self.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// Whether `X-Signature` is the provider's signature of the body.
    pub fn signed_by_provider(&self) -> bool {
        self.header("x-signature")
            .is_some_and(|s| verifies_with("provider_public.pem", &self.body, &s))
    }

    /// Panics unless the reply is a 200 signed by the provider.
    pub fn trusted(self) -> Self {
        assert_eq!(self.status, 200, "{}", self.text());
        assert!(
            self.signed_by_provider(),
            "bad signature on {}",
            self.text()
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/json")
        );
        self
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
        ("X-Signature", sign(body)),
    ]
}

/// Longest any one exchange may take before the test fails (`TimedOut`).
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends raw bytes on a new connection and reads until the server closes,
/// within [`EXCHANGE_TIMEOUT`].
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let run = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok(reply)
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no reply in time")))
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

pub const BET: &str = "/api/transaction/bet";
pub const WIN: &str = "/api/transaction/win";
pub const ROLLBACK: &str = "/api/transaction/rollback";
pub const LOOKUP: &str = "/api/transaction/lookup";
pub const BALANCE: &str = "/api/user/balance";

/// A bet or win body in the spec's field order, round `r-9`.
pub fn transfer_body(request_uuid: &str, uuid: &str, user: &str, amount: i64) -> String {
    format!(
        r#"{{"request_uuid":"{request_uuid}","transaction_uuid":"{uuid}","user":"{user}","currency":"EUR","amount":{amount},"round":"r-9"}}"#
    )
}

pub async fn bet(
    sandbox: &Sandbox,
    request_uuid: &str,
    uuid: &str,
    user: &str,
    amount: i64,
) -> HttpReply {
    post(
        sandbox,
        BET,
        &transfer_body(request_uuid, uuid, user, amount),
    )
    .await
}

pub async fn win(
    sandbox: &Sandbox,
    request_uuid: &str,
    uuid: &str,
    user: &str,
    amount: i64,
) -> HttpReply {
    post(
        sandbox,
        WIN,
        &transfer_body(request_uuid, uuid, user, amount),
    )
    .await
}

pub async fn rollback(
    sandbox: &Sandbox,
    request_uuid: &str,
    uuid: &str,
    reference: &str,
) -> HttpReply {
    let body = format!(
        r#"{{"request_uuid":"{request_uuid}","transaction_uuid":"{uuid}","reference_transaction_uuid":"{reference}"}}"#
    );
    post(sandbox, ROLLBACK, &body).await
}

pub async fn lookup(sandbox: &Sandbox, request_uuid: &str, uuid: &str) -> HttpReply {
    let body = format!(r#"{{"request_uuid":"{request_uuid}","transaction_uuid":"{uuid}"}}"#);
    post(sandbox, LOOKUP, &body).await
}

pub async fn balance(
    sandbox: &Sandbox,
    request_uuid: &str,
    user: &str,
    currency: &str,
) -> HttpReply {
    let body =
        format!(r#"{{"request_uuid":"{request_uuid}","user":"{user}","currency":"{currency}"}}"#);
    post(sandbox, BALANCE, &body).await
}

/// A control-surface request (JSON body, no signature).
pub async fn control(sandbox: &Sandbox, method: &str, path: &str, body: &str) -> HttpReply {
    let headers = [("Content-Type", "application/json".to_owned())];
    send(sandbox, method, path, &headers, body).await
}
