//! Key loading and signatures against answers computed with openssl.

use super::*;

const OPERATOR_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/operator_private.pem");
const OPERATOR_PUBLIC: &[u8] = include_bytes!("../../../samples/json-rsa/keys/operator_public.pem");
const PROVIDER_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/provider_private.pem");
const PROVIDER_PUBLIC: &[u8] = include_bytes!("../../../samples/json-rsa/keys/provider_public.pem");
const IMPOSTOR_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/impostor_private.pem");
const OPERATOR_PRIVATE_PKCS1: &[u8] =
    include_bytes!("../../testdata/keys/operator_private_pkcs1.pem");
const PROVIDER_PUBLIC_PKCS1: &[u8] =
    include_bytes!("../../testdata/keys/provider_public_pkcs1.pem");
const RSA1024_PRIVATE: &[u8] = include_bytes!("../../testdata/keys/rsa1024_private.pem");
const RSA1024_PUBLIC: &[u8] = include_bytes!("../../testdata/keys/rsa1024_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../../testdata/keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../../testdata/keys/ec_public.pem");
const ED25519_PRIVATE: &[u8] = include_bytes!("../../testdata/keys/ed25519_private.pem");
const ED25519_PUBLIC: &[u8] = include_bytes!("../../testdata/keys/ed25519_public.pem");

const BODY: &[u8] =
    br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","user":"acc-1","currency":"EUR"}"#;

/// `openssl dgst -sha256 -sign operator_private.pem | base64` of [`BODY`].
const BODY_SIGNATURE: &str = "ITnoVEdW90BffQhbMDwvZzFr2xN5dWm6l0Tcu7VXGoytMOWUiI4rbdnmEwd5pYqPI0U7d9te0FFRldFXkRdU/eWm84MP4x2MtdVtBMeCYKOap0fCvLpJEGtLpKrMV/mmhyhj88HfYAyQ+24dK4++VLRLbLbkdgWZmcuwXC2/H6BQch6s1wZ9w/0JK7zwFh5Ik12hiGAF9CcsS/5MmJdFmiyhkWyamEeMmaHNtE0ZXds9CNdJGGUts7Qw2gbLOi5YathMf6jXYd8A1zqxhpCi/hzZOtuVq5lPBba3t9EQcF0AJlWN9UbsmI1mLgNOGw1WysGnL0RgGXMs/0GTsp9R2Q==";

/// The same for the empty body.
const EMPTY_SIGNATURE: &str = "SEYNzvYkrZbCOzo18CqKOzKW7v4rhv4HQlEr+cJzWqn71TwhJ98Wrn6A4fYKCfT3ejd0oMWIHrlFjxGCAntPYlAdWUywCnedlS++OvsyLWwdckYdSw6YlTGXELTOBtPG9SrgF/tgoqALdPAGKa8tJI9vUjd3lUw5QEf5jiqxTbmXnjfAtvuCkEdh2OT8ROhzjkr0eTJ7Gm9HCrByUo9/6bWWfzhYSxiv40gBk5EBAwgoN663NHmb8jQ9m4EgOJ3Tu7uV//C5AO9j5ZvRQh0zYD5A0Q2DVHZhWA9IetDQcFF4qEFJxIt9w2S7GHFcga/MV+V7ghdrT5kOS5oA28gAmg==";

/// A provider reply signed by `openssl dgst -sha256 -sign provider_private.pem`.
const REPLY: &[u8] = br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","user":"acc-1","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#;
const REPLY_SIGNATURE: &str = "qRWu7NmMRR0GhlQEgGeoq4ZDpdTSdQvoi0e5b7dHi0CFPt2JAfbWQ8XnNYELAx2O88rgSi/KswVNrAfsfbsaJ609IW5sYz9CX9V19SeXQK9taYjCAfewoZqf8deVFuom4ASS++7IEXCJsFM74smVAnwQ9lWyYD/b5S3PR2Gmg0rE9efTL9wZIpksfG7wDjoVbgmvr60Aqusg+Rn0XM3Gq3Q4xxzwpJm6MRWEQO1rDzUKaxLh+3Dix0/3gXy5zgawuqE68ynMiVJeoWgKJdNYyuR42aIhy6EIXneqvb3aKzvmARvGy76+LRtP4r13VpE9APU8pk/d3sgPZR73qEjwNA==";

fn operator() -> Signer {
    Signer::from_pem(OPERATOR_PRIVATE).unwrap()
}

fn provider_public() -> Verifier {
    Verifier::from_pem(PROVIDER_PUBLIC).unwrap()
}

