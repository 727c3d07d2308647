//! `settlement.v1.SettlementService`: validates requests into typed calls,
//! hands them to the [`Engine`], and turns journal records back into the
//! contract's messages.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use adapter_api::{Currency, DeclineReason, Money};
use base64::Engine as _;
use hub_proto::settlement::v1 as pb;
use pb::settlement_service_server::SettlementService;
use tokio::time::Instant;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::auth::Partner;
use crate::domain::{
    Account, Fingerprint, IdError, IdempotencyKey, ProviderId, Reference, TransactionId, TxKind,
    TxRecord, TxState,
};
use crate::engine::{Engine, Reversal, Transfer};
use crate::error::{HubError, Violation};
use crate::journal::{ListFilter, Lookup, RollbackTarget};

/// The largest amount the hub accepts, in minor units: every dialect's
/// conversion (down to 1e-5 of a unit for a currency without minor units)
/// still fits in 64 bits.
pub const MAX_AMOUNT: i64 = 10_000_000_000_000;

/// Timing of answers.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Deadline of a call that brought none.
    pub default_deadline: Duration,
    /// Answer this long before the deadline.
    pub answer_margin: Duration,
}

/// The settlement service.
#[derive(Clone)]
pub struct Settlement {
    engine: Engine,
    timing: Timing,
    stop_feeds: CancellationToken,
}

impl Settlement {
    /// A service running calls on `engine`; change feeds end when
    /// `stop_feeds` is cancelled (at shutdown).
    pub fn new(engine: Engine, timing: Timing, stop_feeds: CancellationToken) -> Self {
        Self {
            engine,
            timing,
            stop_feeds,
        }
    }

    /// When to answer the call `req`: the partner's `grpc-timeout` (or the
    /// default) less the margin, counted from when the call reached the hub
    /// (the telemetry layer's stamp), so time spent in the layers before the
    /// handler is not given twice.
    fn answer_by<T>(&self, req: &Request<T>) -> Instant {
        let timeout = req
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let arrived = crate::telemetry::arrival(req).unwrap_or_else(Instant::now);
        answer_by(arrived, timeout, self.timing)
    }
}

/// When to answer a call that reached the hub at `arrived` with the
/// partner's `timeout` (if it sent one).
fn answer_by(arrived: Instant, timeout: Option<Duration>, timing: Timing) -> Instant {
    let deadline = timeout.map_or(timing.default_deadline, |d| d.min(timing.default_deadline));
    arrived + deadline.saturating_sub(timing.answer_margin)
}

/// Parses a `grpc-timeout` header value (`100m`, `5S`, ...).
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (num, unit) = v.split_at(v.len() - 1);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

// ---- validation --------------------------------------------------------

/// Collects field violations so one answer names every bad field.
#[derive(Default)]
struct Check(Vec<Violation>);

impl Check {
    fn id<T>(&mut self, field: &'static str, r: Result<T, IdError>) -> Option<T> {
        r.map_err(|e| {
            self.0.push(Violation {
                field,
                description: e.to_string(),
            })
        })
        .ok()
    }

    fn fail(&mut self, field: &'static str, description: impl Into<String>) {
        self.0.push(Violation {
            field,
            description: description.into(),
        });
    }

    fn currency(&mut self, field: &'static str, code: &str) -> Option<Currency> {
        match Currency::from_code(code) {
            Ok(c) => Some(c),
            Err(_) if code.is_empty() => {
                self.fail(field, "must not be empty");
                None
            }
            Err(_) => {
                self.fail(field, "must be an ISO 4217 currency code such as EUR");
                None
            }
        }
    }

    fn amount(&mut self, amount: Option<&pb::Money>) -> Option<Money> {
        let Some(m) = amount else {
            self.fail("amount", "is required");
            return None;
        };
        let currency = self.currency("amount.currency_code", &m.currency_code);
        if m.minor_units <= 0 {
            self.fail("amount.minor_units", "must be positive");
            return None;
        }
        if m.minor_units > MAX_AMOUNT {
            self.fail(
                "amount.minor_units",
                format!("must be at most {MAX_AMOUNT}"),
            );
            return None;
        }
        currency.map(|c| Money::new(c, m.minor_units))
    }

