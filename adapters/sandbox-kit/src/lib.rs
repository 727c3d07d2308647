//! The generic half of every sandbox provider.
//!
//! A sandbox provider is a real HTTP server that plays one provider dialect
//! (`shared/providers/*.md`) with its own ledger. What differs between
//! dialects (wire parsing, signatures, units, business rules, the ledger) is
//! a [`Dialect`], written per provider crate the way that provider would
//! write it. What is the same for all of them lives here:
//!
//! - the HTTP/1.1 server (hyper, one task per connection) that can reset the
//!   connection a request came on, which is how [`FaultKind::DropAfterCommit`]
//!   closes the socket without a reply;
//! - fault injection ([`Fault`], [`FaultKind`]): scoped by path, by a count of
//!   requests, with a seeded (reproducible) random generator per fault;
//! - request counters ([`RequestStats`]): money requests in total and per
//!   transaction id, as the dialect identifies them;
//! - the test-only control surface under `/control/` (below);
//! - the [`Sandbox`] handle tests hold: start, seed, audit, switch faults,
//!   count, shut down. Its API is the same for every dialect.
//!
//! # Writing a dialect
//!
//! Implement [`Ledger`] for the provider's books (accounts, transactions,
//! recorded replies; snapshots in the provider's own units) and [`Dialect`]
//! for its wire. Then tests and binaries use
//! `sandbox_kit::Sandbox::<MyDialect>::start_local(MyDialect { .. })`
//! (add `impl From<MyConfig> for Setup<MyDialect>` to start from a config
//! struct of your own, as `sandbox-json-hmac` does).
//!
//! One request goes through these steps, in this order:
//!
//! 1. [`Dialect::classify`] on the raw request: a money request is counted
//!    (whatever happens next: fault, bad signature, replay);
//! 2. the faults decide a plan for it (see [`faults`](Fault));
//! 3. latency, then hang, then maybe [`Dialect::unavailable`] (a 503, nothing
//!    processed);
//! 4. [`Dialect::handle`] under the ledger lock: authenticate, parse, apply,
//!    record, reply. It returns the reply and whether the books
//!    [`committed`](Handled::committed) to it;
//! 5. if committed and the plan says so, an after-commit fault replaces the
//!    reply: reset ([`FaultKind::DropAfterCommit`]), [`Dialect::server_error`],
//!    [`Dialect::garbage`] or [`Dialect::tamper`]. Otherwise the reply is
//!    sent as it is.
//!
//! # Control surface
//!
//! Served only when [`Setup::control`] is set (otherwise these paths are
//! 404); it is not part of any dialect, neither signed nor faulted:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /control/seed` | an [`AccountSeed`] as JSON: `{"account","currency","balance","blocked"?,"limit"?}`, balance in the provider's units | the seed as applied |
//! | `GET /control/ledger` | | the dialect's [`Ledger::Snapshot`] |
//! | `POST /control/faults` | a [`Fault`] as JSON | the active faults |
//! | `GET /control/faults` | | the active faults |
//! | `DELETE /control/faults` | | the active faults (none); hung requests go on |
//! | `GET /control/stats` | | [`RequestStats`] |
//!
//! Malformed control bodies get 400 `{"error":"..."}`.

mod control;
mod faults;
mod handler;
pub mod process;
mod seed;
mod server;
mod stats;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

pub use bytes::Bytes;
pub use http::{self, HeaderMap, HeaderValue, StatusCode};

pub use faults::{DEFAULT_SEED, Fault, FaultError, FaultKind};
pub use seed::{AccountSeed, SeedParseError};
pub use stats::RequestStats;

use server::App;

// ------------------------------------------------------------------ dialect

/// One dialect request as it arrived: always a `POST` to one of
/// [`Dialect::paths`]. The body is the exact bytes received (what a
/// signature covers).
#[derive(Debug, Clone)]
pub struct Request {
    /// The path, e.g. `/v1/debit`, without the query.
    pub path: String,
    /// The query string (after `?`), if the URI had one.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Request {
    /// The value of header `name` (case-insensitive) if present and visible
    /// ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One reply as it goes on the wire: status, headers (content type,
/// signature), exact body bytes. `Content-Length` is set by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers to send (a dialect sets its content type and, if it signs
    /// replies, the signature).
    pub headers: HeaderMap,
    /// Exact body bytes.
    pub body: Bytes,
}

