//! What an adapter's exchanges must not show: the [`Redaction`] a dialect
//! declares (signature headers, secret body fields, the shared secret
//! itself), applied to headers and bodies before they become an
//! [`Exchange`](adapter_api::exchange::Exchange).
//!
//! Bodies are redacted in place, byte for byte otherwise: a JSON body keeps
//! its formatting, key order and number spelling (`97.50` stays `97.50`);
//! only the values of the named members change, at any depth. A form body
//! (`a=1&hash=...`) keeps every other parameter as sent. Replies are
//! untrusted, so nothing here panics or recurses without bound: a body
//! that is not UTF-8 is escaped (`\xNN`); one that claims to be JSON but is
//! not, or nests deeper than [`MAX_DEPTH`], is withheld entirely if it
//! mentions a redacted field; and a body is cut at [`MAX_LOGGED_BODY`]
//! bytes after redaction.

use std::fmt;

use adapter_api::exchange::{Body, REDACTED};
use http::{HeaderMap, HeaderName};

/// The longest body text kept in an exchange, in bytes (16 KiB); the rest
/// is cut ([`Body::truncated`]).
pub const MAX_LOGGED_BODY: usize = 16 * 1024;

/// The deepest JSON nesting the redactor walks; a deeper body is treated as
/// unparseable.
pub const MAX_DEPTH: usize = 64;

/// Shared secrets shorter than this are not scrubbed from logged text: a
/// short string would blank out unrelated text, and a secret that short
/// protects nothing.
pub const MIN_SCRUBBED_SECRET: usize = 8;

/// Headers redacted whatever the dialect says.
const ALWAYS_REDACTED: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// What to hide from logged exchanges: header names, body field names (JSON
/// object members at any depth and form parameters, compared without
/// regard to case) and secret strings scrubbed wherever they appear.
///
/// `Debug` never prints the secrets.
#[derive(Clone, Default)]
pub struct Redaction {
    headers: Vec<HeaderName>,
    fields: Vec<String>,
    secrets: Vec<String>,
}

impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redaction")
            .field("headers", &self.headers)
            .field("fields", &self.fields)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// How a body is read for redaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Other,
}

impl Redaction {
    /// Redacts only the headers every dialect hides (`Authorization`,
    /// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts the header `name` (a signature, a token), in requests
    /// and replies.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.headers.push(name);
        self
    }

    /// Also redacts the body field `name`: the value of every JSON object
    /// member so named, at any depth, and of every form parameter so named.
    pub fn field(mut self, name: &str) -> Self {
        self.fields.push(name.to_ascii_lowercase());
        self
    }

    /// Also scrubs `secret` (a shared key) wherever it appears in logged
    /// headers and bodies, as defence in depth: no dialect sends its secret,
    /// but a provider could echo it. Secrets shorter than
    /// [`MIN_SCRUBBED_SECRET`] bytes are not scrubbed.
    pub fn secret(mut self, secret: &str) -> Self {
        if secret.len() >= MIN_SCRUBBED_SECRET {
            self.secrets.push(secret.to_owned());
        }
        self
    }

    fn hides_header(&self, name: &HeaderName) -> bool {
        ALWAYS_REDACTED.contains(&name.as_str()) || self.headers.contains(name)
    }

    fn hides_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.eq_ignore_ascii_case(name))
    }

    /// The headers as logged: lower-case names in order, hidden values
    /// [`REDACTED`], other values as text (escaped when not visible ASCII).
    pub fn headers(&self, headers: &HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let shown = if self.hides_header(name) {
                    REDACTED.to_owned()
                } else {
                    match value.to_str() {
                        Ok(text) => self.scrub(text.to_owned()),
                        Err(_) => self.scrub(value.as_bytes().escape_ascii().to_string()),
                    }
                };
                (name.as_str().to_owned(), shown)
            })
            .collect()
    }

    /// The body as logged, read as JSON or form by `content_type` (or by
    /// its look when none is given), with hidden values [`REDACTED`].
    pub fn body(&self, content_type: Option<&str>, bytes: &[u8]) -> Body {
        let len = bytes.len();
        let (text, escaped) = match std::str::from_utf8(bytes) {
            Ok(text) => (self.redact_text(content_type, text), false),
            // Not UTF-8: no dialect's body. Escape it; if any redacted field
            // name shows in it, withhold it all.
            Err(_) => {
                let shown = bytes.escape_ascii().to_string();
                (self.withhold_if_mentioned(shown), true)
            }
        };
        let text = self.scrub(text);
        let (text, truncated) = truncate(text, MAX_LOGGED_BODY);
        Body {
            text,
            len,
            truncated,
            escaped,
        }
    }

    fn redact_text(&self, content_type: Option<&str>, text: &str) -> String {
        if self.fields.is_empty() {
            return text.to_owned();
        }
        match kind(content_type, text) {
            Kind::Json => match json_spans(text, &|key| self.hides_field(key)) {
                Some(spans) => replace_spans(text, &spans, &format!("\"{REDACTED}\"")),
                None => self.withhold_if_mentioned(text.to_owned()),
            },
            Kind::Form => self.redact_form(text),
            Kind::Other => self.withhold_if_mentioned(text.to_owned()),
        }
    }

    /// `a=1&hash=abc` -> `a=1&hash=[redacted]`, every other byte kept.
    fn redact_form(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for (i, pair) in text.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if self.hides_field(&decode_form_key(key)) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        out
    }

    /// A body that cannot be parsed is kept only if no redacted field name
    /// appears in it.
    fn withhold_if_mentioned(&self, text: String) -> String {
        let lower = text.to_ascii_lowercase();
        if self.fields.iter().any(|f| lower.contains(f.as_str())) {
            format!("{REDACTED}: unparseable body naming a redacted field")
        } else {
            text
        }
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }
}