    fn done(self) -> Result<(), HubError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(HubError::InvalidArgument(self.0))
        }
    }
}

fn optional_reference(c: &mut Check, v: &str) -> Option<Option<Reference>> {
    if v.is_empty() {
        return Some(None);
    }
    c.id("reference", Reference::parse(v)).map(Some)
}

fn transfer_call(
    kind: TxKind,
    key: &str,
    provider: &str,
    account: &str,
    amount: Option<&pb::Money>,
    reference: &str,
    engine: &Engine,
) -> Result<Transfer, HubError> {
    let mut c = Check::default();
    let key = c.id("idempotency_key", IdempotencyKey::parse(key));
    let provider = c.id("provider", ProviderId::parse(provider));
    if let Some(p) = &provider {
        if !engine.has_provider(p) {
            c.fail("provider", format!("no provider named {:?}", p.as_str()));
        }
    }
    let account = c.id("account", Account::parse(account));
    let amount = c.amount(amount);
    let reference = optional_reference(&mut c, reference);
    match (key, provider, account, amount, reference) {
        (Some(key), Some(provider), Some(account), Some(amount), Some(reference))
            if c.0.is_empty() =>
        {
            Ok(Transfer {
                kind,
                key,
                provider,
                account,
                amount,
                reference,
                daily_limit: None,
            })
        }
        _ => Err(c.done().err().unwrap_or(HubError::Internal)),
    }
}

/// Fingerprint of a debit or credit: every field that changes the movement.
pub fn transfer_fingerprint(t: &Transfer) -> Fingerprint {
    let kind = t.kind.code().to_be_bytes();
    let amount = t.amount.minor_units.to_be_bytes();
    Fingerprint::of(&[
        &kind,
        t.provider.as_str().as_bytes(),
        t.account.as_str().as_bytes(),
        t.amount.currency.code().as_bytes(),
        &amount,
        t.reference
            .as_ref()
            .map_or(&b""[..], |r| r.as_str().as_bytes()),
    ])
}

/// Fingerprint of a rollback: the debit it names.
pub fn reversal_fingerprint(r: &Reversal) -> Fingerprint {
    let kind = TxKind::Rollback.code().to_be_bytes();
    match &r.target {
        RollbackTarget::Id(id) => Fingerprint::of(&[&kind, b"id", id.as_str().as_bytes()]),
        RollbackTarget::Key(k, _) => Fingerprint::of(&[&kind, b"key", k.as_str().as_bytes()]),
    }
}

// ---- conversion to the contract ---------------------------------------

pub(crate) fn timestamp(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

fn timestamp_us(t: &prost_types::Timestamp) -> Option<i64> {
    t.seconds
        .checked_mul(1_000_000)?
        .checked_add(i64::from(t.nanos) / 1000)
}

fn money(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_owned(),
        minor_units: m.minor_units,
    }
}

fn state(s: TxState) -> pb::TransactionState {
    match s {
        TxState::Sent | TxState::Pending => pb::TransactionState::Pending,
        TxState::Settled => pb::TransactionState::Settled,
        TxState::Declined => pb::TransactionState::Declined,
        TxState::RolledBack => pb::TransactionState::RolledBack,
        TxState::Failed => pb::TransactionState::Failed,
    }
}

fn states_from(v: &[i32]) -> Result<Vec<TxState>, HubError> {
    let mut out = Vec::new();
    for s in v {
        match pb::TransactionState::try_from(*s) {
            Ok(pb::TransactionState::Pending) => out.extend([TxState::Sent, TxState::Pending]),
            Ok(pb::TransactionState::Settled) => out.push(TxState::Settled),
            Ok(pb::TransactionState::Declined) => out.push(TxState::Declined),
            Ok(pb::TransactionState::RolledBack) => out.push(TxState::RolledBack),
            Ok(pb::TransactionState::Failed) => out.push(TxState::Failed),
            _ => return Err(HubError::field("states", format!("unknown state {s}"))),
        }
    }
    Ok(out)
}

