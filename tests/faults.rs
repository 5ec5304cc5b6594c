//! Fault injection over the real adapters: what reaches the vendors when Jira and Slack answer
//! 429, 500 or 503, hang past the client's timeout, lose a reply or reset the connection; when
//! DynamoDB throttles or leaves a batch unprocessed; when racing workers claim one group; when
//! a worker dies mid-batch. Each scenario ends by counting at the vendor: every finding stored,
//! exactly one issue per group, exactly one chat message per notification, and what could not
//! be done visible as a dead letter (embedded) or in the SQS DLQ (AWS) with its error.
//!
//! A small fault-injecting HTTP proxy sits between muster's real clients (reqwest for Jira,
//! octocrab for GitHub, slack-morphism for Slack, the AWS SDK for DynamoDB) and the "vendor": the
//! stateful Jira and GitHub stubs of the tracker contract tests (behind Prism when
//! `MUSTER_CONTRACT_MOCKS` is prepared; GitHub only then), a counting Slack stub, moto_server.
//! Each scenario prints a row `| fault | injected | outcome |` (and appends it to
//! `$MUSTER_FAULTS_REPORT` when set); RELIABILITY.md summarises them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use muster_aws::aws_sdk_dynamodb;
use muster_aws::aws_sdk_sqs::types::QueueAttributeName;
use muster_aws::lambda::handle_sqs;
use muster_aws::{DynamoStore, QueueUrls, SqsQueue};
use muster_core::Config;
use muster_core::messages::Message;
use muster_core::model::GroupKey;
use muster_core::outbox::OutboxTickets;
use muster_core::ownership::parse_owners_yaml;
use muster_core::ports::{Clock, DeadLetter, DeadLetterStore, FindingFilter, Queue, QueueError, Store, group_marker};
use muster_core::retry::RetryPolicy;
use muster_core::services::Pipeline;
use muster_core::services::context::import_ownership;
use muster_local::{LocalQueue, SqliteStore};
use muster_slack::{SlackChat, SlackOrOutbox, SlackSettings};
use muster_tests::{at, moto, sqs_event_json};
use muster_trackers::{GitHubSettings, GitHubSink, JiraSettings, JiraSink, TrackerRouter, search_label};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[allow(dead_code)]
#[path = "../shared/trackers/tests/support/mod.rs"]
mod support;

use support::github::GitHub;
use support::jira::Jira;
use support::{Harness, Prism, Stub, mocks_dir};

// ---------------------------------------------------------------------------------------------
// The fault-injecting proxy

/// What the proxy does to a request a rule matches.
#[derive(Clone)]
enum Fault {
    /// Answers by itself: the vendor never sees the request.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Holds the request past the client's timeout and never forwards it: a vendor too slow to
    /// even start.
    Hang(Duration),
    /// Forwards the request, then holds the vendor's answer this long: the call happened, its
    /// reply is lost. `reached` is told once the vendor has acted.
    LostReply {
        hold: Duration,
        reached: Option<Arc<Notify>>,
    },
    /// Reads the request, then resets the connection (RST) without a word.
    Reset,
    /// DynamoDB BatchWriteItem answered "nothing written": every item back as `UnprocessedItems`.
    Unprocessed,
}

impl Fault {
    /// An error status with Jira's error body.
    fn status(status: u16, retry_after: Option<&str>) -> Self {
        let body = json!({ "errorMessages": [format!("injected {status}")], "errors": {} });
        Self::answer(status, retry_after, "application/json", body.to_string())
    }

    /// An error status as Slack sends it: `ok:false` JSON for a rate limit, a plain page for 5xx.
    fn slack(status: u16, retry_after: Option<&str>) -> Self {
        match status {
            429 => Self::answer(
                status,
                retry_after,
                "application/json; charset=utf-8",
                json!({ "ok": false, "error": "ratelimited" }).to_string(),
            ),
            _ => Self::answer(status, retry_after, "text/plain", format!("injected {status}")),
        }
    }

    fn answer(status: u16, retry_after: Option<&str>, content_type: &str, body: String) -> Self {
        let mut headers = vec![("content-type", content_type.to_owned())];
        if let Some(wait) = retry_after {
            headers.push(("retry-after", wait.to_owned()));
        }
        Self::Answer { status, headers, body }
    }

    /// A DynamoDB error as the service sends it (JSON 1.0 `__type`).
    fn dynamo(kind: &str) -> Self {
        Self::Answer {
            status: 400,
            headers: vec![
                ("content-type", "application/x-amz-json-1.0".to_owned()),
                ("x-amzn-errortype", kind.to_owned()),
            ],
            body: json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": "injected by tests/faults.rs" })
                .to_string(),
        }
    }
}

/// Requests a fault applies to: method, a prefix of the request target, and optionally a text
/// found in the body or the `x-amz-target` header. The first `skip` matches pass untouched, the
/// next `times` get the fault.
struct Rule {
    method: &'static str,
    path: &'static str,
    contains: Option<String>,
    skip: usize,
    times: usize,
    fault: Fault,
}

impl Rule {
    fn new(method: &'static str, path: &'static str, times: usize, fault: Fault) -> Self {
        Self {
            method,
            path,
            contains: None,
            skip: 0,
            times,
            fault,
        }
    }

    fn containing(mut self, text: &str) -> Self {
        self.contains = Some(text.to_owned());
        self
    }

    fn after(mut self, skip: usize) -> Self {
        self.skip = skip;
        self
    }
}

/// Faults forever (until `clear`).
const ALWAYS: usize = usize::MAX;

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Default)]
struct ProxyState {
    rules: Vec<Rule>,
    injected: usize,
    /// Conditional writes the upstream (moto) refused: real races, not injected.
    conditional_failures: usize,
}