#[test]
fn signatures_match_openssl() {
    assert_eq!(operator().sign(BODY).unwrap(), BODY_SIGNATURE);
    assert_eq!(operator().sign(b"").unwrap(), EMPTY_SIGNATURE);
    // PKCS#1 v1.5 is deterministic.
    assert_eq!(
        operator().sign(BODY).unwrap(),
        operator().sign(BODY).unwrap()
    );
    // The same key in PKCS#1 form signs alike.
    let pkcs1 = Signer::from_pem(OPERATOR_PRIVATE_PKCS1).unwrap();
    assert_eq!(pkcs1.sign(BODY).unwrap(), BODY_SIGNATURE);
    assert_eq!(operator().bits(), 2048);
}

#[test]
fn openssl_signatures_verify() {
    let verifier = provider_public();
    assert_eq!(verifier.bits(), 2048);
    assert_eq!(
        verifier.verify(REPLY, Some(REPLY_SIGNATURE.as_bytes())),
        Ok(())
    );

    let operator_public = Verifier::from_pem(OPERATOR_PUBLIC).unwrap();
    assert_eq!(
        operator_public.verify(BODY, Some(BODY_SIGNATURE.as_bytes())),
        Ok(())
    );
    // What we sign verifies under our public key, which is ring's view of
    // our private key's public half.
    let signature = operator().sign(REPLY).unwrap();
    assert_eq!(
        operator_public.verify(REPLY, Some(signature.as_bytes())),
        Ok(())
    );
    assert_eq!(
        operator_public.public_key_der(),
        operator().public_key_der()
    );
}

