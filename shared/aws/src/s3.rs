//! S3 requests signed with SigV4 directly (aws-sigv4), without the S3 client. Only two
//! functions touch S3, for four calls in all (a presigned PUT, GetObject, DeleteObject); the S3
//! client would bring its checksum tables and endpoint rules into each binary, about 1.2 MB
//! (BENCHMARKS.md), and push the uploads function over the 10 MB budget.
//!
//! Addressing and signing follow the S3 client's: virtual-hosted style on AWS, path style for a
//! custom endpoint (moto, MinIO) or a bucket name with dots; paths signed as sent, neither
//! encoded twice nor normalised. Tests check the presigned URLs byte for byte against the S3
//! client's presigner, and every signed request against moto with signature checks on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What S3 leaves unencoded in a key's path segment (RFC 3986 unreserved characters).
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Why S3 requests cannot be signed: the SDK settings lack a region or credentials.
#[derive(Debug, thiserror::Error)]
#[error("S3 requests need {0} in the AWS SDK settings")]
pub struct S3SetupError(pub(crate) &'static str);

/// Signing one request failed: no credentials, or a URL the signer cannot read.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the S3 request: {0}")]
pub struct SignError(String);

/// Where a signature goes: the URL's query for a presigned request handed to someone else, the
/// headers for a request sent here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// Query parameters valid for the given time, payload unsigned.
    Presigned(Duration),
    /// `Authorization` and `x-amz-*` headers, for an empty body.
    Headers,
}

/// Signs S3 requests with the SDK settings' region, credentials and endpoint.
#[derive(Clone)]
pub struct S3Signer {
    credentials: SharedCredentialsProvider,
    region: Arc<str>,
    endpoint: Option<Arc<str>>,
}

impl std::fmt::Debug for S3Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Signer")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Signer {
    pub fn new(sdk: &SdkConfig) -> Result<Self, S3SetupError> {
        let region = sdk.region().ok_or(S3SetupError("a region"))?;
        let credentials = sdk
            .credentials_provider()
            .ok_or(S3SetupError("a credentials provider"))?;
        Ok(Self {
            credentials,
            region: region.as_ref().into(),
            endpoint: sdk.endpoint_url().map(|e| e.trim_end_matches('/').into()),
        })
    }

    /// Everything before the key: `https://{bucket}.s3.{region}.amazonaws.com/` on AWS,
    /// `{endpoint}/{bucket}/` for a custom endpoint, and path style for a bucket name with dots,
    /// which a virtual host's TLS certificate cannot cover.
    fn bucket_url(&self, bucket: &str) -> String {
        let bucket_segment = utf8_percent_encode(bucket, KEY_SEGMENT);
        let region = &*self.region;
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket_segment}/"),
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
        }
    }

    /// The object's URL, each key segment percent-encoded as S3 expects.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let path: Vec<String> = key
            .split('/')
            .map(|s| utf8_percent_encode(s, KEY_SEGMENT).to_string())
            .collect();
        format!("{}{}", self.bucket_url(bucket), path.join("/"))
    }

    /// `method url` with `headers`, signed at `at`. aws-sigv4 writes the signature into the
    /// returned request itself, so query parameters are encoded exactly as the S3 client
    /// encodes them.
    pub async fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        signed: Signed,
        at: SystemTime,
    ) -> Result<http::Request<()>, SignError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| SignError(format!("no AWS credentials: {e}")))?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent: no second encoding, no normalisation.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let body = match signed {
            Signed::Presigned(expires_in) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(expires_in);
                SignableBody::UnsignedPayload
            }
            Signed::Headers => {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                SignableBody::Bytes(&[])
            }
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(at)
            .settings(settings)
            .build()
            .map_err(|e| SignError(e.to_string()))?
            .into();
        let signable =
            SignableRequest::new(method, url, headers.iter().copied(), body).map_err(|e| SignError(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SignError(e.to_string()))?
            .into_parts();
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(()).map_err(|e| SignError(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}
