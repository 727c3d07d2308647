//! RSA-SHA256 (PKCS#1 v1.5) signatures of json-rsa bodies, both ways, with
//! `ring`: the operator's private key signs requests ([`Signer`]), the
//! provider's public key verifies replies ([`Verifier`]).
//!
//! Keys are PEM files, decoded with `rustls-pki-types` (no dependencies of
//! its own) and checked once, when the adapter is built:
//!
//! | key | accepted | refused (a [`KeyError`]) |
//! |---|---|---|
//! | operator private key | one `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) section holding an RSA key `ring` accepts (2048 to 4096 bits) | unreadable file, bad PEM, no or several key sections, a public key or certificate, a non-RSA key, a key `ring` rejects |
//! | provider public key | one `PUBLIC KEY` (SubjectPublicKeyInfo) section holding an `rsaEncryption` key of 2048 to 8192 bits with an odd exponent >= 3 | the same, and a key `ring` could not verify with |
//!
//! `ring` verifies in constant time and takes a bare `RSAPublicKey`, so the
//! SubjectPublicKeyInfo wrapper is unpacked here by a small strict DER
//! reader (definite minimal lengths, nothing trailing).
//!
//! PKCS#1 v1.5 signing is deterministic: the same key and body always give
//! the same signature, which is what lets the signed samples be compared
//! byte for byte. `Debug` of a [`Signer`] never shows the private key.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rustls_pki_types::pem::{self, SectionKind};

/// Smallest provider key accepted, in bits (what `ring` verifies with).
pub const MIN_KEY_BITS: usize = 2048;
/// Largest provider key accepted, in bits (what `ring` verifies with).
pub const MAX_KEY_BITS: usize = 8192;

/// Why a key file was refused. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM text is broken.
    #[error("not valid PEM: {0}")]
    Pem(&'static str),
    /// No PEM section of a key or certificate at all.
    #[error("no PEM key section found (expected {expected})")]
    NoKey {
        /// What was expected.
        expected: &'static str,
    },
    /// Only sections of another kind (a public key where a private key is
    /// expected, a certificate, an EC key).
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// What was expected.
        expected: &'static str,
        /// The first section found.
        found: &'static str,
    },
    /// More than one key section: which one is meant is not guessed.
    #[error("more than one {expected} section")]
    SeveralKeys {
        /// What was expected.
        expected: &'static str,
    },
    /// A key of another algorithm than RSA.
    #[error("not an RSA key")]
    NotRsa,
    /// The key's DER structure is broken.
    #[error("the key is not valid DER")]
    Malformed,
    /// A modulus outside 2048..=8192 bits.
    #[error("an RSA key of {bits} bits is not accepted (2048 to 8192)")]
    ModulusSize {
        /// The key's size.
        bits: usize,
    },
    /// A public exponent that is even, below 3 or longer than 64 bits.
    #[error("the RSA public exponent is not accepted")]
    Exponent,
    /// `ring` refused the private key (too small, too large, inconsistent).
    #[error("the RSA private key is refused: {0}")]
    Rejected(&'static str),
}

/// Why a reply's signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Signature` header (or more than one).
    #[error("the signature header is missing")]
    Missing,
    /// The header is not standard padded base64.
    #[error("the signature is not base64")]
    NotBase64,
    /// The signature is not the provider's over these bytes.
    #[error("the signature does not verify")]
    Mismatch,
}

/// The operator's signing half: RSA-SHA256 PKCS#1 v1.5 over the raw body,
/// base64 encoded for `X-Signature`.
pub struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

/// Signing failed inside `ring` (not expected with a key it accepted).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("RSA signing failed")]
pub struct SignError;

impl Signer {
    /// Loads the operator's private key from a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read(path)?)
    }

    /// Loads the operator's private key from PEM text (PKCS#8 or PKCS#1).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const EXPECTED: &str = "an RSA PRIVATE KEY (PKCS#8 or PKCS#1)";
        let (kind, der) = one_section(
            pem,
            EXPECTED,
            &[SectionKind::PrivateKey, SectionKind::RsaPrivateKey],
        )?;
        let key = match kind {
            SectionKind::PrivateKey => RsaKeyPair::from_pkcs8(&der),
            _ => RsaKeyPair::from_der(&der),
        }
        .map_err(|e| match e.to_string().as_str() {
            "WrongAlgorithm" => KeyError::NotRsa,
            "InvalidEncoding" => KeyError::Malformed,
            "TooSmall" => KeyError::Rejected("too small"),
            "TooLarge" => KeyError::Rejected("too large"),
            "InconsistentComponents" | "InvalidComponent" => {
                KeyError::Rejected("inconsistent components")
            }
            "VersionNotSupported" => KeyError::Rejected("unsupported version (multi-prime?)"),
            _ => KeyError::Rejected("refused by ring"),
        })?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The `X-Signature` value of `body`: base64 (standard, padded) of the
    /// RSA-SHA256 PKCS#1 v1.5 signature.
    pub fn sign(&self, body: &[u8]) -> Result<String, SignError> {
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, body, &mut signature)
            .map_err(|_| SignError)?;
        Ok(STANDARD.encode(signature))
    }

    /// The public half as a DER `RSAPublicKey`, what a provider would verify
    /// with.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public().as_ref()
    }

    /// The modulus size in bits, rounded up to a whole byte.
    pub fn bits(&self) -> usize {
        self.key.public().modulus_len() * 8
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer(rsa-{}, <private key redacted>)", self.bits())
    }
}

