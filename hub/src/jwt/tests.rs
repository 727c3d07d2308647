//! Tokens signed in the test with keys made in the test (EC, Ed25519) or
//! taken from the sample RSA keys, against a JWKS in a temporary file.

use std::sync::atomic::AtomicI64;

use base64::engine::general_purpose::STANDARD;
use figment::Figment;
use figment::providers::{Format, Toml};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair,
};
use serde_json::json;

use super::*;

const OPERATOR_PEM: &str =
    include_str!("../../../adapters/samples/json-rsa/keys/operator_private.pem");
const OPERATOR_PUBLIC_PEM: &str =
    include_str!("../../../adapters/samples/json-rsa/keys/operator_public.pem");
const IMPOSTOR_PEM: &str =
    include_str!("../../../adapters/samples/json-rsa/keys/impostor_private.pem");
const PROVIDER_PEM: &str =
    include_str!("../../../adapters/samples/json-rsa/keys/provider_private.pem");

const ISSUER: &str = "https://issuer.test/";
const AUDIENCE: &str = "settlement-hub";
/// 2030-01-01T00:00:00Z, the test clock's starting time.
const NOW: i64 = 1_893_456_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    fn at(secs: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(secs * 1_000_000)))
    }

    fn advance(&self, d: Duration) {
        self.0.fetch_add(duration_us(d), Ordering::SeqCst);
    }
}

/// A signing key with its public JWK.
enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn rsa(pem: &str) -> Self {
        Signer::Rsa(RsaKeyPair::from_pkcs8(&pem_der(pem)).unwrap())
    }

    fn p256() -> Self {
        let rng = SystemRandom::new();
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Signer::Ec(
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            "P-256",
        )
    }

    fn p384() -> Self {
        let rng = SystemRandom::new();
        let alg = &ECDSA_P384_SHA384_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Signer::Ec(
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            "P-384",
        )
    }

    fn ed25519() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = match self {
            Signer::Rsa(kp) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = kp.public().into();
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Signer::Ec(kp, crv) => {
                let point = kp.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                json!({
                    "kty": "EC", "crv": crv,
                    "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..]),
                })
            }
            Signer::Ed(kp) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())})
            }
        };
        if !kid.is_empty() {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "PS256" => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; kp.public().modulus_len()];
                kp.sign(padding, &rng, message, &mut sig).unwrap();
                sig
            }
            Signer::Ec(kp, _) => kp.sign(&rng, message).unwrap().as_ref().to_vec(),
            Signer::Ed(kp) => kp.sign(message).as_ref().to_vec(),
        }
    }

    /// A token with `header` (as given) and `claims`, signed by this key.
    fn token_with(&self, header: Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("").to_owned();
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign(&alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    fn token(&self, alg: &str, kid: &str, claims: &Value) -> String {
        let header = if kid.is_empty() {
            json!({"alg": alg, "typ": "JWT"})
        } else {
            json!({"alg": alg, "typ": "JWT", "kid": kid})
        };
        self.token_with(header, claims)
    }
}

/// Claims valid at [`NOW`].
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "partner-a",
        "aud": AUDIENCE,
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 300,
        "scope": "money.move reports.read",
        "scp": ["money.read", "money.move"],
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// A JWKS file in its own temporary directory.
struct Jwks {
    dir: tempfile::TempDir,
}

impl Jwks {
    fn new(keys: &[Value]) -> Self {
        let jwks = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        jwks.write(keys);
        jwks
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// Replaces the file as a deployment would: a new file renamed over.
    fn write_raw(&self, contents: &str) {
        let tmp = self.dir.path().join("jwks.json.new");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, self.path()).unwrap();
    }

    fn write(&self, keys: &[Value]) {
        self.write_raw(&json!({ "keys": keys }).to_string());
    }

    fn config(&self) -> JwtConfig {
        JwtConfig::new(self.path(), ISSUER, AUDIENCE)
    }

    fn verifier(&self, clock: &Arc<TestClock>) -> JwtVerifier {
        self.verifier_with(self.config(), clock)
    }

    fn verifier_with(&self, config: JwtConfig, clock: &Arc<TestClock>) -> JwtVerifier {
        JwtVerifier::with_clock(config, Arc::clone(clock) as Arc<dyn Clock>).unwrap()
    }
}

/// The usual set: the operator RSA key as "rsa-1", a P-256 key as "ec-1".
struct Fixture {
    rsa: Signer,
    ec: Signer,
    jwks: Jwks,
    clock: Arc<TestClock>,
    verifier: JwtVerifier,
}

fn fixture() -> Fixture {
    let rsa = Signer::rsa(OPERATOR_PEM);
    let ec = Signer::p256();
    let jwks = Jwks::new(&[rsa.jwk("rsa-1"), ec.jwk("ec-1")]);
    let clock = TestClock::at(NOW);
    let verifier = jwks.verifier(&clock);
    Fixture {
        rsa,
        ec,
        jwks,
        clock,
        verifier,
    }
}

/// Verifies and checks the error never shows any part of the token.
fn refused(verifier: &JwtVerifier, token: &str) -> JwtError {
    let err = verifier
        .verify(token)
        .expect_err("the token must be refused");
    let shown = format!("{err} {err:?}");
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(!shown.contains(part), "error echoes the token: {shown}");
    }
    err
}

