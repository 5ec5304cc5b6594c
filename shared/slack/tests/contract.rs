//! Contract tests: `SlackChat` against Prism validating Slack's own Web API description.
//!
//! `prism mock` answers from the spec's examples (success, 401 without a token, and Slack's
//! `ok:false` shape via `Prefer: example=error`). Sequences a static mock cannot play (429
//! with Retry-After, `rate_limited`, 5xx then success, `channel_not_found`) come from a
//! scripted stub behind `prism proxy`, which refuses requests that break the contract and flags
//! stub replies that do. Each Prism starts once per test binary and dies with it.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use muster_core::GroupKey;
use muster_core::Tier;
use muster_core::ports::{ChatMessage, ChatSink, SinkError};
use muster_core::retry::RetryPolicy;
use muster_slack::{AlertView, PostedMessage, SlackChat, SlackSettings, alert_blocks};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "xoxb-test-0000";
/// What Prism logs for a request without `Authorization: Bearer`.
const MISSING_TOKEN_VIOLATION: &str = "Invalid security scheme used";

/// Where `prepare.sh` put Prism and the prepped specs; `None` (after saying so) when not
/// prepared locally. In CI (`CI` set) a missing preparation fails the test.
fn mocks_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MUSTER_CONTRACT_MOCKS").map(PathBuf::from);
    match dir {
        Some(dir) if dir.join("node_modules/.bin/prism").exists() && dir.join("specs/slack.json").exists() => Some(dir),
        _ if std::env::var_os("CI").is_some() => {
            panic!("MUSTER_CONTRACT_MOCKS must name a prepared contract-mocks directory in CI")
        }
        _ => {
            eprintln!("skipped: MUSTER_CONTRACT_MOCKS not prepared");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prism

/// Runs Prism and kills it when the test process exits (statics are never dropped).
const WATCHDOG: &str = r#"
prism="$1"; parent="$2"; shift 2
"$prism" "$@" & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done
kill $child 2>/dev/null
"#;

struct Prism {
    /// Slack-style base URL: `http://127.0.0.1:PORT/api/`.
    api_url: String,
    port: u16,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Prism {
    /// `prism mock SPEC` (no upstream) or `prism proxy SPEC UPSTREAM`, on a free port.
    fn start(mocks: &Path, upstream: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = mocks.join("specs/slack.json");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("prism-watchdog")
            .arg(mocks.join("node_modules/.bin/prism"))
            .arg(std::process::id().to_string());
        match upstream {
            Some(upstream) => command.arg("proxy").arg(&spec).arg(upstream),
            None => command.arg("mock").arg(&spec),
        };
        let mut child = command
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--errors"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prism");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready, listening) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Prism is listening") {
                    let _ = ready.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        if listening.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            panic!("prism did not start: {:?}", log.lock().unwrap());
        }
        Self {
            api_url: format!("http://127.0.0.1:{port}/api/"),
            port,
            child,
            log,
        }
    }

    /// Requests Prism refused and replies that broke the spec. A status the spec does not list
    /// (429, 503 sent on purpose) is not a problem.
    fn problems(&self) -> Vec<String> {
        // Prism logs a response's verdict just after sending it.
        std::thread::sleep(Duration::from_millis(300));
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| {
                (line.contains("Violation") && !line.contains("Unable to match the returned status code"))
                    || line.contains("Request terminated with error")
                    || line.contains("UNPROCESSABLE_ENTITY")
            })
            .cloned()
            .collect()
    }

    fn assert_contract_kept(&self) {
        self.assert_contract_kept_but(None);
    }

    /// `assert_contract_kept`, tolerating the one violation another test in this binary causes
    /// on purpose (the shared log mixes tests). Safe because the test itself asserts success,
    /// which `--errors` would have turned into a 401/422.
    fn assert_contract_kept_but(&self, expected_elsewhere: Option<&str>) {
        let mut problems = self.problems();
        problems.retain(|line| expected_elsewhere.is_none_or(|expected| !line.contains(expected)));
        assert!(problems.is_empty(), "contract violations:\n{}", problems.join("\n"));
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        // TERM, not KILL: the watchdog traps it and stops Prism too.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn mock() -> Option<&'static Prism> {
    static MOCK: OnceLock<Option<Prism>> = OnceLock::new();
    MOCK.get_or_init(|| mocks_dir().map(|dir| Prism::start(&dir, None)))
        .as_ref()
}