impl Reply {
    /// A reply with no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// A reply labelled `Content-Type: application/json`.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self::new(status, body).with_header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
    }

    /// Adds (replaces) one header.
    pub fn with_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The same status and headers with another body (e.g. for a tampered
    /// or truncated version of a reply).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// What [`Dialect::classify`] says about a request, before anything else
/// happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestClass {
    /// Moves money (debit, credit, rollback and their dialect names): counted
    /// in [`RequestStats::money_requests`], and under its transaction id
    /// (the dialect's idempotency id, e.g. json-hmac `tx_id`, json-rsa
    /// `transaction_uuid`, form-md5 `reference`) when one can be read from
    /// the raw request, however invalid the rest of it is.
    Money {
        /// The business transaction id, if readable.
        tx_id: Option<String>,
    },
    /// Anything else (balance, status or lookup): not counted.
    Query,
}

/// What [`Dialect::handle`] did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The real reply.
    pub reply: Reply,
    /// True when the request reached the books: applied, declined, replayed
    /// from a recorded answer, or (for a query) read. What the reply says is
    /// then the provider's truth, and an after-commit fault may misreport
    /// it. False when it was refused before the books looked at it (bad or
    /// missing signature, malformed body): the refusal is then sent as it
    /// is and after-commit faults do not fire, so a test never believes a
    /// refused request was applied.
    pub committed: bool,
}

impl Handled {
    /// A reply the books answered (see [`Handled::committed`]).
    pub fn committed(reply: Reply) -> Self {
        Handled {
            reply,
            committed: true,
        }
    }

    /// A refusal before the books (see [`Handled::committed`]).
    pub fn refused(reply: Reply) -> Self {
        Handled {
            reply,
            committed: false,
        }
    }
}

/// A provider's books: accounts with balances and whatever the dialect
/// records about transactions. Held by the kit behind one mutex; every
/// method is a plain synchronous call made with the lock held.
///
/// Amounts and balances are in the **provider's own units** (json-hmac:
/// minor units; json-rsa: 1e-5 of the currency; form-md5: minor units).
pub trait Ledger: Default + Send + 'static {
    /// A copy of all accounts and transactions, for an audit: returned by
    /// [`Sandbox::ledger`] and served as JSON by `GET /control/ledger`.
    type Snapshot: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + 'static;

    /// Creates or replaces an account (`blocked` and `limit` as given).
    fn seed(&mut self, seed: &AccountSeed);

    /// Blocks an account: later debits and credits on it are refused with
    /// the dialect's "blocked" answer. False if there is no such account.
    fn block(&mut self, account: &str) -> bool;

    /// Sets (or with `None` removes) the largest amount one debit or credit
    /// on the account may move. False if there is no such account.
    fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool;

    /// An account's balance, `None` for an unknown account.
    fn balance(&self, account: &str) -> Option<i64>;

    /// Copies out everything.
    fn snapshot(&self) -> Self::Snapshot;
}

