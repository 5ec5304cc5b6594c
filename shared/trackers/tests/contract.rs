//! The Jira and GitHub sinks against the vendors' validating mocks (Prism proxies in front of
//! stateful stubs). Every scenario ends by asserting Prism saw no contract violation.
//!
//! Needs `MUSTER_CONTRACT_MOCKS` (see shared/tools/contract-mocks/README.md); skipped locally
//! without it, failed in CI.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use muster_core::model::{GroupKey, TeamId, Tier};
use muster_core::ownership::Tracker;
use muster_core::ports::{SinkError, TicketDraft, TicketRef, TicketSink, group_marker};
use muster_core::retry::RetryPolicy;
use muster_trackers::{GitHubSettings, GitHubSink, JiraSettings, JiraSink, search_label};
use serde_json::{Value, json};

use support::github::GitHub;
use support::jira::Jira;
use support::{Fault, Harness, Reply, mocks_dir};

static JIRA: OnceLock<Option<Harness<Jira>>> = OnceLock::new();
static GITHUB: OnceLock<Option<Harness<GitHub>>> = OnceLock::new();

fn jira() -> Option<&'static Harness<Jira>> {
    JIRA.get_or_init(|| mocks_dir().map(|mocks| Harness::start(&mocks, "jira.json", Jira::default())))
        .as_ref()
}

fn github() -> Option<&'static Harness<GitHub>> {
    GITHUB
        .get_or_init(|| mocks_dir().map(|mocks| Harness::start(&mocks, "github-issues.json", GitHub::new(&mocks))))
        .as_ref()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

fn jira_sink(harness: &Harness<Jira>, token: &str) -> JiraSink {
    let mut settings = JiraSettings::new(&harness.prism.url, "bot@acme.test", token);
    settings
        .fields
        .insert("customfield_10010".into(), json!("{tier} by {due} for {owner}"));
    settings
        .fields
        .insert("customfield_10020".into(), json!({ "value": "{group}" }));
    settings.timeout = Duration::from_secs(20);
    settings.retry = fast_retry();
    JiraSink::new(settings).unwrap()
}

fn github_sink(harness: &Harness<GitHub>) -> GitHubSink {
    GitHubSink::new(GitHubSettings {
        api_url: harness.prism.url.clone(),
        token: "ghp_test".into(),
        timeout: Duration::from_secs(20),
        retry: fast_retry(),
    })
    .unwrap()
}

/// A draft shaped like the ticket service's: summary line, findings table, hidden marker.
fn draft(group: &str, destination: Tracker, assignee: &str) -> TicketDraft {
    let group = GroupKey::parse(group).unwrap();
    let due = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let body = format!(
        "**P1** — due 2026-12-01\n\nAsset: `payments` · owner: `pay`\n\n\
         Fix: upgrade to ≥ 3.0.8 (fixes every finding below)\n\n\
         | severity | location | finding | why |\n|---|---|---|---|\n\
         | critical | `Dockerfile:3` | CVE-2024-0001 in openssl | score 97: KEV; EPSS 0.94 |\n\
         | high | `go.sum` | CVE-2024-0002 in openssl | score 71: reachable |\n\
         \n<!-- {} -->",
        group_marker(&group)
    );
    TicketDraft {
        group,
        owner: TeamId::parse("pay").unwrap(),
        title: "Upgrade openssl to ≥ 3.0.8 in payments — 2 findings (P1)".into(),
        body,
        tier: Tier::P1,
        due_at: due,
        labels: vec!["security".into()],
        digest: "d1".into(),
        revision: due,
        destination: Some(destination),
        assignees: vec![assignee.into()],
        note: None,
    }
}

fn jira_draft(group: &str, project: &str) -> TicketDraft {
    draft(
        group,
        Tracker::Jira {
            project: project.into(),
        },
        "5b10a2844c20165700ede21g",
    )
}

fn github_draft(group: &str, repo: &str) -> TicketDraft {
    draft(group, Tracker::Github { repo: repo.into() }, "octocat")
}

/// Checks an ADF document against the shared ADF schema; skipped (with a message) when the
/// shared contracts are not laid out beside the repository.
fn assert_adf(document: &Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/contracts/jira/adf-schema-v1-full.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipped ADF check: {path} not found");
        return;
    };
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(document).take(5).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "invalid ADF {errors:?}: {document}");
}

// ---------------------------------------------------------------------------------------
// Jira

