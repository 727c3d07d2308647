use super::*;

use http::HeaderValue;
use http::header::{CONTENT_TYPE, HeaderName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{CaFileError, Trust};

#[path = "../../tests/support/tls.rs"]
mod tls_support;

use tls_support::TestCa;

/// What the server does with the one connection it accepts.
enum Script {
    /// Reads the request, then writes these bytes and closes.
    Reply(Vec<u8>),
    /// Reads the request, then closes without a byte of reply.
    Close,
}

/// Serves one connection on an ephemeral loopback port and hands back the
/// request it read (head and body).
async fn one_shot(script: Script) -> (String, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
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
    (base, task)
}

async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a full head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    buf
}

fn reply(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn uri(base: &str, path: &str) -> Uri {
    format!("{base}{path}").parse().unwrap()
}

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(
        HeaderName::from_static("x-test"),
        HeaderValue::from_static("one"),
    );
    headers
}

#[tokio::test]
async fn a_reply_is_read_whole_with_its_status_and_headers() {
    let (base, server) = one_shot(Script::Reply(reply(
        "202 Accepted",
        "X-Signature: abc\r\nX-Signature: def\r\n",
        b"hello",
    )))
    .await;
    let transport = Transport::new();
    let got = transport
        .post(
            &uri(&base, "/p/v1/debit"),
            headers(),
            Bytes::from_static(b"ping"),
        )
        .await
        .unwrap();
    assert_eq!(got.status, 202);
    assert_eq!(&got.body[..], b"hello");
    let signatures: Vec<_> = got.headers.get_all("x-signature").iter().collect();
    assert_eq!(signatures, ["abc", "def"]);

    let seen = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(seen.starts_with("POST /p/v1/debit HTTP/1.1\r\n"), "{seen}");
    assert!(seen.contains("content-type: text/plain\r\n"), "{seen}");
    assert!(seen.contains("x-test: one\r\n"), "{seen}");
    assert!(seen.contains("content-length: 4\r\n"), "{seen}");
    assert!(seen.ends_with("\r\n\r\nping"), "{seen}");
}

#[tokio::test]
async fn a_refused_connection_sent_nothing() {
    // A port that was just free: nothing listens on it any more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = Transport::new()
        .post(&uri(&base, "/"), headers(), Bytes::from_static(b"ping"))
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::Connect(_)), "{error:?}");
    assert!(error.nothing_sent());
}

#[tokio::test]
async fn a_close_before_the_reply_may_have_sent() {
    let (base, server) = one_shot(Script::Close).await;
    let error = Transport::new()
        .post(&uri(&base, "/"), headers(), Bytes::from_static(b"ping"))
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::AfterSend(_)), "{error:?}");
    assert!(!error.nothing_sent());
    // The server did read the whole request.
    assert!(server.await.unwrap().ends_with(b"ping"));
}

#[tokio::test]
async fn a_reply_cut_short_may_have_sent() {
    let mut cut = reply("200 OK", "", &[b'x'; 100]);
    cut.truncate(cut.len() - 50);
    let (base, server) = one_shot(Script::Reply(cut)).await;
    let error = Transport::new()
        .post(&uri(&base, "/"), headers(), Bytes::new())
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::AfterSend(_)), "{error:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn an_oversized_reply_is_too_large() {
    let transport = Transport::with_reply_limit(16);
    assert_eq!(transport.reply_limit(), 16);
    let (base, server) = one_shot(Script::Reply(reply("200 OK", "", &[b'x'; 17]))).await;
    let error = transport
        .post(&uri(&base, "/"), headers(), Bytes::new())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::TooLarge { limit: 16 }),
        "{error:?}"
    );
    assert!(!error.nothing_sent());
    server.await.unwrap();

    // Exactly at the limit is fine.
    let (base, server) = one_shot(Script::Reply(reply("200 OK", "", &[b'x'; 16]))).await;
    let got = transport
        .post(&uri(&base, "/"), headers(), Bytes::new())
        .await
        .unwrap();
    assert_eq!(got.body.len(), 16);
    server.await.unwrap();

    // The default limit.
    assert_eq!(Transport::new().reply_limit(), MAX_REPLY_BYTES);
    let body = vec![b' '; MAX_REPLY_BYTES + 1];
    let (base, server) = one_shot(Script::Reply(reply("200 OK", "", &body))).await;
    let error = Transport::default()
        .post(&uri(&base, "/"), headers(), Bytes::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::TooLarge {
                limit: MAX_REPLY_BYTES
            }
        ),
        "{error:?}"
    );
    server.await.unwrap();
}

