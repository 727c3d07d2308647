//! Both directions are signed: `X-Signature` carries the base64 (standard
//! alphabet, padded) RSA-SHA256 PKCS#1 v1.5 signature of the raw body.
//! Requests are verified with the operator's public key, replies signed with
//! this provider's private key. A third key, the impostor's, signs replies
//! that must not verify (the "wrongly signed reply" fault).
//!
//! Keys are PEM text: PKCS#8 (`BEGIN PRIVATE KEY`) for private keys,
//! SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) for public ones, given inline
//! or as a file path. The throwaway demo keys of
//! `adapters/samples/json-rsa/keys/` are compiled in as defaults.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Header carrying the signature, both ways.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// Demo key: the operator's public key (verifies requests). Throwaway.
pub const DEMO_OPERATOR_PUBLIC_PEM: &str =
    include_str!("../../samples/json-rsa/keys/operator_public.pem");
/// Demo key: this provider's private key (signs replies). Throwaway.
pub const DEMO_PROVIDER_PRIVATE_PEM: &str =
    include_str!("../../samples/json-rsa/keys/provider_private.pem");
/// Demo key: a key nobody trusts (signs tampered replies). Throwaway.
pub const DEMO_IMPOSTOR_PRIVATE_PEM: &str =
    include_str!("../../samples/json-rsa/keys/impostor_private.pem");

/// Where a key's PEM text comes from. In TOML/JSON: `{"pem":"-----BEGIN…"}`
/// or `{"path":"keys/operator_public.pem"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The PEM text itself.
    Pem(String),
    /// A file holding the PEM text, read when the sandbox starts.
    Path(PathBuf),
}

impl fmt::Debug for KeySource {
    /// Never shows key material, only its length or its path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Pem(pem) => write!(f, "Pem(<{} bytes>)", pem.len()),
            KeySource::Path(path) => f.debug_tuple("Path").field(path).finish(),
        }
    }
}

impl KeySource {
    fn read(&self, field: &'static str) -> Result<String, KeyError> {
        match self {
            KeySource::Pem(pem) => Ok(pem.clone()),
            KeySource::Path(path) => {
                std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    field,
                    path: path.clone(),
                    source,
                })
            }
        }
    }
}

/// The three keys a sandbox needs, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConfig {
    /// The operator's public key: requests must verify with it.
    pub operator_public_key: KeySource,
    /// This provider's private key: every reply is signed with it.
    pub provider_private_key: KeySource,
    /// A key nobody trusts: the `Tampered` fault signs replies with it.
    pub impostor_private_key: KeySource,
}

impl Default for KeyConfig {
    /// The compiled-in demo keys.
    fn default() -> Self {
        KeyConfig {
            operator_public_key: KeySource::Pem(DEMO_OPERATOR_PUBLIC_PEM.to_owned()),
            provider_private_key: KeySource::Pem(DEMO_PROVIDER_PRIVATE_PEM.to_owned()),
            impostor_private_key: KeySource::Pem(DEMO_IMPOSTOR_PRIVATE_PEM.to_owned()),
        }
    }
}

/// Why the configured keys cannot be used; `field` names the
/// [`KeyConfig`] field.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("{field}: cannot read {path:?}: {source}")]
    Read {
        /// The config field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a PKCS#8 PEM RSA private key.
    #[error("{field}: not a PKCS#8 PEM RSA private key: {source}")]
    PrivateKey {
        /// The config field.
        field: &'static str,
        /// Why.
        source: rsa::pkcs8::Error,
    },
    /// Not a SubjectPublicKeyInfo PEM RSA public key.
    #[error("{field}: not a SubjectPublicKeyInfo PEM RSA public key: {source}")]
    PublicKey {
        /// The config field.
        field: &'static str,
        /// Why.
        source: rsa::pkcs8::spki::Error,
    },
}

/// Loaded keys, ready to verify and sign.
#[derive(Clone)]
pub struct Keys {
    operator: VerifyingKey<Sha256>,
    provider: SigningKey<Sha256>,
    impostor: SigningKey<Sha256>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Reads and parses the three keys.
    pub fn load(config: &KeyConfig) -> Result<Keys, KeyError> {
        Ok(Keys {
            operator: VerifyingKey::new(public_key(
                "operator_public_key",
                &config.operator_public_key,
            )?),
            provider: SigningKey::new(private_key(
                "provider_private_key",
                &config.provider_private_key,
            )?),
            impostor: SigningKey::new(private_key(
                "impostor_private_key",
                &config.impostor_private_key,
            )?),
        })
    }

    /// True when `signature` (base64, surrounding whitespace ignored) is the
    /// operator's signature of exactly `body`.
    pub fn verify_request(&self, body: &[u8], signature: &str) -> bool {
        let Ok(raw) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(raw.as_slice()) else {
            return false;
        };
        self.operator.verify(body, &signature).is_ok()
    }

