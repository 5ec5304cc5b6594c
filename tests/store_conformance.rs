//! One conformance suite for the `Store` port, instantiated per backend, so adapters cannot
//! drift apart: SQLite, and DynamoDB on `moto_server` (skipped, saying so, when moto is
//! unavailable). The SQS queue adapter's tests against moto live here too, beside the store's.

use std::sync::Arc;

use muster_core::messages::Message;
use muster_core::model::{
    AssetKey, Detection, Evidence, Factor, Finding, FindingKind, Fingerprint, GroupKey, Location, Risk, ScanRun,
    ScopeKey, Severity, SourceName, Status, TeamId, Ticket, TicketState, Tier, Tool, Triage,
};
use muster_core::ports::{DeadLetter, FindingFilter, FindingStore, OutboxEntry, Store, StoreError};
use muster_core::ssvc;
use muster_local::{SqliteStore, StoreThreads};
use muster_tests::at;

fn finding(n: u8, severity: Severity, tier: Option<Tier>, status: Status) -> Finding {
    let asset = AssetKey::parse("github.com/acme/shop").unwrap();
    let owner = TeamId::parse("payments").unwrap();
    Finding {
        detection: Detection {
            rule_id: Some(Arc::from(format!("rule-{n}").as_str())),
            ..Detection::new(
                Fingerprint::from_bytes([n; 16]),
                FindingKind::Code,
                format!("finding {n}"),
                severity,
                Location::Source {
                    path: "src/main.rs".into(),
                    line: Some(u32::from(n)),
                },
            )
        },
        tool: Tool {
            name: "CodeQL".into(),
            version: Some("2.5.4".into()),
        },
        seen_by: vec![ScopeKey::new(&SourceName::parse("ci").unwrap(), "CodeQL", &asset)],
        status,
        first_seen: at("2026-11-01T10:00:00Z"),
        last_seen: at("2026-11-01T10:00:00Z"),
        resolved_at: None,
        triage: tier.map(|tier| {
            Box::new(Triage {
                risk: Risk {
                    score: 50,
                    tier,
                    evidence: vec![Evidence {
                        factor: Factor::Severity,
                        value: "high".into(),
                        contribution: 70,
                        source: "CodeQL".into(),
                    }],
                    ssvc: ssvc::assess(Some(false), false, None),
                },
                group: GroupKey::new(&owner, &asset, "rule:x"),
                owner: owner.clone(),
                // Odd findings were claimed by a rule, even ones fell to the default team.
                owner_rule: (n % 2 == 1).then(|| "rules[0]".to_owned()),
                clock_start: at("2026-11-01T10:00:00Z"),
                due_at: at("2026-12-01T10:00:00Z"),
            })
        }),
        asset,
        acceptance: None,
        clock_start: None,
        rerouted: None,
        timeline: Vec::new(),
    }
}