// ---------------------------------------------------------------------------------------------
// Scripted stub behind `prism proxy`

/// One request as the stub saw it, so it passed Prism's request validation.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    body: Value,
    delay: Duration,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            retry_after: None,
            body,
            delay: Duration::ZERO,
        }
    }
    fn status(status: u16, body: Value) -> Self {
        Self {
            status,
            ..Self::ok(body)
        }
    }
}

/// Replies scripted per channel (tests run in parallel, each on its own channel), requests
/// recorded per channel. Unscripted requests succeed.
#[derive(Default)]
struct Script {
    replies: HashMap<String, VecDeque<Reply>>,
    seen: HashMap<String, Vec<Seen>>,
}

struct Proxied {
    prism: Prism,
    script: Arc<Mutex<Script>>,
}

impl Proxied {
    fn script(&self, channel: &str, replies: Vec<Reply>) {
        self.script
            .lock()
            .unwrap()
            .replies
            .insert(channel.to_owned(), replies.into());
    }

    fn seen(&self, channel: &str) -> Vec<Seen> {
        self.script
            .lock()
            .unwrap()
            .seen
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }
}

fn proxied() -> Option<&'static Proxied> {
    static PROXIED: OnceLock<Option<Proxied>> = OnceLock::new();
    PROXIED
        .get_or_init(|| {
            let dir = mocks_dir()?;
            let script = Arc::new(Mutex::new(Script::default()));
            let stub = start_stub(script.clone());
            Some(Proxied {
                prism: Prism::start(&dir, Some(&stub)),
                script,
            })
        })
        .as_ref()
}

/// Serves on 127.0.0.1:0 from its own thread and runtime, so it outlives each test's runtime.
fn start_stub(script: Arc<Mutex<Script>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(stub).with_state(script);
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

async fn stub(
    State(script): State<Arc<Mutex<Script>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let channel = body["channel"].as_str().unwrap_or_default().to_owned();
    let seen = Seen {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    };
    let reply = {
        let mut script = script.lock().unwrap();
        script.seen.entry(channel.clone()).or_default().push(seen.clone());
        script.replies.get_mut(&channel).and_then(VecDeque::pop_front)
    };
    let reply = reply.unwrap_or_else(|| Reply::ok(success(&seen.path)));
    tokio::time::sleep(reply.delay).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(retry_after) = reply.retry_after {
        headers.insert("retry-after", HeaderValue::from_static(retry_after));
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        reply.body.to_string(),
    )
        .into_response()
}

/// Slack's success answers, shaped as the spec requires.
fn success(path: &str) -> Value {
    if path.ends_with("chat.update") {
        json!({"ok": true, "channel": "C0MUSTER1", "ts": "1700000000.000100", "text": "updated",
               "message": {"text": "updated"}})
    } else {
        json!({"ok": true, "channel": "C0MUSTER1", "ts": "1700000000.000100",
               "message": {"type": "message", "text": "posted", "ts": "1700000000.000100"}})
    }
}

fn slack_error(code: &str) -> Value {
    json!({"ok": false, "error": code})
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn chat(api_url: &str, token: &str) -> SlackChat {
    SlackChat::new(SlackSettings {
        api_url: api_url.to_owned(),
        token: token.to_owned(),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
    })
    .unwrap()
}

fn alert_message(channel: &str) -> ChatMessage {
    let view = AlertView {
        tier: Tier::P1,
        title: "openssl 3.0.7 in payments-api".into(),
        fix: "Upgrade openssl to 3.0.13".into(),
        due: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        ticket_url: Some("https://acme.atlassian.net/browse/PAY-12".into()),
        ticket_key: Some("PAY-12".into()),
        evidence: vec!["CVE-2023-0286 (KEV)".into()],
        group_key: GroupKey::parse("payments/img:1/pkg:openssl").unwrap(),
        actions: Default::default(),
    };
    ChatMessage {
        channel: channel.to_owned(),
        dedupe_key: format!("alert:{channel}"),
        text: "P1 openssl 3.0.7 in payments-api: upgrade to 3.0.13".into(),
        blocks: Some(alert_blocks(&view)),
        card: None,
        digest: None,
    }
}

/// Relays one connection to `upstream`, adding `Prefer: example=error` to the request head,
/// since the client (rightly) has no way to send extra headers.
async fn prefer_error_relay(upstream_port: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let first_line = head.iter().position(|b| *b == b'\n').unwrap() + 1;
                head.splice(first_line..first_line, b"Prefer: example=error\r\n".iter().copied());
                let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port))
                    .await
                    .unwrap();
                upstream.write_all(&head).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    url
}

