//! `admin.v1`: the operators' service (see `proto/admin/v1/admin.proto`).
//!
//! Every call is an operator's ([`crate::operators::OperatorGate`] stands in
//! front); every call that changes something is journaled with the
//! operator's name and reason ([`Journal::record_admin_action`]) once it
//! has taken effect.

use std::sync::Arc;

use hub_proto::admin::v1 as pb;
use hub_proto::admin::v1::admin_service_server::AdminService;
use tonic::{Request, Response, Status};

use crate::auth::generate_key;
use crate::domain::{PartnerId, ProviderId, TransactionId, TxKind, TxState};
use crate::engine::{Clock, Engine, Provider};
use crate::error::HubError;
use crate::journal::{AdminActionRecord, ApiKeyRecord, Journal, Recorded, WorkItem};
use crate::operators::{OPERATOR_ID_PREFIX, Operator};
use crate::reload::Reloader;
use crate::resilience::{BreakerState, Forced};
use crate::service::{cut_page, decode_position, page_limit, timestamp, transaction};

/// The gRPC service name operators call.
pub const ADMIN_SERVICE_NAME: &str = "admin.v1.AdminService";
/// The path prefix of its methods.
pub const ADMIN_PATH_PREFIX: &str = "/admin.v1.AdminService/";

const MAX_REASON: usize = 1000;

/// The admin service.
pub struct Admin {
    engine: Engine,
    clock: Arc<dyn Clock>,
    reloader: Arc<Reloader>,
    exchange_log: Option<crate::exchange_log::ExchangeLog>,
}

impl Admin {
    /// The service over the hub's engine, its reloader and exchange log.
    pub fn new(
        engine: Engine,
        clock: Arc<dyn Clock>,
        reloader: Arc<Reloader>,
        exchange_log: Option<crate::exchange_log::ExchangeLog>,
    ) -> Self {
        Self {
            engine,
            clock,
            reloader,
            exchange_log,
        }
    }

    fn journal(&self) -> &Arc<dyn Journal> {
        self.engine.journal()
    }

    /// Journals what `operator` did.
    async fn journal_action(
        &self,
        operator: &Operator,
        action: &str,
        target: &str,
        reason: &str,
        detail: String,
    ) -> Result<(), HubError> {
        self.journal()
            .record_admin_action(AdminActionRecord {
                seq: 0,
                at_us: self.clock.now_us(),
                operator: operator.name.clone(),
                action: action.to_owned(),
                target: target.to_owned(),
                reason: reason.to_owned(),
                detail,
            })
            .await?;
        Ok(())
    }
}

fn required_reason(reason: &str) -> Result<&str, HubError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(HubError::field("reason", "say why; it is journaled"));
    }
    if r.len() > MAX_REASON {
        return Err(HubError::field(
            "reason",
            format!("at most {MAX_REASON} bytes"),
        ));
    }
    Ok(r)
}

fn page_size(v: i32) -> Result<usize, HubError> {
    if v < 0 {
        return Err(HubError::field("page_size", "must not be negative"));
    }
    Ok(page_limit(v))
}

fn transaction_id(v: &str) -> Result<TransactionId, HubError> {
    TransactionId::parse(v).map_err(|e| HubError::field("transaction_id", e.to_string()))
}

fn provider_message(id: &ProviderId, p: &Provider) -> pb::Provider {
    pb::Provider {
        name: id.to_string(),
        dialect: p
            .descriptor()
            .map(|d| d.dialect.to_string())
            .unwrap_or_default(),
        serving: p.is_serving(),
        endpoints: p
            .endpoints
            .iter()
            .map(|e| pb::Endpoint {
                name: e.name.to_owned(),
                breaker_state: match e.breaker.state() {
                    BreakerState::Closed => pb::BreakerState::Closed,
                    BreakerState::Open => pb::BreakerState::Open,
                    BreakerState::HalfOpen => pb::BreakerState::HalfOpen,
                } as i32,
                breaker_override: match e.breaker.forced() {
                    Forced::No => pb::BreakerOverride::None,
                    Forced::Open => pb::BreakerOverride::Open,
                    Forced::Closed => pb::BreakerOverride::Closed,
                } as i32,
                healthy: e.health.is_healthy(),
                times_opened: e.breaker.times_opened(),
            })
            .collect(),
    }
}

