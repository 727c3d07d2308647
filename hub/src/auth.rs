//! Partner authentication with API keys.
//!
//! A key looks like `hk_<16 hex id>_<secret>`. The id is public and finds the
//! stored record; only SHA-256 of the secret is stored, and it is compared in
//! constant time. Keys are high-entropy random values, so a fast hash is the
//! right one (a password hash would only slow every call). Found keys are
//! cached for a few seconds, so a revocation takes effect within
//! [`CACHE_TTL`].
//!
//! [`AuthLayer`] authenticates every call of the settlement service and puts
//! the [`Partner`] into the request's extensions; handlers take it from there.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::body::Body;

use crate::config::AmountLimit;
use crate::domain::{PartnerId, ProviderId};
use crate::error::HubError;
use crate::journal::{ApiKeyRecord, Journal};
use crate::jwt::JwtVerifier;
use crate::limits::RateLimits;

/// How long a looked-up key is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// Metadata header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

const PREFIX: &str = "hk_";
const ID_LEN: usize = 16;

/// How a partner may prove who it is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `x-api-key` metadata.
    ApiKey,
    /// An OAuth2 client-credentials JWT in `authorization: Bearer`.
    Jwt,
    /// A client certificate on the TLS connection.
    Mtls,
}

/// What a call may do. Every RPC requires exactly one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Debit, Credit, Rollback.
    Move,
    /// GetBalance, GetTransaction, ListTransactions, WatchTransactions.
    Read,
    /// Reports (settlement files, statements).
    Reports,
    /// Operator actions (`admin.v1`).
    Admin,
}

impl Permission {
    /// The OAuth2 scope that grants it.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::Move => "settlement:move",
            Permission::Read => "settlement:read",
            Permission::Reports => "settlement:reports",
            Permission::Admin => "settlement:admin",
        }
    }
}

/// The permission an RPC (by its gRPC path) requires; `None` for a method
/// the hub does not know, which is refused.
pub fn required_permission(path: &str) -> Option<Permission> {
    let method = path.strip_prefix("/settlement.v1.SettlementService/")?;
    Some(match method {
        "Debit" | "Credit" | "Rollback" => Permission::Move,
        "GetBalance" | "GetTransaction" | "ListTransactions" | "WatchTransactions" => {
            Permission::Read
        }
        _ => return None,
    })
}

/// An authenticated partner, as handlers receive it.
#[derive(Clone)]
pub struct Partner {
    /// Who.
    pub id: PartnerId,
    /// Providers it may use.
    pub providers: Arc<HashSet<ProviderId>>,
    /// Amount limits by currency code.
    pub amounts: Arc<BTreeMap<String, AmountLimit>>,
    /// What this call may do: the partner's roles (narrowed by a token's
    /// scopes).
    pub permissions: Arc<BTreeSet<Permission>>,
    limits: Arc<RateLimits>,
}

impl std::fmt::Debug for Partner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partner")
            .field("id", &self.id)
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl Partner {
    /// Takes the partner the auth layer attached to `req`.
    pub fn from_request<T>(req: &tonic::Request<T>) -> Result<Partner, HubError> {
        req.extensions()
            .get::<Partner>()
            .cloned()
            .ok_or(HubError::Unauthenticated("no credentials"))
    }

    /// Checks a debit or credit of `amount` against the partner's
    /// per-transaction limit, and returns its daily limit, if any.
    pub fn amount_allowed(&self, amount: &adapter_api::Money) -> Result<Option<i64>, HubError> {
        let Some(limit) = self.amounts.get(amount.currency.code()) else {
            return Ok(None);
        };
        if let Some(max) = limit.per_transaction {
            if amount.minor_units > max {
                return Err(HubError::AmountLimit {
                    currency: amount.currency.code(),
                    limit: max,
                    daily: false,
                });
            }
        }
        Ok(limit.per_day)
    }

    /// Checks that this partner may use `provider` now: it is allowed to,
    /// and is within its rate limit for it.
    pub fn may_use(&self, provider: &ProviderId) -> Result<(), HubError> {
        if !self.providers.contains(provider) {
            return Err(HubError::ProviderNotAllowed(provider.clone()));
        }
        self.limits.check_provider(&self.id, provider)
    }
}

/// A newly created key: the full key is shown once and never stored.
pub struct NewKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The key to hand to the partner.
    pub key: String,
}

/// What Debug shows of a secret: whether there is one, never the value.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("record", &self.record)
            .field("key", &REDACTED)
            .finish()
    }
}

