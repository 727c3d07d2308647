//! Assembles the hub from its configuration and serves it: the settlement
//! service behind the auth layer, `grpc.health.v1`, and server reflection v1
//! and v1alpha, all from one listener, over TLS (see [`crate::tls`]) unless
//! the configuration explicitly asks for plaintext.
//!
//! Hostile clients meet the limits of `[server]` here: message and metadata
//! size, streams and requests per connection, HTTP/2 and TCP keepalive, a
//! deadline on the handshake and preface of every new connection, and an
//! idle timeout that closes a connection with no call open.
//!
//! Shutdown is graceful: health turns NOT_SERVING, new money calls are
//! refused, change feeds end, calls in flight get `server.shutdown_grace` to
//! finish, and whatever is still unfinished is journaled PENDING.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hub_proto::admin::v1::admin_service_server::AdminServiceServer;
use hub_proto::settlement::v1::settlement_service_server::SettlementServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::admin::{ADMIN_PATH_PREFIX, Admin};
use crate::auth::{AuthLayer, Authenticator, GateLayer, PartnerGate, SharedAuthenticator};
use crate::config::{Config, ConfigError, ServerConfig};
use crate::domain::ProviderId;
use crate::engine::{Clock, Engine, SystemClock};
use crate::journal::{Journal, SqliteJournal};
use crate::operators::{OperatorAuth, OperatorGate, SharedOperatorAuth};
use crate::reload::Reloader;
use crate::resilience::{Jitter, SeededJitter};
use crate::service::{Settlement, Timing};
use crate::swap::Swap;
use crate::telemetry::TelemetryLayer;
use crate::tls::{AcceptOptions, OpenCallsLayer, ServerTls, TlsError};

/// The gRPC service name partners call.
pub const SERVICE_NAME: &str = "settlement.v1.SettlementService";
const SERVICE_PATH_PREFIX: &str = "/settlement.v1.SettlementService/";
/// How long open connections get to close once money calls have drained.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the hub could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration does not describe a hub that can run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be opened.
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    /// Reflection could not load the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The TLS certificate, key or client CA could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A hub ready to serve.
pub struct Hub {
    engine: Engine,
    auth: SharedAuthenticator,
    timing: Timing,
    grace: std::time::Duration,
    server: ServerConfig,
    tls: Option<Arc<ServerTls>>,
    exchange_log: Option<crate::exchange_log::ExchangeLog>,
    metrics: Option<TcpListener>,
    operators: SharedOperatorAuth,
    reloader: Arc<Reloader>,
    clock: Arc<dyn Clock>,
}