/// One provider dialect: its wire, its signatures, its business rules. The
/// kit owns transport, faults, counters and the control surface and calls
/// these hooks (see the crate docs for the order).
///
/// A dialect value holds its configuration (secrets, keys, operator); it is
/// shared by every request (`&self`) and must not do I/O. The required
/// methods are the dialect; the provided ones are how it misbehaves under
/// faults, with defaults that fit most dialects.
pub trait Dialect: Send + Sync + 'static {
    /// The provider's books.
    type Ledger: Ledger;

    /// A short name for logs, e.g. `"json-hmac"`.
    fn name(&self) -> &'static str;

    /// Every path the dialect serves, each answering `POST` only
    /// (e.g. `/v1/debit`). Each starts with `/`, holds no `:`, `*`, `{` or
    /// `}`, is not under `/control`, and appears once; otherwise
    /// [`Sandbox::start`] fails with `InvalidInput`.
    fn paths(&self) -> &'static [&'static str];

    /// Whether a raw request moves money, and its transaction id if it can
    /// be read. Called first, on every request, before faults and before
    /// any check, so that refused, faulted and replayed requests are
    /// counted too. Must not fail: an unreadable body is still a money
    /// request if its path is a money path.
    fn classify(&self, request: &Request) -> RequestClass;

    /// Authenticates, parses and runs one request against the books, and
    /// answers. Called with the ledger locked, so checking an id, moving
    /// money and recording the reply are one atomic step; it must not block.
    /// Signing a reply (json-rsa) happens here too.
    fn handle(&self, ledger: &mut Self::Ledger, request: &Request) -> Handled;

    /// [`FaultKind::Tampered`]: the reply to send instead of `reply` (the
    /// real, committed one). It must look like a reply of this dialect but
    /// must not be trustworthy as the answer to `request`, and the dialect
    /// documents how:
    /// - a dialect that signs replies (json-rsa) sends the same reply
    ///   signed with a key that is not the provider's;
    /// - a dialect with unsigned replies (json-hmac, form-md5) alters the
    ///   reply so it no longer matches the request (another transaction id,
    ///   account, currency, amount or balance).
    fn tamper(&self, request: &Request, reply: &Reply) -> Reply;

    /// [`FaultKind::ErrorRate`]: the reply of an overloaded provider that did
    /// not process the request. Default: 503 with an empty body.
    fn unavailable(&self, request: &Request) -> Reply {
        let _ = request;
        Reply::new(StatusCode::SERVICE_UNAVAILABLE, Bytes::new())
    }

    /// [`FaultKind::ServerErrorAfterCommit`]: the reply sent instead of the
    /// real (committed) one. Default: 500 with an empty body.
    fn server_error(&self, request: &Request, reply: &Reply) -> Reply {
        let _ = (request, reply);
        Reply::new(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
    }

    /// [`FaultKind::Garbage`]: the reply sent instead of the real (committed)
    /// one. Default: [`truncated`], i.e. 200 with the real headers and the
    /// first half of the real body (never parseable as JSON).
    fn garbage(&self, request: &Request, reply: &Reply) -> Reply {
        let _ = request;
        truncated(reply)
    }
}

/// 200 with `reply`'s headers and the first half of its body (at least one
/// byte: `{` for an empty body). A proper prefix of a JSON object lacks its
/// closing brace, so the body never parses; a signature header no longer
/// matches either.
pub fn truncated(reply: &Reply) -> Reply {
    let mut cut = reply.body.slice(..reply.body.len() / 2);
    if cut.is_empty() {
        cut = Bytes::from_static(b"{");
    }
    Reply {
        status: StatusCode::OK,
        headers: reply.headers.clone(),
        body: cut,
    }
}

// ------------------------------------------------------------------ handle

/// How to start a sandbox: the dialect (with its configuration) and whether
/// to serve the control surface. A dialect converts into a `Setup` without
/// the control surface; a provider crate may add `From` conversions from
/// its own config type.
#[derive(Debug, Clone)]
pub struct Setup<D> {
    /// The dialect to play.
    pub dialect: D,
    /// Serve the test-only control surface under `/control/`.
    pub control: bool,
}

impl<D> Setup<D> {
    /// `dialect` without the control surface.
    pub fn new(dialect: D) -> Self {
        Setup {
            dialect,
            control: false,
        }
    }

    /// Serves (or not) the control surface.
    pub fn with_control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }
}

impl<D: Dialect> From<D> for Setup<D> {
    fn from(dialect: D) -> Self {
        Setup::new(dialect)
    }
}