/// The provider's public key, verifying reply signatures.
#[derive(Clone)]
pub struct Verifier {
    key: UnparsedPublicKey<Vec<u8>>,
    bits: usize,
}

impl Verifier {
    /// Loads the provider's public key from a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read(path)?)
    }

    /// Loads the provider's public key from PEM text
    /// (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const EXPECTED: &str = "a PUBLIC KEY (SubjectPublicKeyInfo)";
        let (_, der) = one_section(pem, EXPECTED, &[SectionKind::PublicKey])?;
        Self::from_spki_der(&der)
    }

    /// Builds a verifier from a DER SubjectPublicKeyInfo of an RSA key.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let rsa_public_key = der::rsa_public_key_of_spki(spki)?;
        let bits = der::check_rsa_public_key(rsa_public_key)?;
        Ok(Self {
            key: UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key.to_vec()),
            bits,
        })
    }

    /// Checks that `signature` (the `X-Signature` header value, `None` when
    /// absent) is the provider's signature of exactly `body`.
    pub fn verify(&self, body: &[u8], signature: Option<&[u8]>) -> Result<(), SignatureError> {
        let signature = signature.ok_or(SignatureError::Missing)?;
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| SignatureError::NotBase64)?;
        self.key
            .verify(body, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// The bare `RSAPublicKey` DER verified with.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.as_ref()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier(rsa-{})", self.bits)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

fn kind_name(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "a CERTIFICATE",
        SectionKind::PublicKey => "a PUBLIC KEY",
        SectionKind::RsaPrivateKey => "an RSA PRIVATE KEY",
        SectionKind::PrivateKey => "a PRIVATE KEY",
        SectionKind::EcPrivateKey => "an EC PRIVATE KEY",
        SectionKind::Crl => "an X509 CRL",
        SectionKind::Csr => "a CERTIFICATE REQUEST",
        _ => "another PEM section",
    }
}

/// The one PEM section of a wanted kind. Sections with labels
/// `rustls-pki-types` does not know are skipped by it.
fn one_section(
    pem: &[u8],
    expected: &'static str,
    wanted: &[SectionKind],
) -> Result<(SectionKind, Vec<u8>), KeyError> {
    let mut reader: &[u8] = pem;
    let mut found = None;
    let mut other = None;
    loop {
        let section = pem::from_buf(&mut reader).map_err(|e| {
            KeyError::Pem(match e {
                pem::Error::MissingSectionEnd { .. } => "a section has no END line",
                pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
                pem::Error::Base64Decode(_) => "a section is not valid base64",
                _ => "unreadable",
            })
        })?;
        let Some((kind, der)) = section else { break };
        if wanted.contains(&kind) {
            if found.is_some() {
                return Err(KeyError::SeveralKeys { expected });
            }
            found = Some((kind, der));
        } else if other.is_none() {
            other = Some(kind);
        }
    }
    match (found, other) {
        (Some(section), _) => Ok(section),
        (None, Some(kind)) => Err(KeyError::WrongKind {
            expected,
            found: kind_name(kind),
        }),
        (None, None) => Err(KeyError::NoKey { expected }),
    }
}

