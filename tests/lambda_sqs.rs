//! The SQS Lambda handler (`muster_aws::lambda::handle_sqs`) against moto through the real SDK:
//! a report ingested into DynamoDB + SQS, its triage messages received from the triage queue and
//! handed to the handler as an SQS event (with a poisoned and an unparseable record beside them),
//! then the ticket and notify messages the stages queued.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use lambda_runtime::{Context, LambdaEvent};
use muster_aws::lambda::handle_sqs;
use muster_aws::{DynamoStore, QueueUrls, SqsQueue};
use muster_core::Config;
use muster_core::TicketState;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::{FindingFilter, FindingStore, OutboxStore, SystemClock, TicketStore};
use muster_core::services::Pipeline;
use muster_core::services::ticket::SETTLE;
use muster_tests::{TWO_FINDINGS_SARIF, moto, sqs_event_json, without_result};

type MotoPipeline = Pipeline<DynamoStore, SqsQueue, OutboxTickets<DynamoStore>, OutboxChat<DynamoStore>, SystemClock>;

fn moto_pipeline_over(store: DynamoStore, sqs: aws_sdk_sqs::Client, urls: QueueUrls) -> MotoPipeline {
    Pipeline {
        tickets: OutboxTickets(store.clone()),
        chat: OutboxChat(store.clone()),
        store,
        queue: SqsQueue::new(sqs, urls),
        clock: SystemClock,
        config: Arc::new(Config::default()),
    }
}

/// A pipeline over a fresh table and three fresh queues, or `None` (skip) without moto.
async fn moto_pipeline() -> Option<(MotoPipeline, aws_sdk_sqs::Client, QueueUrls)> {
    let store = moto::dynamo_store().await?;
    let (sqs, urls) = moto::sqs_queues().await?;
    Some((moto_pipeline_over(store, sqs.clone(), urls.clone()), sqs, urls))
}

async fn ingest(pipeline: &MotoPipeline) {
    let summary = ingest_report(pipeline, TWO_FINDINGS_SARIF.as_bytes()).await;
    assert_eq!(summary.new, 2, "{summary:?}");
}

async fn ingest_report(pipeline: &MotoPipeline, bytes: &[u8]) -> muster_core::IngestSummary {
    let source = muster_core::SourceName::parse("local").unwrap();
    pipeline
        .ingest(muster_core::IngestRequest {
            source: &source,
            format: None,
            event: None,
            bytes,
        })
        .await
        .expect("the report ingests")
}

/// One received message: its id, body and `SentTimestamp` (milliseconds since the epoch).
type Record = (String, String, String);

/// Every message waiting in `url`, deleted from the queue as a Lambda event source mapping
/// would after a successful batch.
async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Record> {
    let mut messages = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .expect("receive from moto");
        let batch = out.messages();
        if batch.is_empty() {
            return messages;
        }
        for message in batch {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().expect("receipt handle"))
                .send()
                .await
                .expect("delete from moto");
            let sent = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .expect("SQS says when the message was sent");
            messages.push((
                message.message_id().expect("message id").to_owned(),
                message.body().expect("body").to_owned(),
                sent.clone(),
            ));
        }
    }
}

/// An SQS event as Lambda delivers it, each record with its `SentTimestamp`.
fn sqs_event(records: &[Record]) -> LambdaEvent<SqsEvent> {
    let handles: Vec<_> = records
        .iter()
        .map(|(id, body, _)| (id.clone(), format!("handle-{id}"), body.clone()))
        .collect();
    let mut event = sqs_event_json("muster-test", &handles);
    for (record, (_, _, sent)) in event["Records"].as_array_mut().unwrap().iter_mut().zip(records) {
        record["attributes"]["SentTimestamp"] = sent.clone().into();
    }
    let event: SqsEvent = serde_json::from_value(event).expect("a valid SQS event");
    LambdaEvent::new(event, Context::default())
}