#[tokio::test]
async fn jira_ticket_goes_through_create_find_update_close_reopen() {
    let Some(harness) = jira() else { return };
    // GIVEN a sink with a templated custom field, and a P1 draft for project PAY
    let sink = jira_sink(harness, "jira-token");
    let draft = jira_draft("pay/payments/pkg:openssl", "PAY");

    // WHEN the ticket is created
    let ticket = sink.create(&draft).await.unwrap();

    // THEN Jira got every field muster sets
    assert_eq!(ticket.tracker, "jira");
    assert!(ticket.key.starts_with("PAY-"), "{ticket:?}");
    assert_eq!(ticket.url, Some(format!("{}/browse/{}", harness.prism.url, ticket.key)));
    let issue = harness.stub.with(|jira| jira.issues[&ticket.key].clone());
    let fields = &issue.fields;
    assert_eq!(fields["project"], json!({ "key": "PAY" }));
    assert_eq!(fields["issuetype"], json!({ "name": "Task" }));
    assert_eq!(fields["priority"], json!({ "name": "Highest" }));
    assert_eq!(fields["duedate"], "2026-12-01");
    assert_eq!(fields["summary"], json!(draft.title));
    assert_eq!(fields["assignee"], json!({ "accountId": "5b10a2844c20165700ede21g" }));
    assert_eq!(fields["customfield_10010"], "P1 by 2026-12-01 for pay");
    assert_eq!(
        fields["customfield_10020"],
        json!({ "value": "pay/payments/pkg:openssl" })
    );
    let labels = issue.labels();
    assert!(labels.contains(&"security".to_owned()), "{labels:?}");
    assert!(labels.contains(&search_label(&draft.group)), "{labels:?}");
    assert_adf(&fields["description"]);
    let description = fields["description"].to_string();
    assert!(description.contains(&group_marker(&draft.group)), "{description}");
    assert!(description.contains("\"tableHeader\""), "{description}");

    // WHEN it is looked for by its group THEN the search label finds it, and only it
    assert_eq!(sink.find(&draft).await.unwrap(), Some(ticket.clone()));
    let other = jira_draft("pay/payments/pkg:zlib", "PAY");
    assert_eq!(sink.find(&other).await.unwrap(), None);
    let expected = format!("labels = \"{}\"", search_label(&draft.group));
    let searches = harness.stub.requests("GET", "/rest/api/3/search/jql");
    assert!(
        searches.iter().any(|r| r.param("jql") == Some(expected.as_str())),
        "{searches:?}"
    );

    // WHEN it is updated with a note
    let mut changed = draft.clone();
    changed.title = "Upgrade openssl — 3 findings (P2)".into();
    changed.tier = Tier::P2;
    changed.note = Some("A third finding joined this group in scan `s-42`.".into());
    sink.update(&ticket, &changed).await.unwrap();

    // THEN summary and priority changed and the note is a comment
    let issue = harness.stub.with(|jira| jira.issues[&ticket.key].clone());
    assert_eq!(issue.fields["summary"], json!(changed.title));
    assert_eq!(issue.fields["priority"], json!({ "name": "High" }));
    assert_eq!(issue.comments.len(), 1);
    assert_adf(&issue.comments[0]);

    // WHEN closed THEN the "Done" transition ran, by its string id
    sink.close(&ticket, &draft).await.unwrap();
    assert_eq!(
        harness.stub.with(|jira| jira.issues[&ticket.key].status.clone()),
        "done"
    );
    let path = format!("/rest/api/3/issue/{}/transitions", ticket.key);
    let transitions = harness.stub.requests("POST", &path);
    assert_eq!(transitions[0].body, json!({ "transition": { "id": "31" } }));

    // WHEN reopened THEN the "Reopen" transition ran
    sink.reopen(&ticket, &draft).await.unwrap();
    assert_eq!(harness.stub.with(|jira| jira.issues[&ticket.key].status.clone()), "new");
    assert_eq!(harness.stub.requests("POST", &path)[1].body["transition"]["id"], "41");

    harness.assert_contract_kept();
}

