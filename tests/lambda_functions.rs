//! The function binaries end to end, as Lambda runs them: each binary is started with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a Runtime API this test serves, over moto's DynamoDB
//! and SQS through the real SDK. The test plays API Gateway (a webhook POST to `ingest`) and the
//! SQS event source mappings: receive a batch, invoke the stage's function, delete what it did
//! not report in `batchItemFailures`, and leave the rest to come back and, past the queue's
//! `maxReceiveCount`, to move to the dead-letter queue.
//!
//! The binaries are the functions' own `main.rs`, built as bins of this package (cargo builds
//! bins for a package's integration tests only), so what runs here is what SAM deploys.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use muster_aws::QueueUrls;
use muster_core::ports::{FindingFilter, FindingStore, OutboxStore};
use muster_tests::{TWO_FINDINGS_SARIF, moto, sqs_event_json};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Receives before a failing message moves to its DLQ (the template says 5).
const MAX_RECEIVES: u32 = 2;
/// How soon a failed record is visible again.
const VISIBILITY_SECONDS: i32 = 1;

/// What a function answered to one invocation.
#[derive(Debug)]
enum Answer {
    Response(Value),
    Error(String),
}

/// One event waiting for the function's next `GET .../invocation/next`.
struct Invocation {
    id: String,
    event: Vec<u8>,
    answer: oneshot::Sender<Answer>,
}

/// The Runtime API one function process talks to.
#[derive(Default)]
struct RuntimeApi {
    waiting: Mutex<Option<mpsc::Receiver<Invocation>>>,
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<String>>,
}

async fn next_invocation(State(api): State<Arc<RuntimeApi>>) -> (HeaderMap, Vec<u8>) {
    let invocation = {
        let mut waiting = api.waiting.lock().await;
        let receiver = waiting.as_mut().expect("the runtime API has its queue");
        receiver.recv().await
    };
    let Some(Invocation { id, event, answer }) = invocation else {
        // The test is over; the process is about to be killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    api.answers.lock().await.insert(id.clone(), answer);
    let deadline_ms = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("a header value"));
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:muster-test".to_owned(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    (headers, event)
}

async fn answered(api: &RuntimeApi, id: &str, answer: Answer) {
    if let Some(waiting) = api.answers.lock().await.remove(id) {
        let _ = waiting.send(answer);
    }
}

async fn invocation_response(State(api): State<Arc<RuntimeApi>>, Path(id): Path<String>, body: Bytes) {
    let value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("response of {id} is not JSON: {e}"));
    answered(&api, &id, Answer::Response(value)).await;
}

async fn invocation_error(State(api): State<Arc<RuntimeApi>>, Path(id): Path<String>, body: Bytes) {
    answered(&api, &id, Answer::Error(String::from_utf8_lossy(&body).into_owned())).await;
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) {
    *api.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
}

/// A function binary running against its own Runtime API.
struct Function {
    name: &'static str,
    process: Child,
    events: mpsc::Sender<Invocation>,
    api: Arc<RuntimeApi>,
    invocations: u64,
}

impl Function {
    async fn start(name: &'static str, binary: &str, env: &[(&str, String)]) -> Function {
        let (events, receiver) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi::default());
        *api.waiting.lock().await = Some(receiver);
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a local port");
        let address = listener.local_addr().expect("the bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let process = Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Function {
            name,
            process,
            events,
            api,
            invocations: 0,
        }
    }

    /// Hands `event` to the function's next poll and waits for its answer.
    async fn invoke(&mut self, event: &Value) -> Answer {
        self.invocations += 1;
        let id = format!("{}-{}", self.name, self.invocations);
        let (answer, answered) = oneshot::channel();
        let invocation = Invocation {
            id,
            event: serde_json::to_vec(event).expect("events serialize"),
            answer,
        };
        let name = self.name;
        let result = tokio::time::timeout(Duration::from_secs(60), async {
            self.events.send(invocation).await.expect("the runtime API runs");
            answered.await
        })
        .await;
        match result {
            Ok(Ok(answer)) => answer,
            _ => {
                let exited = self.process.try_wait().ok().flatten();
                let init = self.api.init_error.lock().await.clone();
                panic!("{name} did not answer within 60 s (exit: {exited:?}, init error: {init:?})")
            }
        }
    }

    /// The function's response; panics on an invocation error.
    async fn respond(&mut self, event: &Value) -> Value {
        match self.invoke(event).await {
            Answer::Response(value) => value,
            Answer::Error(error) => panic!("{} failed the invocation: {error}", self.name),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A webhook POST as API Gateway (HTTP API, payload v2) hands it to the ingest function.
fn webhook_event(source: &str, body: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/apigw_http_v2_webhook.json"
    ))
    .expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let path = format!("/webhooks/{source}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = json!({ "source": source });
    event["body"] = json!(body);
    event
}

/// A received SQS message: id, receipt handle, body.
type Received = (String, String, String);

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Received> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(VISIBILITY_SECONDS)
        .send()
        .await
        .expect("receive from moto");
    out.messages()
        .iter()
        .map(|m| {
            (
                m.message_id().expect("message id").to_owned(),
                m.receipt_handle().expect("receipt handle").to_owned(),
                m.body().expect("body").to_owned(),
            )
        })
        .collect()
}

fn reported_failures(response: &Value) -> BTreeSet<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("an SQS function answers batchItemFailures: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("itemIdentifier").to_owned())
        .collect()
}

