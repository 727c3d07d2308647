//! The plugin bridge: an [`Adapter`] that forwards every call to an adapter
//! plugin, a separate process in any language that serves `adapter.v1`
//! (`proto/adapter/v1/adapter.proto`) on a Unix socket or a loopback TCP
//! port.
//!
//! A provider entry with `dialect = "plugin"` builds one (see
//! [`PluginConfig`]). The hub then treats it like any built-in adapter: the
//! same deadlines, retries, breakers and journal wrap it. The bridge itself
//! only transports and checks:
//!
//! - every call carries `authorization: Bearer <token>` (the shared token
//!   from `token` or `token_file`);
//! - the plugin's `Describe` answer is fetched when the provider is built and
//!   becomes the [`Descriptor`] (the plugin must be up before the hub);
//! - every answer is checked against the contract by the pure functions of
//!   [`reply`]: anything out of contract is `Unknown` for a money movement,
//!   never trusted;
//! - a call that could not connect is `NotProcessed(Connect)` (nothing was
//!   sent); any failure after that (reset, crash, undecodable or oversized
//!   reply over [`MAX_REPLY_BYTES`]) is `Unknown`;
//! - it never times out a call on its own (only the connection attempt):
//!   the hub's deadline drops the call, which cancels it at the plugin.
//!
//! Connections are made lazily and remade after the plugin restarts.

mod channel;
mod config;
pub mod reply;

use std::sync::{Arc, OnceLock};

use adapter_api::{
    Adapter, AdapterError, AdapterFactory, BalanceRequest, Descriptor, Money, MoneyRequest,
    Outcome, RollbackRequest, SettingsError, StatusRequest, TxStatus,
};
use hub_proto::adapter::v1 as pb;
use hub_proto::adapter::v1::adapter_service_client::AdapterServiceClient;
use tonic::transport::Channel;

pub use channel::{MAX_REPLY_BYTES, Unreachable};
pub use config::{Address, ConfigError, PluginConfig};
pub use reply::DIALECT;

use config::Bearer;

/// Builds plugin bridges from a provider's settings (`address`, `token` or
/// `token_file`, optional `connect_timeout` and `describe_timeout`; see
/// [`PluginConfig`]).
///
/// [`build`](AdapterFactory::build) calls the plugin's `Describe` and waits
/// for it (at most `describe_timeout`) on a thread of its own, so it may be
/// called from inside a Tokio runtime; a plugin served by that same runtime
/// must run on another of its worker threads (a multi-thread runtime).
#[derive(Debug, Default, Clone, Copy)]
pub struct Factory;

impl AdapterFactory for Factory {
    fn dialect(&self) -> &'static str {
        DIALECT
    }

    fn build(&self, settings: &serde_json::Value) -> Result<Arc<dyn Adapter>, SettingsError> {
        let config: PluginConfig =
            serde_json::from_value(settings.clone()).map_err(|e| SettingsError::from_serde(&e))?;
        let adapter = PluginAdapter::connect_blocking(config)
            .map_err(|e| SettingsError::new(e.field(), e.reason()))?;
        Ok(Arc::new(adapter))
    }
}

/// The bridge to one plugin.
///
/// Cheap to share: hold it as `Arc<dyn Adapter>`. `Debug` never prints the
/// token.
#[derive(Debug)]
pub struct PluginAdapter {
    address: Address,
    bearer: Bearer,
    connect_timeout: std::time::Duration,
    described: reply::Described,
    /// Made on first use, inside the runtime that serves the calls.
    client: OnceLock<AdapterServiceClient<Channel>>,
}

impl PluginAdapter {
    /// Validates `config`, asks the plugin to describe itself and builds the
    /// bridge. Fails when the plugin does not answer `Describe` within
    /// `describe_timeout`, or answers out of contract.
    pub async fn connect(config: PluginConfig) -> Result<Self, ConfigError> {
        let (address, bearer) = validate(&config)?;
        let client = channel::client(&address, config.connect_timeout);
        let described = describe(&client, &bearer, config.describe_timeout).await?;
        Ok(Self {
            address,
            bearer,
            connect_timeout: config.connect_timeout,
            described,
            client: OnceLock::new(),
        })
    }