#[tokio::test]
async fn jira_workflow_without_done_transition_gets_a_comment_and_label() {
    let Some(harness) = jira() else { return };
    // GIVEN a ticket in a project whose workflow has no "Done" and no "Reopen"
    let sink = jira_sink(harness, "jira-token");
    let draft = jira_draft("pay/legacy/pkg:openssl", "LEGACY");
    let ticket = sink.create(&draft).await.unwrap();

    // WHEN it is closed
    let closed = sink.close(&ticket, &draft).await;

    // THEN that is not an error: Jira gets a comment and the muster-fixed label
    closed.unwrap();
    let issue = harness.stub.with(|jira| jira.issues[&ticket.key].clone());
    assert_eq!(issue.status, "new", "no transition should have run");
    assert!(
        issue.labels().contains(&"muster-fixed".to_owned()),
        "{:?}",
        issue.labels()
    );
    assert_eq!(issue.comments.len(), 1);
    assert_adf(&issue.comments[0]);
    assert!(
        issue.comments[0]
            .to_string()
            .contains("muster: all findings fixed; no 'Done' transition in this workflow"),
        "{}",
        issue.comments[0]
    );

    // WHEN reopened THEN the transition into an in-progress category is used, label removed
    sink.reopen(&ticket, &draft).await.unwrap();
    let issue = harness.stub.with(|jira| jira.issues[&ticket.key].clone());
    assert_eq!(issue.status, "indeterminate");
    assert!(!issue.labels().contains(&"muster-fixed".to_owned()));

    harness.assert_contract_kept();
}

#[tokio::test]
async fn jira_429_with_retry_after_is_returned_as_rate_limited_without_waiting() {
    let Some(harness) = jira() else { return };
    // GIVEN Jira answers the create with 429 and Retry-After: 30
    harness.stub.fault(Fault {
        method: "POST",
        path: "/rest/api/3/issue".into(),
        contains: Some("\"key\":\"BUSY\"".into()),
        reply: Reply::json(429, json!({ "errorMessages": ["Rate limit exceeded."], "errors": {} }))
            .with_header("retry-after", "30"),
    });
    let sink = jira_sink(harness, "jira-token");

    // WHEN a ticket is created
    let result = sink.create(&jira_draft("pay/busy/pkg:openssl", "BUSY")).await;

    // THEN the caller is told to come back in 30 s, after one request
    assert!(
        matches!(result, Err(SinkError::RateLimited { retry_after }) if retry_after == Duration::from_secs(30)),
        "{result:?}"
    );
    let creates: Vec<_> = harness
        .stub
        .requests("POST", "/rest/api/3/issue")
        .into_iter()
        .filter(|r| r.body["fields"]["project"]["key"] == "BUSY")
        .collect();
    assert_eq!(creates.len(), 1);
    harness.assert_contract_kept();
}

#[tokio::test]
async fn jira_503_retries_updates_but_never_repeats_a_create() {
    let Some(harness) = jira() else { return };
    // GIVEN Jira fails the first create with 503 (it may or may not have created the issue)
    harness.stub.fault(Fault {
        method: "POST",
        path: "/rest/api/3/issue".into(),
        contains: Some("\"key\":\"FLAKY\"".into()),
        reply: Reply::json(503, json!({ "errorMessages": ["Service unavailable"], "errors": {} })),
    });
    let sink = jira_sink(harness, "jira-token");
    let draft = jira_draft("pay/flaky/pkg:openssl", "FLAKY");

    // WHEN a ticket is created, THEN the create is not sent twice: the error goes back to the
    // queue, and the ticket service recovers through the marker search
    let error = sink.create(&draft).await.unwrap_err();
    assert!(matches!(error, SinkError::Unknown(_)), "{error}");
    let creates = |harness: &Harness<Jira>| {
        harness
            .stub
            .requests("POST", "/rest/api/3/issue")
            .into_iter()
            .filter(|r| r.body["fields"]["project"]["key"] == "FLAKY")
            .count()
    };
    assert_eq!(creates(harness), 1);

    // AND an update that meets a 503 is retried until it succeeds
    let ticket = sink.create(&draft).await.unwrap();
    assert!(ticket.key.starts_with("FLAKY-"));
    harness.stub.fault(Fault {
        method: "PUT",
        path: format!("/rest/api/3/issue/{}", ticket.key),
        contains: None,
        reply: Reply::json(503, json!({ "errorMessages": ["Service unavailable"], "errors": {} })),
    });
    sink.update(&ticket, &draft).await.unwrap();
    let puts = harness
        .stub
        .requests("PUT", &format!("/rest/api/3/issue/{}", ticket.key))
        .len();
    assert_eq!(puts, 2);
    harness.assert_contract_kept();
}

#[tokio::test]
async fn jira_bad_credentials_are_rejected_not_retried() {
    let Some(harness) = jira() else { return };
    let sink = jira_sink(harness, "wrong-token");

    let result = sink.create(&jira_draft("pay/auth/pkg:openssl", "AUTH")).await;

    let Err(SinkError::Rejected(message)) = result else {
        panic!("{result:?}")
    };
    assert!(message.contains("create issue in AUTH returned HTTP 401"), "{message}");
    assert!(message.contains("Client must be authenticated"), "{message}");
    harness.assert_contract_kept();
}

