//! A toy dialect, just enough to drive the kit: plain-text requests
//! `tx_id:account:amount` to `/debit` and `/credit`, `account` to
//! `/balance`, authenticated by `X-Key`; JSON replies; a duplicate `tx_id`
//! replays the recorded reply.

use std::collections::BTreeMap;

use sandbox_kit::http::header::HeaderName;
use sandbox_kit::{
    AccountSeed, Dialect, Handled, HeaderValue, Ledger, Reply, Request, RequestClass, StatusCode,
};
use serde::{Deserialize, Serialize};

pub const KEY: &str = "toy-key";

#[derive(Debug, Clone)]
pub struct Toy {
    pub key: String,
}

impl Default for Toy {
    fn default() -> Self {
        Toy { key: KEY.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToyAccount {
    pub currency: String,
    pub balance: i64,
    pub blocked: bool,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToyTx {
    pub tx_id: String,
    pub status: u16,
    pub reply: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToySnapshot {
    pub accounts: BTreeMap<String, ToyAccount>,
    pub transactions: Vec<ToyTx>,
}

#[derive(Debug, Default)]
pub struct ToyLedger(ToySnapshot);

impl Ledger for ToyLedger {
    type Snapshot = ToySnapshot;

    fn seed(&mut self, seed: &AccountSeed) {
        self.0.accounts.insert(
            seed.account.clone(),
            ToyAccount {
                currency: seed.currency.clone(),
                balance: seed.balance,
                blocked: seed.blocked,
                limit: seed.limit,
            },
        );
    }

    fn block(&mut self, account: &str) -> bool {
        self.0
            .accounts
            .get_mut(account)
            .map(|a| a.blocked = true)
            .is_some()
    }

    fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool {
        self.0
            .accounts
            .get_mut(account)
            .map(|a| a.limit = limit)
            .is_some()
    }

    fn balance(&self, account: &str) -> Option<i64> {
        self.0.accounts.get(account).map(|a| a.balance)
    }

    fn snapshot(&self) -> ToySnapshot {
        self.0.clone()
    }
}

fn json(status: StatusCode, body: String) -> Reply {
    Reply::json(status, body)
}

fn error(status: StatusCode, what: &str) -> Reply {
    json(status, format!(r#"{{"error":"{what}"}}"#))
}

impl Dialect for Toy {
    type Ledger = ToyLedger;

    fn name(&self) -> &'static str {
        "toy"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/debit", "/credit", "/balance"]
    }

    fn classify(&self, request: &Request) -> RequestClass {
        if request.path == "/balance" {
            return RequestClass::Query;
        }
        let tx_id = std::str::from_utf8(&request.body)
            .ok()
            .and_then(|b| b.split(':').next())
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        RequestClass::Money { tx_id }
    }

    fn handle(&self, ledger: &mut ToyLedger, request: &Request) -> Handled {
        if request.header("x-key") != Some(self.key.as_str()) {
            return Handled::refused(error(StatusCode::UNAUTHORIZED, "bad key"));
        }
        let Ok(body) = std::str::from_utf8(&request.body) else {
            return Handled::refused(error(StatusCode::BAD_REQUEST, "bad body"));
        };
        let books = &mut ledger.0;
        if request.path == "/balance" {
            return Handled::committed(match books.accounts.get(body) {
                Some(a) => json(
                    StatusCode::OK,
                    format!(r#"{{"account":"{body}","balance":{}}}"#, a.balance),
                ),
                None => error(StatusCode::NOT_FOUND, "unknown account"),
            });
        }
        let parts: Vec<&str> = body.split(':').collect();
        let [tx_id, account, amount] = parts[..] else {
            return Handled::refused(error(StatusCode::BAD_REQUEST, "bad body"));
        };
        let Ok(amount) = amount.parse::<i64>() else {
            return Handled::refused(error(StatusCode::BAD_REQUEST, "bad amount"));
        };
        if let Some(tx) = books.transactions.iter().find(|t| t.tx_id == tx_id) {
            let status = StatusCode::from_u16(tx.status).unwrap_or(StatusCode::OK);
            return Handled::committed(json(status, tx.reply.clone()));
        }
        let sign = if request.path == "/debit" { -1 } else { 1 };
        let reply = match books.accounts.get_mut(account) {
            None => error(StatusCode::NOT_FOUND, "unknown account"),
            Some(a) if a.blocked => error(StatusCode::FORBIDDEN, "blocked"),
            Some(a) if a.limit.is_some_and(|l| amount > l) => error(StatusCode::FORBIDDEN, "limit"),
            Some(a) if a.balance + sign * amount < 0 => {
                error(StatusCode::PAYMENT_REQUIRED, "insufficient")
            }
            Some(a) => {
                a.balance += sign * amount;
                json(
                    StatusCode::OK,
                    format!(r#"{{"tx_id":"{tx_id}","balance":{}}}"#, a.balance),
                )
            }
        };
        books.transactions.push(ToyTx {
            tx_id: tx_id.to_owned(),
            status: reply.status.as_u16(),
            reply: String::from_utf8_lossy(&reply.body).into_owned(),
        });
        Handled::committed(reply)
    }

    fn tamper(&self, _request: &Request, reply: &Reply) -> Reply {
        let body = String::from_utf8_lossy(&reply.body).replace("\"tx_id\":\"", "\"tx_id\":\"x");
        reply.clone().with_body(body).with_header(
            HeaderName::from_static("x-tampered"),
            HeaderValue::from_static("yes"),
        )
    }

    fn unavailable(&self, _request: &Request) -> Reply {
        error(StatusCode::SERVICE_UNAVAILABLE, "busy")
    }
}

/// A dialect that keeps every default hook, to check the defaults.
#[derive(Debug, Clone, Default)]
pub struct Plain(pub Toy);

impl Dialect for Plain {
    type Ledger = ToyLedger;

    fn name(&self) -> &'static str {
        "plain"
    }

    fn paths(&self) -> &'static [&'static str] {
        self.0.paths()
    }

    fn classify(&self, request: &Request) -> RequestClass {
        self.0.classify(request)
    }

    fn handle(&self, ledger: &mut ToyLedger, request: &Request) -> Handled {
        self.0.handle(ledger, request)
    }

    fn tamper(&self, request: &Request, reply: &Reply) -> Reply {
        self.0.tamper(request, reply)
    }
}

/// A dialect with an invalid path.
#[derive(Debug, Clone, Default)]
pub struct BadPaths(pub Toy);

impl Dialect for BadPaths {
    type Ledger = ToyLedger;

    fn name(&self) -> &'static str {
        "bad"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/ok", "/control/seed"]
    }

    fn classify(&self, request: &Request) -> RequestClass {
        self.0.classify(request)
    }

    fn handle(&self, ledger: &mut ToyLedger, request: &Request) -> Handled {
        self.0.handle(ledger, request)
    }

    fn tamper(&self, request: &Request, reply: &Reply) -> Reply {
        self.0.tamper(request, reply)
    }
}
