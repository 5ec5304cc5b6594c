//! What people do outside muster comes back in: a ticket closed or reopened in GitHub or Jira
//! (`POST /trackers/{tracker}`: reopen, flag, or turn a won't-fix into a risk acceptance
//! request), and a button clicked in Slack (`POST /slack/actions`). Real SQLite, the real
//! router, real-format signed deliveries.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use muster_core::ports::{FindingFilter, FindingStore, OutboxStore, TicketStore, group_marker};
use muster_core::services::triage::review_acceptances;
use muster_core::{Config, GroupKey, Status, TicketState};
use muster_http::signature::sign_github;
use muster_http::{DEFAULT_BODY_LIMIT, HttpConfig, Secret, router};
use muster_tests::{TestPipeline, at, ingest_from, pipeline_at, sample, slack_form};
use tower::ServiceExt as _;

const GITHUB_SECRET: &str = "gh-hook-secret";
const JIRA_SECRET: &str = "jira-hook-secret";
const SLACK_SECRET: &str = "slack-signing-secret";

fn config(policy: &str) -> Config {
    Config::from_toml(
        &format!(
            "[trackers]\non_closed_while_detected = \"{policy}\"\n\
             [trackers.github]\ntoken_env = \"UNUSED\"\nwebhook_secret_env = \"UNUSED\"\n\
             [trackers.jira]\nurl = \"https://acme.atlassian.net\"\nemail = \"bot@acme.test\"\ntoken_env = \"UNUSED\"\n\
             webhook_secret_env = \"UNUSED\"\n\
             [notify]\nsecurity_leads = [\"U0SECLEAD\"]\n"
        ),
        "test.toml",
    )
    .unwrap()
}

/// A pipeline with one ingested CodeQL report; returns it and one group whose ticket is
/// recorded as GitHub issue `acme/shop#7` (as the GitHub sink would have recorded it).
async fn ticketed(policy: &str) -> Option<(TestPipeline, GroupKey)> {
    let bytes = sample("sarif/codeql_codeQL-output.sarif")?;
    let mut pipeline = pipeline_at("2026-11-01T10:00:00Z");
    pipeline.config = Arc::new(config(policy));
    ingest_from(&pipeline, "ci", None, None, &bytes).await;
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await.unwrap();
    let group = findings[0].group().unwrap().clone();
    let mut ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    ticket.tracker = "github".into();
    ticket.key = Some("acme/shop#7".into());
    pipeline.store.save_ticket(&ticket).await.unwrap();
    Some((pipeline, group))
}

fn app(pipeline: &Arc<TestPipeline>) -> axum::Router {
    router(
        Arc::clone(pipeline),
        HttpConfig {
            config: Arc::clone(&pipeline.config),
            body_limit: DEFAULT_BODY_LIMIT,
            secrets: Default::default(),
            tracker_secrets: [
                ("github".to_owned(), Secret::new(GITHUB_SECRET)),
                ("jira".to_owned(), Secret::new(JIRA_SECRET)),
            ]
            .into_iter()
            .collect(),
            slack_signing_secret: Some(Secret::new(SLACK_SECRET)),
            read_token: None,
            uploads: None,
        },
    )
}

fn github_issues_event(action: &str, reason: Option<&str>, number: u64, group: &GroupKey) -> Vec<u8> {
    serde_json::json!({
        "action": action,
        "issue": {
            "number": number,
            "title": "Fix it",
            "state": if action == "closed" { "closed" } else { "open" },
            "state_reason": reason,
            "body": format!("Fix these.\n\n<!-- {} -->", group_marker(group)),
        },
        "repository": { "full_name": "acme/shop" },
        "sender": { "login": "dev-alice" }
    })
    .to_string()
    .into_bytes()
}

async fn post(
    app: axum::Router,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    send(app, path, "application/json", headers, body).await
}

async fn send(
    app: axum::Router,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::post(path).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = app.oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("JSON body: {bytes:?}")),
    )
}