#[tokio::test]
async fn jira_update_of_a_missing_issue_is_rejected_with_jiras_reason() {
    let Some(harness) = jira() else { return };
    let sink = jira_sink(harness, "jira-token");
    let ticket = TicketRef {
        tracker: "jira".into(),
        key: "GONE-404".into(),
        url: None,
    };

    let result = sink.update(&ticket, &jira_draft("pay/gone/pkg:openssl", "GONE")).await;

    let Err(SinkError::Rejected(message)) = result else {
        panic!("{result:?}")
    };
    assert!(message.contains("update GONE-404 returned HTTP 404"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    harness.assert_contract_kept();
}

// ---------------------------------------------------------------------------------------
// GitHub

#[tokio::test]
async fn github_issue_goes_through_create_find_update_close_reopen() {
    let Some(harness) = github() else { return };
    // GIVEN a repository without muster's tier labels
    harness
        .stub
        .with(|gh| gh.repos.entry("acme/payments".into()).or_default().labels = vec!["bug".into()]);
    let sink = github_sink(harness);
    let draft = github_draft("pay/payments/pkg:openssl", "acme/payments");

    // WHEN the ticket is created
    let ticket = sink.create(&draft).await.unwrap();

    // THEN the tier label was created first, and the issue carries labels, assignee, marker
    assert_eq!(ticket.tracker, "github");
    assert_eq!(ticket.key, "acme/payments#1");
    assert_eq!(ticket.url.as_deref(), Some("https://github.com/acme/payments/issues/1"));
    let created_labels = harness.stub.requests("POST", "/repos/acme/payments/labels");
    assert_eq!(created_labels.len(), 1);
    assert_eq!(created_labels[0].body["name"], "muster-p1");
    let issue = harness.stub.with(|gh| gh.repos["acme/payments"].issues[&1].clone());
    assert_eq!(issue.labels, ["muster-p1", "security"]);
    assert_eq!(issue.assignees, ["octocat"]);
    assert_eq!(issue.title, draft.title);
    assert!(
        issue
            .body
            .ends_with(&format!("<!-- {} -->", group_marker(&draft.group)))
    );

    // WHEN a second group of the same tier is created THEN the label is not looked up again
    sink.create(&github_draft("pay/payments/pkg:zlib", "acme/payments"))
        .await
        .unwrap();
    assert_eq!(harness.stub.requests("GET", "/repos/acme/payments/labels").len(), 1);

    // WHEN looked for THEN the marker search finds it
    assert_eq!(sink.find(&draft).await.unwrap(), Some(ticket.clone()));
    let search = harness.stub.requests("GET", "/search/issues");
    let q = search[0].param("q").unwrap();
    assert!(
        q.contains("repo:acme/payments") && q.contains(&group_marker(&draft.group)),
        "{q}"
    );

    // WHEN updated with a note THEN title changes and the note is a comment
    let mut changed = draft.clone();
    changed.title = "Upgrade openssl — 3 findings (P2)".into();
    changed.tier = Tier::P2;
    changed.note = Some("A third finding joined this group.".into());
    sink.update(&ticket, &changed).await.unwrap();
    let issue = harness.stub.with(|gh| gh.repos["acme/payments"].issues[&1].clone());
    assert_eq!(issue.title, changed.title);
    assert_eq!(issue.labels, ["muster-p2", "security"]);
    assert_eq!(issue.comments, ["A third finding joined this group."]);

    // WHEN closed THEN as completed
    sink.close(&ticket, &draft).await.unwrap();
    let issue = harness.stub.with(|gh| gh.repos["acme/payments"].issues[&1].clone());
    assert_eq!(
        (issue.state.as_str(), issue.state_reason.as_deref()),
        ("closed", Some("completed"))
    );

    // WHEN reopened THEN open again
    sink.reopen(&ticket, &draft).await.unwrap();
    let issue = harness.stub.with(|gh| gh.repos["acme/payments"].issues[&1].clone());
    assert_eq!(issue.state, "open");

    harness.assert_contract_kept();
}

#[tokio::test]
async fn github_existing_tier_label_on_a_later_page_is_not_recreated() {
    let Some(harness) = github() else { return };
    // GIVEN a repository with 120 labels, muster-p1 among the last
    harness.stub.with(|gh| {
        let repo = gh.repos.entry("acme/labelled".into()).or_default();
        repo.labels = (0..120).map(|n| format!("area-{n}")).collect();
        repo.labels[110] = "muster-p1".into();
    });
    let sink = github_sink(harness);

    // WHEN a P1 ticket is created
    sink.create(&github_draft("pay/labelled/pkg:openssl", "acme/labelled"))
        .await
        .unwrap();

    // THEN both pages were read and no label was created
    assert_eq!(harness.stub.requests("GET", "/repos/acme/labelled/labels").len(), 2);
    assert!(harness.stub.requests("POST", "/repos/acme/labelled/labels").is_empty());
    harness.assert_contract_kept();
}

#[tokio::test]
async fn github_secondary_rate_limit_is_returned_as_rate_limited() {
    let Some(harness) = github() else { return };
    // GIVEN GitHub answers the issue create with its secondary rate limit
    harness.stub.fault(Fault {
        method: "POST",
        path: "/repos/acme/busy/issues".into(),
        contains: None,
        reply: Reply::json(
            403,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            }),
        )
        .with_header("retry-after", "60"),
    });
    let sink = github_sink(harness);

    // WHEN a ticket is created
    let result = sink.create(&github_draft("pay/busy/pkg:openssl", "acme/busy")).await;

    // THEN the queue is told to wait a minute
    assert!(
        matches!(result, Err(SinkError::RateLimited { retry_after }) if retry_after == Duration::from_secs(60)),
        "{result:?}"
    );
    assert_eq!(harness.stub.requests("POST", "/repos/acme/busy/issues").len(), 1);
    harness.assert_contract_kept();
}

