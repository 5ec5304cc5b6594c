//! The pipeline's metric events as the EMF lines Lambda writes.
//!
//! Alone in its test binary on purpose: tracing caches per callsite whether any subscriber
//! listens, and a metric callsite first reached by a concurrent test while this test's scoped
//! subscriber was being set kept "nobody" (seen twice in full runs), so the count came out short.

use muster_core::ports::TicketStore;
use muster_tests::{ingest_from, pipeline_at, without_result};

/// What the pipeline does is counted as metric events, which Lambda writes as CloudWatch EMF
/// lines: the EMF layer the functions install, fed by a real ingest → triage → ticket → notify
/// run and a later scan that no longer sees the findings.
#[tokio::test]
async fn the_pipeline_counts_what_it_does_as_emf_metrics() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = {
        let lines = lines.clone();
        move || lines.clone()
    };
    let layer = muster_runtime::emf::EmfLayer::new(writer, "muster-test");
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let pipeline = pipeline_at("2026-11-27T10:00:00Z");
    let first = ingest_from(&pipeline, "ci", None, None, muster_tests::TWO_FINDINGS_SARIF.as_bytes()).await;
    let empty = without_result(&without_result(muster_tests::TWO_FINDINGS_SARIF.as_bytes(), 1), 0);
    let second = ingest_from(&pipeline, "ci", None, None, &empty).await;

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let documents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let total = |name: &str| -> u64 { documents.iter().filter_map(|d| d[name].as_u64()).sum() };
    assert_eq!(total("findings_received"), first.received + second.received, "{text}");
    assert_eq!((total("findings_new"), total("findings_resolved")), (2, 2), "{text}");
    let tickets = pipeline.store.tickets().await.unwrap();
    assert!(!tickets.is_empty());
    assert_eq!(total("groups_ticketed"), tickets.len() as u64, "{text}");
    assert_eq!(total("groups_closed"), tickets.len() as u64, "{text}");
    assert!(total("messages_sent") >= tickets.len() as u64, "{text}");
    for document in &documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "muster");
        assert_eq!(document["function"], "muster-test");
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                document[name].is_u64(),
                "{name} has its value beside the directive: {document}"
            );
        }
    }
}
