//! The scheduled `feeds` function's handler against moto and a local HTTP server serving the
//! intel fixtures: both feeds are stored, and the open finding whose CVE entered KEV goes back
//! to triage through the SQS triage queue.

use std::path::Path;

use lambda_runtime::{Context, LambdaEvent};
use muster_aws::SqsQueue;
use muster_core::ports::{FindingFilter, FindingStore, IntelStore};
use muster_feeds::{FeedClient, FeedSettings};
use muster_fn_feeds::{FeedUrls, ScheduledJob, run_feeds};
use muster_tests::{fixture, moto, serve_files};

fn job(name: &str) -> LambdaEvent<ScheduledJob> {
    LambdaEvent::new(ScheduledJob { job: name.to_owned() }, Context::default())
}

#[tokio::test]
async fn the_feeds_job_stores_both_feeds_and_queues_rescoring() {
    let (Some(store), Some((sqs, urls))) = (moto::dynamo_store().await, moto::sqs_queues().await) else {
        return;
    };
    let queue = SqsQueue::new(sqs.clone(), urls.clone());
    // One open finding with a CVE of the KEV fixture (CVE-2021-44228), stored untriaged.
    let pipeline_like = muster_tests::pipeline_at("2026-11-20T10:00:00Z");
    muster_tests::ingest_from(&pipeline_like, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let mut findings = pipeline_like
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    findings.truncate(1);
    findings[0].detection.vuln_ids = vec!["CVE-2021-44228".into()];
    findings[0].triage = None;
    store.save_findings(&findings).await.unwrap();

    let server = serve_files(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/intel"));
    let feeds = FeedUrls {
        kev: format!("http://{server}/kev-small.csv"),
        epss: format!("http://{server}/epss_scores-2026-11-26.csv"),
    };
    let client = FeedClient::new(FeedSettings::default()).unwrap();

    let summary = run_feeds(&store, &queue, &client, &feeds, job("feeds")).await.unwrap();
    assert_eq!(summary.rescored, 1, "{summary:?}");
    assert!(summary.changed_cves > 0);
    let intel = store.intel(&["CVE-2021-44228".into()]).await.unwrap();
    let log4shell = &intel["CVE-2021-44228"];
    assert!(log4shell.kev.as_ref().is_some_and(|k| k.ransomware), "KEV row stored");
    assert!(log4shell.epss.is_some(), "EPSS row stored");

    let waiting = sqs
        .receive_message()
        .queue_url(&urls.triage)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = waiting.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies.len(), 1, "one triage message for the one finding");
    assert!(bodies[0].contains(&findings[0].fingerprint().to_string()));

    // Another job name, or a feed that is not there, fails the invocation and stores nothing new.
    assert!(run_feeds(&store, &queue, &client, &feeds, job("digest")).await.is_err());
    let broken = FeedUrls {
        kev: format!("http://{server}/missing.json"),
        ..feeds
    };
    let error = run_feeds(&store, &queue, &client, &broken, job("feeds"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
}