impl ProxyState {
    fn take(&mut self, request: &Request) -> Option<Fault> {
        let haystack = format!(
            "{} {}",
            request.header("x-amz-target").unwrap_or_default(),
            String::from_utf8_lossy(&request.body)
        );
        let rule = self.rules.iter_mut().find(|rule| {
            rule.times > 0
                && rule.method == request.method
                && request.target.starts_with(rule.path)
                && rule.contains.as_deref().is_none_or(|text| haystack.contains(text))
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.times -= 1;
        self.injected += 1;
        Some(rule.fault.clone())
    }
}

/// Where the proxy sends what it lets through.
#[derive(Clone)]
enum Upstream {
    Url(String),
    /// A counting Slack: every `chat.postMessage` body, in order.
    Slack(Arc<Mutex<Vec<Value>>>),
}

struct FaultProxy {
    url: String,
    state: Arc<Mutex<ProxyState>>,
}

impl FaultProxy {
    /// Serves on 127.0.0.1:0 from its own thread and runtime, so it outlives each test's runtime
    /// and keeps answering while a test's worker is cut off mid-call.
    fn start(upstream: Upstream) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client = reqwest::Client::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve(stream, shared.clone(), upstream.clone(), client.clone()));
                }
            });
        });
        Self { url, state }
    }

    fn inject(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// The fault is over: everything goes through from now on.
    fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    fn injected(&self) -> usize {
        self.state.lock().unwrap().injected
    }

    fn conditional_failures(&self) -> usize {
        self.state.lock().unwrap().conditional_failures
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<ProxyState>>, upstream: Upstream, client: reqwest::Client) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let fault = state.lock().unwrap().take(&request);
        let answer = match fault {
            None => {
                let answer = forward(&client, &upstream, &request).await;
                if answer.status == 400 && String::from_utf8_lossy(&answer.body).contains("ConditionalCheckFailed") {
                    state.lock().unwrap().conditional_failures += 1;
                }
                answer
            }
            Some(Fault::Answer { status, headers, body }) => Answer {
                status,
                headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                body: body.into_bytes(),
            },
            Some(Fault::Hang(hold)) => {
                tokio::time::sleep(hold).await;
                return;
            }
            Some(Fault::LostReply { hold, reached }) => {
                let answer = forward(&client, &upstream, &request).await;
                if let Some(reached) = reached {
                    reached.notify_one();
                }
                tokio::time::sleep(hold).await;
                answer
            }
            Some(Fault::Reset) => {
                // SO_LINGER 0: closing sends RST instead of FIN, as a crashed peer or a
                // middlebox would.
                let _ = stream.set_zero_linger();
                return;
            }
            Some(Fault::Unprocessed) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                Answer {
                    status: 200,
                    headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
                    body: json!({ "UnprocessedItems": body["RequestItems"] })
                        .to_string()
                        .into_bytes(),
                }
            }
        };
        if write_answer(&mut stream, &answer).await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request off a kept-alive connection; `None` when the peer closed it.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut first = lines.next()?.split(' ');
            let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            assert!(
                !headers.iter().any(|(k, _)| k == "transfer-encoding"),
                "the proxy reads sized bodies only: {head}"
            );
            while buffer.len() < end + 4 + length {
                read_more(stream, buffer).await?;
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Some(Request {
                method,
                target,
                headers,
                body,
            });
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0_u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(read) => {
            buffer.extend_from_slice(&chunk[..read]);
            Some(())
        }
    }
}

async fn write_answer(stream: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let reason = axum::http::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", answer.body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&answer.body).await?;
    stream.flush().await
}

async fn forward(client: &reqwest::Client, upstream: &Upstream, request: &Request) -> Answer {
    let base = match upstream {
        Upstream::Slack(posts) => return slack_answer(posts, request),
        Upstream::Url(base) => base,
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = client.request(method, format!("{base}{}", request.target));
    for (name, value) in &request.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "keep-alive" | "transfer-encoding"
        ) {
            builder = builder.header(name, value);
        }
    }
    match builder.body(request.body.clone()).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter(|(name, _)| {
                    !matches!(
                        name.as_str(),
                        "content-length" | "connection" | "keep-alive" | "transfer-encoding"
                    )
                })
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Answer { status, headers, body }
        }
        Err(error) => Answer {
            status: 502,
            headers: vec![],
            body: format!("proxy could not reach {base}: {error}").into_bytes(),
        },
    }
}

/// Slack's side of `chat.postMessage`: records the message, answers where it went.
fn slack_answer(posts: &Mutex<Vec<Value>>, request: &Request) -> Answer {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let ts = {
        let mut posts = posts.lock().unwrap();
        if request.target.ends_with("/chat.postMessage") {
            posts.push(body.clone());
        }
        format!("1700000000.{:06}", posts.len())
    };
    let answer = json!({ "ok": true, "channel": "C0FAULTS1", "ts": ts, "message": { "text": body["text"], "ts": ts } });
    Answer {
        status: 200,
        headers: vec![("content-type".into(), "application/json; charset=utf-8".into())],
        body: answer.to_string().into_bytes(),
    }
}

// ---------------------------------------------------------------------------------------------
// The vendors and what the suite counts there

/// The Jira stand-in every test shares (each test has its own project): the stateful stub of
/// the contract tests, behind Prism's validation when the mocks are prepared.
struct JiraVendor {
    stub: Stub<Jira>,
    prism: Option<Prism>,
    url: String,
}

fn jira_vendor() -> &'static JiraVendor {
    static JIRA: OnceLock<JiraVendor> = OnceLock::new();
    JIRA.get_or_init(
        || match std::env::var_os("MUSTER_CONTRACT_MOCKS").and_then(|_| mocks_dir()) {
            Some(mocks) => {
                let Harness { stub, prism } = Harness::start(&mocks, "jira.json", Jira::default());
                let url = prism.url.clone();
                JiraVendor {
                    stub,
                    prism: Some(prism),
                    url,
                }
            }
            None => {
                let stub = Stub::start(Jira::default());
                let url = stub.url.clone();
                JiraVendor { stub, prism: None, url }
            }
        },
    )
}

impl JiraVendor {
    /// With Prism in front: no request muster sent broke Jira's API description.
    fn assert_contract_kept(&self) {
        if let Some(prism) = &self.prism {
            let problems = prism.problems();
            assert!(problems.is_empty(), "contract violations:\n{}", problems.join("\n"));
        }
    }
}

/// The GitHub stand-in (stub behind Prism), only when the contract mocks are prepared: its
/// replies are built from the spec's examples.
fn github_vendor() -> Option<&'static Harness<GitHub>> {
    static GITHUB: OnceLock<Option<Harness<GitHub>>> = OnceLock::new();
    GITHUB
        .get_or_init(|| {
            let mocks = std::env::var_os("MUSTER_CONTRACT_MOCKS").and_then(|_| mocks_dir())?;
            Some(Harness::start(&mocks, "github-issues.json", GitHub::new(&mocks)))
        })
        .as_ref()
}

/// Issues in `repo` carrying each group's marker, and all issues in `repo`; checks the contract.
fn github_issues(repo: &str, groups: &[GroupKey]) -> (BTreeMap<GroupKey, usize>, usize) {
    let github = github_vendor().expect("GitHub needs the contract mocks");
    github.assert_contract_kept();
    github.stub.with(|g| {
        let issues: Vec<&support::github::Issue> = g
            .repos
            .get(repo)
            .map(|r| r.issues.values().collect())
            .unwrap_or_default();
        let per_group = groups
            .iter()
            .map(|group| {
                let marker = group_marker(group);
                (
                    group.clone(),
                    issues.iter().filter(|i| i.body.contains(&marker)).count(),
                )
            })
            .collect();
        (per_group, issues.len())
    })
}