/// One delivery from `url` to `function`, as the event source mapping does it: the records the
/// function did not report are deleted. Returns the batch and the reported failures.
async fn deliver(sqs: &aws_sdk_sqs::Client, url: &str, function: &mut Function) -> (Vec<Received>, BTreeSet<String>) {
    let batch = receive(sqs, url).await;
    if batch.is_empty() {
        return (batch, BTreeSet::new());
    }
    let response = function.respond(&sqs_event_json(function.name, &batch)).await;
    let failed = reported_failures(&response);
    for (id, handle, _) in &batch {
        if !failed.contains(id) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete from moto");
        }
    }
    (batch, failed)
}

/// Messages in `url`, visible or in flight.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("moto answers GetQueueAttributes");
    let attributes = out.attributes().expect("queue attributes");
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| attributes.get(name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0))
    .sum()
}

fn stage_url(urls: &QueueUrls, stage: usize) -> &str {
    [&urls.triage, &urls.ticket, &urls.notify][stage]
}

#[tokio::test]
async fn a_webhook_flows_through_the_function_binaries_and_a_poisoned_record_ends_in_the_dlq() {
    let Some(store) = moto::dynamo_store().await else {
        return;
    };
    let Some((sqs, urls, dlqs)) = moto::sqs_queues_with_dlqs("functions", MAX_RECEIVES).await else {
        return;
    };
    let endpoint = moto::moto_endpoint().expect("moto runs");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("MUSTER_TABLE", store.table().to_owned()),
        ("MUSTER_TRIAGE_QUEUE_URL", urls.triage.clone()),
        ("MUSTER_TICKET_QUEUE_URL", urls.ticket.clone()),
        ("MUSTER_NOTIFY_QUEUE_URL", urls.notify.clone()),
    ];
    let mut ingest = Function::start("muster-ingest", env!("CARGO_BIN_EXE_muster-tests-ingest"), &env).await;
    let mut stages = [
        Function::start("muster-triage", env!("CARGO_BIN_EXE_muster-tests-triage"), &env).await,
        Function::start("muster-ticket", env!("CARGO_BIN_EXE_muster-tests-ticket"), &env).await,
        Function::start("muster-notify", env!("CARGO_BIN_EXE_muster-tests-notify"), &env).await,
    ];

    // A scanner posts its report to the webhook.
    let response = ingest.respond(&webhook_event("local", TWO_FINDINGS_SARIF)).await;
    assert_eq!(response["statusCode"], 202, "{response}");
    let summary: Value = serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body");
    assert_eq!(summary["new"], 2, "{summary}");

    // A poisoned message waits beside ingest's triage work, so both arrive in one batch.
    let poisoned = sqs
        .send_message()
        .queue_url(&urls.triage)
        .message_body(r#"{"type":"bogus"}"#)
        .send()
        .await
        .expect("send to moto")
        .message_id()
        .expect("a message id")
        .to_owned();

    let (batch, failed) = deliver(&sqs, &urls.triage, &mut stages[0]).await;
    assert!(
        batch.len() >= 2,
        "the triage work and the poisoned record in one batch: {batch:?}"
    );
    assert_eq!(
        failed,
        BTreeSet::from([poisoned.clone()]),
        "only the poisoned record fails"
    );

    // The event source mappings keep delivering until every queue is empty: the poisoned record
    // comes back after its visibility timeout until SQS moves it to the DLQ.
    for round in 0.. {
        assert!(round < 60, "the queues did not drain");
        let mut delivered = 0;
        for (stage, function) in stages.iter_mut().enumerate() {
            delivered += deliver(&sqs, stage_url(&urls, stage), function).await.0.len();
        }
        if delivered > 0 {
            continue;
        }
        let mut left = 0;
        for stage in 0..3 {
            left += depth(&sqs, stage_url(&urls, stage)).await;
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Every finding triaged; one ticket per group; owners told of each urgent group.
    let findings = store.list_findings(&FindingFilter::default()).await.expect("findings");
    assert_eq!(findings.len(), 2);
    assert!(findings.iter().all(|f| f.triage.is_some()), "{findings:#?}");
    let outbox = store.outbox().await.expect("outbox");
    let groups: BTreeSet<_> = findings.iter().filter_map(|f| f.group()).collect();
    let created = outbox
        .iter()
        .filter(|e| e.kind == "ticket" && e.action == "create")
        .count();
    assert_eq!(created, groups.len(), "one ticket per group: {outbox:#?}");
    let urgent: BTreeSet<_> = findings
        .iter()
        .filter(|f| f.triage.as_ref().is_some_and(|t| t.risk.tier <= muster_core::Tier::P2))
        .filter_map(|f| f.group())
        .collect();
    assert!(!urgent.is_empty(), "the fixture has urgent groups");
    let told = outbox.iter().filter(|e| e.kind == "chat").count();
    assert_eq!(told, urgent.len(), "one message per urgent group: {outbox:#?}");

    // The poisoned record, and nothing else, is in the triage DLQ.
    let dead = receive(&sqs, &dlqs.triage).await;
    assert_eq!(
        dead.iter().map(|(_, _, body)| body.as_str()).collect::<Vec<_>>(),
        [r#"{"type":"bogus"}"#],
        "{dead:?}"
    );
    for dlq in [&dlqs.ticket, &dlqs.notify] {
        assert_eq!(depth(&sqs, dlq).await, 0, "{dlq} stays empty");
    }

    // Each stage function runs its own stage only: a ticket message on the triage queue (crossed
    // queue URLs) is reported, not run with the wrong sinks.
    let group = groups.iter().next().expect("a group");
    let crossed = json!({ "type": "ticket", "group": group }).to_string();
    let event = sqs_event_json(
        "muster-triage",
        &[("crossed-1".to_owned(), "handle".to_owned(), crossed)],
    );
    let response = stages[0].respond(&event).await;
    assert_eq!(reported_failures(&response), BTreeSet::from(["crossed-1".to_owned()]));
}