fn kind(content_type: Option<&str>, text: &str) -> Kind {
    let content_type = content_type.map(str::to_ascii_lowercase);
    match content_type.as_deref() {
        Some(ct) if ct.contains("json") => Kind::Json,
        Some(ct) if ct.contains("x-www-form-urlencoded") => Kind::Form,
        _ => {
            let start = text.trim_start();
            if start.starts_with('{') || start.starts_with('[') {
                Kind::Json
            } else if text.contains('=') && !text.contains(char::is_whitespace) {
                Kind::Form
            } else {
                Kind::Other
            }
        }
    }
}

/// A form key, percent- and plus-decoded (lossily).
fn decode_form_key(key: &str) -> String {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

/// Replaces each (start, end) byte span of `text` (sorted, disjoint) by
/// `with`.
fn replace_spans(text: &str, spans: &[(usize, usize)], with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str(with);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The byte spans of the values of object members whose key `hide`s, in a
/// JSON document; `None` if `text` is not one JSON value (or nests deeper
/// than [`MAX_DEPTH`]). Hidden values are not searched further.
fn json_spans(text: &str, hide: &dyn Fn(&str) -> bool) -> Option<Vec<(usize, usize)>> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        at: 0,
        spans: Vec::new(),
        hide,
    };
    scanner.value(0)?;
    scanner.ws();
    (scanner.at == scanner.bytes.len()).then_some(scanner.spans)
}