impl Hub {
    /// Builds the hub from `config`, opening the journal file it names.
    pub fn from_config(config: &Config) -> Result<Self, ServeError> {
        let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&config.journal.path)?);
        Self::with_journal(
            config,
            journal,
            Arc::new(SystemClock),
            Arc::new(SeededJitter::from_entropy()),
        )
    }

    /// Builds the hub from `config` over an existing journal.
    pub fn with_journal(
        config: &Config,
        journal: Arc<dyn Journal>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
    ) -> Result<Self, ServeError> {
        let tls = match config.server.transport()? {
            Some(tls) => Some(Arc::new(ServerTls::load(tls)?)),
            None => None,
        };
        let exchange_log = crate::exchange_log::ExchangeLog::from_config(config, clock.clone())?;
        let providers = crate::reload::build_providers(
            &config.providers,
            jitter.clone(),
            exchange_log.as_ref(),
        )?;
        let auth: SharedAuthenticator = Arc::new(Swap::new(Authenticator::from_config(
            config,
            journal.clone(),
            clock.clone(),
        )?));
        let operators: SharedOperatorAuth = Arc::new(Swap::new(OperatorAuth::from_config(
            config,
            journal.clone(),
        )?));
        let engine = Engine::new(
            journal,
            providers,
            clock.clone(),
            jitter.clone(),
            config.resolver.clone(),
            config.server.max_money_calls_in_flight,
        );
        crate::metrics::init_series(&engine, config);
        let reloader = Arc::new(Reloader::new(
            config.clone(),
            engine.clone(),
            auth.clone(),
            operators.clone(),
            clock.clone(),
            jitter,
            exchange_log.clone(),
        ));
        Ok(Self {
            operators,
            reloader,
            clock,
            engine,
            auth,
            timing: Timing {
                default_deadline: config.server.default_deadline,
                answer_margin: config.server.answer_margin,
            },
            exchange_log,
            grace: config.server.shutdown_grace,
            server: config.server.clone(),
            tls,
            metrics: None,
        })
    }

    /// Also serves Prometheus metrics (`GET /metrics`) on `listener` while
    /// the hub runs.
    pub fn with_metrics_listener(mut self, listener: TcpListener) -> Self {
        self.metrics = Some(listener);
        self
    }

    /// Reloads read `path` (the file the hub was configured from).
    pub fn with_config_file(self, path: std::path::PathBuf) -> Self {
        self.reloader.set_path(path);
        self
    }

    /// Applies new configurations to the running hub (also on SIGHUP and
    /// through `admin.v1`).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The engine (for tests and tools).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The provider exchange log, unless `exchange_log.enabled` is false.
    pub fn exchange_log(&self) -> Option<&crate::exchange_log::ExchangeLog> {
        self.exchange_log.as_ref()
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down
    /// gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        // Transactions a previous process left SENT had their provider calls
        // interrupted: their outcome is unknown.
        let parked = self
            .engine
            .journal()
            .park_in_flight(self.clock.now_us())
            .await?;
        if parked > 0 {
            tracing::warn!(parked, "interrupted transactions are now PENDING");
        }
        // Providers with unfinished work take no new money calls until the
        // resolver has tried every such transaction once.
        let unfinished: Vec<ProviderId> = self
            .engine
            .journal()
            .list_work(Some(false))
            .await?
            .into_iter()
            .map(|w| w.provider)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        self.engine.set_recovering(&unfinished, true);
        let stop_resolver = CancellationToken::new();
        let resolver = tokio::spawn(self.engine.clone().run_resolver(stop_resolver.clone()));

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<SettlementServiceServer<Settlement>>()
            .await;
        health.set_service_status("", ServingStatus::Serving).await;

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hub_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so grpcurl can print them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hub_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so grpcurl can print them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let mut background = tokio::task::JoinSet::new();
        // Health checks run under the reloader, which restarts them for
        // providers a reload changes.
        self.reloader.start_all_health();
        #[cfg(unix)]
        background.spawn(reload_on_sighup(self.reloader.clone()));
        background.spawn(report_providers(self.engine.clone(), health.clone()));
        if let Some(tls) = &self.tls {
            background.spawn(tls.clone().watch());
        }
        if let Some(log) = &self.exchange_log {
            background.spawn(log.clone().run_pruner());
        }
        // Ends with the other background tasks, at shutdown.
        if let Some(listener) = self.metrics {
            background.spawn(crate::metrics::serve(listener, self.engine.clone()));
        }
        let limits = &self.server;
        tracing::info!(
            tls = self.tls.is_some(),
            mtls = self.tls.as_ref().is_some_and(|t| t.mutual()),
            "partner port ready"
        );
        let incoming = crate::tls::incoming(
            listener,
            self.tls.clone(),
            AcceptOptions {
                // Set on each accepted socket here: tonic's own
                // `tcp_keepalive` only applies to listeners it binds itself.
                tcp_keepalive: Some(limits.tcp_keepalive),
                handshake_timeout: limits.handshake_timeout,
                idle_timeout: Some(limits.idle_timeout),
            },
        );

        let stop_feeds = CancellationToken::new();
        let settlement = Settlement::new(self.engine.clone(), self.timing, stop_feeds.clone());
        let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
        let max_message = limits.max_message_bytes;
        let server = tonic::transport::Server::builder()
            .http2_max_header_list_size(limits.max_metadata_bytes)
            .max_concurrent_streams(limits.max_concurrent_streams)
            .concurrency_limit_per_connection(limits.concurrency_limit_per_connection)
            .http2_keepalive_interval(Some(limits.http2_keepalive_interval))
            .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout))
            .max_connection_age(limits.max_connection_age)
            .max_connection_age_grace(limits.max_connection_age_grace)
            .http2_max_pending_accept_reset_streams(Some(limits.max_pending_reset_streams))
            // Outermost, so a call counts as open (holding off the idle
            // timeout) from the moment it arrives until it is answered.
            .layer(OpenCallsLayer)
            .layer(TelemetryLayer::new(&[
                SERVICE_PATH_PREFIX,
                ADMIN_PATH_PREFIX,
            ]))
            .layer(AuthLayer::new(
                PartnerGate(self.auth.clone()),
                SERVICE_PATH_PREFIX,
            ))
            .layer(GateLayer::new(
                OperatorGate(self.operators.clone()),
                ADMIN_PATH_PREFIX,
            ))
            .add_service(health_service.max_decoding_message_size(max_message))
            .add_service(reflection_v1.max_decoding_message_size(max_message))
            .add_service(reflection_v1alpha.max_decoding_message_size(max_message))
            .add_service(
                SettlementServiceServer::new(settlement).max_decoding_message_size(max_message),
            )
            .add_service(
                AdminServiceServer::new(Admin::new(
                    self.engine.clone(),
                    self.clock.clone(),
                    self.reloader.clone(),
                    self.exchange_log.clone(),
                ))
                .max_decoding_message_size(max_message),
            )
            .serve_with_incoming_shutdown(incoming, async {
                let _ = server_stopped.await;
            });
        tokio::pin!(server);
        tokio::select! {
            r = &mut server => return r.map_err(ServeError::from),
            () = shutdown => {}
        }

        tracing::info!("shutting down: refusing new calls");
        health
            .set_not_serving::<SettlementServiceServer<Settlement>>()
            .await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        stop_feeds.cancel();
        background.abort_all();
        self.reloader.stop_all_health();
        // Keep the port open while money calls drain, so new calls get a
        // clean UNAVAILABLE (retry elsewhere) rather than a reset connection.
        let parked = self.engine.drain(self.grace).await;
        match parked {
            Ok(0) => {}
            Ok(n) => tracing::warn!(parked = n, "unfinished transactions journaled PENDING"),
            Err(e) => tracing::error!(error = %e, "could not park unfinished transactions"),
        }
        // An attempt cut short here stays queued (leased items are all
        // retried at the next start).
        stop_resolver.cancel();
        if let Some(log) = &self.exchange_log {
            // What the last calls sent is written before the hub returns.
            log.flush().await;
        }
        resolver.abort();
        let _ = stop_server.send(());
        let served = tokio::time::timeout(CLOSE_GRACE, server).await;
        match served {
            Ok(r) => r.map_err(ServeError::from),
            Err(_) => {
                tracing::warn!("connections still open at the end of the grace period");
                Ok(())
            }
        }
    }
}

/// The health service name of a provider: `provider.<name>`.
pub fn provider_health_name(provider: &ProviderId) -> String {
    format!("provider.{provider}")
}

/// Keeps `grpc.health.v1` up to date with each provider: SERVING while any
/// of its endpoints is healthy with its breaker not open.
async fn report_providers(engine: Engine, health: tonic_health::server::HealthReporter) {
    let mut last: HashMap<ProviderId, bool> = HashMap::new();
    let mut tick = tokio::time::interval(PROVIDER_REPORT_INTERVAL);
    loop {
        tick.tick().await;
        for (id, provider) in engine.providers().iter() {
            let serving = provider.is_serving();
            if last.insert(id.clone(), serving) != Some(serving) {
                let status = if serving {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                health
                    .set_service_status(provider_health_name(id), status)
                    .await;
            }
        }
    }
}

/// How often provider states are copied into the health service.
const PROVIDER_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Reloads the configuration on every SIGHUP; a refused file is logged and
/// the running configuration stays.
#[cfg(unix)]
async fn reload_on_sighup(reloader: Arc<Reloader>) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: no reload on signal");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match reloader.reload().await {
            Ok(report) => tracing::info!(?report, "SIGHUP: configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: configuration refused; the running one stays")
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