#[test]
fn errors_map_to_outcomes_by_whether_anything_was_sent() {
    #[derive(Debug)]
    struct DialectTooLarge(usize);
    impl fmt::Display for DialectTooLarge {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "over {}", self.0)
        }
    }
    impl std::error::Error for DialectTooLarge {}

    fn boxed(message: &str) -> BoxError {
        message.into()
    }
    let too_large = |limit| -> BoxError { Box::new(DialectTooLarge(limit)) };
    let shape = |outcome: Outcome| match outcome {
        Outcome::NotProcessed(AdapterError::Unrepresentable(_)) => "NotProcessed(Unrepresentable)",
        Outcome::NotProcessed(AdapterError::Connect(_)) => "NotProcessed(Connect)",
        Outcome::Unknown(AdapterError::Transport(_)) => "Unknown(Transport)",
        Outcome::Unknown(AdapterError::Malformed(e)) => {
            assert!(matches!(
                e.downcast_ref::<DialectTooLarge>(),
                Some(DialectTooLarge(7))
            ));
            "Unknown(Malformed)"
        }
        other => panic!("unexpected {other:?}"),
    };
    let cases = [
        (
            TransportError::Build(boxed("b")),
            "NotProcessed(Unrepresentable)",
        ),
        (TransportError::Connect(boxed("c")), "NotProcessed(Connect)"),
        (TransportError::AfterSend(boxed("a")), "Unknown(Transport)"),
        (TransportError::TooLarge { limit: 7 }, "Unknown(Malformed)"),
    ];
    for (error, expected) in cases {
        assert!(!error.to_string().is_empty());
        assert_eq!(shape(error.into_outcome(too_large)), expected);
    }

    let error = |e: TransportError| e.into_adapter_error(too_large);
    assert!(matches!(
        error(TransportError::Build(boxed("b"))),
        AdapterError::Unrepresentable(_)
    ));
    assert!(matches!(
        error(TransportError::Connect(boxed("c"))),
        AdapterError::Connect(_)
    ));
    assert!(matches!(
        error(TransportError::AfterSend(boxed("a"))),
        AdapterError::Transport(_)
    ));
    assert!(matches!(
        error(TransportError::TooLarge { limit: 7 }),
        AdapterError::Malformed(_)
    ));
}

fn addr_of(base: &str) -> std::net::SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn https_with_the_configured_ca_posts_and_reads_the_reply() {
    let (plain, server) = one_shot(Script::Reply(reply("200 OK", "", b"secure"))).await;
    let ca = TestCa::new();
    let (base, proxy) = ca.proxy_to(addr_of(&plain)).await;
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let transport = Transport::with_trust(Trust::CaFile(ca.ca_file())).unwrap();
    let got = transport
        .post(
            &uri(&base, "/v1/debit"),
            headers(),
            Bytes::from_static(b"ping"),
        )
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(&got.body[..], b"secure");
    let seen = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(seen.starts_with("POST /v1/debit HTTP/1.1\r\n"), "{seen}");
    assert!(seen.ends_with("\r\n\r\nping"), "{seen}");
    proxy.abort();
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_sent_nothing() {
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let untrusting = [
        ("webpki roots", Transport::new()),
        (
            "another CA",
            Transport::with_trust(Trust::from_ca_file(Some(other_ca.ca_file()))).unwrap(),
        ),
    ];
    for (name, transport) in untrusting {
        let (plain, server) = one_shot(Script::Reply(reply("200 OK", "", b"x"))).await;
        let (base, proxy) = ca.proxy_to(addr_of(&plain)).await;
        let error = transport
            .post(
                &uri(&base, "/v1/debit"),
                headers(),
                Bytes::from_static(b"ping"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, TransportError::Connect(_)),
            "{name}: {error:?}"
        );
        assert!(error.nothing_sent(), "{name}");
        assert!(
            matches!(
                error.into_outcome(|_| "too large".into()),
                Outcome::NotProcessed(_)
            ),
            "{name}"
        );
        // The handshake failed, so the provider behind never saw a byte.
        assert!(!server.is_finished(), "{name}");
        server.abort();
        proxy.abort();
    }
}

#[tokio::test]
async fn plain_http_still_works_with_a_ca_file() {
    let (base, server) = one_shot(Script::Reply(reply("200 OK", "", b"plain"))).await;
    let ca = TestCa::new();
    let transport = Transport::with_trust(Trust::CaFile(ca.ca_file())).unwrap();
    let got = transport
        .post(&uri(&base, "/"), headers(), Bytes::from_static(b"ping"))
        .await
        .unwrap();
    assert_eq!(&got.body[..], b"plain");
    server.await.unwrap();
}

#[test]
fn bad_ca_files_are_refused_naming_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage_der = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage_der,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    let cases = [
        (&missing, CaFileError::READ),
        (&not_pem, CaFileError::EMPTY),
        (&broken, CaFileError::PEM),
        (&garbage_der, CaFileError::CERTIFICATE),
    ];
    for (path, reason) in cases {
        let error = Transport::with_trust(Trust::CaFile(path)).unwrap_err();
        assert_eq!(error.reason(), reason, "{path:?}");
        assert_eq!(error.to_string(), format!("ca_file: {reason}"));
    }
}