// ---------------------------------------------------------------------------------------------
// Against `prism mock`

#[tokio::test]
async fn post_with_alert_blocks_keeps_the_contract_and_returns_where_it_went() {
    let Some(prism) = mock() else { return };
    // GIVEN
    let chat = chat(&prism.api_url, TOKEN);
    // WHEN
    let posted = chat.post_message(&alert_message("C0SECURITY")).await;
    // THEN: the spec's example answer, so Prism accepted the request.
    assert_eq!(
        posted.unwrap(),
        PostedMessage {
            channel: "C1H9RESGL".into(),
            ts: "1503435956.000247".into()
        }
    );
    prism.assert_contract_kept_but(Some(MISSING_TOKEN_VIOLATION));
}

#[tokio::test]
async fn chat_sink_post_and_update_keep_the_contract() {
    let Some(prism) = mock() else { return };
    let chat = chat(&prism.api_url, TOKEN);
    ChatSink::post(&chat, &alert_message("#payments-alerts")).await.unwrap();
    let updated = chat
        .update(
            "C1H9RESGL",
            "1503435956.000247",
            "Acknowledged by @amy",
            Some(&json!([])),
        )
        .await
        .unwrap();
    assert_eq!(updated.ts, "1401383885.000061");
    prism.assert_contract_kept_but(Some(MISSING_TOKEN_VIOLATION));
}

#[tokio::test]
async fn missing_token_gets_401_and_is_rejected_with_what_to_do() {
    let Some(prism) = mock() else { return };
    let chat = chat(&prism.api_url, "");
    let error = chat.post_message(&alert_message("C0SECURITY")).await.unwrap_err();
    let SinkError::Rejected(message) = error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("xoxb- token"), "{message}");
    assert!(
        prism
            .problems()
            .iter()
            .any(|line| line.contains(MISSING_TOKEN_VIOLATION))
    );
}

#[tokio::test]
async fn slack_ok_false_answer_is_rejected_naming_the_error() {
    let Some(prism) = mock() else { return };
    // GIVEN Prism answering with the spec's error example (HTTP 200, ok:false)
    let relay = prefer_error_relay(prism.port).await;
    let chat = chat(&relay, TOKEN);
    // WHEN
    let error = chat.post_message(&alert_message("C0SECURITY")).await.unwrap_err();
    // THEN
    let SinkError::Rejected(message) = error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert!(
        message.starts_with("slack chat.postMessage to C0SECURITY: too_many_attachments — "),
        "{message}"
    );
    prism.assert_contract_kept_but(Some(MISSING_TOKEN_VIOLATION));
}

// ---------------------------------------------------------------------------------------------
// Against the scripted stub behind `prism proxy`