/// Issues in `project` carrying each group's search label.
fn issues_per_group(project: &str, groups: &[GroupKey]) -> BTreeMap<GroupKey, usize> {
    jira_vendor().stub.with(|jira| {
        groups
            .iter()
            .map(|group| {
                let label = search_label(group);
                let count = jira
                    .issues
                    .values()
                    .filter(|issue| issue.project == project && issue.labels().contains(&label))
                    .count();
                (group.clone(), count)
            })
            .collect()
    })
}

fn issues_in(project: &str) -> usize {
    jira_vendor()
        .stub
        .with(|jira| jira.issues.values().filter(|i| i.project == project).count())
}

/// Team channel messages per rule (each urgent group's title names its rule), and the count
/// posted to any other channel (the security channel's failure alerts).
fn posts(slack: &Mutex<Vec<Value>>) -> (BTreeMap<String, usize>, usize) {
    let posts = slack.lock().unwrap();
    let mut per_rule = BTreeMap::new();
    let mut elsewhere = 0;
    for post in posts.iter() {
        if post["channel"] != format!("#{TEAM}") {
            elsewhere += 1;
            continue;
        }
        let text = post["text"].as_str().unwrap_or_default();
        let rule = URGENT_RULES
            .iter()
            .find(|rule| text.contains(&format!("Fix {rule} in")))
            .unwrap_or_else(|| panic!("a team message about no urgent group: {text}"));
        *per_rule.entry((*rule).to_owned()).or_insert(0) += 1;
    }
    (per_rule, elsewhere)
}

// ---------------------------------------------------------------------------------------------
// The report every scenario sends

const TEAM: &str = "payments";
/// Critical rules: P2 groups, each announced in chat at once.
const URGENT_RULES: [&str; 3] = ["sqli-a", "sqli-b", "sqli-c"];
/// A medium rule: a P3 group, ticketed but not announced.
const QUIET_RULE: &str = "weak-hash";
const FINDINGS: usize = 7;
const GROUPS: usize = 4;

/// Three critical rules with two results each and one medium rule with one: seven findings,
/// four groups, three of them urgent.
fn report() -> Vec<u8> {
    let mut rules = Vec::new();
    let mut results = Vec::new();
    for rule in URGENT_RULES {
        rules.push(json!({ "id": rule, "defaultConfiguration": { "level": "error" }, "properties": { "security-severity": "9.8" } }));
        for file in ["src/db.py", "src/api.py"] {
            results.push(json!({
                "ruleId": rule, "level": "error", "message": { "text": format!("{rule} in {file}") },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": file }, "region": { "startLine": 12 } } }]
            }));
        }
    }
    rules.push(json!({ "id": QUIET_RULE, "defaultConfiguration": { "level": "warning" } }));
    results.push(json!({
        "ruleId": QUIET_RULE, "level": "warning", "message": { "text": "MD5 for passwords" },
        "locations": [{ "physicalLocation": { "artifactLocation": { "uri": "src/auth.py" }, "region": { "startLine": 40 } } }]
    }));
    serde_json::to_vec(&json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "semgrep", "rules": rules } }, "results": results }]
    }))
    .unwrap()
}

/// The team's tracker is the test's own Jira project, and its asset the test's own source
/// (named after the project): the tests share one Jira stub, whose marker search spans projects,
/// so group keys must differ between tests.
fn owners(project: &str, kind: Tracker) -> String {
    let asset = source(project);
    let tracker = match kind {
        Tracker::Jira => format!("jira: \"{project}\""),
        Tracker::GitHub => format!("github: \"{}\"", repo(project)),
    };
    format!(
        "default_team: security-triage\nteams:\n  - id: {TEAM}\n    tracker: {{ {tracker} }}\n  - id: security-triage\n\
         rules:\n  - team: {TEAM}\n    asset: {asset}\n"
    )
}

/// The test's GitHub repository, when its team is on GitHub.
fn repo(project: &str) -> String {
    format!("acme/{}", source(project))
}

/// Where the scenario's team keeps its tickets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tracker {
    Jira,
    GitHub,
}

/// The webhook source a test's reports come from; without version-control data it is also
/// the findings' asset.
fn source(project: &str) -> String {
    project.to_ascii_lowercase()
}

/// A clock the tests move: a worker restarted later sees claims age.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(at("2026-11-01T10:00:00Z"))))
    }

    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The sinks' per-request timeout in tests (production: 20 s trackers, 10 s Slack): short, yet
/// long enough for Prism's validation on a busy machine.
const SINK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a slow vendor holds a request: well past `SINK_TIMEOUT`.
const SLOW: Duration = Duration::from_secs(3);
/// GitHub's timeout: Prism validating GitHub's large description can take seconds per request,
/// and no GitHub scenario injects a timeout.
const GITHUB_TIMEOUT: Duration = Duration::from_secs(10);
/// The sinks' in-call retries, with production's attempt count and short waits.
const SINK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    first_backoff: Duration::from_millis(10),
    max_backoff: Duration::from_millis(50),
};
/// The queue's redeliveries (the embedded queue; SQS uses its visibility timeout).
const QUEUE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    first_backoff: Duration::from_millis(10),
    max_backoff: Duration::from_millis(100),
};

type Tickets<S> = TrackerRouter<OutboxTickets<S>>;
type Chat<S> = SlackOrOutbox<S>;

/// The real Jira and Slack sinks, pointed at the proxies, over `store`.
fn sinks<S: Clone>(store: &S, jira: &FaultProxy, slack: &FaultProxy) -> (Tickets<S>, Chat<S>) {
    let mut settings = JiraSettings::new(&jira.url, "bot@acme.test", "jira-token");
    settings.timeout = SINK_TIMEOUT;
    settings.retry = SINK_RETRY;
    let tickets = TrackerRouter {
        jira: Some(JiraSink::new(settings).unwrap()),
        github: None,
        outbox: OutboxTickets(store.clone()),
    };
    let mut settings = SlackSettings::new("xoxb-faults");
    settings.api_url = format!("{}/api/", slack.url);
    settings.timeout = SINK_TIMEOUT;
    settings.retry = SINK_RETRY;
    let chat = SlackOrOutbox {
        slack: Some(SlackChat::new(settings).unwrap()),
        store: store.clone(),
    };
    (tickets, chat)
}

/// One scenario's world: the pipeline, the proxies in front of Jira and Slack, what Slack got.
struct World<S, Q> {
    pipeline: Pipeline<S, Q, Tickets<S>, Chat<S>, TestClock>,
    /// In front of the team's tracker.
    tracker: FaultProxy,
    kind: Tracker,
    slack: FaultProxy,
    slack_posts: Arc<Mutex<Vec<Value>>>,
    project: String,
}

async fn world<S: Store + Clone, Q: Queue>(store: S, queue: Q, project: &str) -> World<S, Q> {
    world_on(store, queue, project, Tracker::Jira).await
}