fn work_item(w: &WorkItem) -> pb::WorkItem {
    pb::WorkItem {
        transaction_id: w.tx_id.to_string(),
        provider: w.provider.to_string(),
        attempts: w.attempts,
        next_attempt_time: (!w.dead).then(|| timestamp(w.next_at_us)),
        last_error: w.last_error.clone().unwrap_or_default(),
        dead: w.dead,
        create_time: Some(timestamp(w.created_us)),
    }
}

fn api_key(k: &ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        key_id: k.id.clone(),
        partner: k.partner.to_string(),
        label: k.label.clone(),
        create_time: Some(timestamp(k.created_us)),
        revoke_time: k.revoked_us.map(timestamp),
    }
}

fn message_text(head: &str, m: &adapter_api::exchange::Message) -> String {
    let mut out = String::from(head);
    for (name, value) in &m.headers {
        out.push('\n');
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
    }
    out.push_str("\n\n");
    out.push_str(&m.body.text);
    if m.body.truncated {
        out.push_str(&format!("\n[truncated: {} bytes in all]", m.body.len));
    }
    out
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn list_providers(
        &self,
        _req: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let providers = self.engine.providers();
        let mut list: Vec<_> = providers
            .iter()
            .map(|(id, p)| provider_message(id, p))
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(pb::ListProvidersResponse { providers: list }))
    }

    async fn set_breaker_override(
        &self,
        req: Request<pb::SetBreakerOverrideRequest>,
    ) -> Result<Response<pb::SetBreakerOverrideResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let r = req.get_ref();
        let reason = required_reason(&r.reason)?;
        let forced = match pb::BreakerOverride::try_from(r.r#override) {
            Ok(pb::BreakerOverride::None) => Forced::No,
            Ok(pb::BreakerOverride::Open) => Forced::Open,
            Ok(pb::BreakerOverride::Closed) => Forced::Closed,
            _ => {
                return Err(HubError::field("override", "set NONE, OPEN or CLOSED").into());
            }
        };
        let id = ProviderId::parse(&r.provider)
            .map_err(|e| HubError::field("provider", e.to_string()))?;
        let provider = self
            .engine
            .providers()
            .get(&id)
            .cloned()
            .ok_or_else(|| HubError::field("provider", format!("no provider named {id:?}")))?;
        let endpoint = provider
            .endpoints
            .iter()
            .find(|e| e.name == r.endpoint)
            .ok_or_else(|| {
                HubError::field(
                    "endpoint",
                    format!("{id} has no endpoint {:?} (primary or backup)", r.endpoint),
                )
            })?;
        endpoint.breaker.force(forced);
        self.journal_action(
            &operator,
            "SetBreakerOverride",
            &format!("{id}/{}", endpoint.name),
            reason,
            format!(
                "override={}",
                match forced {
                    Forced::No => "NONE",
                    Forced::Open => "OPEN",
                    Forced::Closed => "CLOSED",
                }
            ),
        )
        .await?;
        Ok(Response::new(pb::SetBreakerOverrideResponse {
            provider: Some(provider_message(&id, &provider)),
        }))
    }

    async fn list_pending_transactions(
        &self,
        req: Request<pb::ListPendingTransactionsRequest>,
    ) -> Result<Response<pb::ListPendingTransactionsResponse>, Status> {
        let r = req.get_ref();
        let size = page_size(r.page_size)?;
        let after = decode_position("page_token", &r.page_token)?;
        let rows = self
            .journal()
            .list_pending(after, size + 1)
            .await
            .map_err(HubError::from)?;
        let (rows, next_page_token) = cut_page(rows, size, |t| t.seq);
        Ok(Response::new(pb::ListPendingTransactionsResponse {
            transactions: rows
                .iter()
                .map(|t| pb::PendingTransaction {
                    partner: t.partner.to_string(),
                    transaction: Some(transaction(t, false)),
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn list_work_items(
        &self,
        req: Request<pb::ListWorkItemsRequest>,
    ) -> Result<Response<pb::ListWorkItemsResponse>, Status> {
        let dead = match pb::WorkItemFilter::try_from(req.get_ref().filter) {
            Ok(pb::WorkItemFilter::Unspecified) => None,
            Ok(pb::WorkItemFilter::Live) => Some(false),
            Ok(pb::WorkItemFilter::Dead) => Some(true),
            Err(_) => return Err(HubError::field("filter", "not a known filter").into()),
        };
        let items = self
            .journal()
            .list_work(dead)
            .await
            .map_err(HubError::from)?;
        Ok(Response::new(pb::ListWorkItemsResponse {
            items: items.iter().map(work_item).collect(),
        }))
    }

    async fn replay_dead_letter(
        &self,
        req: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let r = req.get_ref();
        let reason = required_reason(&r.reason)?;
        let id = transaction_id(&r.transaction_id)?;
        let replayed = self
            .journal()
            .replay_dead(&id, self.clock.now_us())
            .await
            .map_err(HubError::from)?;
        if !replayed {
            return Err(HubError::NotFound.into());
        }
        self.journal_action(
            &operator,
            "ReplayDeadLetter",
            id.as_str(),
            reason,
            String::new(),
        )
        .await?;
        let item = self
            .journal()
            .work_item(&id)
            .await
            .map_err(HubError::from)?;
        Ok(Response::new(pb::ReplayDeadLetterResponse {
            item: item.as_ref().map(work_item),
        }))
    }

    async fn resolve_dead_letter(
        &self,
        req: Request<pb::ResolveDeadLetterRequest>,
    ) -> Result<Response<pb::ResolveDeadLetterResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let r = req.get_ref();
        let reason = required_reason(&r.reason)?;
        let id = transaction_id(&r.transaction_id)?;
        let resolution = pb::Resolution::try_from(r.resolution)
            .ok()
            .filter(|r| *r != pb::Resolution::Unspecified)
            .ok_or_else(|| HubError::field("resolution", "set APPLIED or NOT_APPLIED"))?;
        let dead = self
            .journal()
            .work_item(&id)
            .await
            .map_err(HubError::from)?
            .is_some_and(|w| w.dead);
        if !dead {
            return Err(HubError::NotFound.into());
        }
        let tx = self
            .journal()
            .get_any(&id)
            .await
            .map_err(HubError::from)?
            .ok_or(HubError::NotFound)?;
        let recorded = match (resolution, tx.kind) {
            (pb::Resolution::Applied, _) => Recorded::Settled {
                balance_after: None,
                provider_ref: None,
            },
            (_, TxKind::Debit) => Recorded::RolledBack,
            (_, TxKind::Credit | TxKind::Rollback) => Recorded::Failed,
        };
        let done = self
            .journal()
            .record(&id, recorded, self.clock.now_us())
            .await
            .map_err(HubError::from)?;
        if done.state == TxState::Pending {
            return Err(HubError::Internal.into());
        }
        self.journal_action(
            &operator,
            "ResolveDeadLetter",
            id.as_str(),
            reason,
            format!(
                "resolution={}, state={:?}",
                resolution.as_str_name(),
                done.state
            ),
        )
        .await?;
        Ok(Response::new(pb::ResolveDeadLetterResponse {
            partner: done.partner.to_string(),
            transaction: Some(transaction(&done, false)),
        }))
    }

    async fn create_api_key(
        &self,
        req: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let r = req.get_ref();
        let partner =
            PartnerId::parse(&r.partner).map_err(|e| HubError::field("partner", e.to_string()))?;
        if !self
            .reloader
            .current()
            .await
            .partners
            .contains_key(partner.as_str())
        {
            return Err(HubError::field("partner", format!("no partner named {partner:?}")).into());
        }
        if r.label.len() > 200 {
            return Err(HubError::field("label", "at most 200 bytes").into());
        }
        let key = generate_key(&partner, &r.label, self.clock.now_us());
        self.journal()
            .insert_key(key.record.clone())
            .await
            .map_err(HubError::from)?;
        self.journal_action(
            &operator,
            "CreateApiKey",
            partner.as_str(),
            "",
            format!("key_id={}", key.record.id),
        )
        .await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: key.key,
            key: Some(api_key(&key.record)),
        }))
    }

    async fn list_api_keys(
        &self,
        req: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let partner = PartnerId::parse(&req.get_ref().partner)
            .map_err(|e| HubError::field("partner", e.to_string()))?;
        let keys = self
            .journal()
            .list_keys(Some(&partner))
            .await
            .map_err(HubError::from)?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys
                .iter()
                .filter(|k| !k.id.starts_with(OPERATOR_ID_PREFIX))
                .map(api_key)
                .collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        req: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let r = req.get_ref();
        let reason = required_reason(&r.reason)?;
        if r.key_id.starts_with(OPERATOR_ID_PREFIX) || r.key_id.is_empty() {
            return Err(HubError::field("key_id", "not a partner key id").into());
        }
        let now = self.clock.now_us();
        let revoked = self
            .journal()
            .revoke_key(&r.key_id, now)
            .await
            .map_err(HubError::from)?;
        let key = self
            .journal()
            .find_key(&r.key_id)
            .await
            .map_err(HubError::from)?
            .ok_or(HubError::NotFound)?;
        if revoked {
            self.journal_action(
                &operator,
                "RevokeApiKey",
                &r.key_id,
                reason,
                format!("partner={}", key.partner),
            )
            .await?;
        }
        Ok(Response::new(pb::RevokeApiKeyResponse {
            key: Some(api_key(&key)),
        }))
    }

    async fn get_exchange_log(
        &self,
        req: Request<pb::GetExchangeLogRequest>,
    ) -> Result<Response<pb::GetExchangeLogResponse>, Status> {
        let id = transaction_id(&req.get_ref().transaction_id)?;
        let log = self.exchange_log.as_ref().ok_or_else(|| {
            Status::failed_precondition("the exchange log is off (exchange_log.enabled = false)")
        })?;
        // What the last calls sent may still be on its way to the log.
        log.flush().await;
        let entries = log.exchanges(&id).await.map_err(HubError::from)?;
        let exchanges = entries
            .iter()
            .map(|e| {
                use adapter_api::exchange::ExchangeReply;
                let x = &e.exchange;
                let (reply, status, error) = match &x.reply {
                    ExchangeReply::Received { status, message } => (
                        message_text(&status.to_string(), message),
                        u32::from(*status),
                        String::new(),
                    ),
                    ExchangeReply::Failed { error, .. } => (String::new(), 0, error.clone()),
                    ExchangeReply::Abandoned => (
                        String::new(),
                        0,
                        "abandoned: the hub stopped waiting".to_owned(),
                    ),
                };
                pb::Exchange {
                    send_time: Some(timestamp(e.at_us)),
                    provider: e.provider.to_string(),
                    url: x.url.clone(),
                    attempt: e.attempt,
                    operation: e.operation.as_str().to_owned(),
                    request: message_text(&format!("{} {}", x.method, x.url), &x.request),
                    reply,
                    status,
                    error,
                    latency_micros: i64::try_from(x.latency.as_micros()).unwrap_or(i64::MAX),
                }
            })
            .collect();
        Ok(Response::new(pb::GetExchangeLogResponse { exchanges }))
    }

    async fn reload_config(
        &self,
        req: Request<pb::ReloadConfigRequest>,
    ) -> Result<Response<pb::ReloadConfigResponse>, Status> {
        let operator = Operator::from_request(&req)?;
        let report = self.reloader.reload().await.map_err(|e| match e {
            crate::config::ConfigError::Invalid { field, reason } => {
                HubError::ConfigRefused { field, reason }
            }
            other => HubError::ConfigRefused {
                field: String::new(),
                reason: other.to_string(),
            },
        })?;
        self.journal_action(
            &operator,
            "ReloadConfig",
            "config",
            "",
            format!(
                "partners={:?} providers={:?}",
                report.partners_changed, report.providers_changed
            ),
        )
        .await?;
        Ok(Response::new(pb::ReloadConfigResponse {
            partners_changed: report.partners_changed,
            providers_changed: report.providers_changed,
        }))
    }

    async fn list_admin_actions(
        &self,
        req: Request<pb::ListAdminActionsRequest>,
    ) -> Result<Response<pb::ListAdminActionsResponse>, Status> {
        let r = req.get_ref();
        let size = page_size(r.page_size)?;
        let before = match decode_position("page_token", &r.page_token)? {
            0 => None,
            seq => Some(seq),
        };
        let rows = self
            .journal()
            .list_admin_actions(before, size + 1)
            .await
            .map_err(HubError::from)?;
        let (rows, next_page_token) = cut_page(rows, size, |a| a.seq);
        Ok(Response::new(pb::ListAdminActionsResponse {
            actions: rows
                .iter()
                .map(|a| pb::AdminAction {
                    time: Some(timestamp(a.at_us)),
                    operator: a.operator.clone(),
                    action: a.action.clone(),
                    target: a.target.clone(),
                    reason: a.reason.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
            next_page_token,
        }))
    }
}
