//! Large reports on AWS. A Lambda event carries at most 6 MB (a binary body is base64 inside
//! it), so `POST /uploads` hands out presigned S3 PUTs ([`crate::presign`]) and the `uploads`
//! function ingests each stored object when S3 reports it ([`handle_s3_event`]), then deletes it.
//! The bucket's one-day lifecycle rule removes whatever is left (rejected reports included).
//!
//! Failures split in two: a report that can never be ingested (not a report, too large, its
//! source removed) is logged as an error and left for the lifecycle rule, with no retry; a
//! failure of DynamoDB, SQS or S3 fails the invocation, so Lambda retries it and, after its
//! retries, sends the event to the function's on-failure queue (alarmed), where nothing is lost.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use muster_core::retry::{RetryPolicy, retry_after};
use muster_core::{Config, IngestRequest, IngestSummary, PipelineError, SourceName};
use muster_http::Ingestor;
use muster_http::uploads::{ContentEncoding, InflateError, inflate, parse_object_key};

use crate::s3::{S3SetupError, S3Signer, Signed};

/// A TCP connection to S3 that takes longer than this has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One GetObject or DeleteObject, body included: the largest accepted report (the body limit,
/// 64 MiB at most) takes a few seconds from S3 in the same region.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Three attempts, as the SDK's standard retry mode makes; the invocation's own retries by
/// Lambda come on top.
pub const S3_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    first_backoff: Duration::from_millis(200),
    max_backoff: Duration::from_secs(5),
};

/// GetObject and DeleteObject of uploaded reports: SigV4-signed requests over hyper (already
/// linked for the SDK clients), with a timeout per attempt and bounded retries of throttling,
/// server errors and broken connections.
#[derive(Debug, Clone)]
pub struct S3Objects {
    signer: S3Signer,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    retries: RetryPolicy,
    attempt_timeout: Duration,
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Bytes,
    pub content_encoding: Option<String>,
}

/// What GetObject found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Object(StoredObject),
    /// `NoSuchKey`: deleted already, or never stored.
    Missing,
    /// Larger than the caller's limit; not read. The size, when S3 said it.
    TooLarge(Option<u64>),
}

/// One S3 call failed after its retries, or could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct S3CallError(String);