async fn world_on<S: Store + Clone, Q: Queue>(store: S, queue: Q, project: &str, kind: Tracker) -> World<S, Q> {
    let upstream = match kind {
        Tracker::Jira => jira_vendor().url.clone(),
        Tracker::GitHub => github_vendor()
            .expect("GitHub needs the contract mocks")
            .prism
            .url
            .clone(),
    };
    let tracker = FaultProxy::start(Upstream::Url(upstream));
    let slack_posts = Arc::new(Mutex::new(Vec::new()));
    let slack = FaultProxy::start(Upstream::Slack(slack_posts.clone()));
    let (mut tickets, chat) = sinks(&store, &tracker, &slack);
    if kind == Tracker::GitHub {
        let mut settings = GitHubSettings::new("ghp_test");
        settings.api_url = tracker.url.clone();
        settings.timeout = GITHUB_TIMEOUT;
        settings.retry = SINK_RETRY;
        tickets.jira = None;
        tickets.github = Some(GitHubSink::new(settings).unwrap());
    }
    let pipeline = Pipeline {
        tickets,
        chat,
        store,
        queue,
        clock: TestClock::new(),
        config: Arc::new(Config::default()),
    };
    let owners = parse_owners_yaml(&owners(project, kind), "owners.yaml").unwrap();
    import_ownership(&pipeline.store, &pipeline.queue, owners)
        .await
        .unwrap();
    World {
        pipeline,
        tracker,
        kind,
        slack,
        slack_posts,
        project: project.to_owned(),
    }
}

impl<S: Store + Clone, Q: Queue> World<S, Q> {
    async fn ingest(&self) {
        let source = muster_core::SourceName::parse(&source(&self.project)).unwrap();
        let summary = self
            .pipeline
            .ingest(muster_core::IngestRequest {
                source: &source,
                format: None,
                event: None,
                bytes: &report(),
            })
            .await
            .expect("the report ingests");
        assert_eq!(summary.received, FINDINGS as u64, "{summary:?}");
    }

    /// The final state, counted at the store and at the vendors.
    async fn observe(&self) -> Observed {
        let findings = self
            .pipeline
            .store
            .list_findings(&FindingFilter::default())
            .await
            .unwrap();
        let groups: Vec<GroupKey> = findings
            .iter()
            .filter_map(|f| f.group().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (posts_per_rule, posts_elsewhere) = posts(&self.slack_posts);
        let (issues, issues_in_project) = match self.kind {
            Tracker::Jira => {
                jira_vendor().assert_contract_kept();
                (issues_per_group(&self.project, &groups), issues_in(&self.project))
            }
            Tracker::GitHub => github_issues(&repo(&self.project), &groups),
        };
        Observed {
            findings: findings.len(),
            triaged: findings.iter().filter(|f| f.triage.is_some()).count(),
            issues,
            issues_in_project,
            posts_per_rule,
            posts_elsewhere,
            dead_letters: self.pipeline.store.dead_letters().await.unwrap(),
            chat_ledger: self
                .pipeline
                .store
                .outbox()
                .await
                .unwrap()
                .iter()
                .filter(|e| e.kind == "chat" && e.target == format!("#{TEAM}"))
                .count(),
        }
    }
}

#[derive(Debug)]
struct Observed {
    findings: usize,
    triaged: usize,
    issues: BTreeMap<GroupKey, usize>,
    issues_in_project: usize,
    posts_per_rule: BTreeMap<String, usize>,
    posts_elsewhere: usize,
    dead_letters: Vec<DeadLetter>,
    chat_ledger: usize,
}

impl Observed {
    /// Every finding stored and triaged, exactly one issue per group and nothing else in the
    /// project, exactly one team message per urgent group, no dead letter left.
    /// ... and the outbox ledger records each message once.
    fn assert_complete(&self) {
        self.assert_delivered();
        assert_eq!(self.chat_ledger, URGENT_RULES.len(), "{self:#?}");
    }

    fn assert_delivered(&self) {
        self.assert_findings_and_tickets();
        let expected: BTreeMap<String, usize> = URGENT_RULES.iter().map(|r| ((*r).to_owned(), 1)).collect();
        assert_eq!(self.posts_per_rule, expected, "one message per notification: {self:#?}");
        assert!(self.dead_letters.is_empty(), "{self:#?}");
    }

    fn assert_findings_and_tickets(&self) {
        assert_eq!((self.findings, self.triaged), (FINDINGS, FINDINGS), "{self:#?}");
        assert_eq!(self.issues.len(), GROUPS, "{self:#?}");
        assert!(self.issues.values().all(|n| *n == 1), "one issue per group: {self:#?}");
        assert_eq!(self.issues_in_project, GROUPS, "{self:#?}");
    }

