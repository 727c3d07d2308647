//! The json-rsa endpoints (`POST /api/...`) as a [`sandbox_kit::Dialect`]:
//! verify the operator's signature, parse, hand the request to the ledger,
//! sign the answer; plus how this provider misbehaves under the kit's
//! faults.
//!
//! [`JsonRsa::respond`] is the whole dialect as one synchronous function
//! from request bytes to reply bytes, usable without a server.

use sandbox_kit::http::HeaderName;
use sandbox_kit::{Dialect, Handled, HeaderValue, Request, RequestClass, StatusCode};

use crate::ledger::Ledger;
use crate::signature::{KeyConfig, KeyError, Keys, SIGNATURE_HEADER};
use crate::wire::{self, Endpoint, Malformed, Status};

/// Every path, in [`Endpoint::ALL`] order.
const PATHS: &[&str] = &[
    "/api/user/balance",
    "/api/transaction/bet",
    "/api/transaction/win",
    "/api/transaction/rollback",
    "/api/transaction/lookup",
];

/// The json-rsa dialect: the operator's public key (requests must verify
/// with it), this provider's private key (every reply is signed with it)
/// and an impostor's key (for the `Tampered` fault). `Debug` shows no key.
///
/// HTTP statuses:
///
/// | request | reply |
/// |---|---|
/// | signed, readable | 200, the business answer (`RS_OK` or an `RS_ERROR_...`) |
/// | `X-Signature` missing or not the operator's signature of the body | 200 `{"status":"RS_ERROR_INVALID_SIGNATURE"}`: a business answer of the spec; the body is not read, so nothing is echoed |
/// | signed, but not a body of the endpoint (not a JSON object, a field missing, empty or mistyped, an amount not a positive integer) | 400 `{"status":"RS_ERROR_UNKNOWN"}`, nothing recorded |
///
/// Every reply, refusals included, is `application/json` and carries
/// `X-Signature`, this provider's signature of its body.
///
/// Under the kit's faults it answers:
///
/// | fault | reply |
/// |---|---|
/// | `ErrorRate` | 503, empty body, unsigned: nothing processed |
/// | `ServerErrorAfterCommit` | 500 `{"status":"RS_ERROR_UNKNOWN"}`, signed |
/// | `Garbage` | 200, the first half of the real body, with the real headers (so its signature does not verify either) |
/// | `Tampered` | the real reply, byte for byte, signed with the impostor's key: it never verifies with the provider's public key |
#[derive(Debug, Clone)]
pub struct JsonRsa {
    keys: Keys,
}

impl JsonRsa {
    /// The dialect with these (already loaded) keys.
    pub fn new(keys: Keys) -> Self {
        JsonRsa { keys }
    }

    /// Loads the keys and builds the dialect.
    pub fn from_config(config: &KeyConfig) -> Result<Self, KeyError> {
        Keys::load(config).map(Self::new)
    }

    /// Answers one request: checks `signature` (the `X-Signature` value),
    /// parses `body` for `endpoint` and runs it against `ledger`. The reply
    /// is signed.
    pub fn respond(
        &self,
        ledger: &mut Ledger,
        endpoint: Endpoint,
        signature: Option<&str>,
        body: &[u8],
    ) -> Handled {
        let authentic = signature.is_some_and(|s| self.keys.verify_request(body, s));
        if !authentic {
            return Handled::refused(
                self.signed(StatusCode::OK, wire::bare(Status::InvalidSignature)),
            );
        }
        match run(ledger, endpoint, body) {
            Ok(answer) => Handled::committed(self.signed(StatusCode::OK, answer)),
            Err(Malformed) => {
                Handled::refused(self.signed(StatusCode::BAD_REQUEST, wire::bare(Status::Unknown)))
            }
        }
    }

    /// A JSON reply signed with this provider's key.
    fn signed(&self, status: StatusCode, body: bytes::Bytes) -> sandbox_kit::Reply {
        let signature = self.keys.sign_reply(&body);
        with_signature(sandbox_kit::Reply::json(status, body), &signature)
    }
}

