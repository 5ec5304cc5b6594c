//! The embedded pipeline end to end on real SQLite and real scanner reports: ingest, diff,
//! triage, one ticket per group in the outbox, chat messages, and closing on resolution.

use muster_core::messages::Message;
use muster_core::ports::{
    DeadLetterStore, FindingFilter, FindingStore, OutboxStore, SinkError, TicketDraft, TicketRef, TicketSink,
    TicketStore,
};
use muster_core::{Format, IngestRequest, SourceName, Status, TicketState, Tier};
use muster_tests::{TestPipeline, at, pipeline_at, sample, sample_files, sarif_result_counts, without_result};

fn source() -> SourceName {
    SourceName::parse("ci").unwrap()
}

async fn ingest(pipeline: &TestPipeline, bytes: &[u8]) -> muster_core::IngestSummary {
    let summary = pipeline
        .ingest(IngestRequest {
            source: &source(),
            format: None,
            event: None,
            bytes,
        })
        .await
        .expect("ingest succeeds");
    let drained = pipeline.queue.drain(pipeline, |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0, "no stage may fail on a good report");
    summary
}

#[tokio::test]
async fn every_sarif_sample_reports_its_non_suppressed_results() {
    let Some(files) = sample_files("sarif") else { return };
    assert!(files.len() >= 10, "expected the SARIF samples, found {}", files.len());
    for file in files {
        // GIVEN a fresh store and a real report
        let pipeline = pipeline_at("2026-11-01T10:00:00Z");
        let bytes = std::fs::read(&file).unwrap();
        let (total, suppressed) = sarif_result_counts(&bytes);

        // WHEN it is ingested
        let summary = ingest(&pipeline, &bytes).await;

        // THEN received counts the non-suppressed results and every one is accounted for
        assert_eq!(summary.received as usize, total - suppressed, "{}", file.display());
        assert_eq!(
            summary.new + summary.duplicates,
            total as u64 - summary.resolved - count_suppressed_new(&pipeline).await,
            "{}",
            file.display()
        );
    }
}

async fn count_suppressed_new(pipeline: &TestPipeline) -> u64 {
    let filter = FindingFilter {
        status: Some(Status::Suppressed),
        ..FindingFilter::default()
    };
    pipeline.store.list_findings(&filter).await.unwrap().len() as u64
}

#[tokio::test]
async fn reingesting_an_unchanged_report_changes_nothing() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let mut pipeline = pipeline_at("2026-11-01T10:00:00Z");
    let first = ingest(&pipeline, &bytes).await;
    assert_eq!(first.new, 72);
    let outbox_before = pipeline.store.outbox().await.unwrap();

    pipeline.clock = muster_core::ports::FixedClock(at("2026-11-02T10:00:00Z"));
    let second = ingest(&pipeline, &bytes).await;

    assert_eq!(
        (second.received, second.new, second.updated, second.resolved),
        (72, 0, 0, 0)
    );
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(
        pipeline.store.outbox().await.unwrap(),
        outbox_before,
        "no ticket or message twice"
    );
}

