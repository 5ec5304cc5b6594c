//! Large reports on AWS. A Lambda event carries at most 6 MB (a binary body is base64 inside
//! it), so `POST /uploads` hands out presigned S3 PUTs ([`crate::presign`]) and the `uploads`
//! function ingests each stored object when S3 reports it ([`handle_s3_event`]), then deletes it.
//! The bucket's one-day lifecycle rule removes whatever is left (rejected reports included).
//!
//! Failures split in two: a report that can never be ingested (not a report, too large, its
//! source removed) is logged as an error and left for the lifecycle rule, with no retry; a
//! failure of DynamoDB, SQS or S3 fails the invocation, so Lambda retries it and, after its
//! retries, sends the event to the function's on-failure queue (alarmed), where nothing is lost.

use aws_config::SdkConfig;
use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::error::DisplayErrorContext;
use muster_core::{Config, IngestRequest, IngestSummary, PipelineError, SourceName};
use muster_http::Ingestor;
use muster_http::uploads::{ContentEncoding, InflateError, inflate, parse_object_key};

/// The S3 client for uploads. A custom endpoint (moto, LocalStack, MinIO) takes path-style
/// addressing; AWS itself keeps virtual-hosted style.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
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
    #[error("S3 {operation} of s3://{bucket}/{key} failed: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
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
    s3: &aws_sdk_s3::Client,
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
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<UploadOutcome, UploadIngestError> {
    let s3_error = |operation: &'static str, message: String| UploadIngestError::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
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
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            tracing::info!(%bucket, %key, "upload already ingested and deleted");
            return Ok(UploadOutcome::AlreadyIngested);
        }
        Err(error) => return Err(s3_error("GetObject", DisplayErrorContext(error).to_string())),
    };
    let size = object.content_length().unwrap_or_default();
    if u64::try_from(size).unwrap_or_default() > limit as u64 {
        return reject(format!(
            "the object is {size} bytes, more than the limit of {limit} (http.body_limit_mib)"
        ));
    }
    let gzip = key_encoding == ContentEncoding::Gzip
        || object
            .content_encoding()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"));
    let stored = object
        .body
        .collect()
        .await
        .map_err(|e| s3_error("GetObject", e.to_string()))?
        .into_bytes();
    let bytes = if gzip {
        match inflate(&stored, limit) {
            Ok(inflated) => inflated,
            Err(error @ (InflateError::Corrupt(_) | InflateError::TooLarge(_))) => return reject(error.to_string()),
        }
    } else {
        stored.to_vec()
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
    if let Err(error) = s3.delete_object().bucket(bucket).key(key).send().await {
        tracing::warn!(%bucket, %key, error = %DisplayErrorContext(error), "cannot delete the ingested upload");
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