fn decline(r: DeclineReason) -> pb::DeclineReason {
    match r {
        DeclineReason::InsufficientFunds => pb::DeclineReason::InsufficientFunds,
        DeclineReason::AccountBlocked => pb::DeclineReason::AccountBlocked,
        DeclineReason::LimitExceeded => pb::DeclineReason::LimitExceeded,
        DeclineReason::WrongCurrency => pb::DeclineReason::WrongCurrency,
        DeclineReason::UnknownAccount => pb::DeclineReason::UnknownAccount,
        DeclineReason::DuplicateTransaction => pb::DeclineReason::DuplicateTransaction,
        DeclineReason::AlreadyRolledBack => pb::DeclineReason::AlreadyRolledBack,
        DeclineReason::NotReversible | DeclineReason::Other => pb::DeclineReason::ProviderRejected,
    }
}

/// Stable reason code of a provider refusal, for ErrorInfo.
pub fn decline_reason_code(r: DeclineReason) -> &'static str {
    match r {
        DeclineReason::InsufficientFunds => "INSUFFICIENT_FUNDS",
        DeclineReason::AccountBlocked => "ACCOUNT_BLOCKED",
        DeclineReason::LimitExceeded => "LIMIT_EXCEEDED",
        DeclineReason::WrongCurrency => "WRONG_CURRENCY",
        DeclineReason::UnknownAccount => "UNKNOWN_ACCOUNT",
        DeclineReason::DuplicateTransaction => "DUPLICATE_TRANSACTION",
        DeclineReason::AlreadyRolledBack => "ALREADY_ROLLED_BACK",
        DeclineReason::NotReversible => "NOT_REVERSIBLE",
        DeclineReason::Other => "PROVIDER_REJECTED",
    }
}

/// The contract's view of a journaled transaction.
pub fn transaction(tx: &TxRecord, replay: bool) -> pb::Transaction {
    pb::Transaction {
        transaction_id: tx.id.to_string(),
        idempotency_key: tx.key.to_string(),
        kind: match tx.kind {
            TxKind::Debit => pb::TransactionKind::Debit,
            TxKind::Credit => pb::TransactionKind::Credit,
            TxKind::Rollback => pb::TransactionKind::Rollback,
        } as i32,
        state: state(tx.state) as i32,
        decline_reason: tx
            .decline_reason
            .map_or(pb::DeclineReason::Unspecified, decline) as i32,
        provider: tx.provider.to_string(),
        account: tx.account.clone(),
        amount: tx.amount.map(money),
        balance_after: tx.balance_after.map(money),
        provider_reference: tx.provider_ref.clone().unwrap_or_default(),
        reference: tx.reference.clone().unwrap_or_default(),
        reverses_transaction_id: tx
            .reverses
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        create_time: Some(timestamp(tx.created_us)),
        update_time: Some(timestamp(tx.updated_us)),
        replay,
    }
}

// ---- cursors and page tokens -----------------------------------------

const TOKEN_PREFIX: &str = "v1:";

/// The page token (and watch cursor) of journal position `seq`: a page that
/// starts after it. Public for load tests that open a page anywhere.
pub fn encode_position(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{seq}"))
}

