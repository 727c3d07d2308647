//! The client: connection, credentials, the safe-retry loop and every call.

use std::future::Future;
use std::time::Duration;

use hub_proto::settlement::v1::settlement_service_client::SettlementServiceClient;
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::backoff::{self, Jitter};
use crate::error::{Retry, SdkError, classify};
use crate::pb;
use crate::requests::{Credit, Debit, Rollback, RollbackTarget};

/// How the client proves who it is. TLS and client certificates are set on
/// the [`Channel`] given to [`Client::from_channel`].
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// A partner API key, sent as `x-api-key`.
    ApiKey(String),
    /// An OAuth2 JWT, sent as `authorization: Bearer <token>`.
    Bearer(String),
    /// No credentials in metadata (a client certificate on the channel, or
    /// none at all).
    None,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        match self {
            Auth::ApiKey(_) => f.write_str("ApiKey(..)"),
            Auth::Bearer(_) => f.write_str("Bearer(..)"),
            Auth::None => f.write_str("None"),
        }
    }
}

/// Deadline and retry settings; see [`Client::with_deadline`] and friends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Deadline of each call, retries included.
    pub deadline: Duration,
    /// Most attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry (before jitter).
    pub backoff_base: Duration,
    /// Longest backoff (before the RetryInfo floor).
    pub backoff_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            deadline: Duration::from_secs(10),
            max_attempts: 5,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// A settlement hub client. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    inner: SettlementServiceClient<Channel>,
    credential: Option<(&'static str, AsciiMetadataValue)>,
    settings: Settings,
    jitter: Jitter,
}