#[tokio::test]
async fn post_sends_json_with_bearer_token_blocks_and_no_unfurling() {
    let Some(proxy) = proxied() else { return };
    let chat = chat(&proxy.prism.api_url, TOKEN);
    let message = alert_message("C0BODY001");
    let posted = chat.post_message(&message).await.unwrap();
    assert_eq!(posted.ts, "1700000000.000100");
    let seen = proxy.seen("C0BODY001");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/chat.postMessage");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer xoxb-test-0000"));
    assert_eq!(
        seen[0].body,
        json!({"channel": "C0BODY001", "text": message.text, "blocks": message.blocks, "unfurl_links": false})
    );
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn long_429_is_handed_back_as_rate_limited_with_retry_after() {
    let Some(proxy) = proxied() else { return };
    proxy.script(
        "C0RATE429",
        vec![Reply {
            retry_after: Some("30"),
            ..Reply::status(429, slack_error("rate_limited"))
        }],
    );
    let started = Instant::now();
    let error = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0RATE429"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SinkError::RateLimited { retry_after } if retry_after == Duration::from_secs(30)),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slept inside: {:?}",
        started.elapsed()
    );
    assert_eq!(proxy.seen("C0RATE429").len(), 1);
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn short_429_is_waited_out_inside_then_posts() {
    let Some(proxy) = proxied() else { return };
    proxy.script(
        "C0RATESHORT",
        vec![Reply {
            retry_after: Some("1"),
            ..Reply::status(429, slack_error("rate_limited"))
        }],
    );
    let started = Instant::now();
    let posted = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0RATESHORT"))
        .await;
    assert_eq!(posted.unwrap().ts, "1700000000.000100");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "did not honour Retry-After"
    );
    assert_eq!(proxy.seen("C0RATESHORT").len(), 2);
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn ok_false_rate_limited_ends_as_rate_limited_after_bounded_attempts() {
    let Some(proxy) = proxied() else { return };
    proxy.script("C0RATEOK0", vec![Reply::ok(slack_error("rate_limited")); 5]);
    let error = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0RATEOK0"))
        .await
        .unwrap_err();
    assert!(matches!(error, SinkError::RateLimited { .. }), "{error:?}");
    // max_attempts = 3
    assert_eq!(proxy.seen("C0RATEOK0").len(), 3);
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn server_errors_are_retried_then_the_post_succeeds() {
    let Some(proxy) = proxied() else { return };
    proxy.script(
        "C0RETRY01",
        vec![
            Reply::status(503, slack_error("rate_limited")),
            Reply::status(500, slack_error("rate_limited")),
        ],
    );
    let posted = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0RETRY01"))
        .await;
    assert_eq!(posted.unwrap().channel, "C0MUSTER1");
    assert_eq!(proxy.seen("C0RETRY01").len(), 3);
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn persistent_server_errors_give_up_as_unknown() {
    let Some(proxy) = proxied() else { return };
    proxy.script("C0DOWN001", vec![Reply::status(503, slack_error("rate_limited")); 5]);
    let error = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0DOWN001"))
        .await
        .unwrap_err();
    let SinkError::Unknown(error) = error else {
        panic!("expected Unknown, got {error:?}")
    };
    assert!(error.to_string().contains("gave up after 3 attempts"), "{error}");
    assert_eq!(proxy.seen("C0DOWN001").len(), 3);
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn slow_answer_times_out_and_is_retried() {
    let Some(proxy) = proxied() else { return };
    proxy.script(
        "C0SLOW001",
        vec![Reply {
            delay: Duration::from_secs(2),
            ..Reply::ok(success("/api/chat.postMessage"))
        }],
    );
    let mut settings = SlackSettings::new(TOKEN);
    settings.api_url = proxy.prism.api_url.clone();
    settings.timeout = Duration::from_millis(700);
    settings.retry.first_backoff = Duration::from_millis(20);
    let posted = SlackChat::new(settings)
        .unwrap()
        .post_message(&alert_message("C0SLOW001"))
        .await;
    assert_eq!(posted.unwrap().ts, "1700000000.000100");
    assert_eq!(proxy.seen("C0SLOW001").len(), 2);
}

#[tokio::test]
async fn channel_not_found_is_rejected_at_once_with_a_hint() {
    let Some(proxy) = proxied() else { return };
    proxy.script("C0GONE001", vec![Reply::ok(slack_error("channel_not_found"))]);
    let error = chat(&proxy.prism.api_url, TOKEN)
        .post_message(&alert_message("C0GONE001"))
        .await
        .unwrap_err();
    let SinkError::Rejected(message) = error else {
        panic!("expected Rejected, got {error:?}")
    };
    assert_eq!(
        message,
        "slack chat.postMessage to C0GONE001: channel_not_found — invite the muster app to the channel or fix the channel name"
    );
    assert_eq!(proxy.seen("C0GONE001").len(), 1, "a refusal must not be retried");
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn update_sends_channel_ts_and_blocks() {
    let Some(proxy) = proxied() else { return };
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "Acknowledged by <@U1>"}}]);
    let updated = chat(&proxy.prism.api_url, TOKEN)
        .update("C0UPDATE1", "1700000000.000100", "Acknowledged", Some(&blocks))
        .await
        .unwrap();
    assert_eq!(updated.ts, "1700000000.000100");
    let seen = proxy.seen("C0UPDATE1");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/chat.update");
    assert_eq!(
        seen[0].body,
        json!({"channel": "C0UPDATE1", "ts": "1700000000.000100", "text": "Acknowledged", "blocks": blocks})
    );
    proxy.prism.assert_contract_kept();
}

