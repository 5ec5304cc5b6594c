//! `FeedClient` against a local HTTP server (axum on 127.0.0.1) serving the intel fixtures: the
//! feeds themselves, gzipped or not, and servers that rate-limit, fail, refuse or never answer.
//! Nothing here touches the internet.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use muster_core::retry::RetryPolicy;
use muster_feeds::{FeedClient, FeedError, FeedSettings};
use serde_json::{Value, json};

const KEV_CSV: &[u8] = include_bytes!("../../../tests/fixtures/intel/kev-small.csv");
const EPSS_CSV: &[u8] = include_bytes!("../../../tests/fixtures/intel/epss_scores-2026-11-26.csv");
const USER_AGENT: &str = "muster-feeds-test/1";

fn client(timeout: Duration, max_attempts: u32) -> FeedClient {
    FeedClient::new(FeedSettings {
        timeout,
        retry: RetryPolicy {
            max_attempts,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(5),
        },
        user_agent: USER_AGENT.to_owned(),
    })
    .unwrap()
}

fn patient_client() -> FeedClient {
    client(Duration::from_secs(10), 3)
}

/// Serves `router` on an ephemeral local port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// A one-route server whose handler gets the 1-based number of the request; returns the base URL
/// and the request counter.
async fn serve_counted<F>(path: &str, respond: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(usize, HeaderMap) -> Response + Clone + Send + Sync + 'static,
{
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().route(
        path,
        get(move |headers: HeaderMap| {
            let respond = respond.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { respond(n, headers) }
        }),
    );
    (serve(router).await, hits)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The real KEV catalog in `shared/samples/kev/`, if present (`$MUSTER_SAMPLES` overrides).
fn real_kev_sample() -> Option<Value> {
    let dir = match std::env::var_os("MUSTER_SAMPLES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples"),
    };
    let bytes = std::fs::read(dir.join("kev/known_exploited_vulnerabilities.json")).ok()?;
    Some(serde_json::from_slice(&bytes).expect("the KEV sample is JSON"))
}

/// A small KEV JSON: the first 25 entries of the real catalog when the samples are there, else
/// three written here.
fn small_kev_json() -> Value {
    if let Some(mut catalog) = real_kev_sample() {
        let first: Vec<Value> = catalog["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .take(25)
            .cloned()
            .collect();
        catalog["count"] = json!(first.len());
        catalog["vulnerabilities"] = Value::Array(first);
        return catalog;
    }
    println!("samples not found: serving a hand-written KEV catalog");
    let entry = |cve: &str, name: &str, added: &str, ransomware: &str| {
        json!({"cveID": cve, "vendorProject": "v", "product": "p", "vulnerabilityName": name,
               "dateAdded": added, "shortDescription": "", "requiredAction": "", "dueDate": "2026-01-01",
               "knownRansomwareCampaignUse": ransomware, "notes": "", "cwes": []})
    };
    json!({
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": "2025.08.25",
        "dateReleased": "2025-08-25T17:04:19.9796Z",
        "count": 3,
        "vulnerabilities": [
            entry("CVE-2025-48384", "Git Link Following Vulnerability", "2025-08-25", "Unknown"),
            entry("CVE-2024-3400", "Palo Alto Networks PAN-OS Command Injection Vulnerability", "2024-04-12", "Known"),
            entry("CVE-2021-44228", "Apache Log4j2 Remote Code Execution Vulnerability", "2021-12-10", "Known"),
        ],
    })
}

fn epss_ok() -> Response {
    ([(header::CONTENT_TYPE, "text/csv")], EPSS_CSV).into_response()
}

#[tokio::test]
async fn kev_json_is_fetched_and_parsed() {
    // GIVEN
    let catalog = small_kev_json();
    let body = serde_json::to_vec(&catalog).unwrap();
    let (base, hits) = serve_counted("/kev.json", move |_, headers| {
        assert_eq!(headers[header::USER_AGENT], USER_AGENT);
        ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
    })
    .await;

    // WHEN
    let fetched = patient_client().fetch_kev(&format!("{base}/kev.json")).await.unwrap();

    // THEN
    assert_eq!(fetched.entries.len() as u64, catalog["count"].as_u64().unwrap());
    assert_eq!(fetched.version.as_deref(), catalog["catalogVersion"].as_str());
    assert_eq!(
        fetched.entries[0].cve,
        catalog["vulnerabilities"][0]["cveID"].as_str().unwrap()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn kev_csv_is_fetched_and_parsed() {
    let (base, _) = serve_counted("/kev.csv", |_, _| KEV_CSV.into_response()).await;

    let fetched = patient_client().fetch_kev(&format!("{base}/kev.csv")).await.unwrap();

    assert_eq!(fetched.entries.len(), 7);
    assert_eq!(fetched.entries.iter().filter(|e| e.ransomware).count(), 1);
}

#[tokio::test]
async fn epss_is_the_same_plain_or_gzipped() {
    let gzipped = gzip(EPSS_CSV);
    let router = Router::new()
        .route("/epss_scores-2026-11-26.csv", get(|| async { epss_ok() }))
        .route(
            "/epss_scores-current.csv.gz",
            get(move || async move { ([(header::CONTENT_TYPE, "application/gzip")], gzipped).into_response() }),
        );
    let base = serve(router).await;
    let client = patient_client();

    let plain = client
        .fetch_epss(&format!("{base}/epss_scores-2026-11-26.csv"))
        .await
        .unwrap();
    let inflated = client
        .fetch_epss(&format!("{base}/epss_scores-current.csv.gz"))
        .await
        .unwrap();

    assert_eq!(plain, inflated);
    assert_eq!(plain.model_version.as_deref(), Some("v2025.03.14"));
    assert_eq!(plain.scores.len(), 21);
    assert!(plain.scores.iter().any(|s| s.cve == "CVE-2021-44228"));
}

#[tokio::test]
async fn rate_limited_request_waits_for_retry_after_then_succeeds() {
    // GIVEN a server that answers 429 with Retry-After: 1 once, then the file
    let (base, hits) = serve_counted("/epss.csv", |n, _| match n {
        1 => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], "slow down").into_response(),
        _ => epss_ok(),
    })
    .await;
    let started = Instant::now();

    // WHEN
    let file = patient_client().fetch_epss(&format!("{base}/epss.csv")).await.unwrap();

    // THEN it retried once, after the server's second rather than the 10 ms backoff
    assert_eq!(file.scores.len(), 21);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_longer_than_the_max_backoff_is_capped() {
    let (base, hits) = serve_counted("/epss.csv", |n, _| match n {
        1 => (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "3600")], "").into_response(),
        _ => epss_ok(),
    })
    .await;
    let client = FeedClient::new(FeedSettings {
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 2,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        },
        user_agent: USER_AGENT.to_owned(),
    })
    .unwrap();
    let started = Instant::now();

    client.fetch_epss(&format!("{base}/epss.csv")).await.unwrap();

    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn server_error_forever_fails_after_max_attempts() {
    let (base, hits) = serve_counted("/kev.json", |_, _| StatusCode::SERVICE_UNAVAILABLE.into_response()).await;

    let error = client(Duration::from_secs(10), 3)
        .fetch_kev(&format!("{base}/kev.json"))
        .await
        .unwrap_err();

    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(
        matches!(&error, FeedError::Http { status, attempts: 3, .. } if status.as_u16() == 503),
        "{error:?}"
    );
}

#[tokio::test]
async fn not_found_fails_at_once_with_status_and_url() {
    let (base, hits) = serve_counted("/kev.json", |_, _| StatusCode::NOT_FOUND.into_response()).await;

    let error = patient_client()
        .fetch_kev(&format!("{base}/gone.json"))
        .await
        .unwrap_err();

    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the route is not even hit: axum's own 404"
    );
    assert_eq!(
        error.to_string(),
        format!("GET {base}/gone.json answered 404 Not Found (attempt 1)")
    );

    let error = patient_client()
        .fetch_kev(&format!("{base}/kev.json"))
        .await
        .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(matches!(error, FeedError::Http { status, .. } if status.as_u16() == 404));
}