async fn deliver_github(pipeline: &Arc<TestPipeline>, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let signature = sign_github(&Secret::new(GITHUB_SECRET), &body);
    let headers = [
        ("x-github-event", "issues".to_owned()),
        ("x-hub-signature-256", signature),
    ];
    let answer = post(app(pipeline), "/trackers/github", &headers, body).await;
    let drained = pipeline.queue.drain(pipeline.as_ref(), |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0);
    answer
}

#[tokio::test]
async fn a_ticket_closed_while_still_detected_is_reopened_with_a_comment_citing_the_scan() {
    let Some((pipeline, group)) = ticketed("reopen").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);

    let (status, body) = deliver_github(&pipeline, github_issues_event("closed", Some("completed"), 7, &group)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "reopening", "{body}");
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!(ticket.state, TicketState::Open);
    let reopens: Vec<_> = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "ticket" && e.action == "reopen")
        .collect();
    assert_eq!(reopens.len(), 1, "{reopens:?}");
    let note = reopens[0].payload["note"].as_str().unwrap();
    assert!(
        note.contains("still detected") && note.contains("2026-11-01 10:00 UTC"),
        "{note}"
    );
    let members = pipeline.store.group_findings(&group).await.unwrap();
    assert!(members.iter().all(|f| {
        f.timeline
            .iter()
            .any(|t| t.event == "ticket_closed_while_detected" && t.detail.contains("dev-alice"))
    }));
}

#[tokio::test]
async fn with_the_flag_policy_a_closed_ticket_stays_closed_until_the_findings_go() {
    let Some((pipeline, group)) = ticketed("flag").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);

    let (_, body) = deliver_github(&pipeline, github_issues_event("closed", Some("completed"), 7, &group)).await;
    assert_eq!(body["outcome"], "flagged", "{body}");
    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::ClosedInTracker
    );

    // A ticket message (any later change) does not reopen it.
    pipeline
        .handle(&muster_core::messages::Message::Ticket { group: group.clone() })
        .await
        .unwrap();
    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::ClosedInTracker
    );
    let outbox = pipeline.store.outbox().await.unwrap();
    assert!(!outbox.iter().any(|e| e.action == "reopen"), "{outbox:?}");
}

#[tokio::test]
async fn wont_fix_becomes_a_risk_acceptance_request_to_the_security_leads() {
    let Some((pipeline, group)) = ticketed("reopen").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);

    let (_, body) = deliver_github(&pipeline, github_issues_event("closed", Some("not_planned"), 7, &group)).await;

    assert_eq!(body["outcome"], "acceptance_requested", "{body}");
    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::ClosedInTracker
    );
    let outbox = pipeline.store.outbox().await.unwrap();
    let requests: Vec<_> = outbox
        .iter()
        .filter(|e| e.kind == "chat" && e.target == "#security")
        .collect();
    assert_eq!(requests.len(), 1, "{outbox:?}");
    assert!(
        requests[0].payload["text"]
            .as_str()
            .unwrap()
            .contains("Risk acceptance requested")
    );
    // The findings stay open: nothing is silently accepted.
    let members = pipeline.store.group_findings(&group).await.unwrap();
    assert!(members.iter().all(|f| f.status.is_open()));
    assert!(
        members
            .iter()
            .all(|f| f.timeline.iter().any(|t| t.event == "acceptance_requested"))
    );

    // Redelivery changes nothing more.
    let (_, again) = deliver_github(&pipeline, github_issues_event("closed", Some("not_planned"), 7, &group)).await;
    assert_eq!(again["outcome"], "recorded", "{again}");
    let requests = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.target == "#security")
        .count();
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn deliveries_about_other_issues_or_badly_signed_change_nothing() {
    let Some((pipeline, group)) = ticketed("reopen").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);

    // Someone pasted the marker into issue #8: only the recorded ticket speaks for the group.
    let (status, body) = deliver_github(&pipeline, github_issues_event("closed", Some("completed"), 8, &group)).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("ignored")),
        "{body}"
    );

    let event = github_issues_event("closed", Some("completed"), 7, &group);
    let forged = sign_github(&Secret::new("wrong"), &event);
    let headers = [("x-github-event", "issues".to_owned()), ("x-hub-signature-256", forged)];
    let (status, body) = post(app(&pipeline), "/trackers/github", &headers, event.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    let (status, _) = post(
        app(&pipeline),
        "/trackers/github",
        &[("x-github-event", "issues".into())],
        event,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post(app(&pipeline), "/trackers/linear", &[], b"{}".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_tracker"))
    );

    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::Open
    );
}