/// A running sandbox provider of dialect `D`. Serving stops on
/// [`Sandbox::shutdown`] or when it is dropped.
pub struct Sandbox<D: Dialect> {
    addr: SocketAddr,
    app: Arc<App<D>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<D: Dialect> fmt::Debug for Sandbox<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("dialect", &self.app.dialect.name())
            .field("addr", &self.addr)
            .field("control", &self.app.control)
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> Sandbox<D> {
    /// Serves on `listener` in a background task (on the current tokio
    /// runtime) and returns at once. Fails with `InvalidInput` if the
    /// dialect's [`paths`](Dialect::paths) are not valid routes.
    pub async fn start(listener: TcpListener, setup: impl Into<Setup<D>>) -> std::io::Result<Self> {
        let setup = setup.into();
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(setup.dialect, setup.control));
        let router = server::router(app.clone())?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, router, stopped));
        Ok(Sandbox {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Serves the same provider (same ledger, faults and counters) on
    /// another listener too: a second endpoint, as a provider's backup
    /// address would be. The returned handle stops only that listener.
    pub fn also_serve(&self, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let router = server::router(self.app.clone())?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, router, stopped));
        Ok(Sandbox {
            addr,
            app: self.app.clone(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Binds `127.0.0.1:0` (an ephemeral port) and starts serving there.
    pub async fn start_local(setup: impl Into<Setup<D>>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::start(listener, setup).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The dialect it plays (e.g. to read a public key from it).
    pub fn dialect(&self) -> &D {
        &self.app.dialect
    }

    /// Creates or replaces an account holding `balance` (in the provider's
    /// own units) of `currency`, not blocked, without a limit.
    pub fn seed(&self, account: &str, currency: &str, balance: i64) {
        self.seed_account(&AccountSeed::new(account, currency, balance));
    }

    /// Creates or replaces an account as `seed` describes it (blocked and
    /// limit included).
    pub fn seed_account(&self, seed: &AccountSeed) {
        self.app.ledger().seed(seed);
    }

    /// Blocks an account (see [`Ledger::block`]). Does nothing (but log) for
    /// an unknown account.
    pub fn block(&self, account: &str) {
        if !self.app.ledger().block(account) {
            warn!(account, "block: no such account");
        }
    }

    /// Sets or removes an account's per-transaction limit (see
    /// [`Ledger::set_limit`]). Does nothing (but log) for an unknown account.
    pub fn set_limit(&self, account: &str, limit: Option<i64>) {
        if !self.app.ledger().set_limit(account, limit) {
            warn!(account, "set_limit: no such account");
        }
    }

    /// An account's balance in the provider's own units.
    pub fn balance(&self, account: &str) -> Option<i64> {
        self.app.ledger().balance(account)
    }

    /// A copy of all accounts and transactions, for an audit.
    pub fn ledger(&self) -> <D::Ledger as Ledger>::Snapshot {
        self.app.ledger().snapshot()
    }

    /// Activates a fault, replacing an active fault of the same kind on the
    /// same path (see [`Fault`] and [`FaultKind`] for the semantics). An
    /// error rate outside 0.0..=1.0 is clamped into it (NaN counts as 0.0).
    pub fn set_fault(&self, mut fault: Fault) {
        if let FaultKind::ErrorRate(p) = &mut fault.kind {
            if !(0.0..=1.0).contains(p) {
                warn!(rate = *p, "error rate out of range, clamped");
                *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
            }
        }
        self.app.faults.set(fault);
    }

    /// Removes every fault and releases hung requests.
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// The active faults, in the order they were set.
    pub fn faults(&self) -> Vec<Fault> {
        self.app.faults.list()
    }

    /// Money requests received with this transaction id (see
    /// [`RequestClass::Money`]), replays, refusals and fault-answered ones
    /// included.
    pub fn requests_for(&self, tx_id: &str) -> u64 {
        self.app.stats.requests_for(tx_id)
    }

    /// Money requests received in total.
    pub fn money_requests(&self) -> u64 {
        self.app.stats.money_requests()
    }

    /// All request counters.
    pub fn stats(&self) -> RequestStats {
        self.app.stats.snapshot()
    }

    /// Stops accepting, closes every connection (in-flight and hung
    /// requests included) and waits until that is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the server task is already gone.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<D: Dialect> Drop for Sandbox<D> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