#[tokio::test]
async fn silent_server_times_out_quickly() {
    // GIVEN a handler that never answers
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().route(
        "/epss.csv",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Response>()
        }),
    );
    let base = serve(router).await;
    let started = Instant::now();

    let error = client(Duration::from_millis(300), 2)
        .fetch_epss(&format!("{base}/epss.csv"))
        .await
        .unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a timeout is retried like any transport error"
    );
    match &error {
        FeedError::Transport { source, attempts, .. } => {
            assert!(source.is_timeout(), "{source:?}");
            assert_eq!(*attempts, 2);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(error.to_string(), format!("GET {base}/epss.csv: timed out (attempt 2)"));
}

#[tokio::test]
async fn refused_connection_is_a_transport_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);

    let error = client(Duration::from_secs(5), 2)
        .fetch_kev(&format!("http://{address}/kev.json"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, FeedError::Transport { source, attempts: 2, .. } if source.is_connect()),
        "{error:?}"
    );
}

#[tokio::test]
async fn query_strings_never_reach_the_error() {
    let (base, _) = serve_counted("/kev.json", |_, _| StatusCode::FORBIDDEN.into_response()).await;

    let error = patient_client()
        .fetch_kev(&format!("{base}/kev.json?token=s3cret"))
        .await
        .unwrap_err();

    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("403 Forbidden"), "{shown}");
}

#[tokio::test]
async fn a_page_that_is_not_the_feed_is_a_parse_error_naming_the_url() {
    let (base, _) = serve_counted("/kev", |_, _| "<html><body>Maintenance</body></html>\n".into_response()).await;

    let error = patient_client().fetch_kev(&format!("{base}/kev")).await.unwrap_err();

    match &error {
        FeedError::Parse(import) => {
            assert_eq!(import.origin, format!("{base}/kev"));
            assert_eq!(import.line, Some(1));
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