fn failed_ids(response: &SqsBatchResponse) -> BTreeSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_batch_reports_only_its_bad_records_and_runs_the_rest_through_every_stage() {
    let Some((pipeline, sqs, urls)) = moto_pipeline().await else {
        return;
    };
    ingest(&pipeline).await;

    let mut records = receive_all(&sqs, &urls.triage).await;
    assert!(!records.is_empty(), "ingest queued triage messages on SQS");
    for (_, body, _) in &records {
        let message: muster_core::Message = serde_json::from_str(body).unwrap();
        assert_eq!(message.kind(), "triage");
    }
    let sent = records[0].2.clone();
    records.push(("poisoned-1".to_owned(), r#"{"type":"bogus"}"#.to_owned(), sent.clone()));
    records.push(("garbage-1".to_owned(), "this is not JSON".to_owned(), sent));
    records.rotate_right(1); // a bad record first: it must not stop the others

    let response = handle_sqs(&pipeline, sqs_event(&records))
        .await
        .expect("the batch is handled");
    assert_eq!(
        failed_ids(&response),
        BTreeSet::from(["poisoned-1".to_owned(), "garbage-1".to_owned()]),
        "exactly the two bad records are reported"
    );
    // Wire format Lambda reads.
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["batchItemFailures"].as_array().unwrap().len(), 2, "{wire}");

    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(findings.len(), 2);
    assert!(
        findings.iter().all(|f| f.triage.is_some()),
        "every finding was triaged: {findings:#?}"
    );

    let tickets = receive_all(&sqs, &urls.ticket).await;
    assert!(!tickets.is_empty(), "triage queued ticket syncs on SQS");
    let response = handle_sqs(&pipeline, sqs_event(&tickets)).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let outbox = pipeline.store.outbox().await.unwrap();
    let created: Vec<_> = outbox
        .iter()
        .filter(|e| e.kind == "ticket" && e.action == "create")
        .collect();
    let groups: BTreeSet<_> = findings.iter().filter_map(|f| f.group()).collect();
    assert_eq!(created.len(), groups.len(), "one ticket per group: {outbox:#?}");

    // The notify stage consumes what the ticket stage queued.
    let notifications = receive_all(&sqs, &urls.notify).await;
    assert!(!notifications.is_empty(), "the ticket stage queued notifications");
    let response = handle_sqs(&pipeline, sqs_event(&notifications)).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let outbox = pipeline.store.outbox().await.unwrap();
    let urgent = findings
        .iter()
        .filter(|f| f.triage.as_ref().is_some_and(|t| t.risk.tier <= muster_core::Tier::P2))
        .filter_map(|f| f.group())
        .collect::<BTreeSet<_>>()
        .len();
    let told = outbox.iter().filter(|e| e.kind == "chat").count();
    assert!(urgent > 0, "the fixture has urgent groups");
    assert_eq!(
        told, urgent,
        "owners were told of each P1/P2 group at once: {outbox:#?}"
    );
    assert!(
        outbox
            .iter()
            .filter(|e| e.kind == "chat")
            .all(|e| e.payload["card"]["group_key"].is_string())
    );

    // Redelivery (at-least-once) is harmless: the same ticket batch again creates nothing new.
    let response = handle_sqs(&pipeline, sqs_event(&tickets)).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let again = pipeline.store.outbox().await.unwrap();
    assert_eq!(
        again
            .iter()
            .filter(|e| e.kind == "ticket" && e.action == "create")
            .count(),
        groups.len()
    );
}

#[tokio::test]
async fn a_failing_stage_is_reported_for_redelivery() {
    let Some((pipeline, sqs, urls)) = moto_pipeline().await else {
        return;
    };
    ingest(&pipeline).await;
    let records = receive_all(&sqs, &urls.triage).await;
    assert!(!records.is_empty());

    // The same store, but the ticket queue is gone: triage cannot hand its work on, so each
    // triage message must come back (and reach the DLQ if that lasts), not vanish.
    let broken_urls = QueueUrls {
        ticket: format!("{}-deleted", urls.ticket),
        ..urls.clone()
    };
    let broken = moto_pipeline_over(pipeline.store.clone(), sqs.clone(), broken_urls);
    let broken = Pipeline {
        queue: broken.queue.with_retry(muster_core::retry::RetryPolicy {
            max_attempts: 1,
            first_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(1),
        }),
        ..broken
    };
    let response = handle_sqs(&broken, sqs_event(&records)).await.unwrap();
    let expected: BTreeSet<String> = records.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(failed_ids(&response), expected);
}

/// Hands `records` to the handler as one batch; every record must succeed.
async fn handle_all(pipeline: &MotoPipeline, records: &[Record]) {
    let response = handle_sqs(pipeline, sqs_event(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

#[tokio::test]
async fn a_ticket_request_that_a_later_sync_covered_reads_only_the_ticket() {
    let Some((pipeline, sqs, urls)) = moto_pipeline().await else {
        return;
    };
    ingest(&pipeline).await;
    let triage = receive_all(&sqs, &urls.triage).await;
    handle_all(&pipeline, &triage).await;
    let opening = receive_all(&sqs, &urls.ticket).await;
    handle_all(&pipeline, &opening).await;
    let opened = pipeline.store.tickets().await.unwrap();
    assert!(
        !opened.is_empty() && opened.iter().all(|t| t.state == TicketState::Open),
        "{opened:#?}"
    );

    // A later scan sees neither finding: ingest queues a sync for each group.
    let empty = without_result(&without_result(TWO_FINDINGS_SARIF.as_bytes(), 1), 0);
    let summary = ingest_report(&pipeline, &empty).await;
    assert_eq!(summary.resolved, 2, "{summary:?}");
    let requests = receive_all(&sqs, &urls.ticket).await;
    assert_eq!(requests.len(), opened.len(), "one sync request per group");

    // Delivered as if sent a minute before the opening syncs read their groups (a backlog's
    // older duplicates): those syncs covered them, so each costs one read of its ticket.
    let minute_ago = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .timestamp_millis()
        .to_string();
    let covered: Vec<Record> = requests
        .iter()
        .map(|(id, body, _)| (id.clone(), body.clone(), minute_ago.clone()))
        .collect();
    let before = pipeline.store.request_counts();
    handle_all(&pipeline, &covered).await;
    let after = pipeline.store.request_counts();
    assert_eq!(
        after.reads - before.reads,
        covered.len() as u64,
        "one GetItem per covered request"
    );
    assert_eq!(after.writes, before.writes, "a covered request writes nothing");
    let untouched = pipeline.store.tickets().await.unwrap();
    assert!(untouched.iter().all(|t| t.state == TicketState::Open), "{untouched:#?}");

    // With the time SQS gave them, they are newer than any sync: each reads its group and
    // closes its ticket.
    handle_all(&pipeline, &requests).await;
    let closed = pipeline.store.tickets().await.unwrap();
    assert!(closed.iter().all(|t| t.state == TicketState::Closed), "{closed:#?}");
    let closes = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "ticket" && e.action == "close")
        .count();
    assert_eq!(closes, opened.len(), "one close per group");
}

/// Without the ticket queue's delay the first sync of a group comes too soon to cover the
/// report's other requests, and each re-reads the group (BENCHMARKS.md: 35,833 items read
/// instead of 2,820 for 2,000 findings).
#[test]
fn the_ticket_queue_delays_delivery_past_settle() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let queue = template
        .split("\n  TicketQueue:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("template.yaml declares TicketQueue");
    let delay: u64 = queue
        .lines()
        .find_map(|line| line.trim().strip_prefix("DelaySeconds:"))
        .expect("TicketQueue sets DelaySeconds")
        .trim()
        .parse()
        .expect("DelaySeconds is a number");
    assert!(
        delay > SETTLE.as_secs() && delay <= 900,
        "TicketQueue DelaySeconds {delay}: more than SETTLE ({} s), at most SQS's 900",
        SETTLE.as_secs()
    );
}
