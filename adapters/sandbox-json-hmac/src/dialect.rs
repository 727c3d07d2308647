//! The json-hmac endpoints (`POST /v1/...`) as a [`sandbox_kit::Dialect`]:
//! check operator and signature, parse, hand the request to the ledger, and
//! answer; plus how this provider misbehaves under the kit's faults.

use std::fmt;

use sandbox_kit::{Dialect, Handled, Request, RequestClass};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ledger::Ledger;
use crate::signature::{OPERATOR_HEADER, SIGNATURE_HEADER, verify};
use crate::wire::{self, BalanceReply, ErrorCode, MoneyReply, Reply, RollbackReply, StatusReply};

/// Appended to the `tx_id` (or account) of a reply by
/// [`FaultKind::Tampered`](sandbox_kit::FaultKind::Tampered).
pub const TAMPER_SUFFIX: &str = "~tampered";

/// The dialect's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Balance,
    Debit,
    Credit,
    Rollback,
    Status,
}

/// Every path, in [`Endpoint`] order.
const PATHS: &[&str] = &[
    "/v1/balance",
    "/v1/debit",
    "/v1/credit",
    "/v1/rollback",
    "/v1/status",
];

impl Endpoint {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/v1/balance" => Endpoint::Balance,
            "/v1/debit" => Endpoint::Debit,
            "/v1/credit" => Endpoint::Credit,
            "/v1/rollback" => Endpoint::Rollback,
            "/v1/status" => Endpoint::Status,
            _ => return None,
        })
    }

    /// Whether requests to it are counted as money requests.
    fn moves_money(self) -> bool {
        matches!(
            self,
            Endpoint::Debit | Endpoint::Credit | Endpoint::Rollback
        )
    }
}

/// The json-hmac dialect for one operator: its `X-Operator` value and the
/// shared HMAC secret. `Debug` never prints the secret.
///
/// Under the kit's faults it answers:
///
/// | fault | reply |
/// |---|---|
/// | `ErrorRate` | 503 `{"code":"SERVICE_UNAVAILABLE"}`, nothing processed |
/// | `ServerErrorAfterCommit` | 500 `{"code":"INTERNAL_ERROR"}` |
/// | `Garbage` | 200, `application/json`, the first half of the real body |
/// | `Tampered` | see below |
///
/// `Tampered` (json-hmac replies are unsigned, so the reply is altered to
/// no longer match the request): a reply that names a `tx_id` (debit,
/// credit, rollback, status) names `<tx_id>~tampered` instead, every other
/// byte as recorded; a balance reply names the account `<account>~tampered`.
/// Error replies (`{"code":...}`) name nothing of the request and are sent
/// unchanged. The json-hmac adapter refuses a debit, credit or balance
/// reply naming another transaction or account (`Unknown`), but by the spec
/// it takes a rollback reply naming another rollback id as the replay of an
/// earlier rollback of the same debit (settled, balance unknown); that is
/// true here, since the tampered rollback was applied.
#[derive(Clone)]
pub struct JsonHmac {
    /// Shared HMAC secret of the one operator this sandbox knows.
    pub secret: String,
    /// The `X-Operator` value requests must carry, e.g. `"hub"`.
    pub operator: String,
}

impl fmt::Debug for JsonHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonHmac")
            .field("secret", &"<redacted>")
            .field("operator", &self.operator)
            .finish()
    }
}

impl Dialect for JsonHmac {
    type Ledger = Ledger;

    fn name(&self) -> &'static str {
        "json-hmac"
    }

    fn paths(&self) -> &'static [&'static str] {
        PATHS
    }

    fn classify(&self, request: &Request) -> RequestClass {
        match Endpoint::from_path(&request.path) {
            Some(endpoint) if endpoint.moves_money() => RequestClass::Money {
                tx_id: wire::peek_tx_id(&request.body),
            },
            _ => RequestClass::Query,
        }
    }

    fn handle(&self, ledger: &mut Ledger, request: &Request) -> Handled {
        match self.process(ledger, request) {
            Ok(reply) => Handled::committed(reply.into()),
            Err(code) => Handled::refused(Reply::error(code).into()),
        }
    }

    fn tamper(&self, request: &Request, reply: &sandbox_kit::Reply) -> sandbox_kit::Reply {
        let altered = match Endpoint::from_path(&request.path) {
            Some(Endpoint::Debit | Endpoint::Credit) => {
                alter::<MoneyReply>(&reply.body, |r| r.tx_id.push_str(TAMPER_SUFFIX))
            }
            Some(Endpoint::Rollback) => {
                alter::<RollbackReply>(&reply.body, |r| r.tx_id.push_str(TAMPER_SUFFIX))
            }
            Some(Endpoint::Status) => {
                alter::<StatusReply>(&reply.body, |r| r.tx_id.push_str(TAMPER_SUFFIX))
            }
            Some(Endpoint::Balance) => {
                alter::<BalanceReply>(&reply.body, |r| r.account.push_str(TAMPER_SUFFIX))
            }
            None => None,
        };
        match altered {
            Some(body) => reply.clone().with_body(body),
            // An error reply: nothing of the request in it.
            None => reply.clone(),
        }
    }

    fn unavailable(&self, _request: &Request) -> sandbox_kit::Reply {
        Reply::error(ErrorCode::ServiceUnavailable).into()
    }

    fn server_error(&self, _request: &Request, _reply: &sandbox_kit::Reply) -> sandbox_kit::Reply {
        Reply::error(ErrorCode::InternalError).into()
    }
}