    fn outcome(&self) -> String {
        let posts: usize = self.posts_per_rule.values().sum();
        format!(
            "{}/{FINDINGS} findings, {} issues for {} groups, {posts} messages for {} notifications",
            self.findings,
            self.issues_in_project,
            self.issues.len(),
            URGENT_RULES.len()
        )
    }
}

/// Prints the scenario's row of the RELIABILITY.md table, and appends it to
/// `$MUSTER_FAULTS_REPORT` when set.
fn row(fault: &str, injected: usize, outcome: &str) {
    let line = format!("| {fault} | {injected} | {outcome} |");
    println!("{line}");
    if let Some(path) = std::env::var_os("MUSTER_FAULTS_REPORT") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Embedded: SQLite and the in-process queue

type Embedded = World<SqliteStore, LocalQueue>;

async fn embedded(project: &str) -> Embedded {
    world(
        SqliteStore::open_in_memory().unwrap(),
        LocalQueue::new(QUEUE_RETRY),
        project,
    )
    .await
}

impl Embedded {
    async fn drain(&self) -> muster_local::DrainReport {
        self.pipeline.queue.drain(&self.pipeline, |_, _| {}).await
    }

    /// What `muster retry` does (cli/src/main.rs): the dead letters' messages run again, then
    /// are forgotten.
    async fn retry_dead_letters(&self) {
        let letters = self.pipeline.store.dead_letters().await.unwrap();
        self.pipeline
            .queue
            .send(letters.iter().map(|l| l.message.clone()).collect())
            .await
            .unwrap();
        let report = self.drain().await;
        assert_eq!(report.dead_lettered, 0, "{report:?}");
        for letter in letters {
            self.pipeline.store.remove_dead_letter(letter.id).await.unwrap();
        }
    }
}

const CREATE: &str = "/rest/api/3/issue";
const SEARCH: &str = "/rest/api/3/search/jql";
const POST_MESSAGE: &str = "/api/chat.postMessage";

/// What one transient scenario did: its world, the queue's report, how long it took.
struct Run {
    world: Embedded,
    report: muster_local::DrainReport,
    elapsed: Duration,
}

/// Runs one embedded scenario with `rules` on Jira and Slack; asserts the complete final state.
async fn transient(project: &str, fault: &str, jira: Vec<Rule>, slack: Vec<Rule>) -> Run {
    let world = embedded(project).await;
    for rule in jira {
        world.tracker.inject(rule);
    }
    for rule in slack {
        world.slack.inject(rule);
    }
    let started = std::time::Instant::now();
    world.ingest().await;
    let report = world.drain().await;
    let observed = world.observe().await;
    observed.assert_complete();
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    let injected = world.tracker.injected() + world.slack.injected();
    row(
        fault,
        injected,
        &format!(
            "{}; {} stage retries, {:.1} s",
            observed.outcome(),
            report.retried,
            started.elapsed().as_secs_f64()
        ),
    );
    Run {
        world,
        report,
        elapsed: started.elapsed(),
    }
}

#[tokio::test]
async fn jira_429_with_retry_after_is_waited_out_and_opens_one_issue_per_group() {
    let fault = Fault::status(429, Some("1"));
    let run = transient(
        "FLTRA",
        "Jira create → 429, Retry-After: 1",
        vec![Rule::new("POST", CREATE, 2, fault)],
        vec![],
    )
    .await;
    assert_eq!(run.world.tracker.injected(), 2, "the rate limit was met");
    // Honoured inside the call: the queue saw no failure, and the two waits were spent.
    assert_eq!(run.report.retried, 0, "{:?}", run.report);
    assert!(run.elapsed >= Duration::from_secs(2), "{:?}", run.elapsed);
}

#[tokio::test]
async fn jira_500_and_503_on_create_are_not_repeated_blindly_yet_end_with_one_issue() {
    let run = transient(
        "FLT5XX",
        "Jira create → 500, then 503 (may have happened)",
        vec![
            Rule::new("POST", CREATE, 1, Fault::status(500, None)),
            Rule::new("POST", CREATE, 1, Fault::status(503, None)),
        ],
        vec![],
    )
    .await;
    assert_eq!(run.world.tracker.injected(), 2);
    // Neither create was repeated inside the call: each went back to the queue.
    assert_eq!(run.report.retried, 2, "{:?}", run.report);
}

#[tokio::test]
async fn jira_503_on_the_marker_search_is_retried_inside_the_call() {
    // The first create is lost, so the next delivery searches; the search meets two 503s.
    let run = transient(
        "FLTSRCH",
        "Jira create → 503, then marker search → 503 ×2",
        vec![
            Rule::new("POST", CREATE, 1, Fault::status(503, None)),
            Rule::new("GET", SEARCH, 2, Fault::status(503, None)),
        ],
        vec![],
    )
    .await;
    assert_eq!(run.world.tracker.injected(), 3);
    // Only the create went back to the queue; the idempotent search was retried in the call.
    assert_eq!(run.report.retried, 1, "{:?}", run.report);
}

#[tokio::test]
async fn a_jira_create_whose_reply_is_lost_is_found_by_its_marker_not_doubled() {
    let lost = Fault::LostReply {
        hold: SLOW,
        reached: None,
    };
    transient(
        "FLTSLOW",
        "Jira create → created, reply after the timeout",
        vec![Rule::new("POST", CREATE, 2, lost)],
        vec![],
    )
    .await;
}

#[tokio::test]
async fn a_jira_that_hangs_before_acting_times_out_and_is_retried() {
    transient(
        "FLTHANG",
        "Jira create → no answer within the timeout (not created)",
        vec![Rule::new("POST", CREATE, 2, Fault::Hang(SLOW))],
        vec![],
    )
    .await;
}

#[tokio::test]
async fn jira_connection_resets_are_retried_by_the_queue() {
    transient(
        "FLTRST",
        "Jira create → connection reset",
        vec![Rule::new("POST", CREATE, 2, Fault::Reset)],
        vec![],
    )
    .await;
}

#[tokio::test]
async fn slack_429_with_and_without_retry_after_posts_each_message_once() {
    let run = transient(
        "FLTS429",
        "Slack post → 429, Retry-After: 1; then 429 without Retry-After",
        vec![],
        vec![
            Rule::new("POST", POST_MESSAGE, 1, Fault::slack(429, Some("1"))),
            Rule::new("POST", POST_MESSAGE, 1, Fault::slack(429, None)),
        ],
    )
    .await;
    // Both waited out inside the call (Retry-After, then Slack's 1 s default).
    assert_eq!(run.world.slack.injected(), 2);
    assert_eq!(run.report.retried, 0, "{:?}", run.report);
    assert!(run.elapsed >= Duration::from_secs(2), "{:?}", run.elapsed);
}

#[tokio::test]
async fn slack_500_and_503_are_retried_and_post_each_message_once() {
    transient(
        "FLTS5XX",
        "Slack post → 500, then 503",
        vec![],
        vec![
            Rule::new("POST", POST_MESSAGE, 1, Fault::slack(500, None)),
            Rule::new("POST", POST_MESSAGE, 1, Fault::slack(503, None)),
        ],
    )
    .await;
}

#[tokio::test]
async fn slack_hanging_and_resetting_are_retried_and_post_each_message_once() {
    transient(
        "FLTSHNG",
        "Slack post → no answer within the timeout; then connection reset ×2",
        vec![],
        vec![
            Rule::new("POST", POST_MESSAGE, 1, Fault::Hang(SLOW)),
            Rule::new("POST", POST_MESSAGE, 2, Fault::Reset),
        ],
    )
    .await;
}

#[tokio::test]
async fn github_secondary_rate_limits_and_5xx_on_reads_open_one_issue_per_group() {
    if github_vendor().is_none() {
        eprintln!("skipped: the GitHub stub needs MUSTER_CONTRACT_MOCKS");
        return;
    }
    // GIVEN GitHub fails the tier-label lookup twice (502) and answers the first two creates
    // with its secondary rate limit (403, Retry-After: 1)
    let project = "FLTGH";
    let world = world_on(
        SqliteStore::open_in_memory().unwrap(),
        LocalQueue::new(QUEUE_RETRY),
        project,
        Tracker::GitHub,
    )
    .await;
    let labels = format!("/repos/{}/labels", repo(project));
    let issues = format!("/repos/{}/issues", repo(project));
    world
        .tracker
        .inject(Rule::new("GET", leak(labels), 2, Fault::status(502, None)));
    let secondary = json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    });
    world.tracker.inject(Rule::new(
        "POST",
        leak(issues),
        2,
        Fault::answer(403, Some("1"), "application/json", secondary.to_string()),
    ));
    let started = std::time::Instant::now();

    // WHEN the report runs through
    world.ingest().await;
    let report = world.drain().await;