#[tokio::test]
async fn a_signed_jira_status_change_reaches_the_ticket() {
    let Some((pipeline, group)) = ticketed("flag").await else {
        return;
    };
    let mut ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    ticket.tracker = "jira".into();
    ticket.key = Some("PAY-7".into());
    pipeline.store.save_ticket(&ticket).await.unwrap();
    let pipeline = Arc::new(pipeline);
    let body = serde_json::json!({
        "timestamp": at("2026-11-02T09:00:00Z").timestamp_millis(),
        "webhookEvent": "jira:issue_updated",
        "user": { "accountId": "5b10a2844c20165700ede21g", "displayName": "Bob" },
        "issue": { "key": "PAY-7", "fields": {
            "status": { "name": "Done", "statusCategory": { "key": "done" } },
            "resolution": { "name": "Done" },
            "description": { "type": "doc", "version": 1, "content": [ { "type": "paragraph", "content": [
                { "type": "text", "text": group_marker(&group) } ] } ] }
        } },
        "changelog": { "items": [ { "field": "status", "fromString": "In Progress", "toString": "Done" } ] }
    })
    .to_string()
    .into_bytes();
    let signature = sign_github(&Secret::new(JIRA_SECRET), &body);

    let (status, answer) = post(
        app(&pipeline),
        "/trackers/jira",
        &[("x-hub-signature", signature)],
        body,
    )
    .await;

    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("flagged")),
        "{answer}"
    );
    assert_eq!(
        pipeline.store.ticket(&group).await.unwrap().unwrap().state,
        TicketState::ClosedInTracker
    );
}

/// A Slack `block_actions` click on a muster alert, as Slack posts it (form-encoded payload).
fn slack_click(action_id: &str, group: &GroupKey) -> Vec<u8> {
    slack_click_by("U0DEV", action_id, group)
}

fn slack_click_by(user: &str, action_id: &str, group: &GroupKey) -> Vec<u8> {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": user, "username": "someone", "team_id": "T0" },
        "actions": [ { "action_id": action_id, "block_id": "muster_alert", "value": group.as_str(), "type": "button" } ],
        "channel": { "id": "C0PAY", "name": "payments" },
        "message": { "ts": "1764000000.000100", "type": "message" },
        "response_url": "https://hooks.slack.com/actions/T0/1/x"
    });
    slack_form(&payload.to_string())
}

async fn click(pipeline: &Arc<TestPipeline>, body: Vec<u8>, timestamp: i64) -> (StatusCode, serde_json::Value) {
    let signature = muster_slack::sign_request(SLACK_SECRET.as_bytes(), timestamp, &body);
    let headers = [
        ("x-slack-request-timestamp", timestamp.to_string()),
        ("x-slack-signature", signature),
    ];
    post_form(app(pipeline), "/slack/actions", &headers, body).await
}

async fn post_form(
    app: axum::Router,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    send(app, path, "application/x-www-form-urlencoded", headers, body).await
}