impl S3Objects {
    /// The client for the SDK settings' region, credentials and endpoint (a custom endpoint such
    /// as moto takes path-style addressing).
    pub fn new(sdk: &SdkConfig) -> Result<Self, S3SetupError> {
        let signer = S3Signer::new(sdk)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|_| S3SetupError("the system's TLS root certificates"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            signer,
            client,
            retries: S3_RETRIES,
            attempt_timeout: ATTEMPT_TIMEOUT,
        })
    }

    /// Other bounds than [`S3_RETRIES`] and [`ATTEMPT_TIMEOUT`] (tests take short ones).
    pub fn with_retries(self, retries: RetryPolicy, attempt_timeout: Duration) -> Self {
        Self {
            retries,
            attempt_timeout,
            ..self
        }
    }

    /// Reads `bucket/key`, unless it is missing or larger than `limit` bytes.
    pub async fn get(&self, bucket: &str, key: &str, limit: usize) -> Result<Fetched, S3CallError> {
        let url = self.signer.object_url(bucket, key);
        self.call("GET", "GetObject", &url, |response| async move {
            let (parts, body) = response.into_parts();
            if parts.status == http::StatusCode::NOT_FOUND {
                let body = read_error_body(body).await;
                return match error_code(&body) == Some("NoSuchKey") {
                    true => Ok(Fetched::Missing),
                    false => Err(Attempt::Final(describe(parts.status, &body))),
                };
            }
            if !parts.status.is_success() {
                return Err(classify(parts.status, &parts.headers, read_error_body(body).await));
            }
            let length = header(&parts.headers, "content-length").and_then(|v| v.parse::<u64>().ok());
            if length.is_some_and(|length| length > limit as u64) {
                return Ok(Fetched::TooLarge(length));
            }
            let content_encoding = header(&parts.headers, "content-encoding").map(str::to_owned);
            match Limited::new(body, limit).collect().await {
                Ok(collected) => Ok(Fetched::Object(StoredObject {
                    bytes: collected.to_bytes(),
                    content_encoding,
                })),
                Err(error) if error.is::<http_body_util::LengthLimitError>() => Ok(Fetched::TooLarge(length)),
                Err(error) => Err(Attempt::Retry(format!("the body broke off: {error}"), None)),
            }
        })
        .await
    }

    /// Deletes `bucket/key`; deleting a missing key succeeds, as in S3.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3CallError> {
        let url = self.signer.object_url(bucket, key);
        self.call("DELETE", "DeleteObject", &url, |response| async move {
            let (parts, body) = response.into_parts();
            match parts.status.is_success() {
                true => Ok(()),
                false => Err(classify(parts.status, &parts.headers, read_error_body(body).await)),
            }
        })
        .await
    }

    /// Sends `method url` (S3's `operation`, for errors and logs), signed afresh for each
    /// attempt, and hands the response to `read`; retries what `read` (or the connection) says
    /// may succeed later.
    async fn call<T, F, Fut>(&self, method: &str, operation: &'static str, url: &str, read: F) -> Result<T, S3CallError>
    where
        F: Fn(http::Response<hyper::body::Incoming>) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut attempt = 1;
        loop {
            let request = self
                .signer
                .sign(method, url, &[], Signed::Headers, SystemTime::now())
                .await
                .map_err(|e| S3CallError(format!("S3 {operation}: {e}")))?
                .map(|()| Empty::new());
            let outcome = match tokio::time::timeout(self.attempt_timeout, async {
                match self.client.request(request).await {
                    Ok(response) => read(response).await,
                    Err(error) => Err(Attempt::Retry(format!("no response: {}", error_chain(&error)), None)),
                }
            })
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(Attempt::Retry(
                    format!("no answer within {:?}", self.attempt_timeout),
                    None,
                )),
            };
            let (message, wait) = match outcome {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(message)) => {
                    return Err(S3CallError(format!("S3 {operation} failed: {message}")));
                }
                Err(Attempt::Retry(message, wait)) => (message, wait),
            };
            if attempt >= self.retries.max_attempts {
                return Err(S3CallError(format!(
                    "S3 {operation} failed after {attempt} attempts: {message}"
                )));
            }
            let wait = wait
                .unwrap_or_else(|| self.retries.backoff(attempt))
                .min(self.retries.max_backoff);
            tracing::warn!(operation, attempt, error = %message, wait_ms = wait.as_millis() as u64, "S3 call retried");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// How one attempt ended when it did not succeed.
enum Attempt {
    /// Throttling, a server error or a broken connection: worth another attempt, after the
    /// server's `Retry-After` if it gave one.
    Retry(String, Option<Duration>),
    /// The request itself is wrong (denied, no such bucket): repeating it changes nothing.
    Final(String),
}

fn classify(status: http::StatusCode, headers: &http::HeaderMap, body: String) -> Attempt {
    let message = describe(status, &body);
    match status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        true => Attempt::Retry(
            message,
            header(headers, "retry-after").and_then(|v| retry_after(v, chrono::Utc::now())),
        ),
        false => Attempt::Final(message),
    }
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An error answer's body, as far as the first 4 KiB: S3's XML `<Error>` document.
async fn read_error_body(body: hyper::body::Incoming) -> String {
    match Limited::new(body, 4096).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// The `<Code>` of S3's XML error document.
fn error_code(body: &str) -> Option<&str> {
    xml_element(body, "Code")
}

fn xml_element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim())
}

/// `HTTP 403 (AccessDenied: Access Denied)`, from the status and S3's error document.
fn describe(status: http::StatusCode, body: &str) -> String {
    match (error_code(body), xml_element(body, "Message")) {
        (Some(code), Some(message)) => format!("HTTP {} ({code}: {message})", status.as_u16()),
        (Some(code), None) => format!("HTTP {} ({code})", status.as_u16()),
        _ => format!("HTTP {}", status.as_u16()),
    }
}

/// An error with its causes: hyper's own message says little ("client error (Connect)").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// What became of one object S3 reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Ingested, then deleted.
    Ingested(IngestSummary),
    /// Already gone: S3 delivers events at least once, and a repeat finds the object deleted.
    AlreadyIngested,
    /// Can never be ingested; left for the lifecycle rule.
    Rejected(String),
    /// Not under `uploads/{source}/`; not ours to read.
    Ignored,
}

/// Reading or deleting the object, or storing its findings, failed; retrying may succeed.
#[derive(Debug, thiserror::Error)]
pub enum UploadIngestError {
    #[error("s3://{bucket}/{key}: {source}")]
    S3 {
        bucket: String,
        key: String,
        #[source]
        source: S3CallError,
    },
    #[error("ingest of s3://{bucket}/{key} failed: {source}")]
    Pipeline {
        bucket: String,
        key: String,
        #[source]
        source: Box<PipelineError>,
    },
}

