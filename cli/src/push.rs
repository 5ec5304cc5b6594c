//! `muster push`: the client a scanner's CI job runs to send a report to a muster server.
//!
//! Gzips and signs each report, retries with backoff on 429, 5xx and connection errors
//! (honouring Retry-After, bounded in count and delay), prints the server's summary, and fails
//! with the server's own error message when the report is refused. Reports too large for one
//! request go through the server's presigned uploads (`POST /uploads`) when it has them.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use muster_core::retry::RetryPolicy;
use muster_http::GITHUB_EVENT_HEADER;
use muster_http::Secret;
use muster_http::signature::{GITHUB_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, sign_github};
use muster_http::uploads::{ContentEncoding, UploadRequest, UploadTarget};
use reqwest::StatusCode;

/// Five deliveries per report; no wait, Retry-After included, beyond a minute: a CI job should
/// fail rather than hang.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(60),
};

/// Gzip bodies above this go through `POST /uploads` by default: AWS Lambda takes 6 MB per
/// event, and API Gateway base64-encodes a binary body into it (4/3 larger), leaving ~4.4 MB.
pub const DEFAULT_UPLOAD_ABOVE: usize = 4_000_000;

/// What to send where.
pub struct PushTarget {
    /// The server's base URL, without a trailing slash.
    pub base: String,
    pub url: String,
    pub source: String,
    pub secret: Option<Secret>,
    /// GitHub event name for `github` sources (`X-GitHub-Event`).
    pub event: Option<String>,
    /// Gzip bodies larger than this take the upload path first.
    pub upload_above: usize,
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
        let base = url.trim_end_matches('/').to_owned();
        let url = format!("{base}/webhooks/{source}");
        reqwest::Url::parse(&url).with_context(|| format!("invalid --url: {url}"))?;
        Ok(Self {
            base,
            url,
            source: source.to_owned(),
            secret,
            event: event.map(str::to_owned),
            upload_above: DEFAULT_UPLOAD_ABOVE,
        })
    }

    /// The signature headers of `body` for this source: both schemes, so the same command
    /// serves generic and `github` sources. Signed per attempt, so a retry after a long
    /// Retry-After does not look stale.
    fn sign(&self, mut request: reqwest::RequestBuilder, body: &[u8]) -> reqwest::RequestBuilder {
        if let Some(secret) = &self.secret {
            let now = chrono::Utc::now().timestamp();
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, sign(secret, now, body))
                .header(GITHUB_SIGNATURE_HEADER, sign_github(secret, body));
        }
        request
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

/// How a request ended after its retries: accepted (the body), or refused for good.
enum Answer {
    Accepted(String),
    Refused { status: StatusCode, message: String },
}

/// Sends the request `build` makes until it is accepted or refused, retrying 429, 5xx and
/// connection errors (Retry-After honoured, bounded by [`RETRY`]).
async fn send(
    path: &Path,
    target: &PushTarget,
    url: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Answer> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (delay, failure) = match build().send().await {
            Ok(response) => {
                let status = response.status();
                let delay = retry_after(&response);
                let text = response.text().await.unwrap_or_default();
                if status.is_success() {
                    return Ok(Answer::Accepted(text));
                }
                let message = server_message(&text);
                if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                    return Ok(Answer::Refused { status, message });
                }
                (delay, format!("server answered {status}: {message}"))
            }
            Err(error) => (None, format!("cannot reach {url}: {error}")),
        };
        if attempt >= RETRY.max_attempts {
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

fn refused(path: &Path, target: &PushTarget, status: StatusCode, message: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: server answered {status}: {message} (source {:?})",
        path.display(),
        target.source
    )
}

/// Sends one report; returns the server's JSON summary. A report whose gzip body is above
/// `upload_above`, or that the server refuses as too large, goes through `POST /uploads` where
/// the server offers it (AWS); a server without uploads takes it directly.
pub async fn push_file(client: &reqwest::Client, target: &PushTarget, path: &Path) -> anyhow::Result<String> {
    let body = gzip(path)?;
    let large = body.len() > target.upload_above;
    if large && let Some(summary) = upload(client, target, path, &body).await? {
        return Ok(summary);
    }
    let answer = send(path, target, &target.url, || {
        let mut request = client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body.clone());
        if let Some(event) = &target.event {
            request = request.header(GITHUB_EVENT_HEADER, event);
        }
        target.sign(request, &body)
    })
    .await?;
    match answer {
        Answer::Accepted(summary) => Ok(summary),
        Answer::Refused { status, .. } if status == StatusCode::PAYLOAD_TOO_LARGE && !large => {
            eprintln!("{}: too large for one request; uploading instead", path.display());
            match upload(client, target, path, &body).await? {
                Some(summary) => Ok(summary),
                None => Err(refused(path, target, status, "the report is too large for this server")),
            }
        }
        Answer::Refused { status, message } => Err(refused(path, target, status, &message)),
    }
}

/// The upload path: a presigned target from `POST /uploads`, then the gzip body PUT there. The
/// server ingests the object shortly after, so the summary says where it went, not what it
/// held. `None` when the server has no uploads (it takes large reports directly).
async fn upload(
    client: &reqwest::Client,
    target: &PushTarget,
    path: &Path,
    body: &[u8],
) -> anyhow::Result<Option<String>> {
    let url = format!("{}/uploads", target.base);
    let request = serde_json::to_vec(&UploadRequest {
        source: target.source.clone(),
        content_encoding: ContentEncoding::Gzip,
        bytes: body.len() as u64,
    })?;
    let answer = send(path, target, &url, || {
        let request_builder = client
            .post(&url)
            .header("content-type", "application/json")
            .body(request.clone());
        target.sign(request_builder, &request)
    })
    .await?;
    let upload: UploadTarget = match answer {
        Answer::Accepted(text) => serde_json::from_str(&text)
            .with_context(|| format!("{url} answered something other than an upload target: {text:.300}"))?,
        Answer::Refused { status, message }
            if status == StatusCode::NOT_FOUND && message.contains("uploads_disabled") =>
        {
            return Ok(None);
        }
        Answer::Refused { status, message } => return Err(refused(path, target, status, &message)),
    };
    let method = reqwest::Method::from_bytes(upload.method.as_bytes())
        .with_context(|| format!("the upload target names method {:?}", upload.method))?;
    // The presigned URL carries its own authorization; never print it.
    let shown = upload.url.split('?').next().unwrap_or_default().to_owned();
    let answer = send(path, target, &shown, || {
        let mut put = client.request(method.clone(), &upload.url).body(body.to_vec());
        for (name, value) in &upload.headers {
            put = put.header(name, value);
        }
        put
    })
    .await?;
    if let Answer::Refused { status, message } = answer {
        bail!(
            "{}: the upload to {shown} was refused: {status} {message}",
            path.display()
        );
    }
    let summary = serde_json::json!({
        "status": "uploaded",
        "key": upload.key,
        "bytes": body.len(),
        "detail": "muster ingests the report as soon as storage reports it",
    });
    Ok(Some(summary.to_string()))
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