    // THEN both were absorbed inside the calls (the read retried, the refusal waited out) and
    // each group has one issue
    let observed = world.observe().await;
    observed.assert_complete();
    assert_eq!(world.tracker.injected(), 4);
    assert_eq!(report.retried, 0, "{report:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    row(
        "GitHub label lookup → 502 ×2; create → 403 secondary rate limit, Retry-After: 1 ×2",
        world.tracker.injected(),
        &format!(
            "{}; {} queue retries, {:.1} s",
            observed.outcome(),
            report.retried,
            started.elapsed().as_secs_f64()
        ),
    );
}

/// Rules match on `&'static str` paths; a test's own path lives as long as the test binary.
fn leak(path: String) -> &'static str {
    Box::leak(path.into_boxed_str())
}

#[tokio::test]
async fn jira_429_without_retry_after_goes_back_to_the_queue_for_a_minute() {
    // GIVEN Jira refuses the first create with a bare 429
    let world = world(SqliteStore::open_in_memory().unwrap(), StepQueue::default(), "FLT429").await;
    world
        .tracker
        .inject(Rule::new("POST", CREATE, 1, Fault::status(429, None)));

    // WHEN the queue runs (on virtual time: a wait asked for is recorded, not slept)
    world.ingest().await;
    let waits = world.pipeline.queue.run(&world.pipeline).await;

    // THEN the stage handed the rate limit back with the 60 s a bare 429 is given, and the
    // redelivery opened the issue: one per group, nothing lost
    assert_eq!(waits, vec![Duration::from_secs(60)]);
    let observed = world.observe().await;
    observed.assert_complete();
    row(
        "Jira create → 429 without Retry-After",
        world.tracker.injected(),
        &format!(
            "{}; handed back to the queue with a 60 s wait, not slept in the call",
            observed.outcome()
        ),
    );
}

#[tokio::test]
async fn jira_failing_for_good_leaves_dead_letters_with_the_error_then_retry_recovers() {
    // GIVEN Jira answers every create with 500
    let world = embedded("FLTDEAD").await;
    world
        .tracker
        .inject(Rule::new("POST", CREATE, ALWAYS, Fault::status(500, None)));

    // WHEN the report runs through, THEN each group's ticket message is a dead letter that says
    // why, the security channel gets one summary, and nothing reached the tracker
    world.ingest().await;
    let report = world.drain().await;
    let observed = world.observe().await;
    assert_eq!((observed.findings, observed.triaged), (FINDINGS, FINDINGS));
    assert_eq!(observed.issues_in_project, 0);
    assert_eq!(report.dead_lettered, GROUPS as u64, "{report:?}");
    assert_eq!(observed.dead_letters.len(), GROUPS, "{observed:#?}");
    for letter in &observed.dead_letters {
        assert_eq!(letter.message.kind(), "ticket");
        assert_eq!(letter.attempts, QUEUE_RETRY.max_attempts);
        assert!(letter.error.contains("returned HTTP 500"), "{}", letter.error);
    }
    assert_eq!(observed.posts_elsewhere, 1, "one aggregated alert: {observed:#?}");
    assert!(observed.posts_per_rule.is_empty());
    let injected = world.tracker.injected();

    // WHEN Jira recovers and `muster retry` runs, THEN everything lands once
    world.tracker.clear();
    world.retry_dead_letters().await;
    let recovered = world.observe().await;
    recovered.assert_complete();
    row(
        "Jira create → 500 on every attempt (permanent)",
        injected,
        &format!(
            "{GROUPS} dead letters with \"HTTP 500\", 1 alert to the security channel, 0 issues; \
             after `muster retry`: {}",
            recovered.outcome()
        ),
    );
}

#[tokio::test]
async fn slack_failing_for_good_leaves_dead_letters_then_retry_posts_once() {
    // GIVEN Slack answers every post to the team's channel with 500
    let world = embedded("FLTSDEAD").await;
    world
        .slack
        .inject(Rule::new("POST", POST_MESSAGE, ALWAYS, Fault::slack(500, None)).containing(&format!("\"#{TEAM}\"")));

    world.ingest().await;
    let report = world.drain().await;
    let observed = world.observe().await;
    observed.assert_findings_and_tickets();
    assert_eq!(report.dead_lettered, URGENT_RULES.len() as u64, "{report:?}");
    for letter in &observed.dead_letters {
        assert_eq!(letter.message.kind(), "notify");
        assert!(letter.error.contains("HTTP 500"), "{}", letter.error);
    }
    assert!(observed.posts_per_rule.is_empty());
    assert_eq!(observed.posts_elsewhere, 1, "one aggregated alert: {observed:#?}");
    let injected = world.slack.injected();

    world.slack.clear();
    world.retry_dead_letters().await;
    let recovered = world.observe().await;
    recovered.assert_complete();
    row(
        "Slack post → 500 on every attempt (permanent)",
        injected,
        &format!(
            "{} dead letters with \"HTTP 500\", 1 alert to the security channel; after `muster retry`: {}",
            URGENT_RULES.len(),
            recovered.outcome()
        ),
    );
}

#[tokio::test]
async fn a_slack_reply_lost_after_posting_is_the_one_known_duplicate() {
    // GIVEN Slack posts the first message but its reply never arrives
    let world = embedded("FLTSLOST").await;
    world.slack.inject(Rule::new(
        "POST",
        POST_MESSAGE,
        1,
        Fault::LostReply {
            hold: SLOW,
            reached: None,
        },
    ));
    world.ingest().await;
    let report = world.drain().await;
    let observed = world.observe().await;

    // THEN tickets are exact and no notification is lost; chat.postMessage has no idempotency
    // key, so the message whose reply was lost is posted again: at most one extra, recorded
    // once in the ledger
    observed.assert_findings_and_tickets();
    assert_eq!(report.dead_lettered, 0);
    assert_eq!(observed.chat_ledger, URGENT_RULES.len());
    assert!(URGENT_RULES.iter().all(|r| observed.posts_per_rule.get(*r) >= Some(&1)));
    let posted: usize = observed.posts_per_rule.values().sum();
    assert_eq!(posted, URGENT_RULES.len() + 1, "{observed:#?}");
    row(
        "Slack post → posted, reply after the timeout",
        world.slack.injected(),
        &format!("{}: known limit, see below", observed.outcome()),
    );
}

/// A queue on virtual time for the one wait too long to sleep in a test: runs messages in
/// order, and sets aside those whose stage asks to wait, recording the wait, until the rest is
/// done — what the embedded queue does after sleeping.
#[derive(Clone, Default)]
struct StepQueue(Arc<Mutex<VecDeque<Message>>>);

impl Queue for StepQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), QueueError> {
        self.0.lock().unwrap().extend(messages);
        Ok(())
    }
}