impl Client {
    /// Connects to the hub at `endpoint` (such as `http://127.0.0.1:50051`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), settlement_sdk::SdkError> {
    /// use settlement_sdk::{Auth, Client};
    /// let client = Client::connect("http://127.0.0.1:50051", Auth::ApiKey("hk_...".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(endpoint: impl Into<String>, auth: Auth) -> Result<Client, SdkError> {
        let endpoint = endpoint.into();
        let channel = Channel::from_shared(endpoint.clone())
            .map_err(|_| SdkError::InvalidEndpoint(endpoint))?
            .connect()
            .await?;
        Client::from_channel(channel, auth)
    }

    /// A client over a channel the caller built, for TLS or a client
    /// certificate.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use settlement_sdk::{Auth, Client};
    /// use tonic::transport::Channel;
    /// let channel = Channel::from_static("http://127.0.0.1:50051").connect().await?;
    /// let client = Client::from_channel(channel, Auth::Bearer("eyJ...".into()))?;
    /// # Ok(()) }
    /// ```
    pub fn from_channel(channel: Channel, auth: Auth) -> Result<Client, SdkError> {
        let credential = match auth {
            Auth::ApiKey(k) => Some((
                "x-api-key",
                MetadataValue::try_from(k).map_err(|_| SdkError::InvalidCredentials)?,
            )),
            Auth::Bearer(t) => Some((
                "authorization",
                MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| SdkError::InvalidCredentials)?,
            )),
            Auth::None => None,
        };
        Ok(Client {
            inner: SettlementServiceClient::new(channel),
            credential,
            settings: Settings::default(),
            jitter: Jitter::system(),
        })
    }

    /// The same client with `deadline` for each call, retries included.
    pub fn with_deadline(mut self, deadline: Duration) -> Client {
        self.settings.deadline = deadline;
        self
    }

    /// The same client with at most `n` attempts per call (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Client {
        self.settings.max_attempts = n.max(1);
        self
    }

    /// The same client with a backoff growing from `base` up to `max`.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Client {
        self.settings.backoff_base = base;
        self.settings.backoff_max = max;
        self
    }

    /// The same client drawing its backoff jitter from `jitter` (such as
    /// [`Jitter::seeded`] for reproducible waits).
    pub fn with_jitter(mut self, jitter: Jitter) -> Client {
        self.jitter = jitter;
        self
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Takes money from an account. The idempotency key is a fresh UUIDv7
    /// unless set on the request; safe retries reuse it.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// use settlement_sdk::{Debit, money};
    /// let tx = client.debit(Debit::new("acme", "acc-1", money("EUR", 1250))).await?;
    /// println!("{} is {:?}", tx.transaction_id, tx.state());
    /// # Ok(()) }
    /// ```
    pub async fn debit(&self, req: Debit) -> Result<pb::Transaction, SdkError> {
        let msg = pb::DebitRequest {
            idempotency_key: key_or_new(req.idempotency_key),
            provider: req.provider,
            account: req.account,
            amount: Some(req.amount),
            reference: req.reference.unwrap_or_default(),
        };
        let resp = self
            .call(msg, |mut c, r| async move { c.debit(r).await })
            .await?;
        resp.transaction
            .ok_or(SdkError::MissingField("transaction"))
    }

    /// Gives money to an account, with the same key rules as
    /// [`debit`](Client::debit).
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// use settlement_sdk::{Credit, money};
    /// let tx = client
    ///     .credit(Credit::new("acme", "acc-1", money("EUR", 500)).idempotency_key("win-42"))
    ///     .await?;
    /// assert_eq!(tx.idempotency_key, "win-42");
    /// # Ok(()) }
    /// ```
    pub async fn credit(&self, req: Credit) -> Result<pb::Transaction, SdkError> {
        let msg = pb::CreditRequest {
            idempotency_key: key_or_new(req.idempotency_key),
            provider: req.provider,
            account: req.account,
            amount: Some(req.amount),
            reference: req.reference.unwrap_or_default(),
        };
        let resp = self
            .call(msg, |mut c, r| async move { c.credit(r).await })
            .await?;
        resp.transaction
            .ok_or(SdkError::MissingField("transaction"))
    }

    /// Reverses an earlier debit, named by transaction id or idempotency key.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client, debit_id: String) -> Result<(), settlement_sdk::SdkError> {
    /// use settlement_sdk::Rollback;
    /// let tx = client.rollback(Rollback::of_transaction(debit_id)).await?;
    /// println!("reversed {}", tx.reverses_transaction_id);
    /// # Ok(()) }
    /// ```
    pub async fn rollback(&self, req: Rollback) -> Result<pb::Transaction, SdkError> {
        let target = match req.target {
            RollbackTarget::TransactionId(id) => pb::rollback_request::Target::TransactionId(id),
            RollbackTarget::IdempotencyKey(k) => {
                pb::rollback_request::Target::OriginalIdempotencyKey(k)
            }
        };
        let msg = pb::RollbackRequest {
            idempotency_key: key_or_new(req.idempotency_key),
            target: Some(target),
            provider: req.provider.unwrap_or_default(),
        };
        let resp = self
            .call(msg, |mut c, r| async move { c.rollback(r).await })
            .await?;
        resp.transaction
            .ok_or(SdkError::MissingField("transaction"))
    }

    /// An account's balance at a provider.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// let balance = client.get_balance("acme", "acc-1", "EUR").await?;
    /// println!("{} {}", balance.minor_units, balance.currency_code);
    /// # Ok(()) }
    /// ```
    pub async fn get_balance(
        &self,
        provider: impl Into<String>,
        account: impl Into<String>,
        currency_code: impl Into<String>,
    ) -> Result<pb::Money, SdkError> {
        let msg = pb::GetBalanceRequest {
            provider: provider.into(),
            account: account.into(),
            currency_code: currency_code.into(),
        };
        let resp = self
            .call(msg, |mut c, r| async move { c.get_balance(r).await })
            .await?;
        resp.balance.ok_or(SdkError::MissingField("balance"))
    }

    /// One of the partner's transactions by its transaction id.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// let tx = client.get_transaction("0190c2d4-...").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_transaction(
        &self,
        transaction_id: impl Into<String>,
    ) -> Result<pb::Transaction, SdkError> {
        self.lookup(pb::get_transaction_request::Lookup::TransactionId(
            transaction_id.into(),
        ))
        .await
    }

    /// One of the partner's transactions by the idempotency key that created
    /// it.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// let tx = client.get_transaction_by_key("win-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_transaction_by_key(
        &self,
        idempotency_key: impl Into<String>,
    ) -> Result<pb::Transaction, SdkError> {
        self.lookup(pb::get_transaction_request::Lookup::IdempotencyKey(
            idempotency_key.into(),
        ))
        .await
    }

    async fn lookup(
        &self,
        lookup: pb::get_transaction_request::Lookup,
    ) -> Result<pb::Transaction, SdkError> {
        let msg = pb::GetTransactionRequest {
            lookup: Some(lookup),
        };
        let resp = self
            .call(msg, |mut c, r| async move { c.get_transaction(r).await })
            .await?;
        resp.transaction
            .ok_or(SdkError::MissingField("transaction"))
    }

    /// One page of the partner's transactions, oldest first.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// use settlement_sdk::pb::ListTransactionsRequest;
    /// let page = client
    ///     .list_transactions(ListTransactionsRequest { page_size: 50, ..Default::default() })
    ///     .await?;
    /// for tx in page.transactions {
    ///     println!("{} {:?}", tx.transaction_id, tx.state());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_transactions(
        &self,
        req: pb::ListTransactionsRequest,
    ) -> Result<pb::ListTransactionsResponse, SdkError> {
        self.call(req, |mut c, r| async move { c.list_transactions(r).await })
            .await
    }

    /// The change feed of the partner's transactions, after `cursor` (empty
    /// for the beginning). The stream has no deadline and is not retried:
    /// resume with the last message's cursor.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// let mut feed = client.watch_transactions("", None).await?;
    /// while let Some(change) = feed.message().await.map_err(settlement_sdk::SdkError::from)? {
    ///     println!("{} after {}", change.cursor, change.transaction.map(|t| t.transaction_id).unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn watch_transactions(
        &self,
        cursor: impl Into<String>,
        provider: Option<String>,
    ) -> Result<tonic::Streaming<pb::WatchTransactionsResponse>, SdkError> {
        let mut req = Request::new(pb::WatchTransactionsRequest {
            cursor: cursor.into(),
            provider: provider.unwrap_or_default(),
        });
        self.authorize(&mut req);
        let mut c = self.inner.clone();
        Ok(c.watch_transactions(req).await?.into_inner())
    }

    /// Polls the transaction until it is no longer PENDING, for at most
    /// `timeout`; [`SdkError::StillPending`] carries it if it still is.
    ///
    /// ```no_run
    /// # async fn run(client: settlement_sdk::Client) -> Result<(), settlement_sdk::SdkError> {
    /// use std::time::Duration;
    /// use settlement_sdk::{Debit, money, pb::TransactionState};
    /// let mut tx = client.debit(Debit::new("acme", "acc-1", money("EUR", 100))).await?;
    /// if tx.state() == TransactionState::Pending {
    ///     tx = client.wait_final(&tx.transaction_id, Duration::from_secs(30)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_final(
        &self,
        transaction_id: &str,
        timeout: Duration,
    ) -> Result<pb::Transaction, SdkError> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(50);
        loop {
            let tx = self.get_transaction(transaction_id).await?;
            if tx.state() != pb::TransactionState::Pending {
                return Ok(tx);
            }
            if Instant::now() + interval >= deadline {
                return Err(SdkError::StillPending {
                    transaction: Box::new(tx),
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_millis(500));
        }
    }

    fn authorize<M>(&self, req: &mut Request<M>) {
        if let Some((name, value)) = &self.credential {
            req.metadata_mut().insert(*name, value.clone());
        }
    }

    /// Runs one unary call with safe retries: the same message (so the same
    /// idempotency key) each time, full-jitter backoff, within the deadline.
    async fn call<M, R, F, Fut>(&self, msg: M, mut rpc: F) -> Result<R, SdkError>
    where
        M: Clone,
        F: FnMut(SettlementServiceClient<Channel>, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let deadline = Instant::now() + self.settings.deadline;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(SdkError::DeadlineExceeded);
            }
            let mut req = Request::new(msg.clone());
            req.set_timeout(remaining);
            self.authorize(&mut req);
            let status = match rpc(self.inner.clone(), req).await {
                Ok(resp) => return Ok(resp.into_inner()),
                Err(status) => status,
            };
            let hint = match classify(&status) {
                Retry::After(hint) if attempt < self.settings.max_attempts => hint,
                _ => return Err(status.into()),
            };
            let wait = backoff::delay(
                attempt,
                self.settings.backoff_base,
                self.settings.backoff_max,
                hint,
                self.jitter.draw(),
            );
            if Instant::now() + wait >= deadline {
                return Err(status.into());
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// The caller's key, or a fresh UUIDv7.
fn key_or_new(key: Option<String>) -> String {
    key.unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}
