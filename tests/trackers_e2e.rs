//! Tickets where the owner works, end to end: the embedded pipeline over real SQLite, real
//! scanner reports, one team on Jira and one on GitHub, each tracker a stateful stub behind the
//! vendor's validating contract mock (Prism). A test passes only if no request broke the contract.

use std::sync::{Arc, OnceLock};

use muster_core::Config;
use muster_core::messages::Message;
use muster_core::model::{Finding, GroupKey, TicketState};
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ownership::parse_owners_yaml;
use muster_core::ports::{FindingFilter, FindingStore, FixedClock, OutboxStore, TicketSink, TicketStore};
use muster_core::services::Pipeline;
use muster_core::services::context::import_ownership;
use muster_core::services::ticket::{draft, open_groups, remediation_group};
use muster_local::{LocalQueue, RetryPolicy, SqliteStore};
use muster_tests::{at, ingest_from, sample};
use muster_trackers::TrackerRouter;

#[allow(dead_code)]
#[path = "../shared/trackers/tests/support/mod.rs"]
mod support;

use support::github::GitHub;
use support::jira::Jira;
use support::{Harness, mocks_dir};

type TrackedPipeline =
    Pipeline<SqliteStore, LocalQueue, TrackerRouter<OutboxTickets<SqliteStore>>, OutboxChat<SqliteStore>, FixedClock>;

static TRACKERS: OnceLock<Option<(Harness<Jira>, Harness<GitHub>)>> = OnceLock::new();

fn trackers() -> Option<&'static (Harness<Jira>, Harness<GitHub>)> {
    TRACKERS
        .get_or_init(|| {
            mocks_dir().map(|mocks| {
                (
                    Harness::start(&mocks, "jira.json", Jira::default()),
                    Harness::start(&mocks, "github-issues.json", GitHub::new(&mocks)),
                )
            })
        })
        .as_ref()
}

/// Each test gets its own Jira project and GitHub repository: the stubs are shared by the
/// tests of this binary, which run in parallel.
fn owners(project: &str, repo: &str) -> String {
    OWNERS.replace("{project}", project).replace("{repo}", repo)
}

const OWNERS: &str = r#"
default_team: security-triage
teams:
  - id: payments
    tracker: { jira: "{project}" }
  - id: platform
    tracker: { github: "{repo}" }
    assignees: [octocat]
  - id: security-triage
rules:
  - team: payments
    asset_glob: "testdata/fixtures/images/alpine-310*"
  - team: platform
    asset: ci
"#;

/// The embedded pipeline as `muster` wires it from muster.toml, trackers pointing at the stubs.
async fn pipeline(jira: &Harness<Jira>, github: &Harness<GitHub>, project: &str, repo: &str) -> TrackedPipeline {
    let toml = format!(
        "[trackers.jira]\nurl = \"{}\"\nemail = \"bot@acme.test\"\ntoken_env = \"E2E_JIRA_TOKEN\"\n\
         [trackers.github]\napi_url = \"{}\"\ntoken_env = \"E2E_GITHUB_TOKEN\"\n",
        jira.prism.url, github.prism.url
    );
    let config = Config::from_toml(&toml, "e2e.toml").unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let env = |name: &str| match name {
        "E2E_JIRA_TOKEN" => Some("jira-token".to_owned()),
        "E2E_GITHUB_TOKEN" => Some("ghp_test".to_owned()),
        _ => None,
    };
    let tickets = muster_trackers::from_config(&config.trackers, env, OutboxTickets(store.clone())).unwrap();
    let pipeline = Pipeline {
        tickets,
        chat: OutboxChat(store.clone()),
        store,
        queue: LocalQueue::new(RetryPolicy {
            max_attempts: 3,
            first_backoff: std::time::Duration::from_millis(5),
            max_backoff: std::time::Duration::from_millis(50),
        }),
        clock: FixedClock(at("2026-11-01T10:00:00Z")),
        config: Arc::new(config),
    };
    let owners = parse_owners_yaml(&owners(project, repo), "owners.yaml").unwrap();
    import_ownership(&pipeline.store, &pipeline.queue, owners)
        .await
        .unwrap();
    pipeline
}

fn jira_issues(jira: &Harness<Jira>, project: &str) -> Vec<(String, String)> {
    jira.stub.with(|j| {
        j.issues
            .iter()
            .filter(|(_, issue)| issue.project == project)
            .map(|(key, issue)| (key.clone(), issue.status.clone()))
            .collect()
    })
}