#[test]
fn valid_rs256_and_es256_tokens_are_accepted() {
    let f = fixture();
    for token in [
        f.rsa.token("RS256", "rsa-1", &claims()),
        f.ec.token("ES256", "ec-1", &claims()),
    ] {
        let got = f.verifier.verify(&token).unwrap();
        assert_eq!(got.subject, "partner-a");
        assert_eq!(
            got.scopes,
            ["money.move", "reports.read", "money.read"],
            "scope and scp together, each once"
        );
        assert_eq!(
            got.expires_at,
            UNIX_EPOCH + Duration::from_secs((NOW + 300) as u64)
        );
    }
}

#[test]
fn scopes_come_from_either_claim_and_may_be_absent() {
    let f = fixture();
    let only_scp = with(without(claims(), "scope"), "scp", json!("a b"));
    let got = f
        .verifier
        .verify(&f.ec.token("ES256", "ec-1", &only_scp))
        .unwrap();
    assert_eq!(got.scopes, ["a", "b"]);
    let none = without(without(claims(), "scope"), "scp");
    let got = f
        .verifier
        .verify(&f.ec.token("ES256", "ec-1", &none))
        .unwrap();
    assert!(got.scopes.is_empty());
    let bad = with(claims(), "scp", json!(["a", 1]));
    assert!(matches!(
        refused(&f.verifier, &f.ec.token("ES256", "ec-1", &bad)),
        JwtError::InvalidClaim { claim: "scp", .. }
    ));
}

#[test]
fn other_asymmetric_algorithms_verify_when_allowed() {
    let rsa = Signer::rsa(OPERATOR_PEM);
    let p384 = Signer::p384();
    let ed = Signer::ed25519();
    let jwks = Jwks::new(&[rsa.jwk("rsa"), p384.jwk("p384"), ed.jwk("ed")]);
    let mut config = jwks.config();
    config.algorithms = vec![Algorithm::PS256, Algorithm::ES384, Algorithm::EdDSA];
    let v = jwks.verifier_with(config, &TestClock::at(NOW));
    for token in [
        rsa.token("PS256", "rsa", &claims()),
        p384.token("ES384", "p384", &claims()),
        ed.token("EdDSA", "ed", &claims()),
    ] {
        assert_eq!(v.verify(&token).unwrap().subject, "partner-a");
    }
}