#[test]
fn anything_but_the_providers_signature_of_these_bytes_is_refused() {
    let verifier = provider_public();
    let sig = Some(REPLY_SIGNATURE.as_bytes());
    assert_eq!(verifier.verify(REPLY, None), Err(SignatureError::Missing));
    // One byte of the body changed.
    let mut tampered = REPLY.to_vec();
    let at = tampered.iter().position(|b| *b == b'9').unwrap_or(0);
    tampered[at] = b'8';
    assert_eq!(
        verifier.verify(&tampered, sig),
        Err(SignatureError::Mismatch)
    );
    // Whitespace added.
    let mut spaced = REPLY.to_vec();
    spaced.push(b'\n');
    assert_eq!(verifier.verify(&spaced, sig), Err(SignatureError::Mismatch));
    // Signed by someone else: the operator, an impostor.
    let by_operator = operator().sign(REPLY).unwrap();
    assert_eq!(
        verifier.verify(REPLY, Some(by_operator.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    let impostor = Signer::from_pem(IMPOSTOR_PRIVATE).unwrap();
    let by_impostor = impostor.sign(REPLY).unwrap();
    assert_eq!(
        verifier.verify(REPLY, Some(by_impostor.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    // The provider's own signature of another body.
    let provider = Signer::from_pem(PROVIDER_PRIVATE).unwrap();
    let other = provider.sign(BODY).unwrap();
    assert_eq!(
        verifier.verify(REPLY, Some(other.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(verifier.verify(BODY, Some(other.as_bytes())), Ok(()));
    // Broken encodings.
    let unpadded = REPLY_SIGNATURE.trim_end_matches('=');
    for bad in ["", "!!!!", unpadded, "a", "YQ=="] {
        let result = verifier.verify(REPLY, Some(bad.as_bytes()));
        assert!(result.is_err(), "{bad:?}");
    }
    assert_eq!(
        verifier.verify(REPLY, Some(b"not base64!")),
        Err(SignatureError::NotBase64)
    );
    let url_safe = REPLY_SIGNATURE.replace('+', "-").replace('/', "_");
    assert_eq!(
        verifier.verify(REPLY, Some(url_safe.as_bytes())),
        Err(SignatureError::NotBase64)
    );
    let mut truncated = STANDARD.decode(REPLY_SIGNATURE).unwrap();
    truncated.pop();
    assert_eq!(
        verifier.verify(REPLY, Some(STANDARD.encode(truncated).as_bytes())),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn debug_never_shows_the_private_key() {
    let signer = operator();
    let shown = format!("{signer:?}");
    assert_eq!(shown, "Signer(rsa-2048, <private key redacted>)");
    let pem = String::from_utf8(OPERATOR_PRIVATE.to_vec()).unwrap();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line));
    }
    assert_eq!(format!("{:?}", provider_public()), "Verifier(rsa-2048)");
}

#[test]
fn wrong_key_kinds_are_refused_with_a_reason() {
    let private = |pem: &[u8]| Signer::from_pem(pem).err().map(|e| e.to_string());
    let public = |pem: &[u8]| Verifier::from_pem(pem).err().map(|e| e.to_string());

    assert!(matches!(
        Signer::from_pem(PROVIDER_PUBLIC),
        Err(KeyError::WrongKind {
            found: "a PUBLIC KEY",
            ..
        })
    ));
    assert!(matches!(
        Verifier::from_pem(PROVIDER_PRIVATE),
        Err(KeyError::WrongKind {
            found: "a PRIVATE KEY",
            ..
        })
    ));
    assert!(matches!(
        Verifier::from_pem(OPERATOR_PRIVATE_PKCS1),
        Err(KeyError::WrongKind {
            found: "an RSA PRIVATE KEY",
            ..
        })
    ));
    // PKCS#1 `RSA PUBLIC KEY` is a label the PEM reader skips.
    assert!(matches!(
        Verifier::from_pem(PROVIDER_PUBLIC_PKCS1),
        Err(KeyError::NoKey { .. })
    ));
    assert!(matches!(
        Signer::from_pem(EC_PRIVATE),
        Err(KeyError::NotRsa)
    ));
    assert!(matches!(
        Verifier::from_pem(EC_PUBLIC),
        Err(KeyError::NotRsa)
    ));
    assert!(matches!(
        Signer::from_pem(ED25519_PRIVATE),
        Err(KeyError::NotRsa)
    ));
    assert!(matches!(
        Verifier::from_pem(ED25519_PUBLIC),
        Err(KeyError::NotRsa)
    ));
    assert!(matches!(
        Signer::from_pem(RSA1024_PRIVATE),
        Err(KeyError::Rejected(_))
    ));
    assert!(matches!(
        Verifier::from_pem(RSA1024_PUBLIC),
        Err(KeyError::ModulusSize { bits: 1024 })
    ));
    assert_eq!(
        public(b""),
        Some("no PEM key section found (expected a PUBLIC KEY (SubjectPublicKeyInfo))".into())
    );
    assert!(matches!(
        Signer::from_pem(b"just text\n"),
        Err(KeyError::NoKey { .. })
    ));
    assert!(matches!(
        Signer::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        Verifier::from_pem(b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        Verifier::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(KeyError::Malformed)
    ));
    assert!(matches!(
        Signer::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        Err(KeyError::Malformed)
    ));
    let mut two = PROVIDER_PUBLIC.to_vec();
    two.extend_from_slice(OPERATOR_PUBLIC);
    assert!(matches!(
        Verifier::from_pem(&two),
        Err(KeyError::SeveralKeys { .. })
    ));
    // A key beside other sections is found.
    let mut mixed = EC_PUBLIC.to_vec();
    mixed.extend_from_slice(OPERATOR_PRIVATE);
    assert!(Signer::from_pem(&mixed).is_ok());

    // No message shows key material.
    for message in [
        private(PROVIDER_PUBLIC),
        private(EC_PRIVATE),
        private(RSA1024_PRIVATE),
        public(PROVIDER_PRIVATE),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!message.contains("MII"), "{message}");
    }
}

#[test]
fn spki_structure_is_checked() {
    let der = |pem: &[u8]| {
        let (_, der) = one_section(pem, "", &[SectionKind::PublicKey]).unwrap();
        der
    };
    let good = der(PROVIDER_PUBLIC);
    assert!(Verifier::from_spki_der(&good).is_ok());
    // Trailing bytes after the SubjectPublicKeyInfo.
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        Verifier::from_spki_der(&trailing),
        Err(KeyError::Malformed)
    ));
    // Every truncation is refused, none panics.
    for cut in 0..good.len() {
        assert!(
            Verifier::from_spki_der(&good[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // Every single-byte corruption either is refused or still parses as an
    // RSA key (a flipped modulus or exponent bit) that verifies nothing of
    // the provider's; none panics.
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        if let Ok(verifier) = Verifier::from_spki_der(&bad) {
            assert!((MIN_KEY_BITS..=MAX_KEY_BITS).contains(&verifier.bits()));
            assert_eq!(
                verifier.verify(REPLY, Some(REPLY_SIGNATURE.as_bytes())),
                Err(SignatureError::Mismatch)
            );
        }
    }
}

#[test]
fn key_files_are_read_with_the_path_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let message = Signer::from_pem_file(&missing).unwrap_err().to_string();
    assert!(message.starts_with("cannot read "), "{message}");
    assert!(message.contains("nope.pem"), "{message}");
    let path = dir.path().join("provider.pem");
    std::fs::write(&path, PROVIDER_PUBLIC).unwrap();
    assert!(Verifier::from_pem_file(&path).is_ok());
    assert!(matches!(
        Verifier::from_pem_file(dir.path()),
        Err(KeyError::Read { .. })
    ));
}