#[tokio::test]
async fn rescan_without_a_result_resolves_it_and_closes_its_ticket() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let mut pipeline = pipeline_at("2026-11-01T10:00:00Z");
    ingest(&pipeline, &bytes).await;

    // Find a result that is alone in its group, so removing it empties the group.
    let open = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    let log: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let (index, lonely) = results
        .iter()
        .enumerate()
        .find_map(|(i, r)| {
            let rule = r["ruleId"].as_str()?;
            let same_rule = open
                .iter()
                .filter(|f| f.detection.rule_id.as_deref() == Some(rule))
                .count();
            (same_rule == 1).then(|| {
                (
                    i,
                    open.iter()
                        .find(|f| f.detection.rule_id.as_deref() == Some(rule))
                        .unwrap()
                        .clone(),
                )
            })
        })
        .expect("the CodeQL sample has a rule with a single result");
    let group = lonely.group().unwrap().clone();
    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::Open
    );

    // WHEN a later scan of the same scope no longer reports it
    pipeline.clock = muster_core::ports::FixedClock(at("2026-11-03T10:00:00Z"));
    let summary = ingest(&pipeline, &without_result(&bytes, index)).await;

    // THEN it is resolved and its ticket closes (a P3 group's owner hears it from the ticket)
    assert_eq!((summary.received, summary.new, summary.resolved), (71, 0, 1));
    let stored = pipeline.store.findings(&[lonely.fingerprint()]).await.unwrap();
    assert_eq!(stored[0].status, Status::Resolved);
    assert_eq!(stored[0].resolved_at, Some(at("2026-11-03T10:00:00Z")));
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!(ticket.state, TicketState::Closed);
    let outbox = pipeline.store.outbox().await.unwrap();
    let key = ticket.key.unwrap();
    assert!(
        outbox
            .iter()
            .any(|e| e.kind == "ticket" && e.action == "close" && e.payload["ticket"] == key.as_str())
    );
    assert!(
        !outbox.iter().any(|e| e.kind == "chat"),
        "no chat message per P3/P4 group: {outbox:?}"
    );

    // AND when the scanner sees it again, the same ticket reopens
    pipeline.clock = muster_core::ports::FixedClock(at("2026-11-04T10:00:00Z"));
    let summary = ingest(&pipeline, &bytes).await;
    assert_eq!((summary.new, summary.updated), (0, 1));
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!(
        (ticket.state, ticket.key.as_deref()),
        (TicketState::Open, Some(key.as_str()))
    );
    let stored = pipeline.store.findings(&[lonely.fingerprint()]).await.unwrap();
    assert_eq!(stored[0].status, Status::Reopened);
}

#[tokio::test]
async fn findings_are_triaged_into_one_ticket_and_one_message_per_group() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    ingest(&pipeline, &bytes).await;

    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    let mut groups: Vec<_> = findings
        .iter()
        .map(|f| f.group().expect("every open finding is triaged").clone())
        .collect();
    groups.sort();
    groups.dedup();
    assert!(
        groups.len() < findings.len(),
        "grouping must reduce {} findings",
        findings.len()
    );

    for finding in &findings {
        let triage = finding.triage.as_ref().unwrap();
        assert_eq!(triage.owner.as_str(), "security-triage");
        let days = match triage.risk.tier {
            Tier::P1 => 7,
            Tier::P2 => 30,
            Tier::P3 => 90,
            Tier::P4 => 180,
        };
        assert_eq!(triage.due_at, at("2026-11-01T10:00:00Z") + chrono::Duration::days(days));
        assert!(
            triage
                .risk
                .evidence
                .iter()
                .any(|e| e.factor == muster_core::model::Factor::Severity)
        );
        assert!(triage.is_unowned(), "no owners file: the default team has it");
    }
    let outbox = pipeline.store.outbox().await.unwrap();
    let created = outbox
        .iter()
        .filter(|e| e.kind == "ticket" && e.action == "create")
        .count();
    // Only urgent (P1/P2) groups are told at once; the rest live in their tickets until the
    // SLA sweep batches them. The CodeQL sample has none that urgent.
    let urgent = findings
        .iter()
        .filter(|f| f.triage.as_ref().is_some_and(|t| t.risk.tier <= Tier::P2))
        .filter_map(|f| f.group())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let posted = outbox.iter().filter(|e| e.kind == "chat").count();
    assert_eq!((created, posted), (groups.len(), urgent));
    assert_eq!(pipeline.store.tickets().await.unwrap().len(), groups.len());
}

#[tokio::test]
async fn redelivered_messages_do_not_repeat_tickets_or_messages() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    ingest(&pipeline, &bytes).await;
    let before = pipeline.store.outbox().await.unwrap();
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();

    // Every stage's message, delivered again (at-least-once delivery).
    let fingerprints: Vec<_> = findings.iter().map(|f| f.fingerprint()).collect();
    for message in Message::triage_batches(&fingerprints) {
        pipeline.handle(&message).await.unwrap();
    }
    for finding in &findings {
        pipeline
            .handle(&Message::Ticket {
                group: finding.group().unwrap().clone(),
            })
            .await
            .unwrap();
    }
    pipeline.queue.drain(&pipeline, |_, _| {}).await;

    assert_eq!(pipeline.store.outbox().await.unwrap(), before);
}