fn run(ledger: &mut Ledger, endpoint: Endpoint, body: &[u8]) -> Result<bytes::Bytes, Malformed> {
    Ok(match endpoint {
        Endpoint::Balance => ledger.query_balance(&wire::parse(body)?),
        Endpoint::Bet => ledger.bet(&wire::parse(body)?),
        Endpoint::Win => ledger.win(&wire::parse(body)?),
        Endpoint::Rollback => ledger.rollback(&wire::parse(body)?),
        Endpoint::Lookup => ledger.lookup(&wire::parse(body)?),
    })
}

/// Sets `X-Signature`. A base64 string is always a valid header value; if
/// it somehow were not, the reply goes out unsigned (and so untrusted).
fn with_signature(reply: sandbox_kit::Reply, signature: &str) -> sandbox_kit::Reply {
    match HeaderValue::from_str(signature) {
        Ok(value) => reply.with_header(HeaderName::from_static(SIGNATURE_HEADER), value),
        Err(_) => reply,
    }
}

impl Dialect for JsonRsa {
    type Ledger = Ledger;

    fn name(&self) -> &'static str {
        "json-rsa"
    }

    fn paths(&self) -> &'static [&'static str] {
        PATHS
    }

    fn classify(&self, request: &Request) -> RequestClass {
        match Endpoint::from_path(&request.path) {
            Some(endpoint) if endpoint.moves_money() => RequestClass::Money {
                tx_id: wire::peek_transaction_uuid(&request.body),
            },
            _ => RequestClass::Query,
        }
    }

    fn handle(&self, ledger: &mut Ledger, request: &Request) -> Handled {
        let Some(endpoint) = Endpoint::from_path(&request.path) else {
            // The kit routes only `PATHS`; answer like a provider in trouble.
            return Handled::refused(
                self.signed(StatusCode::NOT_FOUND, wire::bare(Status::Unknown)),
            );
        };
        self.respond(
            ledger,
            endpoint,
            request.header(SIGNATURE_HEADER),
            &request.body,
        )
    }

    fn tamper(&self, _request: &Request, reply: &sandbox_kit::Reply) -> sandbox_kit::Reply {
        let signature = self.keys.sign_reply_as_impostor(&reply.body);
        with_signature(reply.clone(), &signature)
    }

    fn server_error(&self, _request: &Request, _reply: &sandbox_kit::Reply) -> sandbox_kit::Reply {
        self.signed(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire::bare(Status::Unknown),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_kit::Ledger as _;

    #[test]
    fn paths_are_the_endpoints_in_order() {
        let paths: Vec<_> = Endpoint::ALL.iter().map(|e| e.path()).collect();
        assert_eq!(paths, PATHS);
    }

    #[test]
    fn unsigned_or_wrongly_signed_requests_do_not_reach_the_books() {
        let dialect = JsonRsa::from_config(&KeyConfig::default()).expect("demo keys");
        let mut ledger = Ledger::default();
        ledger.seed(&sandbox_kit::AccountSeed::new("u", "EUR", 100));
        let body = br#"{"request_uuid":"q","transaction_uuid":"t","user":"u","currency":"EUR","amount":5}"#;
        // The provider's own signature is not the operator's.
        let provider_signed = dialect.keys.sign_reply(body);
        for signature in [None, Some("AAAA"), Some(provider_signed.as_str())] {
            let handled = dialect.respond(&mut ledger, Endpoint::Bet, signature, body);
            assert!(!handled.committed);
            assert_eq!(handled.reply.status, StatusCode::OK);
            assert_eq!(
                &handled.reply.body[..],
                br#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#
            );
            assert!(handled.reply.headers.contains_key(SIGNATURE_HEADER));
        }
        assert_eq!(ledger.balance("u"), Some(100));
        assert!(ledger.snapshot().transactions.is_empty());
    }

    #[test]
    fn tampering_keeps_the_body_and_changes_the_signature() {
        let dialect = JsonRsa::from_config(&KeyConfig::default()).expect("demo keys");
        let real = dialect.signed(StatusCode::OK, wire::bare(Status::Ok));
        let request = Request {
            path: "/api/transaction/bet".into(),
            query: None,
            headers: sandbox_kit::HeaderMap::new(),
            body: bytes::Bytes::new(),
        };
        let tampered = dialect.tamper(&request, &real);
        assert_eq!(tampered.body, real.body);
        assert_eq!(tampered.status, real.status);
        assert_ne!(
            tampered.headers.get(SIGNATURE_HEADER),
            real.headers.get(SIGNATURE_HEADER)
        );
    }
}
