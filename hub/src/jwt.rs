//! OAuth2 client-credentials bearer tokens: JWTs in JWS compact form,
//! checked against the issuer's public keys in a JWKS file.
//!
//! [`JwtVerifier::verify`] accepts a token only if it is signed by a key of
//! the JWKS (picked by `kid`) with an algorithm that is both allowed by the
//! configuration and made for that key's type, and if its `iss`, `aud`,
//! `exp`, `nbf` and `iat` claims hold at the injected clock's time, within
//! the configured leeway. Only asymmetric algorithms exist here: `none` and
//! the HMAC family (`HS*`) cannot be configured and are refused in tokens,
//! so a public key can never be misused as an HMAC secret.
//!
//! The JWKS file is read again when it changes, checked at most once per
//! `reload_interval`, lazily by the verification that finds the interval
//! passed. A new file that cannot be read or parsed is logged once and the
//! keys in use are kept.
//!
//! Verification is done with `ring`, the workspace's one crypto provider;
//! the payload is parsed only after its signature holds, and every claim
//! with the wrong JSON type is an error, never taken as absent.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{Clock, SystemClock};

/// Longest token accepted; longer input is refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Largest JWKS file read.
const MAX_JWKS_LEN: u64 = 1024 * 1024;

/// Smallest RSA modulus accepted, in bits (ring refuses smaller ones too).
const MIN_RSA_BITS: usize = 2048;

/// Longest clock skew the configuration may allow.
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Where tokens come from and what they must say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The issuer's public keys, a JWKS JSON file (`{"keys": [...]}`).
    /// Read again when it changes.
    pub jwks_file: PathBuf,
    /// Required `iss` claim, compared exactly.
    pub issuer: String,
    /// The hub's name at the issuer: `aud` must be or contain it.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (at most 5 minutes).
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// Signing algorithms accepted. Asymmetric ones only: `HS*` and `none`
    /// are refused when the configuration is read.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// The JWKS file is checked for changes at most this often.
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256]
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}

impl JwtConfig {
    /// A configuration with the default leeway, algorithms and reload
    /// interval.
    pub fn new(jwks_file: impl Into<PathBuf>, issuer: &str, audience: &str) -> Self {
        Self {
            jwks_file: jwks_file.into(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: default_leeway(),
            algorithms: default_algorithms(),
            reload_interval: default_reload_interval(),
        }
    }

    /// Checks the values that parsed but are not acceptable; the error
    /// names the field (relative to this section).
    pub fn validate(&self) -> Result<(), JwtError> {
        let invalid = |field: &str, reason: &str| {
            Err(JwtError::Config {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.jwks_file.as_os_str().is_empty() {
            return invalid("jwks_file", "must not be empty");
        }
        if self.issuer.trim().is_empty() {
            return invalid("issuer", "must not be empty");
        }
        if self.audience.trim().is_empty() {
            return invalid("audience", "must not be empty");
        }
        if self.leeway > MAX_LEEWAY {
            return invalid("leeway", "must be at most 5m");
        }
        if self.reload_interval.is_zero() {
            return invalid("reload_interval", "must be positive");
        }
        if self.algorithms.is_empty() {
            return invalid("algorithms", "must list at least one algorithm");
        }
        let mut seen = HashSet::new();
        for (i, alg) in self.algorithms.iter().enumerate() {
            if !seen.insert(alg) {
                return invalid(&format!("algorithms[{i}]"), "listed twice");
            }
        }
        Ok(())
    }
}

/// A JWS signing algorithm the hub can verify: asymmetric ones only, so
/// there is no way to name `none` or an HMAC algorithm.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// Its name in a JOSE header.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `name` (exact, case-sensitive as in JOSE).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Algorithm {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if let Some(alg) = Self::from_name(&name) {
            return Ok(alg);
        }
        let accepted = Self::ALL.map(Algorithm::name).join(", ");
        if name.eq_ignore_ascii_case("none") {
            Err(format!(
                "\"none\" (unsigned tokens) is refused; accepted: {accepted}"
            ))
        } else if name.to_ascii_uppercase().starts_with("HS") {
            Err(format!(
                "{name:?} is a symmetric (HMAC) algorithm and is refused: tokens are \
                 checked with the issuer's public keys; accepted: {accepted}"
            ))
        } else {
            Err(format!(
                "{name:?} is not a supported algorithm; accepted: {accepted}"
            ))
        }
    }
}

impl From<Algorithm> for String {
    fn from(alg: Algorithm) -> String {
        alg.name().to_owned()
    }
}

/// What a valid token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// `sub`: the OAuth2 client id.
    pub subject: String,
    /// Granted scopes: the space-separated `scope` claim and the `scp`
    /// claim (an array or a space-separated string) together, each once,
    /// in the order given.
    pub scopes: Vec<String>,
    /// `exp`: the token is not accepted from this instant (plus leeway).
    pub expires_at: SystemTime,
}