/// Just enough DER to take an RSA public key out of a SubjectPublicKeyInfo.
mod der {
    use super::{KeyError, MAX_KEY_BITS, MIN_KEY_BITS};

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const NULL: u8 = 0x05;
    const OID: u8 = 0x06;
    /// 1.2.840.113549.1.1.1, rsaEncryption.
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// Reads one tag-length-value with a definite, minimal length; returns
    /// the value and what follows it.
    fn tlv(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), KeyError> {
        let (&found, rest) = input.split_first().ok_or(KeyError::Malformed)?;
        if found != tag {
            return Err(KeyError::Malformed);
        }
        let (&first, rest) = rest.split_first().ok_or(KeyError::Malformed)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                let bytes = rest.get(..n).ok_or(KeyError::Malformed)?;
                if bytes.first() == Some(&0) {
                    return Err(KeyError::Malformed);
                }
                let len = bytes
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                if len < 0x80 {
                    return Err(KeyError::Malformed);
                }
                (len, rest.get(n..).ok_or(KeyError::Malformed)?)
            }
            // Indefinite lengths (0x80) are not DER; longer ones are absurd.
            _ => return Err(KeyError::Malformed),
        };
        let value = rest.get(..len).ok_or(KeyError::Malformed)?;
        let rest = rest.get(len..).ok_or(KeyError::Malformed)?;
        Ok((value, rest))
    }

    /// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
    /// subjectPublicKey BIT STRING }` with `rsaEncryption` (and NULL or
    /// absent parameters); the bit string's content is the `RSAPublicKey`.
    pub(super) fn rsa_public_key_of_spki(spki: &[u8]) -> Result<&[u8], KeyError> {
        let (info, trailing) = tlv(spki, SEQUENCE)?;
        if !trailing.is_empty() {
            return Err(KeyError::Malformed);
        }
        let (algorithm, rest) = tlv(info, SEQUENCE)?;
        let (bits, rest) = tlv(rest, BIT_STRING)?;
        if !rest.is_empty() {
            return Err(KeyError::Malformed);
        }
        let (oid, params) = tlv(algorithm, OID)?;
        if oid != RSA_ENCRYPTION {
            return Err(KeyError::NotRsa);
        }
        if !params.is_empty() {
            let (null, rest) = tlv(params, NULL)?;
            if !null.is_empty() || !rest.is_empty() {
                return Err(KeyError::Malformed);
            }
        }
        // The first content byte counts unused bits: a key has none.
        match bits.split_first() {
            Some((0, key)) => Ok(key),
            _ => Err(KeyError::Malformed),
        }
    }

    /// A positive INTEGER's magnitude, without the sign byte; refuses
    /// negative and non-minimal encodings.
    fn positive(value: &[u8]) -> Result<&[u8], KeyError> {
        match value {
            [] => Err(KeyError::Malformed),
            [0] => Ok(&[]),
            [0, next, ..] if next & 0x80 == 0 => Err(KeyError::Malformed),
            [0, rest @ ..] => Ok(rest),
            [first, ..] if first & 0x80 != 0 => Err(KeyError::Malformed),
            _ => Ok(value),
        }
    }

    /// Checks `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent
    /// INTEGER }` and returns the modulus size in bits.
    pub(super) fn check_rsa_public_key(key: &[u8]) -> Result<usize, KeyError> {
        let (fields, trailing) = tlv(key, SEQUENCE)?;
        if !trailing.is_empty() {
            return Err(KeyError::Malformed);
        }
        let (n, rest) = tlv(fields, INTEGER)?;
        let (e, rest) = tlv(rest, INTEGER)?;
        if !rest.is_empty() {
            return Err(KeyError::Malformed);
        }
        let n = positive(n)?;
        let e = positive(e)?;
        let bits = match n.first() {
            Some(first) => n.len() * 8 - first.leading_zeros() as usize,
            None => 0,
        };
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(KeyError::ModulusSize { bits });
        }
        let odd = e.last().is_some_and(|b| b & 1 == 1);
        let at_least_three = e.len() > 1 || e.first().is_some_and(|b| *b >= 3);
        if e.len() > 8 || !odd || !at_least_three {
            return Err(KeyError::Exponent);
        }
        Ok(bits)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn lengths_must_be_definite_and_minimal() {
            assert!(tlv(&[0x30, 0x00], SEQUENCE).is_ok());
            assert!(tlv(&[0x30, 0x80, 0x00, 0x00], SEQUENCE).is_err());
            assert!(tlv(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], SEQUENCE).is_err());
            assert!(tlv(&[0x30, 0x82, 0x00, 0x80], SEQUENCE).is_err());
            assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1], SEQUENCE).is_err());
            assert!(tlv(&[0x30, 0x02, 0x00], SEQUENCE).is_err());
            assert!(tlv(&[0x31, 0x00], SEQUENCE).is_err());
            assert!(tlv(&[], SEQUENCE).is_err());
            let mut long = vec![0x04, 0x81, 0x80];
            long.extend([7u8; 0x80]);
            long.push(9);
            let (value, rest) = tlv(&long, 0x04).unwrap();
            assert_eq!(value.len(), 0x80);
            assert_eq!(rest, [9]);
        }

        #[test]
        fn integers_must_be_positive_and_minimal() {
            assert_eq!(positive(&[0x01]).unwrap(), [0x01]);
            assert_eq!(positive(&[0x00, 0x80]).unwrap(), [0x80]);
            assert!(positive(&[0x80]).is_err());
            assert!(positive(&[0x00, 0x7f]).is_err());
            assert!(positive(&[]).is_err());
        }
    }
}

#[cfg(test)]
mod tests;
