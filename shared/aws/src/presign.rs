//! Presigned S3 PUTs for `POST /uploads`, signed with SigV4 directly instead of through the S3
//! client. The ingest function only hands out upload URLs and never calls S3 itself; the S3
//! client would bring its checksum tables and endpoint rules into that binary (1.18 MB of it,
//! measured: BENCHMARKS.md) for one signature. The URL is the one the S3 client's presigner
//! makes (`PutObject`, `UNSIGNED-PAYLOAD`, `content-type` and `content-encoding` signed); a test
//! compares the two byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use chrono::{DateTime, Utc};
use muster_http::uploads::{ContentEncoding, UploadError, UploadTarget, Uploads};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// How long a presigned PUT stays valid: enough to start a large upload from a CI runner, short
/// enough that a leaked URL is soon worthless.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// What S3 leaves unencoded in a key's path segment (RFC 3986 unreserved characters).
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Why presigned uploads cannot be set up: the SDK settings lack a region or credentials.
#[derive(Debug, thiserror::Error)]
#[error("presigned uploads need {0} in the AWS SDK settings")]
pub struct PresignSetupError(&'static str);

/// Presigned PUTs into one bucket.
#[derive(Clone)]
pub struct PresignedPuts {
    credentials: SharedCredentialsProvider,
    region: Arc<str>,
    /// Everything before the key: `https://{bucket}.s3.{region}.amazonaws.com/` on AWS,
    /// `{endpoint}/{bucket}/` (path style) for a custom endpoint such as moto or MinIO.
    prefix: Arc<str>,
}

impl std::fmt::Debug for PresignedPuts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresignedPuts")
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl PresignedPuts {
    /// PUTs into `bucket` with the SDK's region, credentials and endpoint. Addressing follows the
    /// S3 client's: virtual-hosted on AWS, path style for a custom endpoint (and for a bucket
    /// name with dots, which a virtual host's TLS certificate cannot cover).
    pub fn new(sdk: &SdkConfig, bucket: &str) -> Result<Self, PresignSetupError> {
        let region = sdk.region().ok_or(PresignSetupError("a region"))?.to_string();
        let credentials = sdk
            .credentials_provider()
            .ok_or(PresignSetupError("a credentials provider"))?;
        let bucket_segment = utf8_percent_encode(bucket, KEY_SEGMENT);
        let prefix = match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket_segment}/", endpoint.trim_end_matches('/')),
            None => {
                let domain = match region.starts_with("cn-") {
                    true => "amazonaws.com.cn",
                    false => "amazonaws.com",
                };
                match bucket.contains('.') {
                    true => format!("https://s3.{region}.{domain}/{bucket_segment}/"),
                    false => format!("https://{bucket}.s3.{region}.{domain}/"),
                }
            }
        };
        Ok(Self {
            credentials,
            region: region.into(),
            prefix: prefix.into(),
        })
    }

    /// The PUT of `key`, valid for [`PRESIGN_EXPIRY`] from `at`.
    pub async fn presign_at(
        &self,
        key: &str,
        encoding: ContentEncoding,
        at: SystemTime,
    ) -> Result<UploadTarget, UploadError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| UploadError(format!("no AWS credentials to sign the upload with: {e}")))?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(PRESIGN_EXPIRY);
        // S3 signs the path as sent: no second encoding, no normalisation.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(at)
            .settings(settings)
            .build()
            .map_err(|e| UploadError(e.to_string()))?
            .into();

        let path: Vec<String> = key
            .split('/')
            .map(|s| utf8_percent_encode(s, KEY_SEGMENT).to_string())
            .collect();
        let url = format!("{}{}?x-id=PutObject", self.prefix, path.join("/"));
        let mut headers = BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]);
        if encoding == ContentEncoding::Gzip {
            headers.insert("content-encoding".to_owned(), "gzip".to_owned());
        }
        let signable = SignableRequest::new(
            "PUT",
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| UploadError(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| UploadError(e.to_string()))?
            .into_parts();
        // aws-sigv4's own query writer appends the signing parameters, so they are encoded
        // exactly as the S3 client encodes them.
        let mut request = http::Request::put(&url)
            .body(())
            .map_err(|e| UploadError(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);

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
