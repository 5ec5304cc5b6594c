//! The scheduled `sweep` function's handler over DynamoDB and SQS on moto: it reads what is due
//! through the table's due-date index and posts one batched message per recipient and rung,
//! once, however often the schedule (or its retry) fires.

use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent};
use muster_aws::SqsQueue;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::{FindingFilter, FindingStore, FixedClock, OutboxStore};
use muster_core::services::Pipeline;
use muster_fn_sweep::{ScheduledJob, run_sweep};
use muster_tests::{fixture, moto};

fn job(name: &str) -> LambdaEvent<ScheduledJob> {
    LambdaEvent::new(ScheduledJob { job: name.to_owned() }, Context::default())
}

#[tokio::test]
async fn the_hourly_sweep_escalates_breaches_once_from_the_due_date_index() {
    let (Some(store), Some((sqs, urls))) = (moto::dynamo_store().await, moto::sqs_queues().await) else {
        return;
    };
    // Triaged findings, as the triage function would have stored them.
    let local = muster_tests::pipeline_at("2026-11-01T10:00:00Z");
    muster_tests::ingest_from(&local, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let findings = local.store.list_findings(&FindingFilter::default()).await.unwrap();
    let first_due = findings
        .iter()
        .filter_map(|f| f.triage.as_ref())
        .map(|t| t.due_at)
        .min()
        .unwrap();
    store.save_findings(&findings).await.unwrap();

    let breach = first_due + chrono::Duration::hours(1);
    let pipeline = Pipeline {
        tickets: OutboxTickets(store.clone()),
        chat: OutboxChat(store.clone()),
        store: store.clone(),
        queue: SqsQueue::new(sqs, urls),
        clock: FixedClock(breach),
        config: Arc::new(muster_core::Config::default()),
    };

    let report = run_sweep(&pipeline, job("sweep")).await.unwrap();
    assert!(report.breached > 0, "{report:?}");
    assert!(report.messages > 0);
    let sent = |entries: &[muster_core::ports::OutboxEntry]| {
        entries
            .iter()
            .filter(|e| e.dedupe_key.starts_with("chat:sweep:"))
            .count()
    };
    let first = sent(&store.outbox().await.unwrap());
    assert_eq!(first, report.messages);

    // The scheduler's retry (or a second firing in the same interval) repeats nothing.
    let again = run_sweep(&pipeline, job("sweep")).await.unwrap();
    assert_eq!(again, report);
    assert_eq!(sent(&store.outbox().await.unwrap()), first);

    // The daily digest job posts the security leads' digest (the fixture's team has no channel
    // of its own), once a day.
    run_sweep(&pipeline, job("digest")).await.unwrap();
    run_sweep(&pipeline, job("digest")).await.unwrap();
    let digests: Vec<_> = store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.dedupe_key.starts_with("chat:digest:"))
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!(digests[0].target, "#security");
    assert!(
        digests[0].payload["digest"]["sections"][0][1][0]
            .as_str()
            .unwrap()
            .starts_with("all: open")
    );

    // A schedule pointed at the wrong job fails loudly instead of doing something else.
    let error = run_sweep(&pipeline, job("feeds")).await.unwrap_err();
    assert!(error.to_string().contains("\"sweep\" or \"digest\" job"), "{error}");
}