#[tokio::test]
async fn accepted_suppressions_are_recorded_but_not_open() {
    let Some(bytes) = sample("sarif/sarif-spec_suppression_test.sarif") else {
        return;
    };
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    let summary = ingest(&pipeline, &bytes).await;
    assert_eq!(summary.received, 2);
    let all = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    let suppressed = all.iter().filter(|f| f.status == Status::Suppressed).count();
    let open = all.iter().filter(|f| f.status.is_open()).count();
    assert_eq!((suppressed, open), (3, 2));
    assert!(
        all.iter()
            .filter(|f| f.status == Status::Suppressed)
            .all(|f| f.triage.is_none())
    );
}

#[tokio::test]
async fn a_malformed_report_stores_nothing() {
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    let error = pipeline
        .ingest(IngestRequest {
            source: &source(),
            format: Some(Format::Sarif),
            event: None,
            bytes: br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a"},{"ruleId":}]}]}"#,
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("line 1"), "{error}");
    assert!(
        pipeline
            .store
            .list_findings(&FindingFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(pipeline.queue.is_empty());
    assert!(pipeline.store.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_crash_between_creating_and_recording_a_ticket_recovers_the_same_ticket() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    ingest(&pipeline, &bytes).await;
    let opened = pipeline.store.tickets().await.unwrap().remove(0);
    let creates_before = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "create")
        .count();

    // GIVEN the tracker holds the ticket but the store only the claim, abandoned an hour ago
    let abandoned = muster_core::Ticket {
        key: None,
        url: None,
        state: TicketState::Claimed,
        updated_at: at("2026-11-01T09:00:00Z"),
        ..opened.clone()
    };
    pipeline.store.save_ticket(&abandoned).await.unwrap();

    // WHEN the group's ticket message is delivered again
    pipeline
        .handle(&Message::Ticket {
            group: opened.group.clone(),
        })
        .await
        .unwrap();

    // THEN the existing ticket is found and recorded, and no second one is created
    let recovered = pipeline.store.ticket(&opened.group).await.unwrap().unwrap();
    assert_eq!((recovered.state, &recovered.key), (TicketState::Open, &opened.key));
    let creates_after = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "create")
        .count();
    assert_eq!(creates_after, creates_before);

    // The lookup itself: the outbox finds what it created for a group, and nothing for others.
    let findings = pipeline.store.group_findings(&opened.group).await.unwrap();
    let group = muster_core::services::ticket::remediation_group(&opened.group, &findings).unwrap();
    let mut draft = muster_core::services::ticket::draft(&group, &findings, recovered.updated_at);
    let found = pipeline.tickets.find(&draft).await.unwrap();
    assert_eq!(found.map(|r| r.key), recovered.key);
    draft.group = muster_core::GroupKey::parse("nobody/github.com/x/y/rule:z").unwrap();
    assert_eq!(pipeline.tickets.find(&draft).await.unwrap(), None);
}

/// A request for one of this crate's fixtures, from the `ci` source.
fn trivy_request(report: &[u8]) -> IngestRequest<'_> {
    static SOURCE: std::sync::LazyLock<SourceName> = std::sync::LazyLock::new(source);
    IngestRequest {
        source: &SOURCE,
        format: None,
        event: None,
        bytes: report,
    }
}

/// The groups of `findings`, each once.
fn distinct_groups(findings: &[muster_core::Finding]) -> Vec<muster_core::GroupKey> {
    let mut groups: Vec<_> = findings.iter().filter_map(|f| f.group().cloned()).collect();
    groups.sort();
    groups.dedup();
    groups
}

/// A queue of the embedded kind (its stages share the process) that is down.
struct DownQueue;

impl muster_core::ports::Queue for DownQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), muster_core::ports::QueueError> {
        Err(muster_core::ports::QueueError::Rejected {
            failed: messages.len(),
            total: messages.len(),
            reason: "queue is down".to_owned(),
        })
    }

    fn in_process(&self) -> bool {
        true
    }
}

/// Open findings as (fingerprint, owner, tier, group, due date, timeline events), sorted.
async fn decisions(pipeline: &TestPipeline) -> Vec<(String, String, Tier, String, String, Vec<String>)> {
    let mut findings: Vec<_> = pipeline
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|f| {
            let triage = f.triage.as_ref().expect("every finding is triaged");
            (
                f.fingerprint().to_string(),
                triage.owner.to_string(),
                triage.risk.tier,
                triage.group.to_string(),
                triage.due_at.to_rfc3339(),
                f.timeline
                    .iter()
                    .map(|e| format!("{} {} {}", e.at, e.event, e.detail))
                    .collect(),
            )
        })
        .collect();
    findings.sort();
    findings
}

