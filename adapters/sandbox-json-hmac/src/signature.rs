//! Request authentication: `X-Signature` is the hex HMAC-SHA256 of the raw
//! request body under the operator's secret, checked in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the hex signature.
pub const SIGNATURE_HEADER: &str = "x-signature";
/// Header naming the calling operator.
pub const OPERATOR_HEADER: &str = "x-operator";

/// True when `signature_hex` (either case, surrounding whitespace ignored)
/// is the HMAC-SHA256 of `body` under `secret`. The comparison of the two
/// tags is constant time; only the length of the presented tag leaks.
pub fn verify(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(presented) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    presented.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn known_vector_from_rfc_4231_case_2() {
        // key "Jefe", data "what do ya want for nothing?"
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(verify(b"Jefe", b"what do ya want for nothing?", expected));
        assert!(verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &expected.to_uppercase()
        ));
    }

    #[test]
    fn refuses_wrong_secret_body_length_and_non_hex() {
        let good = sign(b"s3cret", b"{}");
        assert!(verify(b"s3cret", b"{}", &good));
        assert!(!verify(b"other", b"{}", &good));
        assert!(!verify(b"s3cret", b"{ }", &good));
        assert!(!verify(b"s3cret", b"{}", &good[..62]));
        assert!(!verify(b"s3cret", b"{}", ""));
        assert!(!verify(b"s3cret", b"{}", "zz"));
    }
}