impl StepQueue {
    async fn run<S: Store + Clone>(
        &self,
        pipeline: &Pipeline<S, StepQueue, Tickets<S>, Chat<S>, TestClock>,
    ) -> Vec<Duration> {
        let mut waits = Vec::new();
        for _ in 0..5 {
            let mut later = Vec::new();
            loop {
                let next = self.0.lock().unwrap().pop_front();
                let Some(message) = next else { break };
                if let Err(error) = pipeline.handle(&message).await {
                    waits.push(
                        error
                            .retry_after()
                            .unwrap_or_else(|| panic!("unexpected failure: {error}")),
                    );
                    later.push(message);
                }
            }
            if later.is_empty() {
                break;
            }
            self.send(later).await.unwrap();
        }
        waits
    }
}

// ---------------------------------------------------------------------------------------------
// AWS: DynamoDB (through the proxy) and SQS on moto, the Lambda SQS handler

type Aws = World<DynamoStore, SqsQueue>;

/// SQS attempts before the DLQ (the template says 5; 2 keeps the test short).
const MAX_RECEIVES: u32 = 2;

struct AwsWorld {
    world: Aws,
    dynamo: FaultProxy,
    sqs: muster_aws::aws_sdk_sqs::Client,
    urls: QueueUrls,
    dlqs: QueueUrls,
}

/// A fresh table (reached through a fault proxy) and three queues with DLQs on moto; `None`
/// (skip) without moto.
async fn aws(project: &str) -> Option<AwsWorld> {
    let endpoint = moto::moto_endpoint()?;
    let dynamo = FaultProxy::start(Upstream::Url(endpoint.clone()));
    let table = moto::unique_name("faults");
    DynamoStore::create_table(&moto::dynamo_client(&endpoint), &table)
        .await
        .unwrap();
    // The SDK's standard retry (3 attempts, throttling included) with short waits.
    let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(&dynamo.url)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "faults",
        ))
        .retry_config(retry)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table).with_retry(RetryPolicy {
        max_attempts: 4,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    });
    let (sqs, urls, dlqs) = moto::sqs_queues_with_dlqs("faults", MAX_RECEIVES).await?;
    let world = world(store, SqsQueue::new(sqs.clone(), urls.clone()), project).await;
    Some(AwsWorld {
        world,
        dynamo,
        sqs,
        urls,
        dlqs,
    })
}

/// A received SQS message: id, receipt handle, body.
type Received = (String, String, String);

/// The stages of the pipeline, in order.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Triage,
    Ticket,
    Notify,
}

const STAGES: [Stage; 3] = [Stage::Triage, Stage::Ticket, Stage::Notify];

fn url(urls: &QueueUrls, stage: Stage) -> &str {
    match stage {
        Stage::Triage => &urls.triage,
        Stage::Ticket => &urls.ticket,
        Stage::Notify => &urls.notify,
    }
}

/// Visibility timeout for every receive: how soon a failed or cut-off batch comes back.
const VISIBILITY_SECONDS: i32 = 1;