#[tokio::test]
async fn embedded_ingest_triages_before_the_first_write_and_ends_where_the_triage_stage_ends() {
    use muster_core::services::ingest::{TriageAt, ingest as ingest_with};
    let report = muster_tests::fixture("trivy-shop-api.json");
    let request = trivy_request(&report);

    // GIVEN two fresh embedded pipelines at the same instant
    let inline = pipeline_at("2026-11-27T10:00:00Z");
    let staged = pipeline_at("2026-11-27T10:00:00Z");

    // WHEN one ingests as the embedded pipeline does, before any stage ran
    let summary = inline.ingest(request).await.unwrap();

    // THEN its findings are stored triaged already, and only their groups' tickets are queued
    let stored = inline.store.list_findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(stored.len() as u64, summary.new);
    assert!(summary.new > 1, "the fixture has several findings");
    assert!(stored.iter().all(|f| f.triage.is_some()), "triaged at ingest");
    let groups = distinct_groups(&stored);
    assert_eq!(
        inline.queue.len(),
        groups.len(),
        "one ticket message per group, no triage message"
    );

    // AND the other goes through the triage stage, as on Lambda
    ingest_with(&staged.store, &staged.queue, &staged.clock, TriageAt::Stage, request)
        .await
        .unwrap();
    assert!(
        staged
            .store
            .list_findings(&FindingFilter::default())
            .await
            .unwrap()
            .iter()
            .all(|f| f.triage.is_none()),
        "the stage path stores them untriaged"
    );

    // AND once both pipelines ran every stage, they hold the same decisions, timelines and tickets
    for pipeline in [&inline, &staged] {
        let drained = pipeline.queue.drain(pipeline, |_, _| {}).await;
        assert_eq!(drained.dead_lettered, 0);
    }
    assert_eq!(decisions(&inline).await, decisions(&staged).await);
    let ticketed = |tickets: Vec<muster_core::Ticket>| {
        let mut keys: Vec<_> = tickets.into_iter().map(|t| (t.group.to_string(), t.state)).collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys
    };
    let inline_tickets = ticketed(inline.store.tickets().await.unwrap());
    assert_eq!(inline_tickets.len(), groups.len());
    assert_eq!(inline_tickets, ticketed(staged.store.tickets().await.unwrap()));
    assert_eq!(
        inline.store.outbox().await.unwrap().len(),
        staged.store.outbox().await.unwrap().len()
    );
}

#[tokio::test]
async fn a_delivery_that_stored_triaged_findings_but_lost_their_tickets_is_repaired_by_the_next() {
    use muster_core::services::ingest::{TriageAt, ingest as ingest_with};
    let report = muster_tests::fixture("trivy-shop-api.json");
    let request = trivy_request(&report);
    let pipeline = pipeline_at("2026-11-27T10:00:00Z");

    // GIVEN a delivery that stored its findings, triaged, and then could not hand them on
    let failed = ingest_with(
        &pipeline.store,
        &DownQueue,
        &pipeline.clock,
        TriageAt::Ingest(&pipeline.config),
        request,
    )
    .await;
    assert!(failed.is_err(), "the queue was down");
    let stored = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    assert!(!stored.is_empty() && stored.iter().all(|f| f.triage.is_some()));
    assert!(pipeline.store.tickets().await.unwrap().is_empty());

    // WHEN the scanner sends the same report again and every stage runs
    let summary = ingest(&pipeline, &report).await;

    // THEN nothing is new, yet every group has its ticket
    assert_eq!(summary.new, 0);
    let groups = distinct_groups(&stored);
    let tickets = pipeline.store.tickets().await.unwrap();
    assert_eq!(tickets.len(), groups.len(), "{tickets:?}");
    assert!(tickets.iter().all(|t| t.state == TicketState::Open));

    // AND a third delivery of the same report changes nothing and queues nothing
    let again = pipeline.ingest(request).await.unwrap();
    assert_eq!((again.new, again.updated, again.resolved), (0, 0, 0));
    assert!(pipeline.queue.is_empty());
}