/// Why a token was refused or a verifier could not be built. Messages name
/// the kind of problem and never contain the token or any part of it.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The configuration is not acceptable.
    #[error("JWT configuration: {field}: {reason}")]
    Config {
        /// The field, relative to the JWT section.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The JWKS file could not be read or holds no usable key.
    #[error("JWKS file {path}: {reason}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the key by index).
        reason: String,
    },
    /// Not a JWS compact token (three base64url parts with JSON header and
    /// payload), or too long.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names `none`, an HMAC algorithm or one not supported.
    #[error("token algorithm refused: only asymmetric signatures are accepted")]
    AlgorithmRefused,
    /// The algorithm is supported but not in the configured list.
    #[error("token algorithm {0} is not allowed")]
    AlgorithmNotAllowed(Algorithm),
    /// The header has a `crit` parameter, whose extensions are not
    /// understood.
    #[error("token header has critical extensions, which are not supported")]
    CriticalHeader,
    /// No key of the JWKS has the token's `kid` and fits its algorithm, or
    /// the token has no `kid` and not exactly one key fits.
    #[error("no key of the JWKS matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// A claim is missing or has the wrong type.
    #[error("token claim {claim}: {problem}")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// `iss` is not the configured issuer.
    #[error("token issuer is not the configured one")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("token audience does not include this hub")]
    WrongAudience,
    /// `exp` has passed, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` has not come yet, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token is issued in the future")]
    IssuedInFuture,
}

