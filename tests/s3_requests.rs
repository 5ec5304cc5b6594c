//! The S3 requests the uploads function signs itself (`muster_aws::s3`): GetObject and
//! DeleteObject, against a moto that checks SigV4 header signatures as S3 does, so a request
//! signed or addressed wrongly fails here; and against a local server that throttles, fails and
//! stalls, for the retries and timeouts. The signature check needs moto 5.2.5 or later: 5.2.1
//! decodes the request path before checking, and refuses correct signatures (boto3's too) for
//! keys with reserved characters. (The presigned PUTs of `POST /uploads` are compared byte
//! for byte with the S3 client's presigner in lambda_http.rs: moto checks no presigned URL.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_s3::primitives::ByteStream;
use muster_aws::aws_config::SdkConfig;
use muster_aws::uploads::{Fetched, S3Objects};
use muster_core::retry::RetryPolicy;
use muster_tests::moto;

/// Keys as the uploads function meets them, and ones that test the path encoding: spaces,
/// reserved and non-ASCII characters, doubled slashes.
const KEYS: [&str; 4] = [
    "uploads/ci/20261128T120000Z-00000000deadbeef.gz",
    "uploads/ci main/a+b=c&d;e,f:g@h$i.json",
    "uploads/ci/ümlaut ✓/~tilde'quote(paren)*star!.json",
    "uploads/ci//double/slash.json",
];

/// The same settings with `credentials`' key id but another secret.
fn with_secret(sdk: &SdkConfig, credentials: &Credentials, secret: &str) -> SdkConfig {
    let tampered = Credentials::new(credentials.access_key_id(), secret, None, None, "tampered");
    sdk.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(tampered))
        .build()
}

#[tokio::test]
async fn signed_s3_requests_pass_s3_signature_checks_and_tampered_ones_fail() {
    // Set-up by the S3 client, before moto starts checking: the bucket, one object per key and
    // one that stays. (moto cannot check presigned URLs, which a test compares byte for byte
    // with the S3 client's presigner instead.)
    let Some((sdk, credentials)) = moto::signature_checking_moto(KEYS.len() + 2).await else {
        return;
    };
    let s3 = moto::s3_client(&sdk);
    let bucket = moto::unique_name("muster-signed");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let body = |i: usize, key: &str| format!("report {i} for {key}").into_bytes();
    for (i, key) in KEYS.iter().enumerate() {
        let mut put = s3
            .put_object()
            .bucket(&bucket)
            .key(*key)
            .body(ByteStream::from(body(i, key)));
        if i % 2 == 0 {
            put = put.content_encoding("gzip");
        }
        put.send().await.expect("stored");
    }
    let kept = "uploads/ci/kept.json";
    s3.put_object()
        .bucket(&bucket)
        .key(kept)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .expect("stored");
    let objects = S3Objects::new(&sdk).expect("region and credentials");

    for (i, key) in KEYS.iter().enumerate() {
        let gzip = i % 2 == 0;
        let body = body(i, key);
        // WHEN the uploads function reads it with its signed GetObject
        let fetched = objects.get(&bucket, key, 1 << 20).await.expect("signed GetObject");
        // THEN it reads what the S3 client stored under that key (moto answers NoSuchKey for a
        // path that names another key)
        let Fetched::Object(object) = fetched else {
            panic!("{key}: {fetched:?}")
        };
        assert_eq!(object.bytes, body, "{key}");
        let expected_encoding = gzip.then(|| "gzip".to_owned());
        assert_eq!(object.content_encoding, expected_encoding, "{key}");

        // AND a limit below the object's size reads nothing
        assert_eq!(
            objects.get(&bucket, key, 4).await.expect("GetObject"),
            Fetched::TooLarge(Some(body.len() as u64))
        );

        // AND the signed DeleteObject removes it; reading it again finds it missing
        objects.delete(&bucket, key).await.expect("signed DeleteObject");
        assert_eq!(
            objects.get(&bucket, key, 1 << 20).await.expect("GetObject"),
            Fetched::Missing
        );
    }

    // A wrong secret is refused at once: a signature error is not retried.
    let wrong = S3Objects::new(&with_secret(&sdk, &credentials, "not-the-secret")).expect("credentials");
    let started = Instant::now();
    let error = wrong
        .get(&bucket, kept, 1 << 20)
        .await
        .expect_err("a bad signature fails");
    assert!(error.to_string().contains("SignatureDoesNotMatch"), "{error}");
    assert!(!error.to_string().contains("not-the-secret"), "{error}");
    assert!(!error.to_string().contains("attempts"), "not retried: {error}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let error = wrong.delete(&bucket, kept).await.expect_err("a bad signature fails");
    assert!(error.to_string().contains("SignatureDoesNotMatch"), "{error}");
    assert!(
        objects
            .get(&bucket, kept, 1 << 20)
            .await
            .is_ok_and(|f| matches!(f, Fetched::Object(_))),
        "a refused delete leaves the object"
    );
}

/// One canned answer of the local S3 stand-in, by attempt.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    SlowDown,
    Stall,
    Object,
}

