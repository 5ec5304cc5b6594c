//! Bad input at every endpoint of the HTTP API, against a store that already holds findings,
//! tickets and messages: each request answers a 4xx JSON error naming the problem and leaves
//! everything stored exactly as it was. Oversized and deeply nested JSON, invalid UTF-8,
//! duplicate keys, numbers out of range and mis-cased header values are among the cases; the
//! last test shows that header names and values HTTP defines as case-insensitive are read so.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use muster_core::Config;
use muster_core::ports::{FindingFilter, FindingStore, OutboxStore, TicketStore};
use muster_http::signature::{sign, sign_github};
use muster_http::uploads::{UploadError, UploadTarget, Uploads};
use muster_http::{HttpConfig, Secret, SecretSlot, router};
use muster_tests::{TestPipeline, fixture, ingest_from, pipeline_at, slack_form};
use tower::ServiceExt as _;

const SOURCE_SECRET: &str = "ci-source-secret";
const GITHUB_SOURCE_SECRET: &str = "github-alerts-secret";
const GITHUB_TRACKER_SECRET: &str = "gh-hook-secret";
const JIRA_SECRET: &str = "jira-hook-secret";
const SLACK_SECRET: &str = "slack-signing-secret";
const READ_TOKEN: &str = "read-token";
/// Small, so oversized bodies are cheap to build.
const BODY_LIMIT: usize = 64 * 1024;

const CONFIG: &str = r#"
[[sources]]
name = "local"
format = "auto"

[[sources]]
name = "ci"
format = "auto"
secret_env = "CI_SECRET"

[[sources]]
name = "gh"
format = "github"
secret_env = "GH_SECRET"

[http]
read_token_env = "READ_TOKEN"

[trackers.github]
token_env = "UNUSED"
webhook_secret_env = "GH_HOOK"

[trackers.jira]
url = "https://acme.atlassian.net"
email = "bot@acme.test"
token_env = "UNUSED"
webhook_secret_env = "JIRA_HOOK"
wont_fix_resolutions = ["Won't Do"]

[slack]
token_env = "UNUSED"
signing_secret_env = "SLACK_SIGNING"
"#;

/// Presigns nothing: no bad upload request may get as far as asking for a URL.
#[derive(Debug, Default)]
struct CountingUploads(AtomicUsize);

impl Uploads for CountingUploads {
    fn presign<'a>(
        &'a self,
        _key: &'a str,
        _encoding: muster_http::uploads::ContentEncoding,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<UploadTarget, UploadError>> + Send + 'a>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(UploadError("no bad request should get here".into())) })
    }
}

/// The embedded pipeline with a real report ingested and every stage run: findings, groups,
/// outbox tickets and chat messages exist for a bad request to disturb.
async fn populated() -> Arc<TestPipeline> {
    let mut pipeline = pipeline_at("2026-11-01T10:00:00Z");
    pipeline.config = Arc::new(Config::from_toml(CONFIG, "muster.toml").expect("test config parses"));
    let summary = ingest_from(&pipeline, "local", None, None, &fixture("trivy-shop-api.json")).await;
    assert!(summary.new > 0, "the fixture yields findings: {summary:?}");
    Arc::new(pipeline)
}

fn app(pipeline: &Arc<TestPipeline>, uploads: &Arc<CountingUploads>) -> axum::Router {
    let http = HttpConfig::with_secrets(Arc::clone(&pipeline.config), BODY_LIMIT, |slot, _| {
        let secret = match slot {
            SecretSlot::Source(name) if name == "ci" => SOURCE_SECRET,
            SecretSlot::Source(name) if name == "gh" => GITHUB_SOURCE_SECRET,
            SecretSlot::Source(_) => return None,
            SecretSlot::Tracker("github") => GITHUB_TRACKER_SECRET,
            SecretSlot::Tracker(_) => JIRA_SECRET,
            SecretSlot::SlackSigning => SLACK_SECRET,
            SecretSlot::ReadToken => READ_TOKEN,
        };
        Some(secret.to_owned())
    })
    .expect("every secret resolves")
    .with_uploads(Arc::clone(uploads) as Arc<dyn Uploads>);
    router(Arc::clone(pipeline), http)
}