#[tokio::test]
async fn the_sink_turns_cards_and_digests_into_block_kit_and_posts_each_key_once() {
    let Some(proxy) = proxied() else { return };
    // The embedded store keeps the ledger of what was sent, as in `muster serve`.
    let store = muster_local::SqliteStore::open_in_memory().unwrap();
    let sink = muster_slack::SlackOrOutbox {
        slack: Some(chat(&proxy.prism.api_url, TOKEN)),
        store: store.clone(),
    };
    // GIVEN an alert that carries its card, not blocks, as the notify stage sends it.
    let plain = alert_message("C0CARDS01");
    let card = muster_core::ports::AlertCard {
        tier: Tier::P1,
        title: "openssl 3.0.7 in payments-api".into(),
        fix: "upgrade to ≥ 3.0.13".into(),
        due: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        ticket_url: Some("https://acme.atlassian.net/browse/PAY-12".into()),
        ticket_key: Some("PAY-12".into()),
        evidence: vec!["in CISA KEV".into()],
        group_key: GroupKey::parse("payments/img:1/pkg:openssl").unwrap(),
        actions: Default::default(),
    };
    let alert = ChatMessage {
        blocks: None,
        card: Some(card.clone()),
        ..plain
    };
    let digest = ChatMessage {
        channel: "C0CARDS01".into(),
        dedupe_key: "digest:C0CARDS01:2026-12-01".into(),
        text: "SLA digest".into(),
        blocks: None,
        card: None,
        digest: Some(muster_core::ports::ChatDigest {
            title: "SLA digest, week to 2026-12-01".into(),
            sections: vec![("payments".into(), vec!["open: 3 P1".into(), "breached: 1".into()])],
        }),
    };

    // WHEN each is posted twice (a redelivery)
    for message in [&alert, &alert, &digest, &digest] {
        ChatSink::post(&sink, message).await.unwrap();
    }

    // THEN Slack saw two requests, the card as the same blocks `alert_blocks` renders, with
    // its buttons, and the digest as a header and a section per team.
    let seen = proxy.seen("C0CARDS01");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].body["blocks"], alert_blocks(&card));
    let buttons: Vec<&str> = seen[0].body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert!(buttons.contains(&"ack") && buttons.contains(&"not_mine"), "{buttons:?}");
    let digest_blocks = seen[1].body["blocks"].as_array().unwrap();
    assert_eq!(digest_blocks[0]["type"], "header");
    assert!(seen[1].body["blocks"].to_string().contains("breached: 1"));
    let ledger = muster_core::ports::OutboxStore::outbox(&store).await.unwrap();
    assert_eq!(ledger.len(), 2, "one ledger entry per key: {ledger:?}");
    proxy.prism.assert_contract_kept();
}