/// A local server answering `answers` in turn (the last one repeats); the count of requests.
async fn flaky_s3(answers: Vec<Answer>) -> (SdkConfig, Arc<AtomicU32>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let count = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let seen = Arc::clone(&seen);
        let answers = answers.clone();
        async move {
            assert!(
                request.headers().contains_key("authorization") && request.headers().contains_key("x-amz-date"),
                "every attempt is signed"
            );
            let n = seen.fetch_add(1, Ordering::SeqCst) as usize;
            match answers[n.min(answers.len() - 1)] {
                Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
                Answer::SlowDown => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "0")],
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                )
                    .into_response(),
                Answer::Stall => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    StatusCode::OK.into_response()
                }
                Answer::Object => (StatusCode::OK, [("content-encoding", "gzip")], "stored").into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = SdkConfig::builder()
        .behavior_version(muster_aws::aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .build();
    (sdk, count)
}

fn quick(sdk: &SdkConfig) -> S3Objects {
    let retries = RetryPolicy {
        max_attempts: 3,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    S3Objects::new(sdk)
        .expect("region and credentials")
        .with_retries(retries, Duration::from_millis(300))
}

#[tokio::test]
async fn s3_calls_retry_throttling_server_errors_and_stalls_a_bounded_number_of_times() {
    // Throttled, then a server error, then the object: the third attempt reads it.
    let (sdk, count) = flaky_s3(vec![Answer::SlowDown, Answer::Status(500), Answer::Object]).await;
    let fetched = quick(&sdk)
        .get("bucket", "uploads/ci/r.json", 1024)
        .await
        .expect("read on attempt 3");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        matches!(&fetched, Fetched::Object(o) if o.bytes == "stored" && o.content_encoding.as_deref() == Some("gzip"))
    );

    // A stalled answer counts as a failed attempt; after three, the error says why.
    let (sdk, count) = flaky_s3(vec![Answer::Stall]).await;
    let started = Instant::now();
    let error = quick(&sdk)
        .get("bucket", "k", 1024)
        .await
        .expect_err("every attempt stalls");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        error.to_string().contains("after 3 attempts: no answer within 300ms"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // Throttling that never ends: three attempts, then the error names S3's code.
    let (sdk, count) = flaky_s3(vec![Answer::SlowDown]).await;
    let error = quick(&sdk).delete("bucket", "k").await.expect_err("always throttled");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        error
            .to_string()
            .contains("DeleteObject failed after 3 attempts: HTTP 503 (SlowDown"),
        "{error}"
    );

    // A refusal is final at once; so is a 404 that is not NoSuchKey.
    for status in [403, 404, 400] {
        let (sdk, count) = flaky_s3(vec![Answer::Status(status), Answer::Object]).await;
        let error = quick(&sdk).get("bucket", "k", 1024).await.expect_err("refused");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{status} is not retried");
        assert!(error.to_string().contains(&format!("HTTP {status}")), "{error}");
    }

    // Nothing listens: the connection error is retried, then named.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (sdk, _) = flaky_s3(vec![Answer::Object]).await;
    let sdk = sdk.to_builder().endpoint_url(endpoint).build();
    let error = quick(&sdk)
        .get("bucket", "k", 1024)
        .await
        .expect_err("refused connection");
    assert!(error.to_string().contains("after 3 attempts: no response"), "{error}");
}