#[tokio::test]
async fn github_validation_failure_is_rejected_with_githubs_message() {
    let Some(harness) = github() else { return };
    // GIVEN GitHub refuses the issue (e.g. an assignee without access)
    harness.stub.fault(Fault {
        method: "POST",
        path: "/repos/acme/strict/issues".into(),
        contains: None,
        reply: Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
                "errors": [{ "resource": "Issue", "field": "assignees", "code": "invalid" }]
            }),
        ),
    });
    let sink = github_sink(harness);

    let result = sink
        .create(&github_draft("pay/strict/pkg:openssl", "acme/strict"))
        .await;

    let Err(SinkError::Rejected(message)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        message,
        "create issue in acme/strict returned HTTP 422: Validation Failed; assignees: invalid"
    );
    harness.assert_contract_kept();
}

#[tokio::test]
async fn github_calls_that_never_answer_time_out_and_give_up_after_the_retries() {
    let Some(harness) = github() else { return };
    // GIVEN every label lookup in the repository hangs for longer than the timeout
    for _ in 0..3 {
        harness.stub.fault(Fault {
            method: "GET",
            path: "/repos/acme/slow/labels".into(),
            contains: None,
            reply: Reply::json(200, json!([])).delayed(Duration::from_secs(3)),
        });
    }
    let sink = GitHubSink::new(GitHubSettings {
        api_url: harness.prism.url.clone(),
        token: "ghp_test".into(),
        timeout: Duration::from_millis(500),
        retry: fast_retry(),
    })
    .unwrap();

    // WHEN a ticket is created
    let started = std::time::Instant::now();
    let result = sink.create(&github_draft("pay/slow/pkg:openssl", "acme/slow")).await;

    // THEN each attempt was cut at the timeout and the error says so
    let Err(SinkError::Unknown(error)) = result else {
        panic!("{result:?}")
    };
    assert!(error.to_string().contains("no reply within"), "{error:#}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(harness.stub.requests("GET", "/repos/acme/slow/labels").len(), 3);
}

#[tokio::test]
async fn jira_calls_that_never_answer_time_out() {
    let Some(harness) = jira() else { return };
    // GIVEN the search hangs for longer than the timeout, on every attempt
    for _ in 0..3 {
        harness.stub.fault(Fault {
            method: "GET",
            path: "/rest/api/3/search/jql".into(),
            contains: Some(search_label(&jira_draft("pay/slow/pkg:openssl", "SLOW").group)),
            reply: Reply::json(200, json!({ "issues": [], "isLast": true })).delayed(Duration::from_secs(3)),
        });
    }
    let mut settings = JiraSettings::new(&harness.prism.url, "bot@acme.test", "jira-token");
    settings.timeout = Duration::from_millis(500);
    settings.retry = fast_retry();
    let sink = JiraSink::new(settings).unwrap();

    let started = std::time::Instant::now();
    let result = sink.find(&jira_draft("pay/slow/pkg:openssl", "SLOW")).await;

    assert!(matches!(result, Err(SinkError::Unknown(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