#[tokio::test]
async fn slack_buttons_acknowledge_request_acceptance_and_are_refused_when_forged_or_replayed() {
    let Some((pipeline, group)) = ticketed("reopen").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);
    let now = chrono::Utc::now().timestamp();

    // Acknowledge: the ticket records who and until when, the findings' timeline says so.
    let (status, body) = click(&pipeline, slack_click("ack", &group), now).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["text"].as_str().unwrap().contains("Acknowledged by <@U0DEV>"),
        "{body}"
    );
    let ticket = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!(ticket.acknowledged.as_ref().map(|a| a.by.as_str()), Some("<@U0DEV>"));
    let members = pipeline.store.group_findings(&group).await.unwrap();
    assert!(
        members
            .iter()
            .all(|f| f.timeline.iter().any(|t| t.event == "acknowledged"))
    );

    // Request risk acceptance: the security leads hear it; the findings stay open.
    let (status, _) = click(&pipeline, slack_click("accept_request", &group), now).await;
    assert_eq!(status, StatusCode::OK);
    let drained = pipeline.queue.drain(pipeline.as_ref(), |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0);
    let outbox = pipeline.store.outbox().await.unwrap();
    assert!(outbox.iter().any(|e| {
        e.target == "#security"
            && e.payload["text"]
                .as_str()
                .unwrap()
                .contains("Risk acceptance requested")
    }));
    assert!(
        pipeline
            .store
            .group_findings(&group)
            .await
            .unwrap()
            .iter()
            .all(|f| f.status.is_open())
    );

    // Forged, replayed (older than five minutes) and unknown actions change nothing.
    let body = slack_click("snooze", &group);
    let forged = muster_slack::sign_request(b"not-the-secret", now, &body);
    let headers = [
        ("x-slack-request-timestamp", now.to_string()),
        ("x-slack-signature", forged),
    ];
    let (status, answer) = post_form(app(&pipeline), "/slack/actions", &headers, body.clone()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signature_mismatch"))
    );
    let (status, answer) = click(&pipeline, body, now - 600).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, answer) = click(&pipeline, slack_click("delete_everything", &group), now).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_action"))
    );
    let after = pipeline.store.ticket(&group).await.unwrap().unwrap();
    assert_eq!(
        after.acknowledged, ticket.acknowledged,
        "a refused click changes nothing"
    );
}

#[tokio::test]
async fn a_risk_acceptance_approved_in_slack_pauses_the_sla_and_reactivates_on_expiry() {
    let Some((pipeline, group)) = ticketed("reopen").await else {
        return;
    };
    let pipeline = Arc::new(pipeline);
    // A developer closes the issue as won't fix: the security leads get Approve / Reject.
    deliver_github(&pipeline, github_issues_event("closed", Some("not_planned"), 7, &group)).await;
    let outbox = pipeline.store.outbox().await.unwrap();
    let request = outbox.iter().find(|e| e.target == "#security").unwrap();
    assert_eq!(request.payload["card"]["actions"], "acceptance_decision", "{request:?}");
    let now = chrono::Utc::now().timestamp();

    // Only a security lead decides.
    let (status, answer) = click(&pipeline, slack_click_by("U0DEV", "approve_acceptance", &group), now).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("action_refused"))
    );
    assert!(
        pipeline
            .store
            .group_findings(&group)
            .await
            .unwrap()
            .iter()
            .all(|f| f.status == Status::Open)
    );

    let (status, answer) = click(
        &pipeline,
        slack_click_by("U0SECLEAD", "approve_acceptance", &group),
        now,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let members = pipeline.store.group_findings(&group).await.unwrap();
    let open: Vec<_> = members.iter().filter(|f| f.status.is_open()).collect();
    assert!(open.iter().all(|f| f.status == Status::RiskAccepted), "{members:?}");
    // 30 days (notify.acceptance_days) from the pipeline's clock, 2026-11-01.
    let until = at("2026-12-01T10:00:00Z");
    assert!(
        open.iter()
            .all(|f| f.acceptance.as_ref().is_some_and(|a| a.until == until))
    );
    assert!(
        open.iter()
            .all(|f| f.acceptance.as_ref().unwrap().reason.contains("<@U0SECLEAD>"))
    );

    // On expiry the findings are open again and their SLA clock runs.
    let after = muster_core::ports::FixedClock(until + chrono::Duration::hours(1));
    let reopened = review_acceptances(&pipeline.store, &pipeline.queue, &after)
        .await
        .unwrap();
    assert_eq!(reopened, open.len());
    let mut pipeline = Arc::try_unwrap(pipeline).ok().expect("the router is gone");
    pipeline.clock = after;
    let drained = pipeline.queue.drain(&pipeline, |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0);
    let members = pipeline.store.group_findings(&group).await.unwrap();
    let again: Vec<_> = members.iter().filter(|f| f.status.is_open()).collect();
    assert_eq!(again.len(), open.len());
    assert!(again.iter().all(|f| f.status == Status::Reopened), "{again:?}");
    let restarted = again[0].triage.as_ref().unwrap().clock_start;
    assert_eq!(
        restarted, until,
        "the SLA clock restarts at the expiry (on_acceptance_expiry = restart)"
    );
}

