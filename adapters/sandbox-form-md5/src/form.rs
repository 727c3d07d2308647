//! Request bodies: `application/x-www-form-urlencoded` parameters, and the
//! `hash` parameter that signs them.
//!
//! The signed text is every parameter except `hash`, sorted by name (byte
//! order), written `name=value` with the decoded value (no URL encoding),
//! joined by `&`, with the shared secret appended directly after the last
//! value; `hash` is the lower-case hex MD5 of that text. A parameter given
//! twice makes the body ambiguous and is refused before anything else.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Name of the signature parameter.
pub const HASH_PARAM: &str = "hash";

/// Why a body is not a usable parameter list (answered with error 120).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The same parameter name appears more than once.
    #[error("parameter {0:?} is given more than once")]
    Duplicate(String),
}

/// A decoded request: its parameters by name, and its `hash` apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    params: BTreeMap<String, String>,
    hash: Option<String>,
}

impl Form {
    /// Decodes a form body (`+` is a space, `%XX` a byte; bytes that do not
    /// decode as UTF-8 become U+FFFD, so such a request cannot verify).
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut form = Form::default();
        for (name, value) in form_urlencoded::parse(body) {
            let duplicate = if name == HASH_PARAM {
                form.hash.replace(value.into_owned()).is_some()
            } else {
                form.params
                    .insert(name.clone().into_owned(), value.into_owned())
                    .is_some()
            };
            if duplicate {
                return Err(FormError::Duplicate(name.into_owned()));
            }
        }
        Ok(form)
    }

    /// The value of a parameter (never `hash`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether `hash` is the signature of the other parameters under
    /// `secret` (compared in constant time; a missing `hash` never is).
    pub fn verify(&self, secret: &str) -> bool {
        let Some(given) = self.hash.as_deref() else {
            return false;
        };
        let expected = sign(&self.params, secret);
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The text that is hashed: `k1=v1&k2=v2...` in name order, then `secret`.
pub fn signed_text(params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut text = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            text.push('&');
        }
        text.push_str(name);
        text.push('=');
        text.push_str(value);
    }
    text.push_str(secret);
    text
}

/// The `hash` of these parameters (which must not include `hash`): lower-case
/// hex MD5 of [`signed_text`].
pub fn sign(params: &BTreeMap<String, String>, secret: &str) -> String {
    hex::encode(Md5::digest(signed_text(params, secret).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn md5_is_the_known_one() {
        // RFC 1321 test vector.
        assert_eq!(
            hex::encode(Md5::digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn signed_text_sorts_by_name_and_appends_the_secret() {
        let p = params(&[
            ("userId", "acc-1"),
            ("providerId", "op1"),
            ("currency", "EUR"),
        ]);
        assert_eq!(
            signed_text(&p, "s3cr3t"),
            "currency=EUR&providerId=op1&userId=acc-1s3cr3t"
        );
        assert_eq!(signed_text(&BTreeMap::new(), "s"), "s");
    }

    #[test]
    fn values_are_hashed_decoded() {
        let form = Form::parse(b"b=x%26y+z&a=%C3%A9").expect("form");
        assert_eq!(form.get("b"), Some("x&y z"));
        assert_eq!(signed_text(&form.params, "K"), "a=\u{e9}&b=x&y zK");
    }

    #[test]
    fn hash_is_kept_apart_and_verified() {
        let p = params(&[("currency", "EUR"), ("providerId", "op1")]);
        let hash = sign(&p, "secret");
        assert_eq!(hash.len(), 32);
        let body = format!("providerId=op1&currency=EUR&hash={hash}");
        let form = Form::parse(body.as_bytes()).expect("form");
        assert_eq!(form.get(HASH_PARAM), None);
        assert_eq!(form.hash.as_deref(), Some(hash.as_str()));
        assert!(form.verify("secret"));
        assert!(!form.verify("other"));

        let upper = format!("providerId=op1&currency=EUR&hash={}", hash.to_uppercase());
        assert!(
            !Form::parse(upper.as_bytes())
                .expect("form")
                .verify("secret")
        );
        let unsigned = Form::parse(b"providerId=op1&currency=EUR").expect("form");
        assert!(!unsigned.verify("secret"));
        let extra = format!("providerId=op1&currency=EUR&x=1&hash={hash}");
        assert!(
            !Form::parse(extra.as_bytes())
                .expect("form")
                .verify("secret"),
            "every parameter is signed, unknown ones too"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            Form::parse(b"a=1&a=1"),
            Err(FormError::Duplicate("a".into()))
        );
        assert_eq!(
            Form::parse(b"hash=1&a=1&hash=2"),
            Err(FormError::Duplicate("hash".into()))
        );
    }

    #[test]
    fn empty_values_are_present_and_empty_pairs_ignored() {
        let form = Form::parse(b"a=&&b").expect("form");
        assert_eq!(form.get("a"), Some(""));
        assert_eq!(form.get("b"), Some(""));
        assert_eq!(signed_text(&form.params, ""), "a=&b=");
    }
}
