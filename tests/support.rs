//! Shared by the integration tests: where the real sample reports are, and a pipeline over a
//! real (in-memory) SQLite store.
//!
//! `moto` starts (or finds) a `moto_server` for the DynamoDB and SQS adapter tests.
//!
//! Samples come from `$MUSTER_SAMPLES`, else `../shared/samples` beside the repository. A
//! fresh clone without them skips those tests and says so; CI always has them.

pub mod moto;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use muster_core::Config;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::FixedClock;
use muster_core::services::Pipeline;
use muster_local::{LocalQueue, RetryPolicy, SqliteStore};

/// The samples folder, or `None` (after printing why) when it is absent.
pub fn samples_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MUSTER_SAMPLES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: samples not found at {} (set MUSTER_SAMPLES)", dir.display());
        None
    }
}

/// Every file in one samples sub-folder, sorted; `None` when samples are absent.
pub fn sample_files(folder: &str) -> Option<Vec<PathBuf>> {
    let dir = samples_dir()?.join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Some(files)
}

/// One sample's bytes; `None` when samples are absent.
pub fn sample(relative: &str) -> Option<Vec<u8>> {
    let path = samples_dir()?.join(relative);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())))
}

pub type TestPipeline =
    Pipeline<SqliteStore, LocalQueue, OutboxTickets<SqliteStore>, OutboxChat<SqliteStore>, FixedClock>;

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339 in test")
        .to_utc()
}

/// The embedded pipeline over a fresh in-memory SQLite store, with time fixed at `now`.
pub fn pipeline_at(now: &str) -> TestPipeline {
    let store = SqliteStore::open_in_memory().expect("in-memory SQLite opens");
    Pipeline {
        tickets: OutboxTickets(store.clone()),
        chat: OutboxChat(store.clone()),
        store,
        queue: LocalQueue::new(RetryPolicy {
            max_attempts: 3,
            first_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(10),
        }),
        clock: FixedClock(at(now)),
        config: Arc::new(Config::default()),
    }
}

/// Counts SARIF results the way a person would: independently of muster's parser.
pub fn sarif_result_counts(bytes: &[u8]) -> (usize, usize) {
    let log: serde_json::Value = serde_json::from_slice(bytes).expect("sample is JSON");
    let mut total = 0;
    let mut suppressed = 0;
    for run in log["runs"].as_array().into_iter().flatten() {
        for result in run["results"].as_array().into_iter().flatten() {
            total += 1;
            let accepted = result["suppressions"].as_array().into_iter().flatten().any(|s| {
                s.get("status")
                    .and_then(|v| v.as_str())
                    .is_none_or(|status| status == "accepted")
            });
            suppressed += usize::from(accepted);
        }
    }
    (total, suppressed)
}

/// The same SARIF report with the result at `index` of the first run removed: a later scan
/// that no longer sees one finding.
pub fn without_result(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut log: serde_json::Value = serde_json::from_slice(bytes).expect("report is JSON");
    log["runs"][0]["results"]
        .as_array_mut()
        .expect("a SARIF run has results")
        .remove(index);
    serde_json::to_vec(&log).expect("JSON serializes")
}

/// An SQS event as the event source mapping hands it to a function, as JSON (the event structs
/// are non-exhaustive): one record per (message id, receipt handle, body), from queue `queue`.
pub fn sqs_event_json(queue: &str, records: &[(String, String, String)]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(id, handle, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": handle,
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Ingests `bytes` from `source` (format detected unless given), then runs every stage the
/// report caused, asserting none failed.
pub async fn ingest_from<T, N, C>(
    pipeline: &Pipeline<SqliteStore, LocalQueue, T, N, C>,
    source: &str,
    format: Option<muster_core::Format>,
    event: Option<&str>,
    bytes: &[u8],
) -> muster_core::IngestSummary
where
    T: muster_core::ports::TicketSink,
    N: muster_core::ports::ChatSink,
    C: muster_core::ports::Clock,
{
    let source = muster_core::SourceName::parse(source).expect("valid source name");
    let summary = pipeline
        .ingest(muster_core::IngestRequest {
            source: &source,
            format,
            event,
            bytes,
        })
        .await
        .unwrap_or_else(|e| panic!("ingest from {source} fails: {e}"));
    let drained = pipeline.queue.drain(pipeline, |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0, "no stage may fail on a good report");
    summary
}

/// A Slack interactivity request body: `payload=<JSON>`, form-encoded as Slack posts it.
pub fn slack_form(payload: &str) -> Vec<u8> {
    let mut form = String::from("payload=");
    for byte in payload.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            form.push(byte as char);
        } else {
            form.push_str(&format!("%{byte:02X}"));
        }
    }
    form.into_bytes()
}

/// A fixture written for these tests (`tests/fixtures/`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A one-thread HTTP server on 127.0.0.1 answering every GET with the file its path names
/// under `dir` (404 otherwise); returns `host:port`. Stands in for public feeds in tests.
pub fn serve_files(dir: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            while std::io::BufRead::read_line(&mut reader, &mut request).unwrap_or(0) > 2
                && !request.ends_with("\r\n\r\n")
            {}
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_owned();
            let (status, body) = match std::fs::read(dir.join(&path)) {
                Ok(body) => ("200 OK", body),
                Err(_) => ("404 Not Found", b"missing".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, head.as_bytes());
            let _ = std::io::Write::write_all(&mut stream, &body);
        }
    });
    addr
}

/// A small SARIF log written for these tests: two results in two files, two findings, at least
/// one group.
pub const TWO_FINDINGS_SARIF: &str = r#"{
  "version": "2.1.0",
  "runs": [{
    "tool": {"driver": {"name": "semgrep", "rules": [
      {"id": "sql-injection", "defaultConfiguration": {"level": "error"}, "properties": {"security-severity": "9.8"}},
      {"id": "weak-hash", "defaultConfiguration": {"level": "warning"}}
    ]}},
    "results": [
      {"ruleId": "sql-injection", "level": "error", "message": {"text": "SQL built from user input"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/db.py"}, "region": {"startLine": 12}}}]},
      {"ruleId": "weak-hash", "level": "warning", "message": {"text": "MD5 used for passwords"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/auth.py"}, "region": {"startLine": 40}}}]}
    ]
  }]
}"#;