#[tokio::test]
async fn the_ticket_stage_queues_a_notification_only_for_groups_told_at_once() {
    use std::collections::BTreeMap;
    // GIVEN a report whose groups are of several tiers, ingested but no stage run yet
    let pipeline = pipeline_at("2026-11-27T10:00:00Z");
    let report = muster_tests::fixture("trivy-shop-api.json");
    pipeline.ingest(trivy_request(&report)).await.unwrap();
    let mut tiers: BTreeMap<muster_core::GroupKey, Tier> = BTreeMap::new();
    for finding in pipeline.store.list_findings(&FindingFilter::default()).await.unwrap() {
        let triage = finding.triage.as_ref().unwrap();
        let tier = tiers.entry(triage.group.clone()).or_insert(triage.risk.tier);
        *tier = (*tier).min(triage.risk.tier);
    }
    let urgent = tiers.values().filter(|tier| **tier <= Tier::P2).count();
    assert!(
        urgent > 0 && urgent < tiers.len(),
        "the fixture has urgent and other groups: {tiers:?}"
    );
    let queued = pipeline.queue.len();

    // WHEN the ticket stage opens every group's ticket
    for group in tiers.keys() {
        pipeline
            .handle(&Message::Ticket { group: group.clone() })
            .await
            .unwrap();
    }

    // THEN only the urgent groups' openings wait for the notify stage
    assert_eq!(pipeline.store.tickets().await.unwrap().len(), tiers.len());
    assert_eq!(pipeline.queue.len(), queued + urgent);
}

#[tokio::test]
async fn notify_alerts_from_the_summary_the_ticket_stage_kept_on_the_ticket() {
    // GIVEN a report's groups ticketed, their notifications not sent yet
    let pipeline = pipeline_at("2026-11-27T10:00:00Z");
    let report = muster_tests::fixture("trivy-shop-api.json");
    pipeline.ingest(trivy_request(&report)).await.unwrap();
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    for group in distinct_groups(&findings) {
        pipeline.handle(&Message::Ticket { group }).await.unwrap();
    }
    let urgent = findings
        .iter()
        .find(|f| f.triage.as_ref().is_some_and(|t| t.risk.tier <= Tier::P2))
        .expect("the fixture has an urgent group");
    let group = urgent.group().unwrap().clone();
    let members: Vec<_> = findings.iter().filter(|f| f.group() == Some(&group)).cloned().collect();
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    let summary = ticket.summary.clone().expect("the ticket stage keeps a summary");
    assert_eq!(summary.open, members.len());
    assert!(summary.tier <= Tier::P2 && !summary.evidence.is_empty(), "{summary:?}");

    let notify = |minute: u32| Message::Notify {
        group: group.clone(),
        event: muster_core::messages::TicketEvent::Opened,
        at: at(&format!("2026-11-27T10:{minute:02}:00Z")),
    };
    let last_chat = || async {
        let outbox = pipeline.store.outbox().await.unwrap();
        outbox.into_iter().rfind(|e| e.kind == "chat").unwrap().payload
    };

    // WHEN it is told from the summary, and again from a ticket stored before summaries existed
    pipeline.handle(&notify(1)).await.unwrap();
    let from_summary = last_chat().await;
    pipeline
        .store
        .save_ticket(&muster_core::model::Ticket {
            summary: None,
            ..ticket.clone()
        })
        .await
        .unwrap();
    pipeline.handle(&notify(2)).await.unwrap();
    let from_group = last_chat().await;

    // THEN both say the same
    assert_eq!(from_summary["card"], from_group["card"]);
    assert_eq!(from_summary["text"], from_group["text"]);
    assert_eq!(from_summary["card"]["fix"], summary.fix.as_str());

    // WHEN the members change after the ticket's last sync
    pipeline.store.save_ticket(&ticket).await.unwrap();
    let resolved: Vec<_> = members
        .into_iter()
        .map(|mut f| {
            f.status = Status::Resolved;
            f
        })
        .collect();
    pipeline.store.save_findings(&resolved).await.unwrap();
    pipeline.handle(&notify(3)).await.unwrap();

    // THEN the alert still says what the ticket says: notify did not read the group
    assert_eq!(last_chat().await["card"], from_summary["card"]);
}