/// The token of an `Authorization` header value `Bearer <token>` (scheme
/// case-insensitive, RFC 6750), or `None` for any other value.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks bearer tokens against the configured issuer and its JWKS.
pub struct JwtVerifier {
    config: JwtConfig,
    clock: Arc<dyn Clock>,
    keys: RwLock<Arc<KeySet>>,
    /// Clock time (µs) from which the next verification checks the file.
    next_check_us: AtomicI64,
    /// What the last check of the file found, so a change (or a lasting
    /// failure) is acted on and logged once.
    last_seen: Mutex<Seen>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("config", &self.config)
            .field("keys", &self.current_keys().keys.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// SHA-256 of the contents.
    Contents(Vec<u8>),
    ReadError(std::io::ErrorKind),
}

impl JwtVerifier {
    /// A verifier on the system clock. Fails if the configuration is
    /// invalid or the JWKS file cannot be read or holds no usable key.
    pub fn new(config: JwtConfig) -> Result<Self, JwtError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A verifier reading the time from `clock` (token times and the
    /// reload interval alike).
    pub fn with_clock(config: JwtConfig, clock: Arc<dyn Clock>) -> Result<Self, JwtError> {
        config.validate()?;
        let bytes = read_jwks(&config.jwks_file).map_err(|e| JwtError::Jwks {
            path: config.jwks_file.clone(),
            reason: e.to_string(),
        })?;
        let keys = KeySet::parse(&bytes).map_err(|reason| JwtError::Jwks {
            path: config.jwks_file.clone(),
            reason,
        })?;
        let now = clock.now_us();
        let next = now.saturating_add(duration_us(config.reload_interval));
        Ok(Self {
            clock,
            keys: RwLock::new(Arc::new(keys)),
            next_check_us: AtomicI64::new(next),
            last_seen: Mutex::new(Seen::Contents(digest(&bytes))),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Verifies `token` (without the `Bearer ` prefix) at the clock's
    /// current time and returns what it grants.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, JwtError> {
        let now_us = self.clock.now_us();
        self.reload_if_due(now_us);
        let keys = self.current_keys();
        self.check(&keys, token, now_us)
    }

    fn current_keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the JWKS file again if the reload interval has passed; only
    /// the caller that claims the due check does it.
    fn reload_if_due(&self, now_us: i64) {
        let due = self.next_check_us.load(Ordering::Acquire);
        if now_us < due {
            return;
        }
        let next = now_us.saturating_add(duration_us(self.config.reload_interval));
        if self
            .next_check_us
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        self.reload();
    }

    fn reload(&self) {
        let path = &self.config.jwks_file;
        let mut last_seen = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = match read_jwks(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let seen = Seen::ReadError(e.kind());
                if *last_seen != seen {
                    tracing::warn!(path = %path.display(), error = %e,
                        "JWKS file unreadable; keeping the keys in use");
                    *last_seen = seen;
                }
                return;
            }
        };
        let seen = Seen::Contents(digest(&bytes));
        if *last_seen == seen {
            return;
        }
        *last_seen = seen;
        match KeySet::parse(&bytes) {
            Ok(keys) => {
                tracing::info!(path = %path.display(), keys = keys.keys.len(),
                    "JWKS file reloaded");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), error = %reason,
                    "JWKS file invalid; keeping the keys in use");
            }
        }
    }

    /// Every check, in order: form, algorithm, key, signature, then the
    /// claims.
    fn check(&self, keys: &KeySet, token: &str, now_us: i64) -> Result<TokenClaims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated parts"));
        };
        let header = decode_json(
            header_b64,
            "header is not base64url",
            "header is not a JSON object",
        )?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => {
                Algorithm::from_name(name).ok_or(JwtError::AlgorithmRefused)?
            }
            Some(_) => return Err(JwtError::Malformed("header alg is not a string")),
            None => return Err(JwtError::Malformed("header has no alg")),
        };
        if !self.config.algorithms.contains(&alg) {
            return Err(JwtError::AlgorithmNotAllowed(alg));
        }
        if header.contains_key("crit") {
            return Err(JwtError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(JwtError::Malformed("header kid is not a string")),
            None => None,
        };
        let key = keys.select(kid, alg)?;
        let signature = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
        // The signing input is the two encoded parts as sent.
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        key.verify(alg, &token.as_bytes()[..signed_len], &signature)?;
        let claims = decode_json(
            payload_b64,
            "payload is not base64url",
            "payload is not a JSON object",
        )?;
        self.check_claims(&claims, now_us)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now_us: i64,
    ) -> Result<TokenClaims, JwtError> {
        let leeway = duration_us(self.config.leeway);
        let issuer = required(claims, "iss", string_claim)?;
        if issuer != self.config.issuer {
            return Err(JwtError::WrongIssuer);
        }
        let audience = required(claims, "aud", strings_claim)?;
        if !audience.iter().any(|a| *a == self.config.audience) {
            return Err(JwtError::WrongAudience);
        }
        let exp = required(claims, "exp", numeric_date)?;
        let nbf = optional(claims, "nbf", numeric_date)?;
        let iat = optional(claims, "iat", numeric_date)?;
        if now_us >= exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        if nbf.is_some_and(|nbf| now_us.saturating_add(leeway) < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now_us.saturating_add(leeway)) {
            return Err(JwtError::IssuedInFuture);
        }
        let subject = required(claims, "sub", string_claim)?;
        if subject.is_empty() {
            return Err(JwtError::InvalidClaim {
                claim: "sub",
                problem: "is empty",
            });
        }
        let mut scopes: Vec<String> = Vec::new();
        let scope = optional(claims, "scope", string_claim)?;
        let scp = optional(claims, "scp", strings_claim)?;
        for s in scope
            .into_iter()
            .chain(scp.into_iter().flatten())
            .flat_map(str::split_whitespace)
        {
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
        Ok(TokenClaims {
            subject: subject.to_owned(),
            scopes,
            expires_at: system_time(exp),
        })
    }
}

