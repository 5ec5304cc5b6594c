//! Slack request signing (v0): proves an interactivity request came from Slack and is fresh.
//!
//! Compares in constant time and refuses anything older or newer than five minutes, so a
//! captured request cannot be replayed. Never echoes the secret or the received signature.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Slack's header carrying the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Slack's header carrying `v0=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// How far a request's timestamp may be from our clock (Slack's recommendation).
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request was refused; each variant says who can act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("missing {header} header: the request did not come from Slack, or a proxy dropped the header")]
    Missing { header: &'static str },
    #[error("malformed {header} header: {reason}")]
    Malformed { header: &'static str, reason: &'static str },
    #[error(
        "stale request: its timestamp is {skew_secs} s from now (limit {MAX_SKEW_SECS} s): a replay, or this host's clock is wrong"
    )]
    Stale { skew_secs: i64 },
    #[error(
        "signature mismatch: the body was altered in transit or the signing secret is wrong (copy it from the Slack app's Basic Information page)"
    )]
    Mismatch,
}

impl SlackSignatureError {
    /// A stable machine-readable code for logs, metrics and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing_signature_header",
            Self::Malformed { .. } => "malformed_signature_header",
            Self::Stale { .. } => "stale_request",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// Checks Slack's v0 signature of a raw request body: `v0=` hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` keyed with the app's signing secret. `now_unix` comes from the
/// caller's clock so tests (and replays) are deterministic. Verify before parsing the body.
pub fn verify_request(
    signing_secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SlackSignatureError> {
    let timestamp_text = timestamp_header.ok_or(SlackSignatureError::Missing {
        header: TIMESTAMP_HEADER,
    })?;
    let signature_text = signature_header.ok_or(SlackSignatureError::Missing {
        header: SIGNATURE_HEADER,
    })?;

    let timestamp_text = timestamp_text.trim();
    let timestamp: i64 = timestamp_text.parse().map_err(|_| SlackSignatureError::Malformed {
        header: TIMESTAMP_HEADER,
        reason: "expected Unix seconds, e.g. 1531420618",
    })?;
    let signature = signature_text
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackSignatureError::Malformed {
            header: SIGNATURE_HEADER,
            reason: "expected the v0 scheme: v0=<64 hex digits>",
        })?;
    let signature =
        hex::decode(signature)
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or(SlackSignatureError::Malformed {
                header: SIGNATURE_HEADER,
                reason: "expected 64 hex digits after v0=",
            })?;

    let skew_secs = now_unix.saturating_sub(timestamp);
    if skew_secs.saturating_abs() > MAX_SKEW_SECS {
        return Err(SlackSignatureError::Stale { skew_secs });
    }

    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_secret).map_err(|_| SlackSignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| SlackSignatureError::Mismatch)
}

/// The `X-Slack-Signature` Slack would send for `body` at `timestamp` (what a sender or a test
/// client computes).
pub fn sign_request(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_secret).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const NOW: i64 = 1_531_420_618 + 30;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn sign(body: &[u8], timestamp: &str) -> String {
        sign_request(SECRET, timestamp.parse().unwrap(), body)
    }

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(
            verify_request(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn a_fresh_request_we_signed_verifies() {
        let body = b"payload=%7B%7D";
        let signature = sign(body, "1700000000");
        assert_eq!(
            verify_request(SECRET, Some("1700000000"), Some(&signature), body, 1_700_000_100),
            Ok(())
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        let error = verify_request(SECRET, Some(TIMESTAMP), Some(SIGNATURE), &body, NOW).unwrap_err();
        assert_eq!(error, SlackSignatureError::Mismatch);
        assert_eq!(error.code(), "signature_mismatch");
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let error = verify_request(b"another-secret", Some(TIMESTAMP), Some(SIGNATURE), BODY, NOW).unwrap_err();
        assert_eq!(error, SlackSignatureError::Mismatch);
    }

    #[test]
    fn replay_after_five_minutes_is_stale_even_with_a_valid_signature() {
        let now = 1_531_420_618 + MAX_SKEW_SECS + 1;
        let error = verify_request(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, now).unwrap_err();
        assert_eq!(error, SlackSignatureError::Stale { skew_secs: 301 });
        assert_eq!(error.code(), "stale_request");
        assert!(error.to_string().contains("replay"), "{error}");
    }

    #[test]
    fn timestamp_from_the_future_is_stale() {
        let now = 1_531_420_618 - MAX_SKEW_SECS - 1;
        let error = verify_request(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, now).unwrap_err();
        assert_eq!(error, SlackSignatureError::Stale { skew_secs: -301 });
    }

    #[test]
    fn exactly_five_minutes_old_still_verifies() {
        let now = 1_531_420_618 + MAX_SKEW_SECS;
        assert_eq!(
            verify_request(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, now),
            Ok(())
        );
    }

    #[test]
    fn timestamp_is_bound_into_the_signature() {
        // A replayer who moves the timestamp forward to look fresh breaks the signature.
        let error = verify_request(SECRET, Some("1531420700"), Some(SIGNATURE), BODY, NOW).unwrap_err();
        assert_eq!(error, SlackSignatureError::Mismatch);
    }

    #[test]
    fn missing_headers_name_the_header() {
        let error = verify_request(SECRET, None, Some(SIGNATURE), BODY, NOW).unwrap_err();
        assert_eq!(
            error,
            SlackSignatureError::Missing {
                header: TIMESTAMP_HEADER
            }
        );
        assert_eq!(error.code(), "missing_signature_header");
        assert!(error.to_string().contains("X-Slack-Request-Timestamp"), "{error}");

        let error = verify_request(SECRET, Some(TIMESTAMP), None, BODY, NOW).unwrap_err();
        assert_eq!(
            error,
            SlackSignatureError::Missing {
                header: SIGNATURE_HEADER
            }
        );
    }

    #[test]
    fn malformed_headers_are_refused_before_any_hmac() {
        for (timestamp, signature, header) in [
            ("yesterday", SIGNATURE, TIMESTAMP_HEADER),
            ("", SIGNATURE, TIMESTAMP_HEADER),
            (
                TIMESTAMP,
                "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                SIGNATURE_HEADER,
            ),
            (
                TIMESTAMP,
                "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                SIGNATURE_HEADER,
            ),
            (TIMESTAMP, "v0=not-hex", SIGNATURE_HEADER),
            (TIMESTAMP, "v0=a2114d57", SIGNATURE_HEADER),
        ] {
            let error = verify_request(SECRET, Some(timestamp), Some(signature), BODY, NOW).unwrap_err();
            assert!(
                matches!(error, SlackSignatureError::Malformed { header: h, .. } if h == header),
                "{timestamp} {signature}: {error:?}"
            );
            assert_eq!(error.code(), "malformed_signature_header");
        }
    }
}