/// Everything a request could change, in a comparable form.
async fn snapshot(pipeline: &TestPipeline) -> String {
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    let tickets = pipeline.store.tickets().await.unwrap();
    let outbox = pipeline.store.outbox().await.unwrap();
    format!(
        "{findings:?}\n{tickets:?}\n{outbox:?}\nqueue empty: {}",
        pipeline.queue.is_empty()
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A request under construction: method, path, headers, body.
struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn post(path: &str, body: impl AsRef<[u8]>) -> Call {
    Call {
        method: "POST",
        path: path.to_owned(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_ref().to_vec(),
    }
}

fn get(path: &str) -> Call {
    Call {
        method: "GET",
        path: path.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Call {
    /// Sets header `name`, replacing one set before.
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(set, _)| !set.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Signed for source `ci` as `muster push` signs.
    fn signed(self, secret: &str, timestamp: i64) -> Self {
        let signature = sign(&Secret::new(secret), timestamp, &self.body);
        self.header("x-muster-signature", signature)
            .header("x-muster-timestamp", timestamp.to_string())
    }

    /// Signed as GitHub (and Jira) sign webhook deliveries.
    fn hub_signed(self, header: &str, secret: &str) -> Self {
        let signature = sign_github(&Secret::new(secret), &self.body);
        self.header(header, signature)
    }

    /// Signed as Slack signs interactivity requests.
    fn slack_signed(self, timestamp: i64) -> Self {
        let signature = muster_slack::sign_request(SLACK_SECRET.as_bytes(), timestamp, &self.body);
        self.header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature)
    }

    fn request(self) -> Request<Body> {
        let mut request = Request::builder().method(self.method).uri(self.path);
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        request.body(Body::from(self.body)).unwrap()
    }
}

async fn send(app: axum::Router, call: Call) -> (StatusCode, serde_json::Value) {
    let response = app.oneshot(call.request()).await.expect("router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::json!({ "not JSON": String::from_utf8_lossy(&bytes) }));
    (status, json)
}

fn slack_click(action_id: &str, value: &str) -> String {
    serde_json::json!({
        "type": "block_actions",
        "user": { "id": "U0DEV", "username": "someone", "team_id": "T0" },
        "actions": [ { "action_id": action_id, "block_id": "muster_alert", "value": value, "type": "button" } ],
        "channel": { "id": "C0PAY", "name": "payments" },
        "message": { "ts": "1764000000.000100", "type": "message" }
    })
    .to_string()
}

fn slack_post(payload_form: Vec<u8>) -> Call {
    post("/slack/actions", payload_form).header("content-type", "application/x-www-form-urlencoded")
}

/// A SARIF log with one result whose object `result_json` is spliced in as written.
fn sarif_with_result(result_json: &str) -> String {
    format!(r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"x"}}}},"results":[{result_json}]}}]}}"#)
}