/// A JSON reader that only finds spans; it checks structure, not every
/// detail of numbers and escapes (the body is logged, not trusted).
struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    spans: Vec<(usize, usize)>,
    hide: &'a dyn Fn(&str) -> bool,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.bytes.get(self.at)? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let start = self.at;
                while let Some(b) = self.bytes.get(self.at) {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                        self.at += 1;
                    } else {
                        break;
                    }
                }
                let token = &self.text[start..self.at];
                let literal = matches!(token, "true" | "false" | "null");
                let number = token
                    .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                    && token.parse::<f64>().is_ok();
                (literal || number).then_some(())
            }
            _ => None,
        }
    }

    /// A string; returns its content span (between the quotes).
    fn string(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.bytes.get(self.at)? {
                b'"' => {
                    let end = self.at;
                    self.at += 1;
                    return Some((start, end));
                }
                b'\\' => self.at += 2,
                b if *b < 0x20 => return None,
                _ => self.at += 1,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (start, end) = self.string()?;
            let raw = self.text.get(start..end)?;
            let key = if raw.contains('\\') {
                // An escaped key: decode it so `"h\u0061sh"` is `hash`.
                serde_json::from_str::<String>(self.text.get(start - 1..end + 1)?).ok()?
            } else {
                raw.to_owned()
            };
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value_start = self.at;
            self.value(depth + 1)?;
            if (self.hide)(&key) {
                // Values found inside a hidden value are covered by it.
                self.spans.retain(|&(s, _)| s < value_start);
                self.spans.push((value_start, self.at));
            }
            self.ws();
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b'}');
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            self.ws();
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hide_sign() -> Redaction {
        Redaction::new()
            .header(HeaderName::from_static("x-signature"))
            .field("signature")
            .field("hash")
    }

    fn json(r: &Redaction, text: &str) -> String {
        r.body(Some("application/json"), text.as_bytes()).text
    }

    #[test]
    fn json_values_are_replaced_in_place_keeping_everything_else() {
        let r = hide_sign();
        let body =
            r#"{ "cash" : 97.50, "signature":"abc\"def", "n":{"Hash":[1,{"x":2}],"k":true} }"#;
        assert_eq!(
            json(&r, body),
            r#"{ "cash" : 97.50, "signature":"[redacted]", "n":{"Hash":"[redacted]","k":true} }"#
        );
        // Nothing to hide: the body as it came, byte for byte.
        let plain = "{\"a\":1.10,\n \"b\":[null,false]}";
        assert_eq!(json(&r, plain), plain);
        // An escaped key is still the key.
        assert_eq!(
            json(&r, r#"{"h\u0061sh":"secret-ish"}"#),
            r#"{"h\u0061sh":"[redacted]"}"#
        );
    }

    #[test]
    fn form_parameters_are_replaced_keeping_the_others() {
        let r = hide_sign();
        let body = "providerId=op1&amount=2.50&hash=4f9dbcc3df4a&HASH=x&h%61sh=y&flag";
        let shown = r
            .body(Some("application/x-www-form-urlencoded"), body.as_bytes())
            .text;
        assert_eq!(
            shown,
            "providerId=op1&amount=2.50&hash=[redacted]&HASH=[redacted]&h%61sh=[redacted]&flag"
        );
    }

    #[test]
    fn headers_hide_signatures_and_credentials() {
        let r = hide_sign();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-signature", HeaderValue::from_static("deadbeef"));
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("x-odd", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let shown = r.headers(&headers);
        assert_eq!(
            shown,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                ("x-signature".to_owned(), REDACTED.to_owned()),
                ("authorization".to_owned(), REDACTED.to_owned()),
                ("x-odd".to_owned(), "caf\\xe9".to_owned()),
            ]
        );
    }

    #[test]
    fn secrets_are_scrubbed_anywhere_and_short_ones_are_not() {
        let r = Redaction::new().secret("top-secret-value").secret("s");
        let body = r.body(Some("text/plain"), b"echo: top-secret-value, yes");
        assert_eq!(body.text, "echo: [redacted], yes");
        let mut headers = HeaderMap::new();
        headers.insert("x-echo", HeaderValue::from_static("top-secret-value"));
        assert_eq!(r.headers(&headers)[0].1, REDACTED);
        assert!(!format!("{r:?}").contains("top-secret-value"));
    }

    #[test]
    fn garbage_never_panics_and_never_shows_a_named_field() {
        let r = hide_sign();
        // Half a JSON body (the sandbox's garbage fault) naming a field.
        let half = r#"{"tx":"1","signature":"abcd"#;
        let shown = json(&r, half);
        assert!(!shown.contains("abcd"), "{shown}");
        assert!(shown.starts_with(REDACTED), "{shown}");
        // Half a body naming nothing hidden: kept as it came.
        assert_eq!(json(&r, r#"{"tx":"1","bal"#), r#"{"tx":"1","bal"#);
        // Not UTF-8: escaped.
        let body = r.body(Some("application/json"), b"\xff\xfe{\"a\":1}");
        assert!(body.escaped);
        assert_eq!(body.text, "\\xff\\xfe{\\\"a\\\":1}");
        // Not UTF-8 and naming a field: withheld.
        let body = r.body(None, b"\xff\"hash\":\"abc\"");
        assert!(!body.text.contains("abc"), "{}", body.text);
        // Hostile nesting: refused without recursing deeper than MAX_DEPTH.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(json(&r, &deep).len(), MAX_LOGGED_BODY);
        let deep_named = format!("{}\"hash\":1", "{\"a\":".repeat(100));
        assert!(json(&r, &deep_named).starts_with(REDACTED));
        // Odd tokens and stray bytes.
        for text in [
            "{\"a\":tru}",
            "{\"a\":1}}",
            "{\"a\" 1}",
            "\"\\",
            "{\"\\",
            "-",
            "[1,]",
        ] {
            let _ = json(&r, text);
            let _ = r.body(None, text.as_bytes());
            let _ = r.body(Some("application/x-www-form-urlencoded"), text.as_bytes());
        }
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary_after_redaction() {
        let r = hide_sign();
        let long = format!(
            "{{\"hash\":\"x\",\"pad\":\"{}\"}}",
            "é".repeat(MAX_LOGGED_BODY)
        );
        let body = json(&r, &long);
        assert!(body.starts_with("{\"hash\":\"[redacted]\""));
        let full = r.body(Some("application/json"), long.as_bytes());
        assert!(full.truncated);
        assert_eq!(full.len, long.len());
        assert!(full.text.len() <= MAX_LOGGED_BODY && full.text.len() > MAX_LOGGED_BODY - 2);
    }

    #[test]
    fn without_content_type_the_body_is_read_by_its_look() {
        let r = hide_sign();
        assert_eq!(
            r.body(None, b"{\"hash\":1}").text,
            "{\"hash\":\"[redacted]\"}"
        );
        assert_eq!(r.body(None, b"a=1&hash=2").text, "a=1&hash=[redacted]");
        assert_eq!(r.body(None, b"plain words").text, "plain words");
    }
}