fn decode_json(
    part: &str,
    not_b64: &'static str,
    not_json: &'static str,
) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(not_b64))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed(not_json))
}

fn required<'a, T>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
    parse: fn(&'a Value) -> Result<T, &'static str>,
) -> Result<T, JwtError> {
    optional(claims, claim, parse)?.ok_or(JwtError::InvalidClaim {
        claim,
        problem: "is missing",
    })
}

fn optional<'a, T>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
    parse: fn(&'a Value) -> Result<T, &'static str>,
) -> Result<Option<T>, JwtError> {
    claims
        .get(claim)
        .map(|v| parse(v).map_err(|problem| JwtError::InvalidClaim { claim, problem }))
        .transpose()
}

fn string_claim(v: &Value) -> Result<&str, &'static str> {
    v.as_str().ok_or("must be a string")
}

/// A string or an array of strings (`aud`, `scp`).
fn strings_claim(v: &Value) -> Result<Vec<&str>, &'static str> {
    const PROBLEM: &str = "must be a string or an array of strings";
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or(PROBLEM)).collect(),
        _ => Err(PROBLEM),
    }
}

/// A NumericDate (seconds since the epoch, possibly fractional) in µs.
fn numeric_date(v: &Value) -> Result<i64, &'static str> {
    let Value::Number(n) = v else {
        return Err("must be a number of seconds");
    };
    if let Some(s) = n.as_i64() {
        return Ok(s.saturating_mul(1_000_000));
    }
    if n.is_u64() {
        return Ok(i64::MAX);
    }
    // A float: `as` saturates at the i64 bounds.
    n.as_f64()
        .map(|s| (s * 1e6).floor() as i64)
        .ok_or("must be a number of seconds")
}

fn duration_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn system_time(us: i64) -> SystemTime {
    let magnitude = Duration::from_micros(us.unsigned_abs());
    let t = if us >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    t.unwrap_or(UNIX_EPOCH)
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn read_jwks(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JWKS_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB",
        ));
    }
    Ok(bytes)
}

/// The usable signing keys of one JWKS file.
#[derive(Debug)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Debug)]
struct Jwk {
    kid: Option<String>,
    /// The JWK's own `alg`, if it names one: then only that one.
    alg: Option<Algorithm>,
    material: Material,
}

#[derive(Debug)]
enum Material {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed point `04 || x || y`.
    P256(Vec<u8>),
    /// Uncompressed point `04 || x || y`.
    P384(Vec<u8>),
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
}

impl Material {
    fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (
                Material::Rsa { .. },
                RS256 | RS384 | RS512 | PS256 | PS384 | PS512
            ) | (Material::P256(_), ES256)
                | (Material::P384(_), ES384)
                | (Material::Ed25519(_), EdDSA)
        )
    }
}

impl Jwk {
    fn fits(&self, alg: Algorithm) -> bool {
        self.material.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        use Algorithm::*;
        let rsa = |params: &'static signature::RsaParameters| match &self.material {
            Material::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(params, message, sig),
            _ => Err(ring::error::Unspecified),
        };
        let point = |params: &'static dyn signature::VerificationAlgorithm, key: &[u8]| {
            UnparsedPublicKey::new(params, key).verify(message, sig)
        };
        let verified = match (alg, &self.material) {
            (RS256, _) => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            (RS384, _) => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            (RS512, _) => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            (PS256, _) => rsa(&signature::RSA_PSS_2048_8192_SHA256),
            (PS384, _) => rsa(&signature::RSA_PSS_2048_8192_SHA384),
            (PS512, _) => rsa(&signature::RSA_PSS_2048_8192_SHA512),
            (ES256, Material::P256(k)) => point(&signature::ECDSA_P256_SHA256_FIXED, k),
            (ES384, Material::P384(k)) => point(&signature::ECDSA_P384_SHA384_FIXED, k),
            (EdDSA, Material::Ed25519(k)) => point(&signature::ED25519, k),
            _ => Err(ring::error::Unspecified),
        };
        verified.map_err(|_| JwtError::BadSignature)
    }
}