    /// [`connect`](Self::connect) for synchronous callers: runs it on a
    /// thread of its own with its own runtime, and waits.
    pub fn connect_blocking(config: PluginConfig) -> Result<Self, ConfigError> {
        let (address, bearer) = validate(&config)?;
        let timeout = config.describe_timeout;
        let connect_timeout = config.connect_timeout;
        let probe = (address.clone(), bearer.clone());
        let described = std::thread::scope(|s| {
            s.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ConfigError::Describe(format!("no runtime: {e}")))?;
                runtime.block_on(async move {
                    let client = channel::client(&probe.0, connect_timeout);
                    describe(&client, &probe.1, timeout).await
                })
            })
            .join()
            .unwrap_or_else(|_| Err(ConfigError::Describe("the describe thread panicked".into())))
        })?;
        Ok(Self {
            address,
            bearer,
            connect_timeout,
            described,
            client: OnceLock::new(),
        })
    }

    /// Where the plugin listens.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The plugin's own dialect name, from its `Describe` answer.
    pub fn plugin_dialect(&self) -> &str {
        &self.described.plugin_dialect
    }

    fn client(&self) -> AdapterServiceClient<Channel> {
        self.client
            .get_or_init(|| channel::client(&self.address, self.connect_timeout))
            .clone()
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        authorized(message, &self.bearer)
    }
}

fn authorized<T>(message: T, bearer: &Bearer) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.0.clone());
    request
}

fn validate(config: &PluginConfig) -> Result<(Address, Bearer), ConfigError> {
    let address = Address::parse(&config.address)?;
    let bearer = Bearer::from_config(config)?;
    if config.connect_timeout.is_zero() {
        return Err(ConfigError::ZeroTimeout("connect_timeout"));
    }
    if config.describe_timeout.is_zero() {
        return Err(ConfigError::ZeroTimeout("describe_timeout"));
    }
    Ok((address, bearer))
}

async fn describe(
    client: &AdapterServiceClient<Channel>,
    bearer: &Bearer,
    timeout: std::time::Duration,
) -> Result<reply::Described, ConfigError> {
    let mut client = client.clone();
    let call = client.describe(authorized(pb::DescribeRequest {}, bearer));
    let answer = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| ConfigError::Describe(format!("no answer within {timeout:?}")))?
        .map_err(|status| ConfigError::Describe(channel::call_error(status).to_string()))?;
    reply::describe(answer.into_inner()).map_err(|e| ConfigError::Describe(e.to_string()))
}

fn answer<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, reply::CallError> {
    result
        .map(tonic::Response::into_inner)
        .map_err(channel::call_error)
}

#[async_trait::async_trait]
impl Adapter for PluginAdapter {
    fn descriptor(&self) -> Descriptor {
        self.described.descriptor.clone()
    }

    async fn transfer(&self, req: &MoneyRequest) -> Outcome {
        let message = reply::transfer_request(req);
        let result = self.client().transfer(self.request(message)).await;
        reply::transfer(req, answer(result))
    }

    async fn rollback(&self, req: &RollbackRequest) -> Outcome {
        let message = reply::rollback_request(req);
        let result = self.client().rollback(self.request(message)).await;
        reply::rollback(req, answer(result))
    }

    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        if !self.described.descriptor.capabilities.balance {
            return Err(AdapterError::Unsupported);
        }
        let message = reply::balance_request(req);
        let result = self.client().get_balance(self.request(message)).await;
        reply::balance(req, answer(result))
    }

    async fn status(&self, req: &StatusRequest) -> TxStatus {
        if !self.described.descriptor.capabilities.status {
            return TxStatus::Unknown(AdapterError::Unsupported);
        }
        let message = reply::status_request(req);
        let result = self.client().get_status(self.request(message)).await;
        reply::status(req, answer(result))
    }
}