/// Keeps what the transport records.
#[derive(Default)]
struct Keep(std::sync::Mutex<Vec<Exchange>>);

impl exchange::Recorder for Keep {
    fn record(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }
}

impl Keep {
    fn taken(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn signing_redaction() -> Redaction {
    Redaction::new()
        .header(HeaderName::from_static("x-signature"))
        .field("sign")
}

#[tokio::test]
async fn a_recorded_exchange_is_redacted_both_ways() {
    let (base, server) = one_shot(Script::Reply(reply(
        "402 Payment Required",
        "X-Signature: reply-sig\r\nContent-Type: application/json\r\n",
        br#"{"code":"INSUFFICIENT_FUNDS","sign":"reply-sign"}"#,
    )))
    .await;
    let transport = Transport::new().with_redaction(signing_redaction());
    let mut request_headers = HeaderMap::new();
    request_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request_headers.insert(
        HeaderName::from_static("x-signature"),
        HeaderValue::from_static("request-sig"),
    );
    let keep = Arc::new(Keep::default());
    let got = exchange::scope(
        keep.clone(),
        transport.post(
            &uri(&base, "/v1/debit?token=t0k3n"),
            request_headers,
            Bytes::from_static(br#"{"amount":250,"sign":"request-sign"}"#),
        ),
    )
    .await
    .unwrap();
    // What the caller gets is untouched.
    assert_eq!(got.headers["x-signature"], "reply-sig");
    server.await.unwrap();

    let [logged] = &keep.taken()[..] else {
        panic!("one exchange expected");
    };
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.url, format!("{base}/v1/debit"), "no query");
    assert_eq!(
        logged.request.body.text,
        r#"{"amount":250,"sign":"[redacted]"}"#
    );
    assert!(
        logged
            .request
            .headers
            .contains(&("x-signature".into(), "[redacted]".into()))
    );
    let ExchangeReply::Received { status, message } = &logged.reply else {
        panic!("{:?}", logged.reply);
    };
    assert_eq!(*status, 402);
    assert_eq!(
        message.body.text,
        r#"{"code":"INSUFFICIENT_FUNDS","sign":"[redacted]"}"#
    );
    let shown = format!("{logged:?}");
    for secret in [
        "reply-sig",
        "request-sig",
        "reply-sign",
        "request-sign",
        "t0k3n",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[tokio::test]
async fn failures_and_abandoned_exchanges_are_recorded_too() {
    let keep = Arc::new(Keep::default());
    let transport = Transport::new().with_redaction(signing_redaction());

    // Refused: nothing sent.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let target = uri(&refused, "/");
    let post = transport.post(&target, headers(), Bytes::from_static(b"a"));
    assert!(exchange::scope(keep.clone(), post).await.is_err());

    // Closed after the request: maybe sent.
    let (base, server) = one_shot(Script::Close).await;
    let target = uri(&base, "/");
    let post = transport.post(&target, headers(), Bytes::from_static(b"b"));
    assert!(exchange::scope(keep.clone(), post).await.is_err());
    server.await.unwrap();

    // Never answered: the caller gives up and drops the exchange.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let target = uri(&base, "/");
    let post = transport.post(&target, headers(), Bytes::from_static(b"c"));
    let wait = Duration::from_millis(100);
    let cut = tokio::time::timeout(wait, exchange::scope(keep.clone(), post)).await;
    assert!(cut.is_err());

    let logged = keep.taken();
    let replies: Vec<_> = logged.iter().map(|e| &e.reply).collect();
    assert!(
        matches!(replies[0], ExchangeReply::Failed { maybe_sent: false, error } if error.starts_with("could not connect")),
        "{replies:?}"
    );
    assert!(
        matches!(
            replies[1],
            ExchangeReply::Failed {
                maybe_sent: true,
                ..
            }
        ),
        "{replies:?}"
    );
    assert_eq!(replies[2], &ExchangeReply::Abandoned);
    assert!(logged[2].latency >= wait, "{:?}", logged[2].latency);
    let bodies: Vec<_> = logged
        .iter()
        .map(|e| e.request.body.text.as_str())
        .collect();
    assert_eq!(bodies, ["a", "b", "c"]);
    drop(silent);
}