fn github_issues(github: &Harness<GitHub>, repo: &str) -> Vec<(u64, String, Vec<String>)> {
    github.stub.with(|g| {
        g.repos
            .get(repo)
            .map(|repo| {
                repo.issues
                    .iter()
                    .map(|(number, issue)| (*number, issue.state.clone(), issue.assignees.clone()))
                    .collect()
            })
            .unwrap_or_default()
    })
}

async fn open_findings(pipeline: &TrackedPipeline) -> Vec<Finding> {
    pipeline
        .store
        .list_findings(&FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        })
        .await
        .unwrap()
}

/// The Trivy report without the vulnerabilities of `package`.
fn without_package(bytes: &[u8], package: &str) -> Vec<u8> {
    let mut report: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    for result in report["Results"].as_array_mut().unwrap() {
        if let Some(vulns) = result["Vulnerabilities"].as_array_mut() {
            vulns.retain(|v| v["PkgName"] != package);
        }
    }
    serde_json::to_vec(&report).unwrap()
}

#[tokio::test]
async fn each_team_gets_one_issue_per_group_in_its_tracker_closed_by_the_fix_and_reopened_on_return() {
    let (Some((jira, github)), Some(sarif), Some(trivy)) = (
        trackers(),
        sample("sarif/codeql_codeQL-output.sarif"),
        sample("trivy/trivy_alpine-310.json"),
    ) else {
        return;
    };
    let (project, repo) = ("PAYLIFE", "acme/platform-life");
    let pipeline = pipeline(jira, github, project, repo).await;

    // WHEN a CodeQL report (platform's repo) and a Trivy image report (payments) are ingested
    ingest_from(&pipeline, "ci", None, None, &sarif).await;
    ingest_from(&pipeline, "images", None, None, &trivy).await;

    // THEN each open group has exactly one issue, in its owner's tracker
    let groups = open_groups(&open_findings(&pipeline).await);
    let per_owner = |team: &str| groups.iter().filter(|g| g.owner.as_str() == team).count();
    assert!(per_owner("payments") > 1 && per_owner("platform") > 1, "{groups:?}");
    assert_eq!(jira_issues(jira, project).len(), per_owner("payments"));
    let issues = github_issues(github, repo);
    assert_eq!(issues.len(), per_owner("platform"));
    assert!(
        issues
            .iter()
            .all(|(_, _, assignees)| assignees == &["octocat".to_owned()])
    );
    let outbox_tickets = pipeline.store.outbox().await.unwrap();
    assert!(
        !outbox_tickets.iter().any(|e| e.kind == "ticket"),
        "configured trackers get every ticket: {outbox_tickets:?}"
    );
    for ticket in pipeline.store.tickets().await.unwrap() {
        assert_eq!(ticket.state, TicketState::Open);
        assert!(matches!(ticket.tracker.as_str(), "jira" | "github"), "{ticket:?}");
    }

    // WHEN the same reports arrive again, THEN no issue is opened
    ingest_from(&pipeline, "ci", None, None, &sarif).await;
    ingest_from(&pipeline, "images", None, None, &trivy).await;
    assert_eq!(jira_issues(jira, project).len(), per_owner("payments"));
    assert_eq!(github_issues(github, repo).len(), per_owner("platform"));

    // WHEN a later image scan no longer has one package's findings, THEN its issue is done
    let fixed = groups
        .iter()
        .find(|g| g.owner.as_str() == "payments" && g.title.contains("libcrypto1.1"))
        .expect("the alpine 3.10 image has an openssl group");
    let ticket = pipeline.store.ticket(&fixed.key).await.unwrap().unwrap();
    let key = ticket.key.clone().unwrap();
    ingest_from(
        &pipeline,
        "images",
        None,
        None,
        &without_package(&trivy, "libcrypto1.1"),
    )
    .await;
    let status = |key: &str| jira.stub.with(|j| j.issues[key].status.clone());
    assert_eq!(status(&key), "done");
    assert_eq!(
        pipeline.store.ticket(&fixed.key).await.unwrap().unwrap().state,
        TicketState::Closed
    );
    let done_others = jira_issues(jira, project).iter().filter(|(_, s)| s == "done").count();
    assert_eq!(done_others, 1, "only the fixed group's issue closes");

    // WHEN the findings come back, THEN the same issue reopens (no new one)
    ingest_from(&pipeline, "images", None, None, &trivy).await;
    assert_ne!(status(&key), "done");
    assert_eq!(jira_issues(jira, project).len(), per_owner("payments"));
    let reopened = pipeline.store.ticket(&fixed.key).await.unwrap().unwrap();
    assert_eq!(
        (reopened.state, reopened.key.as_deref()),
        (TicketState::Open, Some(key.as_str()))
    );

    jira.assert_contract_kept();
    github.assert_contract_kept();
}