impl KeySet {
    /// Parses a JWKS. Keys for encryption, of types or curves not used for
    /// the supported algorithms, or naming another `alg` are skipped; a
    /// symmetric key, private key material, a malformed supported key or a
    /// duplicate `kid` make the whole file invalid, as does having no usable
    /// key.
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct File {
            keys: Vec<Map<String, Value>>,
        }
        let file: File = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a JWKS (a JSON object with a \"keys\" array): {e}"))?;
        let mut keys: Vec<Jwk> = Vec::new();
        for (i, jwk) in file.keys.iter().enumerate() {
            let Some(key) = parse_jwk(jwk).map_err(|reason| format!("keys[{i}]: {reason}"))? else {
                continue;
            };
            if let Some(kid) = &key.kid {
                if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                    return Err(format!("keys[{i}].kid: {kid:?} is used twice"));
                }
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("holds no usable signing key".to_owned());
        }
        Ok(Self { keys })
    }

    /// The key for a token with `kid` signed with `alg`.
    fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, JwtError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.fits(alg))
                .ok_or(JwtError::UnknownKey),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(JwtError::UnknownKey),
                }
            }
        }
    }
}

/// One JWK: `Ok(None)` if it is not a signing key this hub can use.
fn parse_jwk(jwk: &Map<String, Value>) -> Result<Option<Jwk>, String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name}: must be a string")),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name)?.ok_or_else(|| format!("{name}: missing"))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| format!("{name}: not base64url"))
    };
    let kty = text("kty")?.ok_or("kty: missing")?;
    if kty == "oct" {
        return Err("kty: symmetric (\"oct\") keys are refused".to_owned());
    }
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        if jwk.contains_key(private) {
            return Err(format!(
                "{private}: holds private key material; publish only public keys"
            ));
        }
    }
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err("key_ops: must be an array".to_owned());
        };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let alg = match text("alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => return Ok(None),
        },
    };
    let kid = text("kid")?.map(str::to_owned);
    let crv = text("crv")?;
    let material = match (kty, crv) {
        ("RSA", _) => {
            let n = strip_zeros(bytes("n")?);
            let e = strip_zeros(bytes("e")?);
            if n.len() * 8 < MIN_RSA_BITS {
                return Err(format!("n: RSA keys need at least {MIN_RSA_BITS} bits"));
            }
            if e.is_empty() || e.len() > 4 {
                return Err("e: not a usable RSA exponent".to_owned());
            }
            Material::Rsa { n, e }
        }
        ("EC", Some("P-256")) => Material::P256(ec_point(bytes("x")?, bytes("y")?, 32)?),
        ("EC", Some("P-384")) => Material::P384(ec_point(bytes("x")?, bytes("y")?, 48)?),
        ("OKP", Some("Ed25519")) => {
            let x = bytes("x")?;
            if x.len() != signature::ED25519_PUBLIC_KEY_LEN {
                return Err("x: an Ed25519 key is 32 bytes".to_owned());
            }
            Material::Ed25519(x)
        }
        _ => return Ok(None),
    };
    if let Some(alg) = alg {
        if !material.fits(alg) {
            return Err(format!("alg: {alg} does not fit a {kty} key"));
        }
    }
    Ok(Some(Jwk { kid, alg, material }))
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn ec_point(x: Vec<u8>, y: Vec<u8>, len: usize) -> Result<Vec<u8>, String> {
    if x.len() != len || y.len() != len {
        return Err(format!("x, y: each must be {len} bytes for this curve"));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

#[cfg(test)]
mod tests;