impl AwsWorld {
    async fn receive(&self, queue: &str) -> Vec<Received> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .visibility_timeout(VISIBILITY_SECONDS)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| {
                (
                    m.message_id().unwrap().to_owned(),
                    m.receipt_handle().unwrap().to_owned(),
                    m.body().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Deletes what the handler did not report failed, as the event source mapping does.
    async fn ack(&self, queue: &str, batch: &[Received], response: &SqsBatchResponse) {
        let failed: BTreeSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for (id, handle, _) in batch {
            if !failed.contains(id.as_str()) {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn waiting(&self, queue: &str) -> usize {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = out.attributes().cloned().unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|name| attributes.get(name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0))
        .sum()
    }

    /// Plays Lambda's event source mappings for `stages` until their queues are empty: receive,
    /// run the batch through `handle_sqs`, delete what succeeded. Failed records come back after
    /// the visibility timeout, and after `MAX_RECEIVES` move to the DLQ. Returns the number of
    /// batch item failures.
    async fn pump(&self, stages: &[Stage]) -> usize {
        let mut failures = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut received = false;
            for stage in stages {
                let queue = url(&self.urls, *stage);
                let batch = self.receive(queue).await;
                if batch.is_empty() {
                    continue;
                }
                received = true;
                let response = handle_sqs(&self.world.pipeline, sqs_event(&batch))
                    .await
                    .expect("the batch is handled");
                failures += response.batch_item_failures.len();
                self.ack(queue, &batch, &response).await;
            }
            if received {
                continue;
            }
            let mut left = 0;
            for stage in stages {
                left += self.waiting(url(&self.urls, *stage)).await;
            }
            if left == 0 {
                return failures;
            }
            assert!(std::time::Instant::now() < deadline, "{left} messages never drained");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn dead(&self, stage: Stage) -> Vec<Message> {
        let queue = url(&self.dlqs, stage);
        let mut messages = Vec::new();
        loop {
            let batch = self.receive(queue).await;
            if batch.is_empty() {
                return messages;
            }
            for (_, handle, body) in batch {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
                messages.push(serde_json::from_str(&body).unwrap());
            }
        }
    }
}

/// An SQS event as Lambda delivers it.
fn sqs_event(batch: &[Received]) -> LambdaEvent<SqsEvent> {
    let event: SqsEvent = serde_json::from_value(sqs_event_json("faults", batch)).unwrap();
    LambdaEvent::new(event, Context::default())
}

const DYNAMO_WRITES: [&str; 3] = [
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.BatchWriteItem",
    "DynamoDB_20120810.UpdateItem",
];

#[tokio::test]
async fn dynamodb_throttling_and_unprocessed_items_lose_no_finding() {
    let Some(aws) = aws("FLTDDB").await else { return };
    // GIVEN DynamoDB throttles writes (more than the SDK's three attempts absorb, so some
    // stage records fail and come back) and twice leaves a whole batch unprocessed
    for target in DYNAMO_WRITES {
        aws.dynamo.inject(
            Rule::new("POST", "/", 3, Fault::dynamo("ProvisionedThroughputExceededException"))
                .containing(target)
                .after(1),
        );
    }
    aws.dynamo
        .inject(Rule::new("POST", "/", 2, Fault::Unprocessed).containing(DYNAMO_WRITES[1]));

    // WHEN the report is ingested (retried as `muster push` would on a 5xx) and every stage runs
    let mut attempts = 0;
    loop {
        attempts += 1;
        let source = muster_core::SourceName::parse(&source(&aws.world.project)).unwrap();
        let ingested = aws
            .world
            .pipeline
            .ingest(muster_core::IngestRequest {
                source: &source,
                format: None,
                event: None,
                bytes: &report(),
            })
            .await;
        match ingested {
            Ok(_) => break,
            Err(error) if attempts < 5 => eprintln!("ingest failed, pushed again: {error}"),
            Err(error) => panic!("ingest keeps failing: {error}"),
        }
    }
    let failures = aws.pump(&STAGES).await;

    // THEN every finding is stored and triaged, one issue per group, one message each (a
    // ledger write throttled after its post may be missing: logged, never re-posted)
    let observed = aws.world.observe().await;
    observed.assert_delivered();
    assert!(observed.chat_ledger <= URGENT_RULES.len(), "{observed:#?}");
    for stage in STAGES {
        assert!(aws.dead(stage).await.is_empty(), "{stage:?} DLQ");
    }
    let injected = aws.dynamo.injected();
    assert_eq!(injected, 3 * 3 + 2, "every throttle was met");
    row(
        "DynamoDB writes → ProvisionedThroughputExceededException ×3 per operation, BatchWriteItem → all UnprocessedItems ×2",
        injected,
        &format!(
            "{}; {failures} SQS records failed and were redelivered, ingest sent {attempts}×, {} of {} ledger lines",
            observed.outcome(),
            observed.chat_ledger,
            URGENT_RULES.len()
        ),
    );
}

#[tokio::test]
async fn racing_deliveries_on_dynamodb_claim_each_group_once() {
    let Some(aws) = aws("FLTRACE").await else { return };
    aws.world.ingest().await;
    aws.pump(&[Stage::Triage]).await;

    // WHEN each ticket message is handled by five workers at once (duplicate deliveries)
    let batch = aws.receive(&aws.urls.ticket).await;
    assert_eq!(batch.len(), GROUPS);
    let mut refused = 0;
    for (_, _, body) in &batch {
        let message: Message = serde_json::from_str(body).unwrap();
        let pipeline = &aws.world.pipeline;
        let results = {
            let (a, b, c, d, e) = tokio::join!(
                pipeline.handle(&message),
                pipeline.handle(&message),
                pipeline.handle(&message),
                pipeline.handle(&message),
                pipeline.handle(&message),
            );
            [a, b, c, d, e]
        };
        assert!(results.iter().any(Result::is_ok), "{results:?}");
        for error in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(error.retry_after().is_some(), "a loser is told to come back: {error}");
            refused += 1;
        }
    }
    // AND the losers' redeliveries come back later
    let all_ok = SqsBatchResponse::default();
    aws.ack(&aws.urls.ticket, &batch, &all_ok).await;
    for (_, _, body) in &batch {
        aws.world
            .pipeline
            .handle(&serde_json::from_str(body).unwrap())
            .await
            .unwrap();
    }
    aws.pump(&[Stage::Notify]).await;

    // THEN the conditional claim let exactly one worker create each issue; the others met
    // DynamoDB's ConditionalCheckFailedException (counted as moto answered it)
    let observed = aws.world.observe().await;
    observed.assert_complete();
    let conflicts = aws.dynamo.conditional_failures();
    assert!(
        conflicts >= refused && refused >= 1,
        "{conflicts} conflicts, {refused} refused"
    );
    row(
        "5 concurrent deliveries of each ticket message (DynamoDB conditional claim races)",
        GROUPS * 5,
        &format!(
            "{}; {conflicts} ConditionalCheckFailedException, {refused} deliveries told to retry",
            observed.outcome()
        ),
    );
}

#[tokio::test]
async fn a_ticket_worker_killed_mid_batch_and_restarted_opens_each_issue_once() {
    let Some(aws) = aws("FLTKILL").await else { return };
    aws.world.ingest().await;
    aws.pump(&[Stage::Triage]).await;

    // GIVEN the ticket worker takes its batch, opens the first issue, and dies just after Jira
    // created the second one, before recording it or acking anything
    let reached = Arc::new(Notify::new());
    aws.world.tracker.inject(
        Rule::new(
            "POST",
            CREATE,
            1,
            Fault::LostReply {
                hold: Duration::from_secs(30),
                reached: Some(reached.clone()),
            },
        )
        .after(1),
    );
    let batch = aws.receive(&aws.urls.ticket).await;
    assert_eq!(batch.len(), GROUPS);
    tokio::select! {
        response = handle_sqs(&aws.world.pipeline, sqs_event(&batch)) => panic!("the worker finished: {response:?}"),
        () = reached.notified() => {}
    }
    assert_eq!(issues_in(&aws.world.project), 2, "killed after the second create");

    // WHEN a new worker starts three minutes later (the claim has aged) and SQS redelivers the
    // whole batch after its visibility timeout
    aws.world.pipeline.clock.advance(chrono::Duration::minutes(3));
    tokio::time::sleep(Duration::from_secs(VISIBILITY_SECONDS as u64)).await;
    let failures = aws.pump(&[Stage::Ticket, Stage::Notify]).await;

    // THEN the issue whose record was lost is found by its label, not opened again; each
    // notification is posted once
    let observed = aws.world.observe().await;
    observed.assert_complete();
    for stage in STAGES {
        assert!(aws.dead(stage).await.is_empty(), "{stage:?} DLQ");
    }
    row(
        "Ticket worker killed mid-batch (after a create, before record and ack), restarted",
        1,
        &format!("{}; {failures} records failed on redelivery", observed.outcome()),
    );
}

#[tokio::test]
async fn a_tracker_down_for_good_moves_ticket_messages_to_the_dlq_after_max_receives() {
    let Some(aws) = aws("FLTDLQ").await else { return };
    aws.world
        .tracker
        .inject(Rule::new("POST", CREATE, ALWAYS, Fault::status(500, None)));

    // WHEN every stage runs while Jira fails every create
    aws.world.ingest().await;
    let failures = aws.pump(&STAGES).await;

    // THEN each ticket message was reported failed on every receive and then moved to the DLQ;
    // the findings are all there, no issue exists, nobody was told of a ticket
    let observed = aws.world.observe().await;
    assert_eq!((observed.findings, observed.triaged), (FINDINGS, FINDINGS));
    assert_eq!(observed.issues_in_project, 0);
    assert!(observed.posts_per_rule.is_empty());
    assert_eq!(failures, GROUPS * MAX_RECEIVES as usize);
    let dead = aws.dead(Stage::Ticket).await;
    let groups: BTreeSet<&GroupKey> = dead
        .iter()
        .map(|m| match m {
            Message::Ticket { group } => group,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(groups.len(), GROUPS, "{dead:?}");
    // What the logs of each failed record say, for the operator reading the alarm.
    let error = aws.world.pipeline.handle(&dead[0]).await.unwrap_err();
    assert!(error.to_string().contains("returned HTTP 500"), "{error}");
    let injected = aws.world.tracker.injected();

    // WHEN Jira recovers and the DLQ is redriven, THEN each group gets its one issue
    aws.world.tracker.clear();
    aws.world.pipeline.queue.send(dead).await.unwrap();
    aws.pump(&STAGES).await;
    let recovered = aws.world.observe().await;
    recovered.assert_complete();
    row(
        "Jira create → 500 forever on AWS (SQS maxReceiveCount 2)",
        injected,
        &format!(
            "{failures} batch item failures, {GROUPS} ticket messages in the DLQ, 0 issues; \
             after redrive: {}",
            recovered.outcome()
        ),
    );
}
