//! A fake adapter plugin written in Rust, for driving the bridge through
//! faults a real plugin shows rarely: wrong answers, hangs, crashes.
//!
//! Each fake runs on a runtime of its own, so a crash is real: dropping the
//! runtime closes every socket in the middle of whatever it was doing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hub_proto::adapter::v1 as pb;
use hub_proto::adapter::v1::adapter_service_server::{AdapterService, AdapterServiceServer};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

/// The token every fake expects unless told otherwise.
pub const TOKEN: &str = "plugin-test-token";

/// What the fake answers to money calls.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Settles every movement (echoing the id, balance 1000 in the request's
    /// currency), answers balances of 1000 and statuses APPLIED.
    Honest,
    /// Answers every transfer with exactly this message.
    Transfer(pb::TransferResponse),
    /// Answers every transfer with this gRPC status.
    Fail(tonic::Code),
    /// Never answers a transfer (until the call is cancelled).
    Hang,
}

/// Shared state between the test and the fake.
pub struct State {
    pub mode: Mutex<Mode>,
    pub token: Mutex<String>,
    /// Transfers the handler started (after the token check).
    pub transfers: AtomicUsize,
    /// Hanging calls that were dropped (cancelled by the client).
    pub cancelled: AtomicUsize,
    /// Signalled whenever a transfer enters the handler.
    pub entered: Notify,
    pub describe: Mutex<pb::DescribeResponse>,
}

impl State {
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            token: Mutex::new(TOKEN.to_owned()),
            transfers: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            entered: Notify::new(),
            describe: Mutex::new(described("fake")),
        })
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// An in-contract `Describe` answer.
pub fn described(dialect: &str) -> pb::DescribeResponse {
    pb::DescribeResponse {
        dialect: dialect.into(),
        balance: true,
        status: true,
        duplicates: pb::DuplicateHabit::ReplaysOriginal as i32,
        rollback_of_unknown: pb::UnknownRollbackHabit::NotFoundError as i32,
        default_timeout: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
    }
}

struct Fake(Arc<State>);

struct CancelGuard(Arc<State>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.0.cancelled.fetch_add(1, Ordering::SeqCst);
    }
}

impl Fake {
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let expected = format!("Bearer {}", self.0.token.lock().unwrap());
        match request.metadata().get("authorization") {
            Some(v) if v.to_str().ok() == Some(expected.as_str()) => Ok(()),
            _ => Err(Status::unauthenticated("bad token")),
        }
    }
}

fn thousand(m: Option<&pb::Money>) -> Option<pb::Money> {
    m.map(|m| pb::Money {
        currency_code: m.currency_code.clone(),
        minor_units: 1000,
    })
}

#[tonic::async_trait]
impl AdapterService for Fake {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        self.check(&request)?;
        Ok(Response::new(self.0.describe.lock().unwrap().clone()))
    }

    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        self.check(&request)?;
        self.0.transfers.fetch_add(1, Ordering::SeqCst);
        self.0.entered.notify_one();
        let req = request.into_inner();
        let mode = self.0.mode.lock().unwrap().clone();
        match mode {
            Mode::Honest => Ok(Response::new(pb::TransferResponse {
                transaction_id: req.transaction_id,
                outcome: pb::Outcome::Settled as i32,
                balance_after: thousand(req.amount.as_ref()),
                provider_reference: "fake-1".into(),
                ..Default::default()
            })),
            Mode::Transfer(reply) => Ok(Response::new(reply)),
            Mode::Fail(code) => Err(Status::new(code, "fake failure")),
            Mode::Hang => {
                let _guard = CancelGuard(self.0.clone());
                std::future::pending::<()>().await;
                unreachable!("pending never completes")
            }
        }
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        self.check(&request)?;
        let req = request.into_inner();
        Ok(Response::new(pb::RollbackResponse {
            transaction_id: req.transaction_id,
            outcome: pb::Outcome::Settled as i32,
            balance_after: thousand(req.amount.as_ref()),
            ..Default::default()
        }))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        self.check(&request)?;
        let req = request.into_inner();
        Ok(Response::new(pb::GetBalanceResponse {
            result: Some(pb::get_balance_response::Result::Balance(pb::Money {
                currency_code: req.currency_code,
                minor_units: 1000,
            })),
        }))
    }

    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        self.check(&request)?;
        let req = request.into_inner();
        Ok(Response::new(pb::GetStatusResponse {
            transaction_id: req.transaction_id,
            status: pb::TransactionStatus::Applied as i32,
            ..Default::default()
        }))
    }
}

/// Where a fake listens.
pub enum Listen {
    Unix(PathBuf),
    /// An ephemeral loopback port.
    Tcp,
}

/// A running fake plugin on a runtime (and thread) of its own.
pub struct Running {
    pub address: String,
    crash: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts a fake with `state` at `listen`.
    pub fn start(listen: Listen, state: Arc<State>) -> Self {
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let service = AdapterServiceServer::new(Fake(state));
            runtime.block_on(async move {
                let server = tonic::transport::Server::builder().add_service(service);
                match listen {
                    Listen::Unix(path) => {
                        let _ = std::fs::remove_file(&path);
                        let listener = tokio::net::UnixListener::bind(&path).unwrap();
                        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                        tokio::spawn(server.serve_with_incoming(incoming));
                        address_tx.send(format!("unix:{}", path.display())).unwrap();
                    }
                    Listen::Tcp => {
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                        let addr = listener.local_addr().unwrap();
                        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                        tokio::spawn(server.serve_with_incoming(incoming));
                        address_tx.send(addr.to_string()).unwrap();
                    }
                }
                let _ = crashed.await;
            });
            // Every task (server, connections, handlers) dies here, mid-call.
            runtime.shutdown_background();
        });
        let address = address_rx.recv().expect("the fake plugin started");
        Self {
            address,
            crash: Some(crash),
            thread: Some(thread),
        }
    }

    /// Kills the fake at once: every connection closes mid-call, nothing is
    /// answered, the socket stops accepting.
    pub fn crash(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(crash) = self.crash.take() {
            let _ = crash.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bridge's settings for a plugin at `address`.
pub fn settings(address: &str) -> serde_json::Value {
    serde_json::json!({
        "address": address,
        "token": TOKEN,
        "describe_timeout": "3s",
    })
}

/// A socket path in `dir`.
pub fn socket(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sock"))
}