/// Creates a fresh random key for `partner`.
pub fn generate_key(partner: &PartnerId, label: &str, now_us: i64) -> NewKey {
    let (id, secret) = fresh_id_and_secret();
    key_from_parts(partner, label, now_us, &id, &secret)
}

/// Builds the record of a key with a known id and secret (the demo key).
pub fn key_from_parts(
    partner: &PartnerId,
    label: &str,
    now_us: i64,
    id: &str,
    secret: &str,
) -> NewKey {
    NewKey {
        record: ApiKeyRecord {
            id: id.to_owned(),
            partner: partner.clone(),
            hash: hash_secret(secret),
            label: label.to_owned(),
            created_us: now_us,
            revoked_us: None,
        },
        key: format!("{PREFIX}{id}_{secret}"),
    }
}

pub(crate) fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` is the one of `record` (compared in constant time) and
/// the key is not revoked.
pub(crate) fn key_admits(record: &ApiKeyRecord, secret: &str) -> bool {
    let matches: bool = hash_secret(secret).ct_eq(&record.hash).into();
    matches && record.revoked_us.is_none()
}

/// A fresh key id and secret (hex: 64 and 256 random bits).
pub(crate) fn fresh_id_and_secret() -> (String, String) {
    let mut rng = rand::rng();
    let mut id = [0u8; ID_LEN / 2];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    (hex::encode(id), hex::encode(secret))
}

/// Splits a presented partner key into (id, secret) if it is well-formed.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    parse_prefixed_key(PREFIX, key)
}

/// Splits `<prefix><16 hex id>_<secret>` into (id, secret) if well-formed.
pub(crate) fn parse_prefixed_key<'k>(prefix: &str, key: &'k str) -> Option<(&'k str, &'k str)> {
    let rest = key.strip_prefix(prefix)?;
    if rest.len() <= ID_LEN + 1 || !rest.is_char_boundary(ID_LEN) {
        return None;
    }
    let (id, secret) = rest.split_at(ID_LEN);
    let secret = secret.strip_prefix('_')?;
    let ok = id.bytes().all(|b| b.is_ascii_hexdigit())
        && (16..=128).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some((id, secret))
}

/// What a partner may do, from configuration.
#[derive(Clone, Debug, Default)]
pub struct PartnerPolicy {
    /// Providers it may use.
    pub providers: Arc<HashSet<ProviderId>>,
    /// Amount limits by currency code.
    pub amounts: Arc<BTreeMap<String, AmountLimit>>,
    /// Its roles.
    pub permissions: Arc<BTreeSet<Permission>>,
    /// How it may authenticate.
    pub methods: Arc<BTreeSet<AuthMethod>>,
}

/// Authenticates partners: API keys (checked against the store, with a
/// short cache), JWT bearer tokens (OAuth2 client ids mapped to partners),
/// and client-certificate identities.
pub struct Authenticator {
    journal: Arc<dyn Journal>,
    partners: HashMap<PartnerId, PartnerPolicy>,
    limits: Arc<RateLimits>,
    cache: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
    jwt: Option<Arc<JwtVerifier>>,
    /// OAuth2 client id (token subject) -> partner.
    by_subject: HashMap<String, PartnerId>,
    /// Client-certificate name -> partner.
    by_certificate: HashMap<String, PartnerId>,
}

/// What a request brings to prove who sent it. Debug shows which
/// credentials came, never their values.
#[derive(Default)]
pub struct Credentials<'a> {
    /// The `x-api-key` value.
    pub api_key: Option<&'a str>,
    /// The `authorization` value.
    pub authorization: Option<&'a str>,
    /// Names from the client certificate of the connection.
    pub certificate_names: &'a [String],
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key.map(|_| REDACTED))
            .field("authorization", &self.authorization.map(|_| REDACTED))
            .field("certificate_names", &self.certificate_names)
            .finish()
    }
}

impl Authenticator {
    /// Carries on `previous`'s rate limiters (the authenticator a reload
    /// replaces) wherever a partner's quota did not change, so a reload
    /// does not refill every partner's burst.
    pub fn keeping_rate_state(mut self, previous: &Authenticator) -> Self {
        self.limits = Arc::new((*self.limits).clone().keeping(&previous.limits));
        self
    }

    /// An authenticator for the configured `partners`, with their rate
    /// `limits`.
    pub fn new(
        journal: Arc<dyn Journal>,
        partners: HashMap<PartnerId, PartnerPolicy>,
        limits: Arc<RateLimits>,
    ) -> Self {
        Self {
            journal,
            partners,
            limits,
            cache: Mutex::new(HashMap::new()),
            jwt: None,
            by_subject: HashMap::new(),
            by_certificate: HashMap::new(),
        }
    }

    /// The authenticator the configuration describes: its partners with
    /// their policies and rate limits, client-certificate names and JWT
    /// subjects, and the JWT verifier of `auth.jwt`.
    pub fn from_config(
        config: &crate::config::Config,
        journal: Arc<dyn Journal>,
        clock: Arc<dyn crate::engine::Clock>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let mut partners = HashMap::new();
        let mut rates = Vec::new();
        for (name, p) in &config.partners {
            let id = PartnerId::parse(name).map_err(|e| ConfigError::Invalid {
                field: format!("partners.{name}"),
                reason: e.to_string(),
            })?;
            let allowed: Vec<ProviderId> = p
                .providers
                .iter()
                .filter_map(|p| ProviderId::parse(p).ok())
                .collect();
            rates.push((id.clone(), p.rate.clone(), allowed.clone()));
            partners.insert(
                id,
                PartnerPolicy {
                    providers: Arc::new(allowed.into_iter().collect::<HashSet<_>>()),
                    amounts: Arc::new(p.amounts.clone()),
                    permissions: Arc::new(p.permissions.iter().copied().collect()),
                    methods: Arc::new(p.auth_methods.iter().copied().collect()),
                },
            );
        }
        let limits = Arc::new(RateLimits::new(
            rates
                .iter()
                .map(|(id, rate, allowed)| (id, rate, &allowed[..])),
        ));
        let mut subjects = HashMap::new();
        let mut certificates = HashMap::new();
        for (name, p) in &config.partners {
            if let Ok(id) = PartnerId::parse(name) {
                for s in &p.jwt_subjects {
                    subjects.insert(s.clone(), id.clone());
                }
                for c in &p.certificate_names {
                    certificates.insert(c.clone(), id.clone());
                }
            }
        }
        let mut authenticator =
            Authenticator::new(journal, partners, limits).with_certificates(certificates);
        if let Some(jwt) = &config.auth.jwt {
            let verifier = crate::jwt::JwtVerifier::with_clock(jwt.clone(), clock.clone())
                .map_err(|e| ConfigError::Invalid {
                    field: "auth.jwt".into(),
                    reason: e.to_string(),
                })?;
            authenticator = authenticator.with_jwt(Arc::new(verifier), subjects);
        }
        Ok(authenticator)
    }

    /// Also accepts JWT bearer tokens checked by `verifier`, whose subject
    /// (the OAuth2 client id) names a partner through `subjects`.
    pub fn with_jwt(
        mut self,
        verifier: Arc<JwtVerifier>,
        subjects: HashMap<String, PartnerId>,
    ) -> Self {
        self.jwt = Some(verifier);
        self.by_subject = subjects;
        self
    }

    /// Also accepts client certificates whose names map to partners.
    pub fn with_certificates(mut self, names: HashMap<String, PartnerId>) -> Self {
        self.by_certificate = names;
        self
    }

    /// The partner behind `creds`: a bearer token first, then an API key,
    /// then the connection's client certificate. The partner must allow
    /// the method used; a token's scopes narrow the partner's roles.
    pub async fn authenticate_request(&self, creds: Credentials<'_>) -> Result<Partner, HubError> {
        if let Some(value) = creds.authorization {
            let token = crate::jwt::bearer(value).ok_or(HubError::Unauthenticated(
                "authorization must be a Bearer token",
            ))?;
            let verifier = self.jwt.as_ref().ok_or(HubError::Unauthenticated(
                "bearer tokens are not accepted here",
            ))?;
            let claims = verifier.verify(token).map_err(|e| {
                tracing::info!(error = %e, "bearer token refused");
                HubError::Unauthenticated("invalid bearer token")
            })?;
            let partner = self
                .by_subject
                .get(&claims.subject)
                .ok_or(HubError::Unauthenticated(
                    "the token's client is not a partner",
                ))?;
            let granted: BTreeSet<Permission> = [
                Permission::Move,
                Permission::Read,
                Permission::Reports,
                Permission::Admin,
            ]
            .into_iter()
            .filter(|p| claims.scopes.iter().any(|s| s == p.scope()))
            .collect();
            return self.admit(partner.clone(), AuthMethod::Jwt, Some(&granted));
        }
        if creds.api_key.is_some() {
            let partner = self.check_api_key(creds.api_key).await?;
            return self.admit(partner, AuthMethod::ApiKey, None);
        }
        if let Some(partner) = creds
            .certificate_names
            .iter()
            .find_map(|n| self.by_certificate.get(n))
        {
            return self.admit(partner.clone(), AuthMethod::Mtls, None);
        }
        if !creds.certificate_names.is_empty() {
            return Err(HubError::Unauthenticated(
                "the client certificate belongs to no partner",
            ));
        }
        Err(HubError::Unauthenticated(
            "missing credentials: x-api-key, a bearer token or a client certificate",
        ))
    }

    /// Builds the partner for a proven identity, applying its policy.
    fn admit(
        &self,
        id: PartnerId,
        method: AuthMethod,
        scopes: Option<&BTreeSet<Permission>>,
    ) -> Result<Partner, HubError> {
        let policy = self
            .partners
            .get(&id)
            .cloned()
            .ok_or(HubError::Unauthenticated("partner is not configured"))?;
        if !policy.methods.contains(&method) {
            return Err(HubError::Unauthenticated(
                "this partner may not authenticate this way",
            ));
        }
        let permissions = match scopes {
            Some(granted) => Arc::new(policy.permissions.intersection(granted).copied().collect()),
            None => policy.permissions.clone(),
        };
        Ok(Partner {
            id,
            providers: policy.providers,
            amounts: policy.amounts,
            permissions,
            limits: self.limits.clone(),
        })
    }

    /// Admits one call of an authenticated partner under its rate limit.
    /// Applied from the first call, before any journal write or provider
    /// call.
    pub fn check_rate(&self, partner: &Partner) -> Result<(), HubError> {
        self.limits.check_partner(&partner.id)
    }

    /// The partner holding API key `key`, if valid and not revoked.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Partner, HubError> {
        self.authenticate_request(Credentials {
            api_key: Some(key.ok_or(HubError::Unauthenticated("missing x-api-key"))?),
            ..Credentials::default()
        })
        .await
    }

    async fn check_api_key(&self, key: Option<&str>) -> Result<PartnerId, HubError> {
        let key = key.ok_or(HubError::Unauthenticated("missing x-api-key"))?;
        let invalid = HubError::Unauthenticated("invalid or revoked API key");
        let Some((id, secret)) = parse_key(key) else {
            return Err(invalid);
        };
        let cached = self.cache.lock().ok().and_then(|c| {
            c.get(id)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .cloned()
        });
        let record = match cached {
            Some((r, _)) => r,
            None => {
                let Some(r) = self.journal.find_key(id).await? else {
                    return Err(invalid);
                };
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(id.to_owned(), (r.clone(), Instant::now()));
                }
                r
            }
        };
        if !key_admits(&record, secret) {
            return Err(invalid);
        }
        Ok(record.partner)
    }
}

/// The authenticator in force, replaced whole by a configuration reload;
/// a call keeps the one it started with.
pub type SharedAuthenticator = Arc<crate::swap::Swap<Authenticator>>;

/// What stands at the door of one service: proves who calls (from the
/// credentials of the request) and puts the caller into the request's
/// extensions for the handlers, or refuses the call.
#[async_trait::async_trait]
pub trait Gate: Send + Sync + 'static {
    /// Admits the call `req` made with `creds`, or says why not.
    async fn admit(
        &self,
        creds: Credentials<'_>,
        req: &mut http::Request<Body>,
    ) -> Result<(), HubError>;
}

/// The settlement service's gate: partners, their roles and rate limits.
pub struct PartnerGate(pub SharedAuthenticator);

#[async_trait::async_trait]
impl Gate for PartnerGate {
    async fn admit(
        &self,
        creds: Credentials<'_>,
        req: &mut http::Request<Body>,
    ) -> Result<(), HubError> {
        let auth = self.0.load();
        let partner = auth.authenticate_request(creds).await?;
        if let Some(ctx) = req.extensions().get::<crate::telemetry::CallContext>() {
            ctx.set_partner(&partner.id);
        }
        auth.check_rate(&partner)?;
        match required_permission(req.uri().path()) {
            Some(p) if partner.permissions.contains(&p) => {}
            Some(p) => return Err(HubError::PermissionDenied(p)),
            None => return Err(HubError::PermissionDenied(Permission::Admin)),
        }
        req.extensions_mut().insert(partner);
        Ok(())
    }
}

/// Puts a [`Gate`] in front of the calls whose path starts with `prefix`;
/// other paths (other services, health, reflection) pass untouched.
pub struct GateLayer<G> {
    gate: Arc<G>,
    prefix: &'static str,
}

impl<G> Clone for GateLayer<G> {
    fn clone(&self) -> Self {
        Self {
            gate: self.gate.clone(),
            prefix: self.prefix,
        }
    }
}

impl<G: Gate> GateLayer<G> {
    /// `gate` in front of the paths under `prefix`.
    pub fn new(gate: G, prefix: &'static str) -> Self {
        Self {
            gate: Arc::new(gate),
            prefix,
        }
    }
}

/// The settlement service's authentication layer.
pub type AuthLayer = GateLayer<PartnerGate>;

impl<S, G> tower::Layer<S> for GateLayer<G> {
    type Service = GateService<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`GateLayer`] builds.
pub struct GateService<S, G> {
    inner: S,
    layer: GateLayer<G>,
}

impl<S: Clone, G> Clone for GateService<S, G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, G> tower::Service<http::Request<Body>> for GateService<S, G>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    G: Gate,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        // The readied service goes with this call; a fresh clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            if req.uri().path().starts_with(layer.prefix) {
                // Owned copies: the request is not Sync, and the gate takes
                // it mutably.
                let (api_key, authorization, names) = {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let names = crate::tls::peer_identity(&req)
                        .map(|p| p.names.clone())
                        .unwrap_or_default();
                    (header(API_KEY_HEADER), header("authorization"), names)
                };
                let creds = Credentials {
                    api_key: api_key.as_deref(),
                    authorization: authorization.as_deref(),
                    certificate_names: &names,
                };
                if let Err(e) = layer.gate.admit(creds, &mut req).await {
                    return Ok(e.into_status().into_http());
                }
            }
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let p = PartnerId::parse("p1").unwrap();
        let k = generate_key(&p, "test", 0);
        let (id, secret) = parse_key(&k.key).unwrap();
        assert_eq!(id, k.record.id);
        assert_eq!(hash_secret(secret), k.record.hash);
        assert!(!format!("{:?}", k.record).contains(secret));
    }

    #[test]
    fn debug_output_redacts_keys_and_tokens() {
        let p = PartnerId::parse("p1").unwrap();
        let k = generate_key(&p, "test", 0);
        let (_, secret) = parse_key(&k.key).unwrap();
        let shown = format!("{k:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(&k.key), "{shown}");
        assert!(
            shown.contains(REDACTED) && shown.contains(&k.record.id),
            "{shown}"
        );

        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGllbnQtMSJ9.c2lnbmF0dXJlLWJ5dGVz";
        let bearer = format!("Bearer {token}");
        let names = vec!["spiffe://partners/p1".to_owned()];
        let creds = Credentials {
            api_key: Some(&k.key),
            authorization: Some(&bearer),
            certificate_names: &names,
        };
        for shown in [format!("{creds:?}"), format!("{creds:#?}")] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(token), "{shown}");
            assert!(!shown.contains("Bearer"), "{shown}");
            // What came is still visible, and certificate names are public.
            assert!(shown.contains("api_key: Some("), "{shown}");
            assert!(shown.contains("spiffe://partners/p1"), "{shown}");
        }
        let none = format!("{:?}", Credentials::default());
        assert!(none.contains("api_key: None"), "{none}");
    }

    #[test]
    fn every_settlement_rpc_requires_a_permission() {
        let service = hub_proto::FILE_DESCRIPTOR_SET;
        let set = <prost_types::FileDescriptorSet as prost::Message>::decode(service).unwrap();
        let mut methods = 0;
        for file in &set.file {
            for svc in &file.service {
                if svc.name() != "SettlementService" {
                    continue;
                }
                for m in &svc.method {
                    methods += 1;
                    let path = format!("/settlement.v1.SettlementService/{}", m.name());
                    assert!(required_permission(&path).is_some(), "{path}");
                }
            }
        }
        assert_eq!(methods, 7);
        assert_eq!(
            required_permission("/settlement.v1.SettlementService/Debit"),
            Some(Permission::Move)
        );
        assert_eq!(
            required_permission("/settlement.v1.SettlementService/Nope"),
            None
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "hk_",
            "hk_0123456789abcdef",
            "hk_0123456789abcdef_",
            "hk_0123456789abcdeg_aaaaaaaaaaaaaaaaaaaa",
            "xx_0123456789abcdef_aaaaaaaaaaaaaaaaaaaa",
            "hk_0123456789abcdef_short",
            "hk_0123456789abcdef_aaaaaaaaaaaaaaaaaaa!",
            "hk_é123456789abcdef_aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(parse_key(bad).is_none(), "{bad:?}");
        }
    }
}
