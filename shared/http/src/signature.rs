//! Webhook authentication: HMAC-SHA256 signatures with a timestamp (DESIGN §9).
//!
//! `X-Muster-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
//! `X-Muster-Timestamp: <unix seconds>`, over the body bytes exactly as sent (compressed, if the
//! sender compressed). Comparison is constant-time; a timestamp more than five minutes off is
//! refused so a captured request cannot be replayed later. Secrets never reach a log: `Secret`
//! prints as `[redacted]`.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from our clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;
pub const SIGNATURE_HEADER: &str = "x-muster-signature";
pub const TIMESTAMP_HEADER: &str = "x-muster-timestamp";
/// GitHub's webhook signature: HMAC-SHA256 of the body alone, no timestamp.
pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// A shared secret; its bytes are never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The key bytes, for verifiers outside this module (Slack's v0 scheme).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Why a request's signature was refused; each is a 401 with its own code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header; sign the body with the source's secret (see README, \"Signing requests\")")]
    Missing(&'static str),
    #[error("{0} is malformed: expected {1}")]
    Malformed(&'static str, &'static str),
    #[error(
        "the request timestamp is {0} seconds away from the server's clock (allowed ±{MAX_SKEW_SECONDS}); check the sender's clock or resend"
    )]
    Stale(i64),
    #[error("the signature does not match the body and timestamp; check the secret")]
    Mismatch,
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_signature",
            Self::Malformed(..) => "malformed_signature",
            Self::Stale(_) => "stale_timestamp",
            Self::Mismatch => "bad_signature",
        }
    }
}

fn keyed(secret: &Secret) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(&secret.0).expect("HMAC takes any key length")
}

fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The hex digest of a `sha256=<64 hex digits>` header value.
fn tag_of(header: &'static str, value: &str) -> Result<Vec<u8>, SignatureError> {
    const EXPECTED: &str = "sha256=<64 hex digits>";
    let hex_tag = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(header, EXPECTED))?;
    hex::decode(hex_tag).map_err(|_| SignatureError::Malformed(header, EXPECTED))
}

/// The `X-Muster-Signature` value for a body sent at `timestamp` (what a client sends).
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body).finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Checks a request's signature headers against the body, at server time `now` (unix seconds).
pub fn verify(
    secret: &Secret,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing("X-Muster-Signature"))?;
    let timestamp_text = timestamp.ok_or(SignatureError::Missing("X-Muster-Timestamp"))?.trim();
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| SignatureError::Malformed("X-Muster-Timestamp", "unix seconds"))?;
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let tag = tag_of("X-Muster-Signature", signature)?;
    mac(secret, timestamp_text, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

/// Refuses signature headers that are present but malformed, for a source that checks none:
/// a sender signing for an unsigned source learns of a broken signer now, not the day the
/// source gets a secret. Each value must have the form the OpenAPI description gives it.
pub fn check_unverified(
    signature: Option<&str>,
    timestamp: Option<&str>,
    github_signature: Option<&str>,
) -> Result<(), SignatureError> {
    const TAG: &str = "sha256=<64 lowercase hex digits>";
    let is_tag = |value: &str| {
        value
            .strip_prefix("sha256=")
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    };
    for (header, value) in [
        ("X-Muster-Signature", signature),
        ("X-Hub-Signature-256", github_signature),
    ] {
        if value.is_some_and(|value| !is_tag(value)) {
            return Err(SignatureError::Malformed(header, TAG));
        }
    }
    if timestamp.is_some_and(|value| value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit())) {
        return Err(SignatureError::Malformed("X-Muster-Timestamp", "unix seconds"));
    }
    Ok(())
}

/// The `X-Hub-Signature-256` value GitHub sends for a body.
pub fn sign_github(secret: &Secret, body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks GitHub's `X-Hub-Signature-256` over the body as sent. GitHub signs no timestamp;
/// a replayed delivery is harmless because ingest is idempotent per alert.
pub fn verify_github(secret: &Secret, signature: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    verify_body_hmac("X-Hub-Signature-256", secret, signature, body)
}

/// Jira Cloud's admin webhooks sign the body the same way, in `X-Hub-Signature`.
pub const JIRA_SIGNATURE_HEADER: &str = "x-hub-signature";

/// Checks a `sha256=<hex HMAC-SHA256(secret, body)>` header (GitHub, Jira); `header` names it
/// in errors.
pub fn verify_body_hmac(
    header: &'static str,
    secret: &Secret,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing(header))?;
    let tag = tag_of(header, signature)?;
    let mut mac = keyed(secret);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn secret() -> Secret {
        Secret::new("s3cret")
    }

    #[test]
    fn a_signed_body_verifies() {
        let signature = sign(&secret(), NOW, b"{}");
        assert_eq!(
            verify(&secret(), Some(&signature), Some(&NOW.to_string()), b"{}", NOW + 10),
            Ok(())
        );
    }

    #[test]
    fn tampering_wrong_secret_and_staleness_are_refused() {
        let signature = sign(&secret(), NOW, b"{}");
        let ts = NOW.to_string();
        assert_eq!(
            verify(&secret(), Some(&signature), Some(&ts), b"{ }", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&Secret::new("other"), Some(&signature), Some(&ts), b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret(), Some(&signature), Some(&ts), b"{}", NOW + 301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(&secret(), None, Some(&ts), b"{}", NOW).unwrap_err().code(),
            "missing_signature"
        );
        assert_eq!(
            verify(&secret(), Some(&signature), None, b"{}", NOW)
                .unwrap_err()
                .code(),
            "missing_signature"
        );
        assert_eq!(
            verify(&secret(), Some("md5=abc"), Some(&ts), b"{}", NOW)
                .unwrap_err()
                .code(),
            "malformed_signature"
        );
        // The timestamp is part of what is signed: moving it breaks the signature.
        let moved = (NOW + 1).to_string();
        assert_eq!(
            verify(&secret(), Some(&signature), Some(&moved), b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn github_signatures_cover_the_body() {
        // The example from GitHub's "Validating webhook deliveries" documentation.
        let secret = Secret::new("It's a Secret to Everybody");
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign_github(&secret, b"Hello, World!"), expected);
        assert_eq!(verify_github(&secret, Some(expected), b"Hello, World!"), Ok(()));
        assert_eq!(
            verify_github(&secret, Some(expected), b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github(&secret, None, b"x").unwrap_err().code(),
            "missing_signature"
        );
        assert_eq!(
            verify_github(&secret, Some("sha1=abc"), b"x").unwrap_err().code(),
            "malformed_signature"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", secret()), "Secret([redacted])");
    }
}
