//! The ceiling: a bare tonic server of the same `SettlementService`
//! contract that answers every unary call at once with a reply of the same
//! shape and size as the hub's (a settled transaction echoing the request,
//! with a UUID, both timestamps and the amount), and does nothing else: no
//! auth, no limits, no journal, no provider. Driven by the same generator
//! with the same connections and streams, it is what gRPC itself costs on
//! this machine, and every hub figure is reported as a ratio of it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use hub_proto::settlement::v1 as pb;
use pb::settlement_service_server::{SettlementService, SettlementServiceServer};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// The bare service.
#[derive(Default)]
pub struct Bare {
    seq: AtomicU64,
}

impl Bare {
    fn transaction(
        &self,
        key: String,
        kind: pb::TransactionKind,
        provider: String,
        account: String,
        amount: Option<pb::Money>,
        reference: String,
    ) -> pb::Transaction {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let now = prost_types::Timestamp::from(SystemTime::now());
        pb::Transaction {
            // The hub's ids are UUIDs: 36 characters.
            transaction_id: format!("00000000-0000-5000-8000-{n:012x}"),
            idempotency_key: key,
            kind: kind as i32,
            state: pb::TransactionState::Settled as i32,
            decline_reason: 0,
            provider,
            account,
            amount,
            balance_after: None,
            provider_reference: String::new(),
            reference,
            reverses_transaction_id: String::new(),
            create_time: Some(now),
            update_time: Some(now),
            replay: false,
        }
    }
}

type Feed =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::WatchTransactionsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl SettlementService for Bare {
    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::DebitResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(pb::DebitResponse {
            transaction: Some(self.transaction(
                r.idempotency_key,
                pb::TransactionKind::Debit,
                r.provider,
                r.account,
                r.amount,
                r.reference,
            )),
        }))
    }

    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(pb::CreditResponse {
            transaction: Some(self.transaction(
                r.idempotency_key,
                pb::TransactionKind::Credit,
                r.provider,
                r.account,
                r.amount,
                r.reference,
            )),
        }))
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        let r = request.into_inner();
        let mut tx = self.transaction(
            r.idempotency_key,
            pb::TransactionKind::Rollback,
            r.provider,
            String::new(),
            None,
            String::new(),
        );
        tx.state = pb::TransactionState::RolledBack as i32;
        Ok(Response::new(pb::RollbackResponse {
            transaction: Some(tx),
        }))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::GetBalanceResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(pb::GetBalanceResponse {
            balance: Some(pb::Money {
                currency_code: r.currency_code,
                minor_units: 1_000_000,
            }),
        }))
    }

    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::GetTransactionResponse>, Status> {
        let key = match request.into_inner().lookup {
            Some(pb::get_transaction_request::Lookup::IdempotencyKey(k)) => k,
            Some(pb::get_transaction_request::Lookup::TransactionId(id)) => id,
            None => String::new(),
        };
        Ok(Response::new(pb::GetTransactionResponse {
            transaction: Some(self.transaction(
                key,
                pb::TransactionKind::Debit,
                String::new(),
                String::new(),
                None,
                String::new(),
            )),
        }))
    }

    async fn list_transactions(
        &self,
        _request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        Ok(Response::new(pb::ListTransactionsResponse::default()))
    }

    type WatchTransactionsStream = Feed;

    async fn watch_transactions(
        &self,
        _request: Request<pb::WatchTransactionsRequest>,
    ) -> Result<Response<Self::WatchTransactionsStream>, Status> {
        Err(Status::unimplemented("the bare server has no change feed"))
    }
}

/// Serves the bare service on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(SettlementServiceServer::new(Bare::default()))
        .serve_with_incoming_shutdown(
            // As the hub does for its partner port.
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