#[tokio::test]
async fn not_mine_reroutes_the_group_to_the_triage_team_until_the_owners_file_changes() {
    let Some((pipeline, _)) = ticketed("reopen").await else {
        return;
    };
    // GIVEN the CodeQL findings owned by payments through the owners file.
    let owners = |team: &str| {
        muster_core::ownership::parse_owners_yaml(
            &format!(
                "default_team: security-triage\nteams:\n  - id: payments\n  - id: web\n  - id: security-triage\n    slack_channel: \"#sec-triage\"\nrules:\n  - team: {team}\n    asset: ci\n"
            ),
            "owners.yaml",
        )
        .unwrap()
    };
    muster_core::services::context::import_ownership(&pipeline.store, &pipeline.queue, owners("payments"))
        .await
        .unwrap();
    pipeline.queue.drain(&pipeline, |_, _| {}).await;
    let open = |findings: Vec<muster_core::Finding>| -> Vec<muster_core::Finding> {
        findings.into_iter().filter(|f| f.status.is_open()).collect()
    };
    let all = open(pipeline.store.list_findings(&FindingFilter::default()).await.unwrap());
    let group = all[0].group().unwrap().clone();
    assert_eq!(all[0].triage.as_ref().unwrap().owner.as_str(), "payments");
    let members = open(pipeline.store.group_findings(&group).await.unwrap());
    let pipeline = Arc::new(pipeline);

    // WHEN someone of payments clicks Not mine
    let now = chrono::Utc::now().timestamp();
    let (status, answer) = click(&pipeline, slack_click_by("U0PAYDEV", "not_mine", &group), now).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    pipeline.queue.drain(&pipeline, |_, _| {}).await;

    // THEN every member is the triage team's now, in a group of its own with its own ticket,
    // with who said so on the timeline, and the triage team is told in its channel.
    let moved = pipeline
        .store
        .findings(&members.iter().map(|f| f.detection.fingerprint).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(moved.len(), members.len());
    for finding in &moved {
        let triage = finding.triage.as_ref().unwrap();
        assert_eq!(triage.owner.as_str(), "security-triage");
        assert_ne!(&triage.group, &group);
        assert!(
            finding
                .timeline
                .iter()
                .any(|t| t.event == "not_mine" && t.detail.contains("<@U0PAYDEV>"))
        );
    }
    let new_group = moved[0].group().unwrap().clone();
    assert!(
        pipeline.store.ticket(&new_group).await.unwrap().is_some(),
        "the triage team's group is ticketed"
    );
    let told = pipeline.store.outbox().await.unwrap();
    assert!(
        told.iter()
            .any(|e| e.target == "#sec-triage" && e.payload["text"].as_str().unwrap().contains("not payments'")),
        "{told:?}"
    );

    // WHEN the owners file is fixed to name web, the rules win again.
    muster_core::services::context::import_ownership(&pipeline.store, &pipeline.queue, owners("web"))
        .await
        .unwrap();
    pipeline.queue.drain(&pipeline, |_, _| {}).await;
    let fixed = pipeline
        .store
        .findings(&[moved[0].detection.fingerprint])
        .await
        .unwrap();
    assert_eq!(fixed[0].triage.as_ref().unwrap().owner.as_str(), "web");
}