/// A group with findings but no ticket yet: the members of an existing group moved under a
/// new key, as triage would have written them.
async fn fresh_group(pipeline: &TrackedPipeline, name: &str) -> GroupKey {
    let findings = open_findings(pipeline).await;
    let platform: Vec<Finding> = findings
        .into_iter()
        .filter(|f| f.triage.as_ref().is_some_and(|t| t.owner.as_str() == "platform"))
        .take(2)
        .collect();
    let key = GroupKey::parse(&format!("platform/ci/rule:{name}")).unwrap();
    let moved: Vec<Finding> = platform
        .into_iter()
        .map(|mut f| {
            f.triage.as_mut().unwrap().group = key.clone();
            f
        })
        .collect();
    pipeline.store.save_findings(&moved).await.unwrap();
    key
}

fn issues_with_marker(github: &Harness<GitHub>, repo: &str, group: &GroupKey) -> usize {
    let marker = muster_core::ports::group_marker(group);
    github.stub.with(|g| {
        g.repos
            .get(repo)
            .map(|repo| repo.issues.values().filter(|i| i.body.contains(&marker)).count())
            .unwrap_or(0)
    })
}

#[tokio::test]
async fn five_concurrent_deliveries_of_one_ticket_message_create_one_issue() {
    let (Some((jira, github)), Some(sarif)) = (trackers(), sample("sarif/codeql_codeQL-output.sarif")) else {
        return;
    };
    let repo = "acme/platform-five";
    let pipeline = pipeline(jira, github, "PAYFIVE", repo).await;
    ingest_from(&pipeline, "ci", None, None, &sarif).await;
    let group = fresh_group(&pipeline, "five-deliveries").await;

    let message = Message::Ticket { group: group.clone() };
    let results = futures_join5(&pipeline, &message).await;

    assert_eq!(issues_with_marker(github, repo, &group), 1);
    assert!(results.iter().filter(|r| r.is_ok()).count() >= 1, "{results:?}");
    // The others were told to come back later, not dropped: a later delivery is a no-op.
    pipeline.handle(&message).await.unwrap();
    assert_eq!(issues_with_marker(github, repo, &group), 1);
    github.assert_contract_kept();
}

async fn futures_join5(pipeline: &TrackedPipeline, message: &Message) -> Vec<Result<(), muster_core::PipelineError>> {
    let (a, b, c, d, e) = tokio::join!(
        pipeline.handle(message),
        pipeline.handle(message),
        pipeline.handle(message),
        pipeline.handle(message),
        pipeline.handle(message),
    );
    vec![a, b, c, d, e]
}

#[tokio::test]
async fn a_crash_between_create_and_record_still_ends_with_one_issue() {
    let (Some((jira, github)), Some(sarif)) = (trackers(), sample("sarif/codeql_codeQL-output.sarif")) else {
        return;
    };
    let repo = "acme/platform-crash";
    let pipeline = pipeline(jira, github, "PAYCRASH", repo).await;
    ingest_from(&pipeline, "ci", None, None, &sarif).await;
    let group = fresh_group(&pipeline, "crash-recovery").await;

    // GIVEN a worker claimed the ticket and created the issue, then died before recording it
    let findings = pipeline.store.group_findings(&group).await.unwrap();
    let state = remediation_group(&group, &findings).unwrap();
    let mut drafted = draft(&state, &findings, at("2026-11-01T09:00:00Z"));
    drafted.destination = Some(muster_core::ownership::Tracker::Github { repo: repo.into() });
    let created = pipeline.tickets.create(&drafted).await.unwrap();
    pipeline
        .store
        .claim_ticket(&muster_core::model::Ticket {
            group: group.clone(),
            tracker: "github".into(),
            key: None,
            url: None,
            state: TicketState::Claimed,
            digest: None,
            updated_at: at("2026-11-01T09:00:00Z"),
            acknowledged: None,
            told: None,
            summary: None,
        })
        .await
        .unwrap();

    // WHEN the message is delivered again after the claim timed out
    pipeline
        .handle(&Message::Ticket { group: group.clone() })
        .await
        .unwrap();

    // THEN the issue is found by its marker and recorded; none is created twice
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!((ticket.state, ticket.key), (TicketState::Open, Some(created.key)));
    assert_eq!(issues_with_marker(github, repo, &group), 1);
    github.assert_contract_kept();
}