async fn findings_round_trip_and_filter(store: impl Store) {
    let a = finding(1, Severity::High, Some(Tier::P2), Status::Open);
    let b = finding(2, Severity::Low, Some(Tier::P4), Status::Resolved);
    let c = finding(3, Severity::Critical, None, Status::Open);
    store.save_findings(&[a.clone(), b.clone(), c.clone()]).await.unwrap();

    let got = store
        .findings(&[b.fingerprint(), Fingerprint::from_bytes([9; 16]), a.fingerprint()])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![b.clone(), a.clone()],
        "unknown fingerprints are left out, order follows the request"
    );

    let all = store.list_findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], a, "most urgent tier first");

    let open = store
        .list_findings(&FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    let p4 = store
        .list_findings(&FindingFilter {
            tier: Some(Tier::P4),
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(p4, vec![b.clone()]);
    let owned = store
        .list_findings(&FindingFilter {
            owner: Some(TeamId::parse("payments").unwrap()),
            status: Some(Status::Open),
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(owned, vec![a.clone()]);
    let unowned = store
        .list_findings(&FindingFilter {
            unowned: true,
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(unowned, vec![b.clone()], "b fell to the default team; c is untriaged");

    // Saving again replaces, never duplicates.
    let mut a2 = a.clone();
    a2.status = Status::Acknowledged;
    store.save_findings(&[a2.clone()]).await.unwrap();
    assert_eq!(store.findings(&[a.fingerprint()]).await.unwrap(), vec![a2]);
    assert_eq!(store.list_findings(&FindingFilter::default()).await.unwrap().len(), 3);

    let group = a.group().unwrap();
    let members = store.group_findings(group).await.unwrap();
    assert_eq!(members.len(), 2, "a and b share the group; c is untriaged");
}

async fn latest_run_is_replaced_whole(store: impl Store) {
    let scope = ScopeKey::from_stored("ci|CodeQL|github.com/acme/shop".into());
    assert!(store.latest_run(&scope).await.unwrap().is_none());
    let first = ScanRun {
        id: "run-1".into(),
        scope: scope.clone(),
        at: at("2026-11-01T10:00:00Z"),
        received: 2,
        digest: [7; 16],
        fingerprints: vec![Fingerprint::from_bytes([1; 16]), Fingerprint::from_bytes([2; 16])],
    };
    store.record_run(&first).await.unwrap();
    assert_eq!(store.latest_run(&scope).await.unwrap(), Some(first.clone()));
    let second = ScanRun {
        id: "run-2".into(),
        at: at("2026-11-02T10:00:00Z"),
        received: 0,
        digest: [8; 16],
        fingerprints: vec![],
        ..first
    };
    store.record_run(&second).await.unwrap();
    assert_eq!(store.latest_run(&scope).await.unwrap(), Some(second));
}

async fn a_ticket_can_be_claimed_once(store: impl Store) {
    let group = GroupKey::parse("payments/github.com/acme/shop/rule:x").unwrap();
    let claim = Ticket {
        group: group.clone(),
        tracker: "outbox".into(),
        key: None,
        url: None,
        state: TicketState::Claimed,
        digest: None,
        updated_at: at("2026-11-01T10:00:00Z"),
        acknowledged: None,
        told: None,
        summary: None,
    };
    store.claim_ticket(&claim).await.unwrap();
    let again = store.claim_ticket(&claim).await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists { .. }), "{again}");

    let open = Ticket {
        key: Some("OUTBOX-1".into()),
        state: TicketState::Open,
        digest: Some("abc".into()),
        acknowledged: Some(muster_core::model::Acknowledgement {
            by: "U024BE7LH".into(),
            at: at("2026-11-02T10:00:00Z"),
            until: at("2026-11-05T10:00:00Z"),
        }),
        told: Some(muster_core::model::Told {
            rung: muster_core::model::Rung::Breached,
            at: at("2026-11-03T10:00:00Z"),
        }),
        summary: Some(muster_core::model::GroupSummary {
            tier: muster_core::model::Tier::P2,
            title: "Fix x in github.com/acme/shop: SQL built from user input — 2 findings (P2)".into(),
            owner: muster_core::model::TeamId::parse("payments").unwrap(),
            due_at: at("2026-11-15T10:00:00Z"),
            open: 2,
            fix: "use a prepared statement".into(),
            evidence: vec!["severity high (+40)".into(), "internet-facing (+15)".into()],
            read_at: Some(at("2026-11-02T09:59:58Z")),
        }),
        ..claim
    };
    store.save_ticket(&open).await.unwrap();
    assert_eq!(store.ticket(&group).await.unwrap(), Some(open.clone()));
    assert_eq!(store.tickets().await.unwrap(), vec![open]);
}

async fn outbox_records_each_dedupe_key_once(store: impl Store) {
    let entry = OutboxEntry {
        id: 0,
        kind: "chat".into(),
        action: "post".into(),
        target: "#payments".into(),
        dedupe_key: "chat:opened:g:1".into(),
        payload: serde_json::json!({"text": "hello"}),
        created_at: at("2026-11-01T10:00:00Z"),
    };
    let (id, inserted) = store.append_outbox(&entry).await.unwrap();
    assert!(inserted);
    let (again, inserted) = store.append_outbox(&entry).await.unwrap();
    assert_eq!((again, inserted), (id, false));
    let listed = store.outbox().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], OutboxEntry { id, ..entry.clone() });
    assert_eq!(
        store.outbox_entry(&entry.dedupe_key).await.unwrap(),
        Some(listed[0].clone())
    );
    assert_eq!(store.outbox_entry("chat:never-recorded").await.unwrap(), None);
}

async fn dead_letters_keep_message_and_error(store: impl Store) {
    let letter = DeadLetter {
        id: 0,
        message: Message::Ticket {
            group: GroupKey::parse("a/b/c").unwrap(),
        },
        error: "sink: rejected: project not found".into(),
        attempts: 5,
        failed_at: at("2026-11-01T10:00:00Z"),
    };
    store.record_dead_letter(&letter).await.unwrap();
    let second = DeadLetter {
        error: "sink: rate limited".into(),
        ..letter.clone()
    };
    store.record_dead_letter(&second).await.unwrap();
    let listed = store.dead_letters().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_ne!(listed[0].id, listed[1].id, "each letter gets its own id");
    assert_eq!(
        DeadLetter {
            id: 0,
            ..listed[0].clone()
        },
        letter
    );
    assert_eq!(listed[1].error, second.error);
    store.remove_dead_letter(listed[0].id).await.unwrap();
    assert_eq!(store.dead_letters().await.unwrap(), vec![listed[1].clone()]);
}

async fn context_imports_replace_whole(store: impl Store) {
    use muster_core::assets::{Asset, Exposure};
    use muster_core::ownership::{Matcher, Ownership, OwnershipRule, Team};
    let team = |id: &str| Team {
        id: TeamId::parse(id).unwrap(),
        name: id.to_owned(),
        tracker: None,
        slack_channel: None,
        escalation: vec![],
        timezone: None,
        quiet_hours: None,
        codeowners: vec![],
        assignees: vec![],
    };
    let repo = AssetKey::parse("github.com/acme/shop").unwrap();
    let rule = |id: &str, team: &str, matcher: Matcher| OwnershipRule {
        id: id.to_owned(),
        team: Some(TeamId::parse(team).unwrap()),
        matcher,
    };
    let codeowners = vec![rule(
        "CODEOWNERS:1",
        "web",
        Matcher::Codeowners {
            repo: repo.clone(),
            pattern: "*".into(),
            line: 1,
        },
    )];
    store.replace_codeowners(&repo, &codeowners).await.unwrap();
    let first = Ownership {
        teams: vec![team("web"), team("payments")],
        rules: vec![rule("shop", "payments", Matcher::Asset { key: repo.clone() })],
        default_team: Some(TeamId::parse("payments").unwrap()),
    };
    store.replace_ownership(&first).await.unwrap();
    let context = store.org_context().await.unwrap();
    assert_eq!(context.ownership.teams, first.teams);
    assert_eq!(context.ownership.rules.len(), 2, "owners rules plus CODEOWNERS rules");
    assert_eq!(context.ownership.default_team, first.default_team);

    // Re-importing a smaller file removes what it no longer lists; CODEOWNERS stay.
    let second = Ownership {
        teams: vec![team("web")],
        rules: vec![],
        default_team: None,
    };
    store.replace_ownership(&second).await.unwrap();
    let context = store.org_context().await.unwrap();
    assert_eq!(context.ownership.teams, second.teams);
    assert_eq!(context.ownership.rules, codeowners);
    assert_eq!(context.ownership.default_team, None);
    store.replace_codeowners(&repo, &[]).await.unwrap();
    assert!(store.org_context().await.unwrap().ownership.rules.is_empty());

    let asset = |key: &str, exposure| Asset {
        key: AssetKey::parse(key).unwrap(),
        name: None,
        criticality: 2,
        environment: None,
        exposure,
        controls: vec![],
        connected_to: vec![],
        tags: vec![],
    };
    store
        .replace_assets(&[asset("a", Exposure::External), asset("b", Exposure::Internal)])
        .await
        .unwrap();
    store.replace_assets(&[asset("b", Exposure::External)]).await.unwrap();
    assert_eq!(
        store.org_context().await.unwrap().assets,
        vec![asset("b", Exposure::External)]
    );
}

async fn intel_reports_what_changed(store: impl Store) {
    use muster_core::intel::{EpssScore, KevEntry};
    let kev = |cve: &str, ransomware| KevEntry {
        cve: cve.to_owned(),
        name: "x".into(),
        date_added: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        due_date: None,
        ransomware,
    };
    let epss = |cve: &str, probability| EpssScore {
        cve: cve.to_owned(),
        probability,
        percentile: 0.5,
    };
    let changed = store
        .replace_kev(&[kev("CVE-1", false), kev("CVE-2", false)])
        .await
        .unwrap();
    assert_eq!(changed, ["CVE-1", "CVE-2"]);
    let changed = store
        .replace_kev(&[kev("CVE-2", true), kev("CVE-3", false)])
        .await
        .unwrap();
    assert_eq!(changed, ["CVE-1", "CVE-2", "CVE-3"], "left, changed, entered");
    assert!(
        store
            .replace_kev(&[kev("CVE-2", true), kev("CVE-3", false)])
            .await
            .unwrap()
            .is_empty()
    );

    store
        .replace_epss(&[epss("CVE-2", 0.5), epss("CVE-9", 0.01)])
        .await
        .unwrap();
    let changed = store
        .replace_epss(&[epss("CVE-2", 0.5), epss("CVE-9", 0.2)])
        .await
        .unwrap();
    assert_eq!(changed, ["CVE-9"]);

    let intel = store
        .intel(&["CVE-2".into(), "CVE-3".into(), "CVE-9".into(), "CVE-404".into()])
        .await
        .unwrap();
    assert_eq!(intel.len(), 3, "unknown CVEs are left out");
    assert!(intel["CVE-2"].kev.as_ref().unwrap().ransomware);
    assert_eq!(intel["CVE-2"].epss.as_ref().unwrap().probability, 0.5);
    assert!(intel["CVE-3"].epss.is_none());
    assert!(intel["CVE-9"].kev.is_none());
}

async fn due_by_reads_only_open_triaged_findings_due_by_then(store: impl Store) {
    // Due dates a day apart, across shards (fingerprints spread over the first byte).
    let due = |n: u8, status: Status, tier: Option<Tier>| {
        let mut f = finding(n, Severity::High, tier, status);
        if let Some(triage) = f.triage.as_mut() {
            triage.due_at = at("2026-12-01T10:00:00Z") + chrono::Duration::days(i64::from(n % 10));
        }
        f
    };
    let findings = vec![
        due(10, Status::Open, Some(Tier::P2)),          // due 12-01
        due(31, Status::Reopened, Some(Tier::P1)),      // due 12-02
        due(52, Status::Open, Some(Tier::P3)),          // due 12-03
        due(73, Status::Open, Some(Tier::P2)),          // due 12-04: after the deadline
        due(91, Status::Resolved, Some(Tier::P1)),      // due 12-02 but closed
        due(200, Status::Open, None),                   // not triaged: no due date yet
        due(242, Status::RiskAccepted, Some(Tier::P2)), // due 12-03: accepted is still open
    ];
    store.save_findings(&findings).await.unwrap();

    let listed = store.due_by(at("2026-12-03T10:00:00Z")).await.unwrap();

    let fingerprints: Vec<u8> = listed.iter().map(|f| f.fingerprint().as_bytes()[0]).collect();
    assert_eq!(fingerprints.len(), 4, "{fingerprints:?}");
    assert_eq!(&fingerprints[..2], &[10, 31], "earliest first");
    assert!(
        fingerprints.contains(&52) && fingerprints.contains(&242),
        "{fingerprints:?}"
    );
    assert!(store.due_by(at("2026-11-30T10:00:00Z")).await.unwrap().is_empty());
}

/// `$make` yields `Option<impl Store>`: `None` skips the test (a backend whose server is absent).
macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn findings_round_trip_and_filter() {
                let Some(store) = $make else { return };
                super::findings_round_trip_and_filter(store).await;
            }
            #[tokio::test]
            async fn latest_run_is_replaced_whole() {
                let Some(store) = $make else { return };
                super::latest_run_is_replaced_whole(store).await;
            }
            #[tokio::test]
            async fn a_ticket_can_be_claimed_once() {
                let Some(store) = $make else { return };
                super::a_ticket_can_be_claimed_once(store).await;
            }
            #[tokio::test]
            async fn outbox_records_each_dedupe_key_once() {
                let Some(store) = $make else { return };
                super::outbox_records_each_dedupe_key_once(store).await;
            }
            #[tokio::test]
            async fn dead_letters_keep_message_and_error() {
                let Some(store) = $make else { return };
                super::dead_letters_keep_message_and_error(store).await;
            }
            #[tokio::test]
            async fn context_imports_replace_whole() {
                let Some(store) = $make else { return };
                super::context_imports_replace_whole(store).await;
            }
            #[tokio::test]
            async fn due_by_reads_only_open_triaged_findings_due_by_then() {
                let Some(store) = $make else { return };
                super::due_by_reads_only_open_triaged_findings_due_by_then(store).await;
            }
            #[tokio::test]
            async fn intel_reports_what_changed() {
                let Some(store) = $make else { return };
                super::intel_reports_what_changed(store).await;
            }
        }
    };
}

