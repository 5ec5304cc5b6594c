//! What every tracker call shares: one reply shape, the status → `SinkError` mapping, and the
//! bounded retry loop. It owns no client and never sleeps long: a wait beyond
//! [`MAX_INLINE_WAIT`] becomes `RateLimited` so the queue redelivers later.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use http::HeaderMap;
use muster_core::ports::SinkError;
use muster_core::retry::{RetryPolicy, retry_after};
use serde_json::Value;

/// The longest wait (rate limit or backoff) spent inside one sink call. Longer waits go back to
/// the caller as `RateLimited`, so a Lambda does not burn its timeout asleep.
pub(crate) const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);

/// Used when a rate-limited reply names no wait at all.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A tracker's reply, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON; `Null` when empty (204) or not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One attempt failed before a reply arrived (connect error, timeout).
#[derive(Debug)]
pub(crate) struct Transport(pub anyhow::Error);

/// What the retry loop does with one attempt's outcome.
enum Verdict {
    Done(Reply),
    /// Worth another attempt after the policy's backoff (5xx, transport errors).
    Transient(String),
    RateLimited(Duration),
    Rejected(String),
}

fn judge(call: &str, outcome: Result<Reply, Transport>) -> Verdict {
    let reply = match outcome {
        Ok(reply) => reply,
        Err(Transport(error)) => return Verdict::Transient(format!("{call}: {error:#}")),
    };
    let status = reply.status;
    if (200..300).contains(&status) {
        return Verdict::Done(reply);
    }
    if let Some(wait) = rate_limit_wait(&reply) {
        return Verdict::RateLimited(wait);
    }
    let message = vendor_message(&reply.json()).unwrap_or_else(|| reply.body.chars().take(300).collect());
    let described = format!("{call} returned HTTP {status}: {message}");
    if status >= 500 || status == 408 {
        Verdict::Transient(described)
    } else {
        Verdict::Rejected(described)
    }
}

/// `Some(wait)` when the reply says "slow down": 429, or GitHub's 403 with no primary quota
/// left or a secondary-rate-limit message.
fn rate_limit_wait(reply: &Reply) -> Option<Duration> {
    let limited = match reply.status {
        429 => true,
        403 => {
            reply.header("x-ratelimit-remaining").map(str::trim) == Some("0")
                || reply.body.to_ascii_lowercase().contains("secondary rate limit")
        }
        _ => false,
    };
    if !limited {
        return None;
    }
    let now = Utc::now();
    let from_retry_after = reply.header("retry-after").and_then(|v| retry_after(v, now));
    let from_reset = || {
        let reset: i64 = reply.header("x-ratelimit-reset")?.trim().parse().ok()?;
        Some(Duration::from_secs(u64::try_from(reset - now.timestamp()).unwrap_or(0)))
    };
    Some(from_retry_after.or_else(from_reset).unwrap_or(DEFAULT_RATE_LIMIT_WAIT))
}