pub(crate) fn decode_position(field: &'static str, token: &str) -> Result<i64, HubError> {
    if token.is_empty() {
        return Ok(0);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(TOKEN_PREFIX)?.parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .ok_or_else(|| HubError::field(field, "is not a token this hub issued"))
}

// ---- handlers ---------------------------------------------------------

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchTransactionsResponse, Status>> + Send>>;

const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
const WATCH_BATCH: usize = 500;

/// The rows a page request may have: `page_size` 0 (unset) is the default,
/// more than the maximum is the maximum. Callers refuse negative sizes.
pub(crate) fn page_limit(page_size: i32) -> usize {
    usize::try_from(page_size)
        .ok()
        .filter(|n| *n > 0)
        .map_or(DEFAULT_PAGE, |n| n.min(MAX_PAGE))
}

/// Cuts `rows`, fetched with one beyond `limit`, to the page, with the
/// token of the next page (empty on the last) from the position `seq`.
pub(crate) fn cut_page<T>(
    mut rows: Vec<T>,
    limit: usize,
    seq: impl Fn(&T) -> i64,
) -> (Vec<T>, String) {
    if rows.len() <= limit {
        return (rows, String::new());
    }
    rows.truncate(limit);
    let next = rows
        .last()
        .map(|r| encode_position(seq(r)))
        .unwrap_or_default();
    (rows, next)
}

#[tonic::async_trait]
impl SettlementService for Settlement {
    async fn debit(
        &self,
        req: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::DebitResponse>, Status> {
        let partner = Partner::from_request(&req)?;
        let answer_by = self.answer_by(&req);
        let r = req.get_ref();
        let call = transfer_call(
            TxKind::Debit,
            &r.idempotency_key,
            &r.provider,
            &r.account,
            r.amount.as_ref(),
            &r.reference,
            &self.engine,
        )?;
        crate::telemetry::set_provider(&req, &call.provider);
        partner.may_use(&call.provider)?;
        let call = Transfer {
            daily_limit: partner.amount_allowed(&call.amount)?,
            ..call
        };
        let a = self.engine.transfer(&partner.id, call, answer_by).await?;
        Ok(Response::new(pb::DebitResponse {
            transaction: Some(transaction(&a.tx, a.replay)),
        }))
    }

    async fn credit(
        &self,
        req: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        let partner = Partner::from_request(&req)?;
        let answer_by = self.answer_by(&req);
        let r = req.get_ref();
        let call = transfer_call(
            TxKind::Credit,
            &r.idempotency_key,
            &r.provider,
            &r.account,
            r.amount.as_ref(),
            &r.reference,
            &self.engine,
        )?;
        crate::telemetry::set_provider(&req, &call.provider);
        partner.may_use(&call.provider)?;
        let call = Transfer {
            daily_limit: partner.amount_allowed(&call.amount)?,
            ..call
        };
        let a = self.engine.transfer(&partner.id, call, answer_by).await?;
        Ok(Response::new(pb::CreditResponse {
            transaction: Some(transaction(&a.tx, a.replay)),
        }))
    }

    async fn rollback(
        &self,
        req: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        use pb::rollback_request::Target;
        let partner = Partner::from_request(&req)?;
        let answer_by = self.answer_by(&req);
        let r = req.get_ref();
        let mut c = Check::default();
        let key = c.id("idempotency_key", IdempotencyKey::parse(&r.idempotency_key));
        let provider = if r.provider.is_empty() {
            None
        } else {
            c.id("provider", ProviderId::parse(&r.provider))
        };
        let target = match &r.target {
            Some(Target::TransactionId(id)) => c
                .id("transaction_id", TransactionId::parse(id))
                .map(RollbackTarget::Id),
            Some(Target::OriginalIdempotencyKey(k)) => c
                .id("original_idempotency_key", IdempotencyKey::parse(k))
                .map(|k| RollbackTarget::Key(k, provider.clone())),
            None => {
                c.fail("target", "set transaction_id or original_idempotency_key");
                None
            }
        };
        if let Some(p) = &provider {
            if !self.engine.has_provider(p) {
                c.fail("provider", format!("no provider named {:?}", p.as_str()));
            }
        }
        if let (Some(k), Some(RollbackTarget::Key(original, _))) = (&key, &target) {
            if k == original {
                c.fail(
                    "original_idempotency_key",
                    "must differ from the rollback's own idempotency_key",
                );
            }
        }
        let (Some(key), Some(target)) = (key, target) else {
            return Err(c.done().err().unwrap_or(HubError::Internal).into());
        };
        c.done()?;
        // A rollback goes to its original's provider, which a rollback by
        // id (or by key without `provider`) does not name: the partner must
        // be allowed that provider, within its per-provider rate limit,
        // before anything is journaled or sent. `provider` counts only for
        // a debit the hub has not seen (it is then tombstoned). An original
        // journaled after this lookup came from a call of the same partner
        // that passed the same check an instant before.
        let to = self.engine.rollback_provider(&partner.id, &target).await?;
        if let Some(p) = &to {
            crate::telemetry::set_provider(&req, p);
            partner.may_use(p)?;
        }
        let call = Reversal {
            key,
            target,
            provider: to,
        };
        let a = self.engine.rollback(&partner.id, call, answer_by).await?;
        Ok(Response::new(pb::RollbackResponse {
            transaction: Some(transaction(&a.tx, a.replay)),
        }))
    }

    async fn get_balance(
        &self,
        req: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        let partner = Partner::from_request(&req)?;
        let answer_by = self.answer_by(&req);
        let r = req.get_ref();
        let mut c = Check::default();
        let provider = c.id("provider", ProviderId::parse(&r.provider));
        if let Some(p) = &provider {
            if !self.engine.has_provider(p) {
                c.fail("provider", format!("no provider named {:?}", p.as_str()));
            }
        }
        let account = c.id("account", Account::parse(&r.account));
        let currency = c.currency("currency_code", &r.currency_code);
        let (Some(provider), Some(account), Some(currency)) = (provider, account, currency) else {
            return Err(c.done().err().unwrap_or(HubError::Internal).into());
        };
        c.done()?;
        crate::telemetry::set_provider(&req, &provider);
        partner.may_use(&provider)?;
        let balance = self
            .engine
            .balance(&provider, &account, currency, answer_by)
            .await?;
        Ok(Response::new(pb::GetBalanceResponse {
            balance: Some(money(balance)),
        }))
    }

    async fn get_transaction(
        &self,
        req: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::GetTransactionResponse>, Status> {
        use pb::get_transaction_request::Lookup as L;
        let partner = Partner::from_request(&req)?;
        let lookup = match &req.get_ref().lookup {
            Some(L::IdempotencyKey(k)) => Lookup::Key(
                IdempotencyKey::parse(k)
                    .map_err(|e| HubError::field("idempotency_key", e.to_string()))?,
            ),
            Some(L::TransactionId(id)) => Lookup::Id(
                TransactionId::parse(id)
                    .map_err(|e| HubError::field("transaction_id", e.to_string()))?,
            ),
            None => {
                return Err(
                    HubError::field("lookup", "set idempotency_key or transaction_id").into(),
                );
            }
        };
        let tx = self
            .engine
            .journal()
            .get(&partner.id, &lookup)
            .await
            .map_err(HubError::from)?
            .ok_or(HubError::NotFound)?;
        Ok(Response::new(pb::GetTransactionResponse {
            transaction: Some(transaction(&tx, false)),
        }))
    }

    async fn list_transactions(
        &self,
        req: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let partner = Partner::from_request(&req)?;
        let r = req.get_ref();
        let mut c = Check::default();
        if r.page_size < 0 {
            c.fail("page_size", "must not be negative");
        }
        let after = decode_position("page_token", &r.page_token)
            .map_err(|e| c.fail("page_token", e.to_string()))
            .ok();
        let provider = if r.provider.is_empty() {
            None
        } else {
            c.id("provider", ProviderId::parse(&r.provider))
        };
        let states = states_from(&r.states)
            .map_err(|_| c.fail("states", "holds an unknown state"))
            .ok();
        let start_us = r.start_time.as_ref().map(timestamp_us);
        let end_us = r.end_time.as_ref().map(timestamp_us);
        if matches!(start_us, Some(None)) {
            c.fail("start_time", "is out of range");
        }
        if matches!(end_us, Some(None)) {
            c.fail("end_time", "is out of range");
        }
        c.done()?;
        let limit = page_limit(r.page_size);
        let filter = ListFilter {
            provider,
            states: states.unwrap_or_default(),
            start_us: start_us.flatten(),
            end_us: end_us.flatten(),
        };
        let rows = self
            .engine
            .journal()
            .list(&partner.id, &filter, after.unwrap_or(0), limit + 1)
            .await
            .map_err(HubError::from)?;
        let (page, next_page_token) = cut_page(rows, limit, |t| t.seq);
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: page.iter().map(|t| transaction(t, false)).collect(),
            next_page_token,
        }))
    }

    type WatchTransactionsStream = WatchStream;

    async fn watch_transactions(
        &self,
        req: Request<pb::WatchTransactionsRequest>,
    ) -> Result<Response<Self::WatchTransactionsStream>, Status> {
        let partner = Partner::from_request(&req)?;
        let r = req.get_ref();
        let mut after = decode_position("cursor", &r.cursor)?;
        let provider = if r.provider.is_empty() {
            None
        } else {
            Some(
                ProviderId::parse(&r.provider)
                    .map_err(|e| HubError::field("provider", e.to_string()))?,
            )
        };
        let journal = Arc::clone(self.engine.journal());
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let stop = self.stop_feeds.clone();
        let feed = async move {
            // Subscribe before reading the backlog, so nothing falls between.
            let mut live = journal.subscribe();
            loop {
                // Backlog (or catch-up after falling behind) from the journal.
                let batch = match journal
                    .changes(&partner.id, provider.as_ref(), after, WATCH_BATCH)
                    .await
                {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(HubError::from(e).into_status())).await;
                        return;
                    }
                };
                let full = batch.len() == WATCH_BATCH;
                for ch in batch {
                    after = ch.seq;
                    if tx.send(Ok(change_message(&ch))).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                // Live: the single journal writer publishes in commit order
                // and we subscribed before reading the backlog, so every
                // change after `after` arrives here (duplicates of the
                // backlog are skipped by seq). On lag, go back to the journal
                // from the last cursor sent.
                loop {
                    match live.recv().await {
                        Ok(ch) => {
                            if ch.seq <= after
                                || ch.tx.partner != partner.id
                                || provider.as_ref().is_some_and(|p| *p != ch.tx.provider)
                            {
                                continue;
                            }
                            after = ch.seq;
                            if tx.send(Ok(change_message(&ch))).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                () = feed => {}
                () = stop.cancelled() => {}
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

fn change_message(ch: &crate::journal::Change) -> pb::WatchTransactionsResponse {
    pb::WatchTransactionsResponse {
        transaction: Some(transaction(&ch.tx, false)),
        cursor: encode_position(ch.seq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
    }

    #[test]
    fn the_answer_time_counts_from_arrival_less_the_margin() {
        let timing = Timing {
            default_deadline: Duration::from_secs(10),
            answer_margin: Duration::from_millis(50),
        };
        let arrived = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(answer_by(arrived, Some(ms(500)), timing), arrived + ms(450));
        // No deadline, or a longer one than the hub allows: the default.
        assert_eq!(answer_by(arrived, None, timing), arrived + ms(9_950));
        assert_eq!(
            answer_by(arrived, Some(Duration::from_secs(60)), timing),
            arrived + ms(9_950)
        );
        // Shorter than the margin: already due when it arrived.
        assert_eq!(answer_by(arrived, Some(ms(20)), timing), arrived);
    }

    #[test]
    fn positions_round_trip_and_foreign_tokens_fail() {
        assert_eq!(decode_position("t", &encode_position(42)).unwrap(), 42);
        assert_eq!(decode_position("t", "").unwrap(), 0);
        assert!(decode_position("t", "garbage!").is_err());
        let foreign = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1:-5");
        assert!(decode_position("t", &foreign).is_err());
    }

    #[test]
    fn timestamps_convert_both_ways() {
        for us in [0, 1, 1_732_540_000_123_456, -1] {
            assert_eq!(timestamp_us(&timestamp(us)), Some(us));
        }
    }
}
