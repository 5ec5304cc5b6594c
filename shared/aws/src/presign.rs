//! Presigned S3 PUTs for `POST /uploads`, signed by [`crate::s3::S3Signer`]: the ingest function
//! hands out upload URLs and never calls S3 itself. The URL is the one the S3 client's presigner
//! makes (`PutObject`, `UNSIGNED-PAYLOAD`, `content-type` and `content-encoding` signed); a test
//! compares the two byte for byte.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use muster_http::uploads::{ContentEncoding, UploadError, UploadTarget, Uploads};

use crate::s3::{S3SetupError, S3Signer, Signed};

/// How long a presigned PUT stays valid: enough to start a large upload from a CI runner, short
/// enough that a leaked URL is soon worthless.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// Presigned PUTs into one bucket.
#[derive(Debug, Clone)]
pub struct PresignedPuts {
    signer: S3Signer,
    bucket: String,
}

impl PresignedPuts {
    /// PUTs into `bucket` with the SDK's region, credentials and endpoint.
    pub fn new(sdk: &SdkConfig, bucket: &str) -> Result<Self, S3SetupError> {
        Ok(Self {
            signer: S3Signer::new(sdk)?,
            bucket: bucket.to_owned(),
        })
    }

    /// The PUT of `key`, valid for [`PRESIGN_EXPIRY`] from `at`.
    pub async fn presign_at(
        &self,
        key: &str,
        encoding: ContentEncoding,
        at: SystemTime,
    ) -> Result<UploadTarget, UploadError> {
        let url = format!("{}?x-id=PutObject", self.signer.object_url(&self.bucket, key));
        let mut headers = BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]);
        if encoding == ContentEncoding::Gzip {
            headers.insert("content-encoding".to_owned(), "gzip".to_owned());
        }
        let signed_headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = self
            .signer
            .sign("PUT", &url, &signed_headers, Signed::Presigned(PRESIGN_EXPIRY), at)
            .await
            .map_err(|e| UploadError(e.to_string()))?;
        let expires_at = DateTime::<Utc>::from(at) + chrono::Duration::from_std(PRESIGN_EXPIRY).unwrap_or_default();
        Ok(UploadTarget {
            key: key.to_owned(),
            method: "PUT".to_owned(),
            url: request.uri().to_string(),
            headers,
            expires_at,
        })
    }
}

impl Uploads for PresignedPuts {
    fn presign<'a>(
        &'a self,
        key: &'a str,
        encoding: ContentEncoding,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<UploadTarget, UploadError>> + Send + 'a>> {
        Box::pin(self.presign_at(key, encoding, SystemTime::now()))
    }
}
