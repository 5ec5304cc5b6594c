//! Reports too large for one request (AWS Lambda takes at most 6 MB per event, base64 included)
//! go to object storage instead: `POST /uploads` hands out a short-lived presigned PUT, and the
//! stored object is ingested when its creation event arrives. The router knows only this port;
//! `muster-aws` implements it over S3. A server without it (`muster serve`) answers 404
//! `uploads_disabled`, and `muster push` then posts the report directly.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read as _;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use muster_core::SourceName;
use serde::{Deserialize, Serialize};

/// Prefix of every uploaded object's key: `uploads/{source}/{id}[.gz]`. The bucket's lifecycle
/// rule and event filter match it.
pub const KEY_PREFIX: &str = "uploads/";

/// The body of `POST /uploads`, signed with the source's webhook secret like a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The configured source the report belongs to, as in `POST /webhooks/{source}`.
    pub source: String,
    /// `gzip` when the object will be gzip-compressed; the default `identity` when not.
    #[serde(default)]
    pub content_encoding: ContentEncoding,
    /// Size of the object about to be uploaded, so an oversized report is refused before it
    /// travels.
    pub bytes: u64,
}

/// How an uploaded object is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentEncoding {
    #[default]
    Identity,
    Gzip,
}

impl ContentEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
        }
    }
}

/// Where and how to upload: the client sends `method url` with exactly these headers (they are
/// part of the signature) and the report as the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTarget {
    pub key: String,
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// The object key of a new upload: unguessable, sortable by time, naming its source, and
/// marking gzip objects so their consumer inflates them even without object metadata.
pub fn object_key(source: &SourceName, encoding: ContentEncoding, now: DateTime<Utc>, nonce: u64) -> String {
    let suffix = match encoding {
        ContentEncoding::Gzip => ".gz",
        ContentEncoding::Identity => "",
    };
    format!(
        "{KEY_PREFIX}{source}/{}-{nonce:016x}{suffix}",
        now.format("%Y%m%dT%H%M%SZ")
    )
}

/// What an object key says about its report: the source and whether it is gzip.
pub fn parse_object_key(key: &str) -> Option<(&str, ContentEncoding)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (source, name) = rest.split_once('/')?;
    if source.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    let encoding = if name.ends_with(".gz") {
        ContentEncoding::Gzip
    } else {
        ContentEncoding::Identity
    };
    Some((source, encoding))
}

/// Presigning failed; the client may ask again.
#[derive(Debug, thiserror::Error)]
#[error("cannot presign an upload: {0}")]
pub struct UploadError(pub String);

/// Hands out presigned upload targets (S3 on AWS).
pub trait Uploads: Send + Sync + std::fmt::Debug + 'static {
    fn presign<'a>(
        &'a self,
        key: &'a str,
        encoding: ContentEncoding,
    ) -> Pin<Box<dyn Future<Output = Result<UploadTarget, UploadError>> + Send + 'a>>;
}

/// A gzip body inflated, or refused once it passes `limit` bytes (a gzip bomb stops there).
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("the gzip body cannot be decoded: {0}")]
    Corrupt(std::io::Error),
    #[error("the body inflates to more than {0} bytes")]
    TooLarge(usize),
}

/// Inflates a gzip body of at most `limit` inflated bytes.
pub fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut decoded = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    flate2::read::GzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(InflateError::Corrupt)?;
    if decoded.len() > limit {
        return Err(InflateError::TooLarge(limit));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_source_and_encoding_and_parse_back() {
        let source = SourceName::parse("ci-trivy").unwrap();
        let now = "2026-11-27T10:11:12Z".parse().unwrap();
        let key = object_key(&source, ContentEncoding::Gzip, now, 0xabc);
        assert_eq!(key, "uploads/ci-trivy/20261127T101112Z-0000000000000abc.gz");
        assert_eq!(parse_object_key(&key), Some(("ci-trivy", ContentEncoding::Gzip)));
        let plain = object_key(&source, ContentEncoding::Identity, now, 1);
        assert_eq!(parse_object_key(&plain), Some(("ci-trivy", ContentEncoding::Identity)));
        for foreign in [
            "reports/ci/x",
            "uploads/ci",
            "uploads//x",
            "uploads/ci/a/b",
            "uploads/ci/",
        ] {
            assert_eq!(parse_object_key(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'a'; 10_000]).unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(inflate(&gz, 10_000).unwrap().len(), 10_000);
        assert!(matches!(inflate(&gz, 9_999), Err(InflateError::TooLarge(9_999))));
        assert!(matches!(inflate(b"not gzip", 100), Err(InflateError::Corrupt(_))));
    }
}