/// Ingests every object of an S3 event, one after another. Returns the first retryable failure
/// only after trying every record: the retry then repeats the ingested ones harmlessly (they
/// are gone, or re-ingest to the same findings).
pub async fn handle_s3_event<I: Ingestor>(
    ingestor: &I,
    config: &Config,
    s3: &S3Objects,
    event: S3Event,
) -> Result<Vec<UploadOutcome>, UploadIngestError> {
    let mut outcomes = Vec::with_capacity(event.records.len());
    let mut first_failure = None;
    for record in event.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let key = decode_event_key(record.s3.object.key.as_deref().unwrap_or_default());
        match ingest_object(ingestor, config, s3, &bucket, &key).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                tracing::error!(%bucket, %key, error = %error, "upload not ingested; the invocation fails and is retried");
                first_failure.get_or_insert(error);
            }
        }
    }
    match first_failure {
        Some(error) => Err(error),
        None => Ok(outcomes),
    }
}

/// Object keys arrive URL-encoded in S3 events, with `+` for a space.
fn decode_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Ingests one uploaded object as its source's report and deletes it.
pub async fn ingest_object<I: Ingestor>(
    ingestor: &I,
    config: &Config,
    s3: &S3Objects,
    bucket: &str,
    key: &str,
) -> Result<UploadOutcome, UploadIngestError> {
    let s3_error = |source: S3CallError| UploadIngestError::S3 {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        source,
    };
    let reject = |reason: String| {
        tracing::error!(%bucket, %key, %reason, "upload rejected; left for the bucket's lifecycle rule");
        muster_core::metric!(uploads_rejected = 1_u64);
        Ok(UploadOutcome::Rejected(reason))
    };
    let Some((source, key_encoding)) = parse_object_key(key) else {
        tracing::warn!(%bucket, %key, "object is not an upload; ignored");
        return Ok(UploadOutcome::Ignored);
    };
    let Some(source) = config.source(source) else {
        return reject(format!("no source named {source:?} is configured any more"));
    };
    let limit = config.http.body_limit_bytes();
    let object = match s3.get(bucket, key, limit).await.map_err(s3_error)? {
        Fetched::Object(object) => object,
        Fetched::Missing => {
            tracing::info!(%bucket, %key, "upload already ingested and deleted");
            return Ok(UploadOutcome::AlreadyIngested);
        }
        Fetched::TooLarge(size) => {
            let size = size.map_or_else(String::new, |size| format!(" ({size} bytes)"));
            return reject(format!(
                "the object{size} is larger than the limit of {limit} bytes (http.body_limit_mib)"
            ));
        }
    };
    let gzip = key_encoding == ContentEncoding::Gzip
        || object
            .content_encoding
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"));
    let bytes = if gzip {
        match inflate(&object.bytes, limit) {
            Ok(inflated) => inflated,
            Err(error @ (InflateError::Corrupt(_) | InflateError::TooLarge(_))) => return reject(error.to_string()),
        }
    } else {
        object.bytes.to_vec()
    };
    let name: SourceName = source.name.clone();
    let request = IngestRequest {
        source: &name,
        format: source.format(),
        event: None,
        bytes: &bytes,
    };
    let summary = match ingestor.ingest(request).await {
        Ok(summary) => summary,
        Err(PipelineError::Parse(error)) => return reject(format!("the report does not parse: {error}")),
        Err(source) => {
            return Err(UploadIngestError::Pipeline {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                source: Box::new(source),
            });
        }
    };
    tracing::info!(%bucket, %key, source = %name, run_id = %summary.run_id, bytes = bytes.len(), "upload ingested");
    // Ingested: a failed delete only leaves the object for the lifecycle rule, and a repeat
    // event would re-ingest the same findings.
    if let Err(error) = s3.delete(bucket, key).await {
        tracing::warn!(%bucket, %key, error = %error, "cannot delete the ingested upload");
    }
    Ok(UploadOutcome::Ingested(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(
            decode_event_key("uploads/ci/20261127T101112Z-00ab.gz"),
            "uploads/ci/20261127T101112Z-00ab.gz"
        );
        assert_eq!(decode_event_key("uploads/a+b/x%2By%3A"), "uploads/a b/x+y:");
    }
}