/// A valid report of one result, for cases whose fault lies in the headers or the signature.
fn one_result_report() -> String {
    sarif_with_result(r#"{"ruleId":"a","message":{"text":"m"}}"#)
}

/// A Jira `jira:issue_updated` delivery with `issue` spliced in as written.
fn jira_delivery(issue_json: &str) -> String {
    format!(r#"{{"webhookEvent":"jira:issue_updated","issue":{issue_json},"changelog":{{"items":[]}}}}"#)
}

#[tokio::test]
async fn bad_requests_at_every_endpoint_answer_a_json_4xx_and_change_nothing() {
    let nested_object = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    let cases: Vec<(&str, Call, StatusCode, &str)> = vec![
        // POST /webhooks/{source}
        (
            "report with a duplicate top-level key",
            post("/webhooks/local", r#"{"version":"2.1.0","runs":[],"runs":[]}"#),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "result with a duplicate key",
            post("/webhooks/local", sarif_with_result(r#"{"ruleId":"a","ruleId":"b","message":{"text":"m"}}"#)),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "objects nested 200 deep inside a result",
            post(
                "/webhooks/local",
                sarif_with_result(&format!(r#"{{"ruleId":"a","message":{{"text":"m"}},"properties":{nested_object}}}"#)),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "invalid UTF-8 in an object key",
            post(
                "/webhooks/local",
                [
                    br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a","#.as_slice(),
                    br#""message":{"text":"m"},"properties":{"k"#,
                    b"\xc3\x28",
                    br#"":1}}]}]}"#,
                ]
                .concat(),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "a lone surrogate escape",
            post("/webhooks/local", sarif_with_result(r#"{"ruleId":"a\ud800","message":{"text":"m"}}"#)),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "rule index beyond 64 bits",
            post(
                "/webhooks/local",
                sarif_with_result(r#"{"ruleId":"a","ruleIndex":18446744073709551616,"message":{"text":"m"}}"#),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "Trivy CVSS score out of range",
            post(
                "/webhooks/local",
                r#"{"SchemaVersion":2,"ArtifactName":"a","Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-1","PkgName":"p","InstalledVersion":"1","Severity":"HIGH","CVSS":{"nvd":{"V3Score":1e999}}}]}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "a NUL byte before the report",
            post("/webhooks/local", b"\0{\"version\":\"2.1.0\",\"runs\":[]}"),
            StatusCode::BAD_REQUEST,
            "unrecognized_report",
        ),
        (
            "body past the limit",
            post("/webhooks/local", vec![b' '; BODY_LIMIT + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "two content encodings",
            post("/webhooks/local", gzip(&gzip(b"{}"))).header("content-encoding", "gzip, gzip"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
        ),
        (
            "HTML content type",
            post("/webhooks/local", "<html></html>").header("content-type", "text/html"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "a source name with a path in it",
            post("/webhooks/..%2Fci", "{}"),
            StatusCode::NOT_FOUND,
            "unknown_source",
        ),
        (
            "signed source without a signature",
            post("/webhooks/ci", one_result_report()),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
        ),
        (
            "signature scheme in upper case",
            {
                let call = post("/webhooks/ci", "{}");
                let signature = sign(&Secret::new(SOURCE_SECRET), now(), &call.body).replace("sha256=", "SHA256=");
                call.header("x-muster-signature", signature)
                    .header("x-muster-timestamp", now().to_string())
            },
            StatusCode::UNAUTHORIZED,
            "malformed_signature",
        ),
        (
            "timestamp that is not a number",
            post("/webhooks/ci", "{}")
                .header("x-muster-signature", "sha256=00")
                .header("x-muster-timestamp", "yesterday"),
            StatusCode::UNAUTHORIZED,
            "malformed_signature",
        ),
        (
            "timestamp out of range",
            post("/webhooks/ci", "{}")
                .header("x-muster-signature", "sha256=00")
                .header("x-muster-timestamp", "99999999999999999999999"),
            StatusCode::UNAUTHORIZED,
            "malformed_signature",
        ),
        (
            "stale signed report",
            post("/webhooks/ci", "{}").signed(SOURCE_SECRET, now() - 3600),
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
        ),
        (
            "signature over other bytes",
            {
                let mut call = post("/webhooks/ci", "{}").signed(SOURCE_SECRET, now());
                call.body = one_result_report().into_bytes();
                call
            },
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "GitHub alert signed with SHA-1",
            post("/webhooks/gh", r#"{"action":"created","alert":{}}"#)
                .header("x-github-event", "code_scanning_alert")
                .header("x-hub-signature-256", "sha1=0123456789abcdef0123456789abcdef01234567"),
            StatusCode::UNAUTHORIZED,
            "malformed_signature",
        ),
        (
            "unsigned source, timestamp that is not a number",
            post("/webhooks/local", one_result_report())
                .header("x-muster-timestamp", "now"),
            StatusCode::BAD_REQUEST,
            "malformed_signature",
        ),
        (
            "unsigned source, signature in upper-case hex",
            post("/webhooks/local", one_result_report())
                .header("x-muster-signature", format!("sha256={}", "AB".repeat(32))),
            StatusCode::BAD_REQUEST,
            "malformed_signature",
        ),
        (
            "GitHub event name in capitals",
            post("/webhooks/local", one_result_report())
                .header("x-github-event", "Code_Scanning_Alert"),
            StatusCode::BAD_REQUEST,
            "bad_event_header",
        ),
        // POST /uploads
        (
            "upload request that is not JSON",
            post("/uploads", "source=local&bytes=10"),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload size that is negative",
            post("/uploads", r#"{"source":"local","bytes":-1}"#),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload size out of range",
            post("/uploads", r#"{"source":"local","bytes":1e30}"#),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload with a duplicate key",
            post("/uploads", r#"{"source":"local","source":"ci","bytes":10}"#),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload encoding in upper case",
            post("/uploads", r#"{"source":"local","bytes":10,"content_encoding":"GZIP"}"#),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload request without a size",
            post("/uploads", r#"{"source":"local"}"#),
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
        ),
        (
            "upload for an unknown source",
            post("/uploads", r#"{"source":"nobody","bytes":10}"#),
            StatusCode::NOT_FOUND,
            "unknown_source",
        ),
        (
            "unsigned upload for a signed source",
            post("/uploads", r#"{"source":"ci","bytes":10}"#),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
        ),
        (
            "upload larger than the server takes",
            post("/uploads", format!(r#"{{"source":"local","bytes":{}}}"#, BODY_LIMIT + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        // POST /trackers/{tracker}
        (
            "a tracker muster does not know",
            post("/trackers/gitlab", "{}"),
            StatusCode::NOT_FOUND,
            "unknown_tracker",
        ),
        (
            "unsigned GitHub issues delivery",
            post("/trackers/github", r#"{"action":"closed"}"#).header("x-github-event", "issues"),
            StatusCode::UNAUTHORIZED,
            "missing_signature",
        ),
        (
            "Jira delivery signed with another secret",
            post("/trackers/jira", jira_delivery("{}")).hub_signed("x-hub-signature", "not-the-secret"),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "GitHub delivery without X-GitHub-Event",
            post("/trackers/github", r#"{"action":"closed"}"#).hub_signed("x-hub-signature-256", GITHUB_TRACKER_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "truncated GitHub delivery",
            post("/trackers/github", r#"{"action":"closed","issue":{"#)
                .header("x-github-event", "issues")
                .hub_signed("x-hub-signature-256", GITHUB_TRACKER_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "GitHub issue number out of range",
            post(
                "/trackers/github",
                r#"{"action":"closed","issue":{"number":1e40,"title":"t","body":"muster:group=payments/img/pkg:openssl"},"repository":{"full_name":"acme/shop"}}"#,
            )
            .header("x-github-event", "issues")
            .hub_signed("x-hub-signature-256", GITHUB_TRACKER_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "GitHub delivery with a duplicate action",
            post(
                "/trackers/github",
                r#"{"action":"closed","action":"reopened","issue":{"number":7,"title":"t","body":""},"repository":{"full_name":"acme/shop"}}"#,
            )
            .header("x-github-event", "issues")
            .hub_signed("x-hub-signature-256", GITHUB_TRACKER_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "Jira delivery with invalid UTF-8",
            post("/trackers/jira", b"{\"webhookEvent\":\"jira:issue_updated\",\"issue\":{\"key\":\"PAY-\xff\"}}")
                .hub_signed("x-hub-signature", JIRA_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "Jira delivery nested 10,000 deep",
            post("/trackers/jira", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))
                .hub_signed("x-hub-signature", JIRA_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "Jira delivery with a duplicate issue",
            post(
                "/trackers/jira",
                r#"{"webhookEvent":"jira:issue_updated","issue":{"key":"PAY-1"},"issue":{"key":"PAY-2"},"changelog":{"items":[]}}"#,
            )
            .hub_signed("x-hub-signature", JIRA_SECRET),
            StatusCode::BAD_REQUEST,
            "bad_tracker_event",
        ),
        (
            "tracker delivery past the limit",
            post("/trackers/jira", vec![b' '; BODY_LIMIT + 1]).hub_signed("x-hub-signature", JIRA_SECRET),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        // POST /slack/actions
        (
            "unsigned Slack click",
            slack_post(slack_form(&slack_click("ack", "payments/img/pkg:openssl"))),
            StatusCode::UNAUTHORIZED,
            "missing_signature_header",
        ),
        (
            "replayed Slack click",
            slack_post(slack_form(&slack_click("ack", "payments/img/pkg:openssl"))).slack_signed(now() - 3600),
            StatusCode::UNAUTHORIZED,
            "stale_request",
        ),
        (
            "Slack timestamp that is not a number",
            slack_post(slack_form(&slack_click("ack", "payments/img/pkg:openssl")))
                .header("x-slack-request-timestamp", "soon")
                .header("x-slack-signature", "v0=00"),
            StatusCode::UNAUTHORIZED,
            "malformed_signature_header",
        ),
        (
            "Slack form without a payload",
            slack_post(b"token=x&team_id=T0".to_vec()).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack payload that is not JSON",
            slack_post(slack_form("{not json")).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack payload with a duplicate type",
            slack_post(slack_form(&slack_click("ack", "payments/img/pkg:openssl").replacen(
                r#""type":"block_actions""#,
                r#""type":"block_actions","type":"view_submission""#,
                1,
            )))
            .slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack modal submission",
            slack_post(slack_form(r#"{"type":"view_submission","user":{"id":"U0"}}"#)).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack payload with invalid UTF-8",
            slack_post(b"payload=%7B%22type%22%3A%22%FF%22%7D".to_vec()).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack button muster never made",
            slack_post(slack_form(&slack_click("delete_everything", "payments/img/pkg:openssl"))).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "unknown_action",
        ),
        (
            "Slack button whose value is not a group",
            slack_post(slack_form(&slack_click("ack", ""))).slack_signed(now()),
            StatusCode::BAD_REQUEST,
            "bad_action",
        ),
        (
            "Slack click on a group with no ticket",
            slack_post(slack_form(&slack_click("ack", "nobody/nothing/none"))).slack_signed(now()),
            StatusCode::CONFLICT,
            "action_refused",
        ),
        (
            "Slack click past the limit",
            slack_post(vec![b'a'; BODY_LIMIT + 1]).slack_signed(now()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        // GET /gate
        (
            "gate without a token",
            get("/gate?max_new_tier=P1"),
            StatusCode::UNAUTHORIZED,
            "bad_token",
        ),
        (
            "gate with the token as Basic auth",
            get("/gate?max_new_tier=P1").header("authorization", format!("Basic {READ_TOKEN}")),
            StatusCode::UNAUTHORIZED,
            "bad_token",
        ),
        (
            "gate with a tier that does not exist",
            get("/gate?max_new_tier=P9").header("authorization", format!("Bearer {READ_TOKEN}")),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "gate with a breach count out of range",
            get("/gate?max_breached=P1=99999999999999999999999").header("authorization", format!("Bearer {READ_TOKEN}")),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "gate asked twice for the same parameter",
            get("/gate?max_new_tier=P1&max_new_tier=P2").header("authorization", format!("Bearer {READ_TOKEN}")),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        // Anywhere else
        (
            "POST to the health check",
            post("/healthz", "{}"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "path with invalid percent-encoding",
            post("/webhooks/%FF", "{}"),
            StatusCode::BAD_REQUEST,
            "bad_path",
        ),
    ];
    assert!(cases.len() >= 40, "the suite keeps at least 40 cases");

    let uploads = Arc::new(CountingUploads::default());
    let mut failures = Vec::new();
    for (name, call, want_status, want_code) in cases {
        let pipeline = populated().await;
        let before = snapshot(&pipeline).await;
        let (status, body) = send(app(&pipeline, &uploads), call).await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        if status != want_status || body["error"]["code"] != want_code || message.is_empty() {
            failures.push(format!("{name}: want {want_status} {want_code}, got {status} {body}"));
        }
        if snapshot(&pipeline).await != before {
            failures.push(format!("{name}: changed what is stored"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        uploads.0.load(Ordering::SeqCst),
        0,
        "a bad upload request reached the presigner"
    );
}

/// Header names are case-insensitive in HTTP, and so are the values HTTP defines that way
/// (content codings, the auth scheme): a client that capitalises them differently is served.
#[tokio::test]
async fn header_names_and_case_insensitive_values_are_read_in_any_case() {
    let pipeline = populated().await;
    let uploads = Arc::new(CountingUploads::default());
    let report = sarif_with_result(r#"{"ruleId":"case-test","message":{"text":"m"}}"#);

    let timestamp = now();
    let signature = sign(&Secret::new(SOURCE_SECRET), timestamp, report.as_bytes());
    let signed = post("/webhooks/ci", &report)
        .header("X-MUSTER-SIGNATURE", signature)
        .header("x-Muster-Timestamp", timestamp.to_string());
    let (status, body) = send(app(&pipeline, &uploads), signed).await;
    assert_eq!(
        (status, body["received"].as_u64()),
        (StatusCode::ACCEPTED, Some(1)),
        "{body}"
    );

    let gzipped = post("/webhooks/local", gzip(report.as_bytes()))
        .header("Content-Encoding", "GZip")
        .header("Content-Type", "Application/JSON; Charset=UTF-8");
    let (status, body) = send(app(&pipeline, &uploads), gzipped).await;
    assert_eq!(
        (status, body["received"].as_u64()),
        (StatusCode::ACCEPTED, Some(1)),
        "{body}"
    );

    let gate = get("/gate?max_new_tier=P1").header("AUTHORIZATION", format!("bEaReR {READ_TOKEN}"));
    let (status, body) = send(app(&pipeline, &uploads), gate).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["passed"].is_boolean(), "{body}");
}