/// A pipeline like `pipeline_at`'s over a database file, so a second connection can watch its
/// commits; `tickets` is the ticket sink.
fn file_pipeline<T: TicketSink>(
    name: &str,
    tickets: impl FnOnce(&muster_local::SqliteStore) -> T,
) -> (
    muster_core::services::Pipeline<
        muster_local::SqliteStore,
        muster_local::LocalQueue,
        T,
        muster_core::outbox::OutboxChat<muster_local::SqliteStore>,
        muster_core::ports::FixedClock,
    >,
    std::path::PathBuf,
) {
    let path = fresh_db(name);
    let template = pipeline_at("2026-11-01T10:00:00Z");
    let store = muster_local::SqliteStore::open(&path).unwrap();
    let pipeline = muster_core::services::Pipeline {
        tickets: tickets(&store),
        chat: muster_core::outbox::OutboxChat(store.clone()),
        store,
        queue: template.queue.clone(),
        clock: template.clock,
        config: template.config.clone(),
    };
    (pipeline, path)
}

/// A path for a new database file of this test process, its folder emptied.
fn fresh_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-batch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("muster.db")
}

/// A second connection holding a read snapshot of `db` while it lives, so no checkpoint
/// restarts the WAL and `wal_commits` sees every commit made meanwhile.
fn hold_wal(db: &std::path::Path) -> rusqlite::Connection {
    let watcher = rusqlite::Connection::open(db).unwrap();
    watcher
        .execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
        .unwrap();
    watcher
}

/// Write transactions committed to the WAL of `db` so far, while `hold_wal` keeps them there.
fn wal_commits(db: &std::path::Path) -> usize {
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    if wal.len() < 32 {
        return 0;
    }
    let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let salt = &wal[16..24];
    wal[32..]
        .chunks_exact(24 + page_size)
        .take_while(|frame| &frame[8..16] == salt)
        .filter(|frame| frame[4..8] != [0; 4])
        .count()
}

/// Ingests 600 results of 60 rules in one repository (60 remediation groups, some urgent),
/// leaving their triage and tickets queued.
async fn queue_sixty_groups<T, N, C>(
    pipeline: &muster_core::services::Pipeline<muster_local::SqliteStore, muster_local::LocalQueue, T, N, C>,
) where
    T: TicketSink,
    N: muster_core::ports::ChatSink,
    C: muster_core::ports::Clock,
{
    let report = muster_bench::generate_sarif(600, 1, 60, 0.0, 5);
    let request = IngestRequest {
        source: &source(),
        format: None,
        event: None,
        bytes: &report,
    };
    pipeline.ingest(request).await.expect("the generated report ingests");
}

#[tokio::test]
async fn a_batched_drain_ends_where_a_per_write_drain_ends_in_a_few_commits() {
    let mut ends = Vec::new();
    let mut commits = Vec::new();
    for batched in [false, true] {
        // GIVEN the same report ingested into two fresh stores
        let (pipeline, db) = file_pipeline(if batched { "batched" } else { "per-write" }, |s| {
            muster_core::outbox::OutboxTickets(s.clone())
        });
        queue_sixty_groups(&pipeline).await;
        let watcher = hold_wal(&db);
        let before = wal_commits(&db);

        // WHEN one drains per write and the other in batches
        let drained = if batched {
            pipeline.queue.drain_batched(&pipeline, |_, _| {}).await
        } else {
            pipeline.queue.drain(&pipeline, |_, _| {}).await
        };
        assert_eq!((drained.retried, drained.dead_lettered), (0, 0));
        commits.push(wal_commits(&db) - before);
        drop(watcher);
        ends.push((
            pipeline.store.list_findings(&FindingFilter::default()).await.unwrap(),
            pipeline.store.tickets().await.unwrap(),
            // What each entry says; `created_at` is the wall clock's.
            pipeline
                .store
                .outbox()
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.id, e.kind, e.action, e.target, e.dedupe_key, e.payload))
                .collect::<Vec<_>>(),
        ));
    }

    // THEN both end with the same findings, tickets and outbox, the batched one in a few commits
    let (findings, tickets, outbox) = &ends[0];
    assert_eq!(tickets.len(), distinct_groups(findings).len());
    assert!(tickets.len() >= 50, "the report makes {} groups", tickets.len());
    assert!(outbox.iter().any(|e| e.1 == "chat"), "some groups are urgent");
    assert!(ends[0].0 == ends[1].0, "the findings differ");
    assert!(ends[0].1 == ends[1].1, "the tickets differ");
    assert!(ends[0].2 == ends[1].2, "the outbox differs");
    assert!(commits[0] >= 2 * tickets.len(), "per write: {} commits", commits[0]);
    assert!(commits[1] <= 3, "batched: {} commits", commits[1]);
}