conformance!(sqlite, Some(SqliteStore::open_in_memory().unwrap()));
// One-shot CLI commands run the store's calls on the caller's thread.
conformance!(
    sqlite_on_caller_thread,
    Some(SqliteStore::open_in_memory().unwrap().on_threads(StoreThreads::Caller))
);
conformance!(dynamodb, muster_tests::moto::dynamo_store().await);

/// The file-backed store keeps everything across reopen (WAL mode, migrations applied once).
#[tokio::test]
async fn sqlite_file_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("muster-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("muster.db");
    let _ = std::fs::remove_file(&path);
    let a = finding(1, Severity::High, Some(Tier::P2), Status::Open);
    SqliteStore::open(&path)
        .unwrap()
        .save_findings(std::slice::from_ref(&a))
        .await
        .unwrap();
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.findings(&[a.fingerprint()]).await.unwrap(), vec![a]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// DynamoDB-only behaviour: costs and sizes the port's contract implies but SQLite gets free.
mod dynamodb_specific {
    use super::*;
    use muster_core::ports::{FindingStore, RunStore};
    use muster_tests::moto::dynamo_store;

    fn run_of(scope: &ScopeKey, id: &str, count: u32, salt: u8) -> ScanRun {
        let mut fingerprints: Vec<Fingerprint> = (0..count)
            .map(|i| {
                let mut bytes = [salt; 16];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                Fingerprint::from_bytes(bytes)
            })
            .collect();
        fingerprints.sort();
        ScanRun {
            id: id.into(),
            scope: scope.clone(),
            at: at("2026-11-01T10:00:00Z"),
            received: u64::from(count),
            digest: [salt; 16],
            fingerprints,
        }
    }

    /// The sweep's hourly review of expired acceptances lists risk-accepted findings; it must
    /// read those, not the whole open backlog (they live in their own partitions of
    /// `open-by-due`), while the due-date range still finds them.
    #[tokio::test]
    async fn listing_risk_accepted_findings_reads_only_them() {
        let Some(store) = dynamo_store().await else { return };
        let mut all: Vec<Finding> = (0..240u8)
            .map(|n| finding(n, Severity::High, Some(Tier::P3), Status::Open))
            .collect();
        let accepted: Vec<Finding> = (240..243u8)
            .map(|n| finding(n, Severity::High, Some(Tier::P3), Status::RiskAccepted))
            .collect();
        all.extend(accepted.iter().cloned());
        store.save_findings(&all).await.unwrap();

        let before = store.request_counts();
        let filter = FindingFilter {
            status: Some(Status::RiskAccepted),
            ..FindingFilter::default()
        };
        let listed = store.list_findings(&filter).await.unwrap();
        let read = store.request_counts().items_read - before.items_read;

        let mut want: Vec<Fingerprint> = accepted.iter().map(Finding::fingerprint).collect();
        let mut got: Vec<Fingerprint> = listed.iter().map(Finding::fingerprint).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(read, 3, "items read to list 3 accepted among 243 open findings");
        let open = FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        };
        assert_eq!(store.list_findings(&open).await.unwrap().len(), 243);
        assert_eq!(store.due_by(at("2026-12-02T00:00:00Z")).await.unwrap().len(), 243);
    }

    #[tokio::test]
    async fn rerecording_an_unchanged_20k_run_is_one_write() {
        let Some(store) = dynamo_store().await else { return };
        // GIVEN a 20k-finding run on record
        let scope = ScopeKey::from_stored("ci|Trivy|registry/shop".into());
        let first = run_of(&scope, "run-1", 20_000, 1);
        store.record_run(&first).await.unwrap();
        assert_eq!(store.latest_run(&scope).await.unwrap(), Some(first.clone()));

        // WHEN the same set is recorded again by a later run
        let before = store.request_counts();
        let again = ScanRun {
            id: "run-2".into(),
            at: at("2026-11-02T10:00:00Z"),
            ..first.clone()
        };
        store.record_run(&again).await.unwrap();
        let writes = store.request_counts().writes - before.writes;

        // THEN it costs at most two write requests (one conditional update, measured) and the
        // head says the new run
        eprintln!("re-recording an unchanged 20k-finding run: {writes} write request(s)");
        assert!(writes <= 2, "{writes} write requests");
        assert_eq!(store.latest_run(&scope).await.unwrap(), Some(again));
    }

    #[tokio::test]
    async fn runs_beyond_one_item_spill_into_chunks_and_shrink_back() {
        let Some(store) = dynamo_store().await else { return };
        let scope = ScopeKey::from_stored("ci|Grype|registry/big".into());
        // 60k fingerprints are 960 KB: three items.
        let big = run_of(&scope, "big", 60_000, 2);
        store.record_run(&big).await.unwrap();
        assert_eq!(store.latest_run(&scope).await.unwrap(), Some(big.clone()));
        // A different large set replaces the old chunks, and a small one needs none.
        let other = run_of(&scope, "other", 50_000, 3);
        store.record_run(&other).await.unwrap();
        assert_eq!(store.latest_run(&scope).await.unwrap(), Some(other));
        let small = run_of(&scope, "small", 3, 4);
        store.record_run(&small).await.unwrap();
        assert_eq!(store.latest_run(&scope).await.unwrap(), Some(small));
    }

    /// 300 varied findings in both stores: every listing answers the same, in the same order,
    /// through more than one BatchWriteItem, BatchGetItem and Query page.
    #[tokio::test]
    async fn listings_equal_sqlite_on_a_varied_backlog() {
        let Some(dynamo) = dynamo_store().await else { return };
        let sqlite = SqliteStore::open_in_memory().unwrap();
        let statuses = [
            Status::Open,
            Status::Acknowledged,
            Status::Resolved,
            Status::RiskAccepted,
            Status::Reopened,
        ];
        let tiers = [Some(Tier::P1), Some(Tier::P2), Some(Tier::P3), Some(Tier::P4), None];
        let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];
        let owners = ["payments", "web", "platform"];
        let mut all = Vec::new();
        for i in 0..300u32 {
            let i8 = u8::try_from(i % 251).unwrap();
            let mut f = finding(
                i8,
                severities[i as usize % 4],
                tiers[i as usize % 5],
                statuses[i as usize % 5 / 2 + (i as usize % 3)],
            );
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            bytes[15] = i8;
            f.detection.fingerprint = Fingerprint::from_bytes(bytes);
            if let Some(triage) = f.triage.as_mut() {
                let owner = TeamId::parse(owners[i as usize % 3]).unwrap();
                triage.group = GroupKey::new(&owner, &f.asset, &format!("rule:{}", i % 7));
                triage.owner = owner;
                triage.due_at += chrono::Duration::hours(i64::from(i % 11));
            }
            all.push(f);
        }
        dynamo.save_findings(&all).await.unwrap();
        sqlite.save_findings(&all).await.unwrap();

        let wanted: Vec<Fingerprint> = all.iter().rev().map(Finding::fingerprint).collect();
        assert_eq!(
            dynamo.findings(&wanted).await.unwrap(),
            sqlite.findings(&wanted).await.unwrap()
        );
        let filters = [
            FindingFilter::default(),
            FindingFilter {
                open_only: true,
                ..FindingFilter::default()
            },
            FindingFilter {
                open_only: true,
                limit: Some(17),
                ..FindingFilter::default()
            },
            FindingFilter {
                status: Some(Status::Reopened),
                ..FindingFilter::default()
            },
            FindingFilter {
                status: Some(Status::Resolved),
                ..FindingFilter::default()
            },
            FindingFilter {
                owner: Some(TeamId::parse("web").unwrap()),
                open_only: true,
                ..FindingFilter::default()
            },
            FindingFilter {
                owner: Some(TeamId::parse("platform").unwrap()),
                tier: Some(Tier::P1),
                ..FindingFilter::default()
            },
            FindingFilter {
                unowned: true,
                severity: Some(Severity::High),
                ..FindingFilter::default()
            },
        ];
        for filter in &filters {
            let got = dynamo.list_findings(filter).await.unwrap();
            let want = sqlite.list_findings(filter).await.unwrap();
            assert!(!want.is_empty(), "{filter:?} selects something");
            assert_eq!(got, want, "{filter:?}");
        }
        for group in all.iter().filter_map(Finding::group) {
            assert_eq!(
                dynamo.group_findings(group).await.unwrap(),
                sqlite.group_findings(group).await.unwrap()
            );
        }

        // Closing findings takes them out of the open index.
        let mut closed = all.clone();
        for f in &mut closed {
            f.status = Status::Resolved;
        }
        dynamo.save_findings(&closed).await.unwrap();
        let open = FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        };
        assert!(dynamo.list_findings(&open).await.unwrap().is_empty());
    }
}