    /// This provider's signature of a reply body, base64.
    pub fn sign_reply(&self, body: &[u8]) -> String {
        STANDARD.encode(self.provider.sign(body).to_bytes())
    }

    /// The impostor's signature of a reply body, base64: well formed, and
    /// never verifies with the provider's public key.
    pub fn sign_reply_as_impostor(&self, body: &[u8]) -> String {
        STANDARD.encode(self.impostor.sign(body).to_bytes())
    }
}

fn private_key(field: &'static str, source: &KeySource) -> Result<RsaPrivateKey, KeyError> {
    let pem = source.read(field)?;
    RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|source| KeyError::PrivateKey { field, source })
}

fn public_key(field: &'static str, source: &KeySource) -> Result<RsaPublicKey, KeyError> {
    let pem = source.read(field)?;
    RsaPublicKey::from_public_key_pem(&pem).map_err(|source| KeyError::PublicKey { field, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR_PRIVATE: &str = include_str!("../../samples/json-rsa/keys/operator_private.pem");
    const PROVIDER_PUBLIC: &str = include_str!("../../samples/json-rsa/keys/provider_public.pem");

    fn keys() -> Keys {
        Keys::load(&KeyConfig::default()).expect("demo keys load")
    }

    fn operator_sign(body: &[u8]) -> String {
        let key = RsaPrivateKey::from_pkcs8_pem(OPERATOR_PRIVATE).expect("operator key");
        STANDARD.encode(SigningKey::<Sha256>::new(key).sign(body).to_bytes())
    }

    fn provider_verifies(body: &[u8], signature: &str) -> bool {
        let key = RsaPublicKey::from_public_key_pem(PROVIDER_PUBLIC).expect("provider key");
        let raw = STANDARD.decode(signature).expect("base64");
        let signature = Signature::try_from(raw.as_slice()).expect("signature");
        VerifyingKey::<Sha256>::new(key)
            .verify(body, &signature)
            .is_ok()
    }

    #[test]
    fn requests_verify_only_with_the_operators_signature_of_the_same_body() {
        let keys = keys();
        let body = br#"{"request_uuid":"q"}"#;
        let good = operator_sign(body);
        assert!(keys.verify_request(body, &good));
        assert!(keys.verify_request(body, &format!(" {good}\n")));
        assert!(!keys.verify_request(br#"{"request_uuid":"Q"}"#, &good));
        // A reply-side signature is not the operator's.
        assert!(!keys.verify_request(body, &keys.sign_reply(body)));
        assert!(!keys.verify_request(body, ""));
        assert!(!keys.verify_request(body, "not base64!"));
        assert!(!keys.verify_request(body, &good[..good.len() - 8]));
    }

    #[test]
    fn replies_verify_with_the_providers_public_key_and_impostor_ones_do_not() {
        let keys = keys();
        let body = br#"{"status":"RS_OK"}"#;
        let signature = keys.sign_reply(body);
        assert!(provider_verifies(body, &signature));
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(signature, keys.sign_reply(body));
        let impostor = keys.sign_reply_as_impostor(body);
        assert_ne!(impostor, signature);
        assert!(!provider_verifies(body, &impostor));
    }

    #[test]
    fn key_errors_name_the_field() {
        let mut config = KeyConfig {
            operator_public_key: KeySource::Pem("nope".into()),
            ..KeyConfig::default()
        };
        let error = Keys::load(&config).expect_err("bad public key");
        assert!(
            error.to_string().starts_with("operator_public_key:"),
            "{error}"
        );

        config.operator_public_key = KeySource::Pem(DEMO_PROVIDER_PRIVATE_PEM.into());
        assert!(matches!(
            Keys::load(&config),
            Err(KeyError::PublicKey {
                field: "operator_public_key",
                ..
            })
        ));

        let config = KeyConfig {
            impostor_private_key: KeySource::Path("/nonexistent/impostor.pem".into()),
            ..KeyConfig::default()
        };
        assert!(matches!(
            Keys::load(&config),
            Err(KeyError::Read {
                field: "impostor_private_key",
                ..
            })
        ));
    }

    #[test]
    fn keys_load_from_paths() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/json-rsa/keys");
        let config = KeyConfig {
            operator_public_key: KeySource::Path(format!("{dir}/operator_public.pem").into()),
            provider_private_key: KeySource::Path(format!("{dir}/provider_private.pem").into()),
            impostor_private_key: KeySource::Path(format!("{dir}/impostor_private.pem").into()),
        };
        let keys = Keys::load(&config).expect("keys from files");
        assert!(provider_verifies(b"x", &keys.sign_reply(b"x")));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let shown = format!("{:?} {:?}", KeyConfig::default(), keys());
        assert!(!shown.contains("BEGIN"), "{shown}");
    }
}