impl JsonHmac {
    /// Authenticates and runs one request against the ledger. `Err` is a
    /// refusal before the ledger (operator, signature, malformed body).
    fn process(&self, ledger: &mut Ledger, request: &Request) -> Result<Reply, ErrorCode> {
        self.authenticate(request)?;
        let body = &request.body[..];
        let reply = match Endpoint::from_path(&request.path).ok_or(ErrorCode::BadRequest)? {
            Endpoint::Balance => ledger.balance(&wire::parse(body)?),
            Endpoint::Debit => ledger.debit(&wire::parse(body)?),
            Endpoint::Credit => ledger.credit(&wire::parse(body)?),
            Endpoint::Rollback => ledger.rollback(&wire::parse(body)?),
            Endpoint::Status => ledger.status(&wire::parse(body)?),
        };
        Ok(reply)
    }

    /// `X-Operator` must be present (else 400) and be the configured operator,
    /// whose secret must have produced `X-Signature` (else 401).
    fn authenticate(&self, request: &Request) -> Result<(), ErrorCode> {
        let operator = request
            .headers
            .get(OPERATOR_HEADER)
            .ok_or(ErrorCode::BadRequest)?
            .to_str()
            .map_err(|_| ErrorCode::BadRequest)?;
        if operator.is_empty() {
            return Err(ErrorCode::BadRequest);
        }
        // An operator we have no secret for cannot have signed correctly.
        if operator != self.operator {
            return Err(ErrorCode::InvalidSignature);
        }
        let signature = request
            .header(SIGNATURE_HEADER)
            .ok_or(ErrorCode::InvalidSignature)?;
        if verify(self.secret.as_bytes(), &request.body, signature) {
            Ok(())
        } else {
            Err(ErrorCode::InvalidSignature)
        }
    }
}

/// Re-encodes a success reply of type `T` after `change`; `None` if the
/// body is not a `T` (an error reply).
fn alter<T: Serialize + DeserializeOwned>(
    body: &[u8],
    change: impl FnOnce(&mut T),
) -> Option<Vec<u8>> {
    let mut reply: T = serde_json::from_slice(body).ok()?;
    change(&mut reply);
    serde_json::to_vec(&reply).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_kit::{Bytes, HeaderMap, StatusCode};

    fn request(path: &str) -> Request {
        Request {
            path: path.into(),
            query: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    fn dialect() -> JsonHmac {
        JsonHmac {
            secret: "s".into(),
            operator: "hub".into(),
        }
    }

    #[test]
    fn tamper_renames_the_transaction_or_account_and_keeps_errors() {
        let cases = [
            (
                "/v1/debit",
                r#"{"tx_id":"d-1","status":"OK","balance":9750,"provider_ref":"hm-000001"}"#,
                r#"{"tx_id":"d-1~tampered","status":"OK","balance":9750,"provider_ref":"hm-000001"}"#,
            ),
            (
                "/v1/rollback",
                r#"{"tx_id":"r-1","status":"OK","balance":10000}"#,
                r#"{"tx_id":"r-1~tampered","status":"OK","balance":10000}"#,
            ),
            (
                "/v1/status",
                r#"{"tx_id":"d-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#,
                r#"{"tx_id":"d-1~tampered","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#,
            ),
            (
                "/v1/balance",
                r#"{"account":"acc-1","currency":"EUR","balance":10000}"#,
                r#"{"account":"acc-1~tampered","currency":"EUR","balance":10000}"#,
            ),
            (
                "/v1/debit",
                r#"{"code":"INSUFFICIENT_FUNDS"}"#,
                r#"{"code":"INSUFFICIENT_FUNDS"}"#,
            ),
        ];
        for (path, real, tampered) in cases {
            let reply = sandbox_kit::Reply::json(StatusCode::OK, real.to_owned());
            let out = dialect().tamper(&request(path), &reply);
            assert_eq!(out.status, reply.status);
            assert_eq!(out.headers, reply.headers);
            assert_eq!(&out.body[..], tampered.as_bytes(), "{path}");
        }
    }

    #[test]
    fn only_debit_credit_and_rollback_are_money() {
        for (path, money) in [
            ("/v1/debit", true),
            ("/v1/credit", true),
            ("/v1/rollback", true),
            ("/v1/status", false),
            ("/v1/balance", false),
        ] {
            let class = dialect().classify(&request(path));
            assert_eq!(matches!(class, RequestClass::Money { .. }), money, "{path}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", dialect());
        assert!(
            shown.contains("redacted") && !shown.contains("\"s\""),
            "{shown}"
        );
    }
}