/// The SQS queue adapter against moto.
mod sqs_queue {
    use muster_aws::SqsQueue;
    use muster_core::messages::{Message, TicketEvent};
    use muster_core::model::{Fingerprint, GroupKey};
    use muster_core::ports::Queue;
    use muster_tests::at;
    use muster_tests::moto::sqs_queues;

    async fn receive_all(client: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<(String, Message)> {
        let mut got = Vec::new();
        for _ in 0..20 {
            if got.len() >= expected {
                break;
            }
            let output = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for message in output.messages() {
                let kind = message
                    .message_attributes()
                    .and_then(|a| a.get("type"))
                    .and_then(|v| v.string_value())
                    .expect("every message has a type attribute")
                    .to_owned();
                let body: Message = serde_json::from_str(message.body().unwrap()).unwrap();
                got.push((kind, body));
            }
        }
        got
    }

    #[tokio::test]
    async fn mixed_messages_reach_their_stage_queues_with_a_type() {
        let Some((client, urls)) = sqs_queues().await else {
            return;
        };
        // GIVEN 25 messages of the three kinds, interleaved
        let group = |i: usize| GroupKey::parse(&format!("payments/github.com/acme/shop/rule:{i}")).unwrap();
        let messages: Vec<Message> = (0..25)
            .map(|i| match i % 3 {
                0 => Message::Triage {
                    fingerprints: vec![Fingerprint::from_bytes([u8::try_from(i).unwrap(); 16])],
                },
                1 => Message::Ticket { group: group(i) },
                _ => Message::Notify {
                    group: group(i),
                    event: TicketEvent::Opened,
                    at: at("2026-11-01T10:00:00Z"),
                },
            })
            .collect();

        // WHEN they are sent in one call
        SqsQueue::new(client.clone(), urls.clone())
            .send(messages.clone())
            .await
            .unwrap();

        // THEN each queue holds exactly its kind, all of them, typed
        for (url, kind) in [
            (&urls.triage, "triage"),
            (&urls.ticket, "ticket"),
            (&urls.notify, "notify"),
        ] {
            let want: Vec<&Message> = messages.iter().filter(|m| m.kind() == kind).collect();
            let got = receive_all(&client, url, want.len()).await;
            assert_eq!(got.len(), want.len(), "{kind} queue");
            for (attribute, message) in &got {
                assert_eq!(attribute, kind);
                assert!(want.contains(&message), "{message:?} was sent");
            }
        }
    }
}
