//! `muster push`: the client a scanner's CI job runs to send a report to a muster server.
//!
//! Gzips and signs each report, retries with backoff on 429, 5xx and connection errors
//! (honouring Retry-After, bounded in count and delay), prints the server's summary, and fails
//! with the server's own error message when the report is refused.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use muster_core::retry::RetryPolicy;
use muster_http::GITHUB_EVENT_HEADER;
use muster_http::Secret;
use muster_http::signature::{GITHUB_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, sign_github};
use reqwest::StatusCode;

/// Five deliveries per report; no wait, Retry-After included, beyond a minute: a CI job should
/// fail rather than hang.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(60),
};

/// What to send where.
pub struct PushTarget {
    pub url: String,
    pub source: String,
    pub secret: Option<Secret>,
    /// GitHub event name for `github` sources (`X-GitHub-Event`).
    pub event: Option<String>,
}

impl PushTarget {
    /// Reads the secret from `secret_env` now, so a missing variable fails before any upload.
    pub fn new(url: &str, source: &str, secret_env: Option<&str>, event: Option<&str>) -> anyhow::Result<Self> {
        let secret = match secret_env {
            Some(variable) => {
                let value = std::env::var(variable)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .with_context(|| format!("--secret-env names ${variable}, which is not set"))?;
                Some(Secret::new(value))
            }
            None => None,
        };
        let url = format!("{}/webhooks/{source}", url.trim_end_matches('/'));
        reqwest::Url::parse(&url).with_context(|| format!("invalid --url: {url}"))?;
        Ok(Self {
            url,
            source: source.to_owned(),
            secret,
            event: event.map(str::to_owned),
        })
    }
}

fn gzip(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 8), flate2::Compression::fast());
    encoder.write_all(&bytes)?;
    Ok(encoder.finish()?)
}

/// The delay a 429/503 asks for: delay-seconds or an HTTP date.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    muster_core::retry::retry_after(value, chrono::Utc::now())
}

/// A muster error body as `message (code)`, else the start of whatever the server sent.
pub(crate) fn server_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            Some(format!(
                "{} ({})",
                error.get("message")?.as_str()?,
                error.get("code")?.as_str()?
            ))
        })
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// Sends one report; returns the server's JSON summary.
pub async fn push_file(client: &reqwest::Client, target: &PushTarget, path: &Path) -> anyhow::Result<String> {
    let body = gzip(path)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body.clone());
        if let Some(event) = &target.event {
            request = request.header(GITHUB_EVENT_HEADER, event);
        }
        if let Some(secret) = &target.secret {
            // Signed per attempt: a retry after a long Retry-After must not look stale. Both
            // schemes are sent, so the same command serves generic and `github` sources.
            let now = chrono::Utc::now().timestamp();
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, sign(secret, now, &body))
                .header(GITHUB_SIGNATURE_HEADER, sign_github(secret, &body));
        }
        let (retryable, delay, failure) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let delay = retry_after(&response);
                let text = response.text().await.unwrap_or_default();
                if status.is_success() {
                    return Ok(text);
                }
                let message = server_message(&text);
                let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                (retryable, delay, format!("server answered {status}: {message}"))
            }
            Err(error) => (true, None, format!("cannot reach {}: {error}", target.url)),
        };
        if !retryable || attempt >= RETRY.max_attempts {
            bail!(
                "{}: {failure} (source {:?}, attempt {attempt} of {})",
                path.display(),
                target.source,
                RETRY.max_attempts
            );
        }
        let delay = delay.unwrap_or_else(|| RETRY.backoff(attempt)).min(RETRY.max_backoff);
        tracing::warn!(file = %path.display(), attempt, ?delay, %failure, "retrying");
        eprintln!("{}: {failure}; retrying in {:.1}s", path.display(), delay.as_secs_f64());
        tokio::time::sleep(delay).await;
    }
}

/// A client with connect and whole-request timeouts.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("muster-push/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}