/// The outbox's ticket sink, which loses the drain's open store batch right after its
/// `lose_after`th create, as SQLite does by itself after a full disk or an I/O error.
struct LosesBatch {
    outbox: muster_core::outbox::OutboxTickets<muster_local::SqliteStore>,
    creates: std::sync::atomic::AtomicUsize,
    lose_after: usize,
}

impl TicketSink for LosesBatch {
    fn tracker(&self, draft: &TicketDraft) -> &str {
        self.outbox.tracker(draft)
    }

    async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
        let created = self.outbox.create(draft).await?;
        if self.creates.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == self.lose_after {
            self.outbox.0.abort_batch().await?;
        }
        Ok(created)
    }

    async fn find(&self, draft: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
        self.outbox.find(draft).await
    }

    async fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.outbox.update(ticket, draft).await
    }

    async fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.outbox.close(ticket, draft).await
    }

    async fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.outbox.reopen(ticket, draft).await
    }
}

#[tokio::test]
async fn a_store_batch_that_sqlite_loses_is_run_again_and_nothing_is_lost_or_doubled() {
    // GIVEN a report of 60 groups, and a store that loses the open batch after 20 tickets
    let (pipeline, _db) = file_pipeline("lost", |s| LosesBatch {
        outbox: muster_core::outbox::OutboxTickets(s.clone()),
        creates: std::sync::atomic::AtomicUsize::new(0),
        lose_after: 20,
    });
    queue_sixty_groups(&pipeline).await;

    // WHEN the queue drains in batches
    let drained = pipeline.queue.drain_batched(&pipeline, |_, _| {}).await;

    // THEN the lost batch's messages ran again, and every group has one ticket, recorded once
    assert!(drained.retried > 0, "{drained:?}");
    assert_eq!(drained.dead_lettered, 0);
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    assert!(findings.iter().all(|f| f.group().is_some()), "every finding is triaged");
    let groups = distinct_groups(&findings);
    let tickets = pipeline.store.tickets().await.unwrap();
    assert_eq!(tickets.len(), groups.len());
    let outbox = pipeline.store.outbox().await.unwrap();
    let creates: Vec<_> = outbox
        .iter()
        .filter(|e| e.kind == "ticket" && e.action == "create")
        .collect();
    assert_eq!(creates.len(), groups.len());
    for ticket in &tickets {
        assert_eq!(ticket.state, TicketState::Open, "{}", ticket.group);
        let entry = creates
            .iter()
            .find(|e| Some(format!("OUTBOX-{}", e.id)) == ticket.key)
            .unwrap_or_else(|| panic!("{}'s ticket {:?} has no outbox entry", ticket.group, ticket.key));
        assert!(
            entry.dedupe_key.ends_with(ticket.group.as_str()),
            "{}",
            entry.dedupe_key
        );
    }
    assert!(pipeline.store.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_local_sweep_commits_its_writes_once() {
    // GIVEN 60 ticketed groups in the embedded pipeline, every sink the outbox
    let db = fresh_db("sweep");
    let config = std::sync::Arc::new(muster_core::Config::default());
    let pipeline = muster_local::embedded(&db, config, muster_local::StoreThreads::Caller).unwrap();
    assert!(muster_local::records_locally(&pipeline));
    queue_sixty_groups(&pipeline).await;
    muster_local::drain_once(&pipeline, |_, _| {}).await;
    let untold = pipeline
        .store
        .tickets()
        .await
        .unwrap()
        .iter()
        .filter(|t| t.told.is_none())
        .count();
    assert!(untold >= 40, "only urgent groups are told at once: {untold} untold");
    let _watcher = hold_wal(&db);
    let before = wal_commits(&db);

    // WHEN the sweep announces them
    let now = chrono::Utc::now() + chrono::Duration::hours(1);
    let report = muster_local::sweep_once(&pipeline, now).await.unwrap();

    // THEN the groups not told at once (P3/P4) are announced in one message, every ticket
    // records what the sweep told, and all of it is one commit
    assert!(report.new >= 40 && report.messages == 1, "{report:?}");
    let tickets = pipeline.store.tickets().await.unwrap();
    assert!(tickets.iter().all(|t| t.told.is_some()));
    assert_eq!(wal_commits(&db) - before, 1);
}
