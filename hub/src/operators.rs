//! Operators: the people who run the hub, and the only callers of
//! `admin.v1`.
//!
//! Operator credentials are distinct from partners': an operator API key
//! looks like `ok_<16 hex id>_<secret>` and is stored (hashed, like partner
//! keys) under the id `op-<hex>`, which no partner key can name; an
//! operator's client certificate is listed under `[operators.<name>]`,
//! and a name may not belong to a partner too. A partner's credentials on an
//! admin call get PERMISSION_DENIED; none at all, UNAUTHENTICATED.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tonic::body::Body;

use crate::auth::{AuthMethod, Credentials, Gate, NewKey, Permission};
use crate::config::{Config, ConfigError};
use crate::domain::PartnerId;
use crate::error::HubError;
use crate::journal::{ApiKeyRecord, Journal};

/// Operator keys start with this.
pub const OPERATOR_KEY_PREFIX: &str = "ok_";
/// Stored ids of operator keys start with this (partner key ids are bare
/// hex, so the two can never be confused).
pub const OPERATOR_ID_PREFIX: &str = "op-";

/// The operator making a call, in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The operator's name in the configuration.
    pub name: String,
}

impl Operator {
    /// The operator behind an admin call.
    pub fn from_request<T>(req: &tonic::Request<T>) -> Result<Operator, HubError> {
        req.extensions()
            .get::<Operator>()
            .cloned()
            .ok_or(HubError::Unauthenticated("no operator credentials"))
    }
}

/// A new operator key for `operator`: the key to hand over once, and the
/// record to store.
pub fn generate_operator_key(operator: &str, label: &str, now_us: i64) -> Result<NewKey, String> {
    let (id, secret) = crate::auth::fresh_id_and_secret();
    operator_key_from_parts(operator, label, now_us, &id, &secret)
}

/// The operator key made of `id` (16 hex digits) and `secret`.
pub fn operator_key_from_parts(
    operator: &str,
    label: &str,
    now_us: i64,
    id: &str,
    secret: &str,
) -> Result<NewKey, String> {
    let owner = PartnerId::parse(operator).map_err(|e| e.to_string())?;
    // A partner key's record, under the operator's id space and prefix.
    let key = crate::auth::key_from_parts(&owner, label, now_us, id, secret);
    Ok(NewKey {
        record: ApiKeyRecord {
            id: format!("{OPERATOR_ID_PREFIX}{id}"),
            ..key.record
        },
        key: format!("{OPERATOR_KEY_PREFIX}{id}_{secret}"),
    })
}

/// Who may call `admin.v1`, from configuration.
pub struct OperatorAuth {
    journal: Arc<dyn Journal>,
    methods: HashMap<String, BTreeSet<AuthMethod>>,
    by_certificate: HashMap<String, String>,
    /// Certificate names of partners: such a caller is known, but no
    /// operator.
    partner_certificates: BTreeSet<String>,
}

impl OperatorAuth {
    /// The operators of `config`.
    pub fn from_config(config: &Config, journal: Arc<dyn Journal>) -> Result<Self, ConfigError> {
        let mut methods = HashMap::new();
        let mut by_certificate = HashMap::new();
        for (name, o) in &config.operators {
            methods.insert(name.clone(), o.auth_methods.iter().copied().collect());
            for c in &o.certificate_names {
                by_certificate.insert(c.clone(), name.clone());
            }
        }
        let partner_certificates = config
            .partners
            .values()
            .flat_map(|p| p.certificate_names.iter().cloned())
            .collect();
        Ok(Self {
            journal,
            methods,
            by_certificate,
            partner_certificates,
        })
    }

    /// The operator behind `creds`: an operator key, else a client
    /// certificate listed for an operator.
    pub async fn authenticate(&self, creds: Credentials<'_>) -> Result<Operator, HubError> {
        let not_operator = HubError::PermissionDenied(Permission::Admin);
        if creds.authorization.is_some() {
            // Bearer tokens are for partners.
            return Err(not_operator);
        }
        if let Some(key) = creds.api_key {
            let Some((id, secret)) = crate::auth::parse_prefixed_key(OPERATOR_KEY_PREFIX, key)
            else {
                return Err(if key.starts_with("hk_") {
                    not_operator
                } else {
                    HubError::Unauthenticated("invalid or revoked operator key")
                });
            };
            let invalid = HubError::Unauthenticated("invalid or revoked operator key");
            let Some(record) = self
                .journal
                .find_key(&format!("{OPERATOR_ID_PREFIX}{id}"))
                .await?
            else {
                return Err(invalid);
            };
            if !crate::auth::key_admits(&record, secret) {
                return Err(invalid);
            }
            return self.admit(record.partner.as_str(), AuthMethod::ApiKey);
        }
        if let Some(name) = creds
            .certificate_names
            .iter()
            .find_map(|n| self.by_certificate.get(n))
        {
            return self.admit(name, AuthMethod::Mtls);
        }
        if creds
            .certificate_names
            .iter()
            .any(|n| self.partner_certificates.contains(n))
        {
            return Err(not_operator);
        }
        Err(HubError::Unauthenticated(
            "admin calls need an operator key (x-api-key: ok_...) or an operator's client certificate",
        ))
    }

    fn admit(&self, name: &str, method: AuthMethod) -> Result<Operator, HubError> {
        let methods = self
            .methods
            .get(name)
            .ok_or(HubError::Unauthenticated("operator is not configured"))?;
        if !methods.contains(&method) {
            return Err(HubError::Unauthenticated(
                "this operator may not authenticate this way",
            ));
        }
        Ok(Operator {
            name: name.to_owned(),
        })
    }
}

/// The operators in force, replaced whole by a configuration reload.
pub type SharedOperatorAuth = Arc<crate::swap::Swap<OperatorAuth>>;

/// The admin service's gate: operators only.
pub struct OperatorGate(pub SharedOperatorAuth);

#[async_trait::async_trait]
impl Gate for OperatorGate {
    async fn admit(
        &self,
        creds: Credentials<'_>,
        req: &mut http::Request<Body>,
    ) -> Result<(), HubError> {
        let auth = self.0.load();
        let operator = auth.authenticate(creds).await?;
        req.extensions_mut().insert(operator);
        Ok(())
    }
}