#[test]
fn a_wrong_signature_is_refused() {
    let f = fixture();
    // Another RSA key claiming the operator's kid.
    let impostor = Signer::rsa(IMPOSTOR_PEM);
    let forged = impostor.token("RS256", "rsa-1", &claims());
    assert!(matches!(
        refused(&f.verifier, &forged),
        JwtError::BadSignature
    ));
    // A genuine token whose payload was changed after signing.
    let token = f.ec.token("ES256", "ec-1", &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let other = b64(with(claims(), "sub", json!("partner-b"))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
    assert!(matches!(
        refused(&f.verifier, &tampered),
        JwtError::BadSignature
    ));
    // The untouched token passes: only the change above broke it.
    assert!(f.verifier.verify(&token).is_ok());
    // Another key's signature over the same header and payload.
    let rsa_sig = f.rsa.token("RS256", "rsa-1", &claims());
    let rsa_sig = rsa_sig.rsplit('.').next().unwrap();
    let mixed = format!("{}.{}.{rsa_sig}", parts[0], parts[1]);
    assert!(matches!(
        refused(&f.verifier, &mixed),
        JwtError::BadSignature
    ));
}

#[test]
fn an_unknown_kid_is_refused() {
    let f = fixture();
    let token = f.rsa.token("RS256", "rsa-2", &claims());
    assert!(matches!(refused(&f.verifier, &token), JwtError::UnknownKey));
    // A kid of a key of another type.
    let token = f.rsa.token("RS256", "ec-1", &claims());
    assert!(matches!(refused(&f.verifier, &token), JwtError::UnknownKey));
}

#[test]
fn a_token_without_kid_needs_exactly_one_fitting_key() {
    let f = fixture();
    // One RSA key and one EC key: each algorithm has exactly one.
    let got = f.verifier.verify(&f.rsa.token("RS256", "", &claims()));
    assert_eq!(got.unwrap().subject, "partner-a");
    assert!(
        f.verifier
            .verify(&f.ec.token("ES256", "", &claims()))
            .is_ok()
    );
    // Two RSA keys: ambiguous.
    let second = Signer::rsa(PROVIDER_PEM);
    let jwks = Jwks::new(&[f.rsa.jwk("rsa-1"), second.jwk("rsa-2")]);
    let v = jwks.verifier(&f.clock);
    let token = f.rsa.token("RS256", "", &claims());
    assert!(matches!(refused(&v, &token), JwtError::UnknownKey));
    assert!(v.verify(&f.rsa.token("RS256", "rsa-1", &claims())).is_ok());
}

#[test]
fn expiry_holds_within_the_leeway_only() {
    let f = fixture();
    let exp = |secs: i64| with(claims(), "exp", json!(secs));
    // Leeway is 30s: expired 29s ago still passes, 30s ago does not.
    assert!(
        f.verifier
            .verify(&f.ec.token("ES256", "ec-1", &exp(NOW - 29)))
            .is_ok()
    );
    let token = f.ec.token("ES256", "ec-1", &exp(NOW - 30));
    assert!(matches!(refused(&f.verifier, &token), JwtError::Expired));
    let token = f.ec.token("ES256", "ec-1", &exp(NOW - 3600));
    assert!(matches!(refused(&f.verifier, &token), JwtError::Expired));
    // The same token, valid now, expires as the clock moves on.
    let token = f.ec.token("ES256", "ec-1", &claims());
    assert!(f.verifier.verify(&token).is_ok());
    f.clock.advance(Duration::from_secs(330));
    assert!(matches!(refused(&f.verifier, &token), JwtError::Expired));
    // A fractional NumericDate counts too.
    let f = fixture();
    let token = f.ec.token(
        "ES256",
        "ec-1",
        &with(claims(), "exp", json!(NOW as f64 - 29.5)),
    );
    assert!(f.verifier.verify(&token).is_ok());
}

#[test]
fn a_token_not_yet_valid_is_refused_beyond_the_leeway() {
    let f = fixture();
    let nbf = |secs: i64| with(claims(), "nbf", json!(secs));
    assert!(
        f.verifier
            .verify(&f.ec.token("ES256", "ec-1", &nbf(NOW + 30)))
            .is_ok()
    );
    let token = f.ec.token("ES256", "ec-1", &nbf(NOW + 31));
    assert!(matches!(
        refused(&f.verifier, &token),
        JwtError::NotYetValid
    ));
    let iat = |secs: i64| with(claims(), "iat", json!(secs));
    assert!(
        f.verifier
            .verify(&f.ec.token("ES256", "ec-1", &iat(NOW + 30)))
            .is_ok()
    );
    let token = f.ec.token("ES256", "ec-1", &iat(NOW + 31));
    assert!(matches!(
        refused(&f.verifier, &token),
        JwtError::IssuedInFuture
    ));
}

#[test]
fn claims_of_the_wrong_type_are_refused_not_ignored() {
    let f = fixture();
    for (claim, value) in [
        ("nbf", json!("99999999999")),
        ("exp", json!("never")),
        ("iat", json!(null)),
        ("iss", json!([ISSUER])),
        ("aud", json!({"aud": AUDIENCE})),
        ("sub", json!(7)),
        ("scope", json!(["a"])),
    ] {
        let token = f.ec.token("ES256", "ec-1", &with(claims(), claim, value));
        match refused(&f.verifier, &token) {
            JwtError::InvalidClaim { claim: c, .. } => assert_eq!(c, claim),
            other => panic!("{claim}: {other:?}"),
        }
    }
    for claim in ["exp", "iss", "aud", "sub"] {
        let token = f.ec.token("ES256", "ec-1", &without(claims(), claim));
        assert!(
            matches!(refused(&f.verifier, &token), JwtError::InvalidClaim { claim: c, .. } if c == claim),
            "{claim}"
        );
    }
}

#[test]
fn a_wrong_issuer_is_refused() {
    let f = fixture();
    for iss in ["https://evil.test/", "https://issuer.test", ""] {
        let token = f
            .rsa
            .token("RS256", "rsa-1", &with(claims(), "iss", json!(iss)));
        assert!(matches!(
            refused(&f.verifier, &token),
            JwtError::WrongIssuer
        ));
    }
}

#[test]
fn the_audience_must_include_the_hub() {
    let f = fixture();
    for aud in [json!("other-api"), json!(["other-api", "x"]), json!([])] {
        let token = f.rsa.token("RS256", "rsa-1", &with(claims(), "aud", aud));
        assert!(matches!(
            refused(&f.verifier, &token),
            JwtError::WrongAudience
        ));
    }
    let token = f.rsa.token(
        "RS256",
        "rsa-1",
        &with(claims(), "aud", json!(["other-api", AUDIENCE])),
    );
    assert!(f.verifier.verify(&token).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "kid": "rsa-1"}).to_string().as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.{}", b64(b"anything")),
        ] {
            assert!(matches!(
                refused(&f.verifier, &token),
                JwtError::AlgorithmRefused
            ));
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let f = fixture();
    let Signer::Rsa(kp) = &f.rsa else {
        unreachable!()
    };
    let c: ring::rsa::PublicKeyComponents<Vec<u8>> = kp.public().into();
    // Every form the public key is published in, used as the HMAC secret.
    let secrets: [Vec<u8>; 4] = [
        kp.public().as_ref().to_vec(),
        pem_der(OPERATOR_PUBLIC_PEM),
        OPERATOR_PUBLIC_PEM.as_bytes().to_vec(),
        c.n.clone(),
    ];
    for secret in &secrets {
        for kid in [Some("rsa-1"), None] {
            for alg in ["HS256", "HS384", "HS512"] {
                let mut header = json!({"alg": alg, "typ": "JWT"});
                if let Some(kid) = kid {
                    header["kid"] = json!(kid);
                }
                let input = format!(
                    "{}.{}",
                    b64(header.to_string().as_bytes()),
                    b64(claims().to_string().as_bytes())
                );
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                let tag = ring::hmac::sign(&key, input.as_bytes());
                let token = format!("{input}.{}", b64(tag.as_ref()));
                assert!(matches!(
                    refused(&f.verifier, &token),
                    JwtError::AlgorithmRefused
                ));
            }
        }
    }
}

#[test]
fn an_algorithm_outside_the_allowed_list_is_refused() {
    let f = fixture();
    let mut config = f.jwks.config();
    config.algorithms = vec![Algorithm::ES256];
    let v = f.jwks.verifier_with(config, &f.clock);
    let token = f.rsa.token("RS256", "rsa-1", &claims());
    assert!(matches!(
        refused(&v, &token),
        JwtError::AlgorithmNotAllowed(Algorithm::RS256)
    ));
    assert!(v.verify(&f.ec.token("ES256", "ec-1", &claims())).is_ok());
    // PS256 is supported but not in the default list.
    let token = f.rsa.token("PS256", "rsa-1", &claims());
    assert!(matches!(
        refused(&f.verifier, &token),
        JwtError::AlgorithmNotAllowed(Algorithm::PS256)
    ));
}

#[test]
fn a_key_pinned_to_an_algorithm_accepts_only_that_one() {
    let rsa = Signer::rsa(OPERATOR_PEM);
    let mut jwk = rsa.jwk("rsa-1");
    jwk["alg"] = json!("PS256");
    let jwks = Jwks::new(&[jwk]);
    let mut config = jwks.config();
    config.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    let v = jwks.verifier_with(config, &TestClock::at(NOW));
    assert!(v.verify(&rsa.token("PS256", "rsa-1", &claims())).is_ok());
    let token = rsa.token("RS256", "rsa-1", &claims());
    assert!(matches!(refused(&v, &token), JwtError::UnknownKey));
}

#[test]
fn critical_header_extensions_are_refused() {
    let f = fixture();
    let header = json!({"alg": "ES256", "kid": "ec-1", "crit": ["b64"], "b64": false});
    let token = f.ec.token_with(header, &claims());
    assert!(matches!(
        refused(&f.verifier, &token),
        JwtError::CriticalHeader
    ));
}

#[test]
fn the_jwks_is_reloaded_after_the_interval() {
    let f = fixture();
    let old = f.rsa.token("RS256", "rsa-1", &claims());
    let next = Signer::rsa(PROVIDER_PEM);
    let new = next.token("RS256", "rsa-2", &claims());
    assert!(f.verifier.verify(&old).is_ok());

    f.jwks.write(&[next.jwk("rsa-2")]);
    // Not before the interval: the old keys are still in force.
    f.clock.advance(Duration::from_secs(4));
    assert!(f.verifier.verify(&old).is_ok());
    assert!(matches!(refused(&f.verifier, &new), JwtError::UnknownKey));
    // After it, the new file is in force.
    f.clock.advance(Duration::from_secs(1));
    assert!(matches!(refused(&f.verifier, &old), JwtError::UnknownKey));
    assert!(f.verifier.verify(&new).is_ok());

    // A new key under the same kid replaces the old one.
    f.jwks.write(&[f.rsa.jwk("rsa-2")]);
    f.clock.advance(Duration::from_secs(5));
    assert!(matches!(refused(&f.verifier, &new), JwtError::BadSignature));
    let again = f.rsa.token("RS256", "rsa-2", &claims());
    assert!(f.verifier.verify(&again).is_ok());
}

#[test]
fn a_bad_new_jwks_keeps_the_keys_in_use() {
    let f = fixture();
    let token = f.ec.token("ES256", "ec-1", &claims());
    for bad in [
        "not json".to_owned(),
        json!({"keys": []}).to_string(),
        json!({"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}).to_string(),
        json!({"keys": [{"kty": "oct", "k": b64(b"secret")}]}).to_string(),
    ] {
        f.jwks.write_raw(&bad);
        f.clock.advance(Duration::from_secs(6));
        assert!(f.verifier.verify(&token).is_ok(), "after {bad}");
    }
    std::fs::remove_file(f.jwks.path()).unwrap();
    f.clock.advance(Duration::from_secs(6));
    assert!(f.verifier.verify(&token).is_ok(), "after the file vanished");
    // A good file later is taken.
    let next = Signer::p256();
    f.jwks.write(&[next.jwk("ec-2")]);
    f.clock.advance(Duration::from_secs(6));
    assert!(matches!(refused(&f.verifier, &token), JwtError::UnknownKey));
    assert!(
        f.verifier
            .verify(&next.token("ES256", "ec-2", &claims()))
            .is_ok()
    );
}

#[test]
fn a_jwks_that_cannot_be_used_fails_at_start_naming_the_key() {
    let rsa = Signer::rsa(OPERATOR_PEM);
    let ec = Signer::p256();
    let private = {
        let mut k = rsa.jwk("rsa-1");
        k["d"] = json!(b64(b"private exponent"));
        k
    };
    let short_rsa = json!({"kty": "RSA", "kid": "s", "n": b64(&[0xc5; 128]), "e": "AQAB"});
    let wrong_alg = {
        let mut k = ec.jwk("ec-1");
        k["alg"] = json!("RS256");
        k
    };
    let cases: [(Vec<Value>, &str); 6] = [
        (vec![ec.jwk("a"), private], "keys[1]: d:"),
        (
            vec![json!({"kty": "oct", "k": "c2VjcmV0"})],
            "keys[0]: kty:",
        ),
        (vec![short_rsa], "keys[0]: n:"),
        (vec![wrong_alg], "keys[0]: alg:"),
        (vec![ec.jwk("x"), rsa.jwk("x")], "keys[1].kid:"),
        // Only an encryption key and an unknown curve: nothing usable.
        (
            vec![
                {
                    let mut k = rsa.jwk("enc");
                    k["use"] = json!("enc");
                    k
                },
                json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            ],
            "no usable signing key",
        ),
    ];
    for (keys, expected) in cases {
        let jwks = Jwks::new(&keys);
        let err = JwtVerifier::with_clock(jwks.config(), TestClock::at(NOW)).unwrap_err();
        assert!(matches!(err, JwtError::Jwks { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!err.to_string().contains("private exponent"), "{err}");
    }
    let missing = JwtConfig::new("/nonexistent/jwks.json", ISSUER, AUDIENCE);
    let err = JwtVerifier::new(missing).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/jwks.json"), "{err}");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapper {
    jwt: JwtConfig,
}

fn config_from(toml: &str) -> Result<JwtConfig, String> {
    let w: Wrapper = Figment::from(Toml::string(toml))
        .extract()
        .map_err(|e| e.to_string())?;
    w.jwt.validate().map_err(|e| e.to_string())?;
    Ok(w.jwt)
}

const BASE: &str = "[jwt]\njwks_file = \"/etc/hub/jwks.json\"\nissuer = \"https://issuer.test/\"\naudience = \"settlement-hub\"\n";

#[test]
fn config_has_defaults_and_refuses_symmetric_algorithms() {
    let cfg = config_from(BASE).unwrap();
    assert_eq!(cfg, JwtConfig::new("/etc/hub/jwks.json", ISSUER, AUDIENCE));
    assert_eq!(cfg.leeway, Duration::from_secs(30));
    assert_eq!(cfg.reload_interval, Duration::from_secs(5));
    assert_eq!(cfg.algorithms, [Algorithm::RS256, Algorithm::ES256]);

    let cfg = config_from(&format!(
        "{BASE}leeway = \"10s\"\nreload_interval = \"1m\"\nalgorithms = [\"EdDSA\", \"PS512\"]"
    ))
    .unwrap();
    assert_eq!(cfg.leeway, Duration::from_secs(10));
    assert_eq!(cfg.reload_interval, Duration::from_secs(60));
    assert_eq!(cfg.algorithms, [Algorithm::EdDSA, Algorithm::PS512]);

    for (alg, says) in [
        ("HS256", "symmetric"),
        ("hs512", "symmetric"),
        ("none", "unsigned"),
        ("RS1", "not a supported"),
    ] {
        let err = config_from(&format!("{BASE}algorithms = [\"ES256\", \"{alg}\"]")).unwrap_err();
        assert!(err.contains("jwt.algorithms"), "{err}");
        assert!(err.contains(says), "{err}");
    }
    let err = config_from(&format!("{BASE}leeway = \"soon\"")).unwrap_err();
    assert!(err.contains("jwt.leeway"), "{err}");
    let err = config_from(&format!("{BASE}jwks_url = \"https://x\"")).unwrap_err();
    assert!(err.contains("jwks_url"), "{err}");
}

#[test]
fn config_validation_names_the_field() {
    for (extra, field) in [
        ("algorithms = []", "algorithms"),
        ("algorithms = [\"ES256\", \"ES256\"]", "algorithms[1]"),
        ("leeway = \"10m\"", "leeway"),
        ("reload_interval = \"0s\"", "reload_interval"),
    ] {
        let err = config_from(&format!("{BASE}{extra}")).unwrap_err();
        assert!(err.contains(&format!("{field}:")), "{extra}: {err}");
    }
    let err = config_from(&BASE.replace("settlement-hub", " ")).unwrap_err();
    assert!(err.contains("audience:"), "{err}");
    let err = config_from(&BASE.replace("https://issuer.test/", "")).unwrap_err();
    assert!(err.contains("issuer:"), "{err}");
}

#[test]
fn bearer_takes_the_token_of_an_authorization_header() {
    assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
    assert_eq!(bearer("bearer  abc"), Some("abc"));
    assert_eq!(bearer("Basic abc"), None);
    assert_eq!(bearer("Bearer "), None);
    assert_eq!(bearer("abc"), None);
}

#[test]
fn malformed_tokens_are_refused() {
    let f = fixture();
    let good = f.ec.token("ES256", "ec-1", &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let header = parts[0];
    let not_json = b64(b"{not json");
    let array = b64(b"[1,2]");
    for token in [
        String::new(),
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{good}.extra"),
        format!("{header}.{}.{}.x.y", parts[1], parts[2]),
        format!("{header}=.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", &header[1..], parts[1], parts[2]),
        format!("{not_json}.{}.{}", parts[1], parts[2]),
        format!("{array}.{}.{}", parts[1], parts[2]),
        format!("{header}.{}.sig*", parts[1]),
        "x".repeat(MAX_TOKEN_LEN + 1),
    ] {
        assert!(
            matches!(refused(&f.verifier, &token), JwtError::Malformed(_)),
            "{token:.40}"
        );
    }
    // A correctly signed payload that is not JSON.
    let Signer::Ec(kp, _) = &f.ec else {
        unreachable!()
    };
    let input = format!("{header}.{not_json}");
    let sig = kp.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", b64(sig.as_ref()));
    assert!(matches!(
        refused(&f.verifier, &token),
        JwtError::Malformed("payload is not a JSON object")
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_input_is_refused_without_panicking(
        s in "\\PC{0,200}",
        parts in proptest::collection::vec("[A-Za-z0-9_=+/.-]{0,60}", 0..5),
    ) {
        let f = &*PROPTEST_FIXTURE;
        prop_assert!(f.verifier.verify(&s).is_err());
        prop_assert!(f.verifier.verify(&parts.join(".")).is_err());
        // A real header and signature around a garbage payload.
        let good = f.ec.token("ES256", "ec-1", &claims());
        let mut real: Vec<&str> = good.split('.').collect();
        let junk = parts.concat();
        real[1] = &junk;
        prop_assert!(f.verifier.verify(&real.join(".")).is_err());
    }
}

static PROPTEST_FIXTURE: std::sync::LazyLock<Fixture> = std::sync::LazyLock::new(fixture);