/// The human part of a vendor error body: Jira's `errorMessages` and `errors`, GitHub's
/// `message` and `errors[].message|code`.
pub(crate) fn vendor_message(body: &Value) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(message) = body.get("message").and_then(Value::as_str) {
        parts.push(message.to_owned());
    }
    if let Some(messages) = body.get("errorMessages").and_then(Value::as_array) {
        parts.extend(messages.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    match body.get("errors") {
        Some(Value::Object(fields)) => {
            parts.extend(fields.iter().map(|(field, why)| match why.as_str() {
                Some(why) => format!("{field}: {why}"),
                None => format!("{field}: {why}"),
            }));
        }
        Some(Value::Array(errors)) => {
            parts.extend(errors.iter().map(|e| {
                let field = e.get("field").and_then(Value::as_str).unwrap_or("");
                let what = e
                    .get("message")
                    .or_else(|| e.get("code"))
                    .and_then(Value::as_str)
                    .unwrap_or("invalid");
                if field.is_empty() {
                    what.to_owned()
                } else {
                    format!("{field}: {what}")
                }
            }));
        }
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Runs `attempt` until it succeeds, is rejected, or the policy's attempts are spent.
///
/// 5xx and transport errors are retried with the policy's backoff (with jitter) when the call
/// is `idempotent`; a rate limit short enough is waited out once per attempt (the request was
/// refused, so sending it again is safe), a longer one returns `RateLimited` at once.
///
/// A POST (create, comment, transition) is not idempotent: after a timeout or 5xx it may have
/// happened. It is not repeated here; the error goes back to the queue, and a create is then
/// recovered by the ticket service (claim timeout, then the marker search) instead of doubled.
pub(crate) async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    call: &str,
    idempotent: bool,
    mut attempt: F,
) -> Result<Reply, SinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Reply, Transport>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut number = 1;
    loop {
        let wait = match judge(call, attempt().await) {
            Verdict::Done(reply) => return Ok(reply),
            Verdict::Rejected(message) => return Err(SinkError::Rejected(message)),
            Verdict::RateLimited(wait) if wait > MAX_INLINE_WAIT || number >= attempts => {
                return Err(SinkError::RateLimited { retry_after: wait });
            }
            Verdict::RateLimited(wait) => wait,
            Verdict::Transient(message) if !idempotent => {
                return Err(SinkError::Unknown(anyhow::anyhow!(
                    "{message} (not repeated: it may have happened; the queue redelivers it)"
                )));
            }
            Verdict::Transient(message) if number >= attempts => {
                return Err(SinkError::Unknown(anyhow::anyhow!(
                    "{message} (gave up after {attempts} attempts)"
                )));
            }
            Verdict::Transient(message) => {
                let wait = jitter(policy.backoff(number)).min(MAX_INLINE_WAIT);
                tracing::warn!(call, attempt = number, ?wait, "{message}; retrying");
                wait
            }
        };
        tokio::time::sleep(wait).await;
        number += 1;
    }
}

/// Between half and all of `wait`, so many workers failing together do not retry together.
fn jitter(wait: Duration) -> Duration {
    wait.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// The search label muster puts on every Jira ticket: `muster-<16 hex of sha256(group)>`.
/// JQL cannot search a description for an exact marker, but it can match a label exactly.
pub fn search_label(group: &muster_core::model::GroupKey) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(group.as_str().as_bytes());
    format!("muster-{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Reply {
            status,
            headers: map,
            body: body.to_owned(),
        }
    }

    fn fast_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn long_retry_after_is_returned_not_slept() {
        let result = with_retries(&fast_policy(), "create", true, || async {
            Ok(reply(429, &[("retry-after", "30")], ""))
        })
        .await;
        assert!(
            matches!(result, Err(SinkError::RateLimited { retry_after }) if retry_after == Duration::from_secs(30))
        );
    }

    #[tokio::test]
    async fn short_rate_limits_are_waited_out_inside_the_call() {
        let mut calls = 0;
        let result = with_retries(&fast_policy(), "find", true, || {
            calls += 1;
            let status = if calls == 1 { 429 } else { 200 };
            async move { Ok(reply(status, &[("retry-after", "0")], "{}")) }
        })
        .await;
        assert_eq!(result.unwrap().status, 200);
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn github_quota_exhaustion_reads_the_reset_header() {
        let reset = (Utc::now().timestamp() + 120).to_string();
        let result = with_retries(&fast_policy(), "create", true, || {
            let reset = reset.clone();
            async move {
                Ok(reply(
                    403,
                    &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
                    "{}",
                ))
            }
        })
        .await;
        let Err(SinkError::RateLimited { retry_after }) = result else {
            panic!("{result:?}")
        };
        assert!(retry_after > Duration::from_secs(100), "{retry_after:?}");
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let mut calls = 0;
        let result = with_retries(&fast_policy(), "update PAY-1", true, || {
            calls += 1;
            async { Ok(reply(502, &[], "bad gateway")) }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(matches!(result, Err(SinkError::Unknown(e)) if e.to_string().contains("HTTP 502")));
    }

    #[tokio::test]
    async fn a_post_that_may_have_happened_is_not_repeated() {
        let mut calls = 0;
        let result = with_retries(&fast_policy(), "create issue in PAY", false, || {
            calls += 1;
            async { Ok(reply(504, &[], "gateway timeout")) }
        })
        .await;
        assert_eq!(calls, 1, "a create whose reply was lost must not be sent twice");
        assert!(matches!(result, Err(SinkError::Unknown(e)) if e.to_string().contains("not repeated")));
        // A refusal (429) means it did not happen: sending it again is safe.
        let mut calls = 0;
        let result = with_retries(&fast_policy(), "create issue in PAY", false, || {
            calls += 1;
            let status = if calls == 1 { 429 } else { 201 };
            async move { Ok(reply(status, &[("retry-after", "0")], "{}")) }
        })
        .await;
        assert_eq!((result.unwrap().status, calls), (201, 2));
    }

    #[tokio::test]
    async fn client_errors_name_the_call_and_the_vendor_reason() {
        let body = json!({"errorMessages": ["Issue does not exist"], "errors": {"priority": "bad"}}).to_string();
        let result = with_retries(&fast_policy(), "update PAY-9", true, || {
            let body = body.clone();
            async move { Ok(reply(404, &[], &body)) }
        })
        .await;
        let Err(SinkError::Rejected(message)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(
            message,
            "update PAY-9 returned HTTP 404: Issue does not exist; priority: bad"
        );
    }

    #[test]
    fn search_label_is_stable_and_short() {
        let group = muster_core::model::GroupKey::parse("payments/img/pkg:openssl").unwrap();
        let label = search_label(&group);
        assert_eq!(label.len(), "muster-".len() + 16);
        assert_eq!(label, search_label(&group));
    }
}
