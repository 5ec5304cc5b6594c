//! The SLA sweep over real reports for three teams: new P3/P4 groups once, reminders before
//! the due date, escalation to the team lead on breach and to the security lead a week later —
//! one batched message per recipient and sweep, never the same rung twice in the nag interval,
//! never inside a team's quiet hours, and silent for acknowledged groups.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use muster_core::model::{RemediationGroup, Tier};
use muster_core::ownership::parse_owners_yaml;
use muster_core::ports::{FindingFilter, FindingStore, OutboxStore};
use muster_core::services::context::import_ownership;
use muster_core::services::sweep::SweepReport;
use muster_core::services::ticket::open_groups;
use muster_tests::{TestPipeline, ingest_from, pipeline_at, sample};

const OWNERS: &str = r##"
default_team: security-triage
teams:
  - id: payments
    slack_channel: "#payments"
    escalation: [U0PAYOWNER, U0PAYLEAD, U0SECLEAD]
    timezone: Europe/Berlin
    quiet_hours: { start: "20:00", end: "08:00" }
  - id: platform
    slack_channel: "#platform"
    escalation: [U0PLATOWNER, U0PLATLEAD]
    timezone: America/New_York
    quiet_hours: { start: "21:00", end: "07:30" }
  - id: web
    slack_channel: "#web"
    timezone: UTC
  - id: security-triage
rules:
  - team: payments
    asset_glob: "testdata/fixtures/images/alpine-310*"
  - team: platform
    asset: ci
  - team: web
    asset_glob: "testdata/fixtures/images/centos-7*"
"##;

/// Three teams' reports ingested on 2026-11-01; `None` without the samples.
async fn three_teams() -> Option<(TestPipeline, Vec<RemediationGroup>)> {
    let reports = [
        ("ci", sample("sarif/codeql_codeQL-output.sarif")?),
        ("images", sample("trivy/trivy_alpine-310.json")?),
        ("centos", sample("trivy/trivy_centos-7.json")?),
    ];
    let pipeline = pipeline_at("2026-11-01T10:00:00Z");
    let owners = parse_owners_yaml(OWNERS, "owners.yaml").unwrap();
    import_ownership(&pipeline.store, &pipeline.queue, owners)
        .await
        .unwrap();
    for (source, bytes) in &reports {
        ingest_from(&pipeline, source, None, None, bytes).await;
    }
    let open = pipeline
        .store
        .list_findings(&FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    let groups = open_groups(&open);
    for team in ["payments", "platform", "web"] {
        assert!(groups.iter().any(|g| g.owner.as_str() == team), "{team} owns a group");
    }
    Some((pipeline, groups))
}

/// A sweep message's sections, read back from their headings: rung → number of groups.
fn sections(text: &str) -> BTreeMap<String, usize> {
    let mut sections = BTreeMap::new();
    for heading in text.lines().filter(|l| !l.starts_with("• ")) {
        let count: usize = heading.split_whitespace().nth(1).unwrap().parse().unwrap();
        let rung = if heading.contains("long past their SLA") {
            "long_breached"
        } else if heading.contains("past their SLA") {
            "breached"
        } else if heading.contains("due soon") {
            "due_soon"
        } else if heading.contains("new remediation") {
            "new"
        } else {
            panic!("unknown section {heading:?}")
        };
        assert!(
            sections.insert(rung.to_owned(), count).is_none(),
            "one section per rung: {text}"
        );
    }
    sections
}

/// The sweep messages recorded since the last call: (recipient, rung) → number of groups,
/// checking that each recipient got one message.
async fn sweep_messages(pipeline: &TestPipeline, seen: &mut u64) -> BTreeMap<(String, String), usize> {
    let mut told = BTreeMap::new();
    let mut recipients = std::collections::BTreeSet::new();
    for entry in pipeline.store.outbox().await.unwrap() {
        if entry.id <= *seen {
            continue;
        }
        *seen = entry.id;
        if !entry.dedupe_key.starts_with("chat:sweep:") {
            continue;
        }
        assert!(
            recipients.insert(entry.target.clone()),
            "one message per recipient: {entry:?}"
        );
        for (rung, count) in sections(entry.payload["text"].as_str().unwrap()) {
            told.insert((entry.target.clone(), rung), count);
        }
    }
    told
}

/// What the ladder should say at `now`, computed from the groups and the owners file above;
/// `first` for the first sweep, which also lists every P3/P4 group as new.
fn expected(
    groups: &[RemediationGroup],
    now: DateTime<Utc>,
    quiet: &[&str],
    first: bool,
) -> BTreeMap<(String, String), usize> {
    let mut expected = BTreeMap::new();
    for group in groups {
        let team = group.owner.as_str();
        if quiet.contains(&team) {
            continue;
        }
        let (rung, recipient) = if group.due_at > now + Duration::days(2) {
            if !first || group.tier <= Tier::P2 {
                continue;
            }
            ("new", format!("#{team}"))
        } else if group.due_at > now {
            ("due_soon", format!("#{team}"))
        } else if now - group.due_at >= Duration::days(7) {
            let lead = match team {
                "payments" => "U0SECLEAD".to_owned(),
                _ => "#security".to_owned(),
            };
            ("long_breached", lead)
        } else {
            let lead = match team {
                "payments" => "U0PAYLEAD".to_owned(),
                "platform" => "U0PLATLEAD".to_owned(),
                _ => format!("#{team}"),
            };
            ("breached", lead)
        };
        *expected.entry((recipient, rung.to_owned())).or_default() += 1;
    }
    expected
}

async fn sweep_twice(pipeline: &TestPipeline, now: DateTime<Utc>) {
    pipeline.sweep(now).await.unwrap();
    let second = pipeline.sweep(now).await.unwrap();
    assert_eq!(
        second,
        SweepReport::default(),
        "a second sweep at the same instant finds everything told"
    );
}

#[tokio::test]
async fn reminders_then_escalation_batched_per_recipient() {
    let Some((pipeline, groups)) = three_teams().await else {
        return;
    };
    let first_due = groups.iter().map(|g| g.due_at).min().unwrap();
    // 14:00 UTC: 15:00 in Berlin, 09:00 in New York — nobody's quiet hours.
    let at_14 = |day: DateTime<Utc>| day.date_naive().and_hms_opt(14, 0, 0).unwrap().and_utc();
    let mut seen = 0;

    // Day 0: nothing is due within the reminder window; each channel hears its new P3/P4
    // groups, once.
    let day0 = "2026-11-01T14:00:00Z".parse().unwrap();
    sweep_twice(&pipeline, day0).await;
    let want = expected(&groups, day0, &[], true);
    assert!(
        want.keys().all(|(_, rung)| rung == "new") && !want.is_empty(),
        "{want:?}"
    );
    assert_eq!(sweep_messages(&pipeline, &mut seen).await, want);

    // T-2: the owners' channels hear what is due soon, once each.
    let reminder = at_14(first_due - Duration::days(2));
    sweep_twice(&pipeline, reminder).await;
    let want = expected(&groups, reminder, &[], false);
    assert!(!want.is_empty());
    assert_eq!(sweep_messages(&pipeline, &mut seen).await, want);

    // Breach day: the team leads hear about the breaches.
    let breach = at_14(first_due + Duration::days(1));
    sweep_twice(&pipeline, breach).await;
    let want = expected(&groups, breach, &[], false);
    assert!(want.keys().any(|(_, rung)| rung == "breached"));
    assert_eq!(sweep_messages(&pipeline, &mut seen).await, want);

    // Four hours later, within the nag interval: nothing new to say, nothing said.
    pipeline.sweep(breach + Duration::hours(4)).await.unwrap();
    assert_eq!(sweep_messages(&pipeline, &mut seen).await, BTreeMap::new());

    // Breach + 7: the security lead hears about the long breaches.
    let long = at_14(first_due + Duration::days(8));
    sweep_twice(&pipeline, long).await;
    let want = expected(&groups, long, &[], false);
    assert!(want.keys().any(|(_, rung)| rung == "long_breached"));
    assert_eq!(sweep_messages(&pipeline, &mut seen).await, want);
}

#[tokio::test]
async fn quiet_hours_hold_messages_until_the_window_opens() {
    let Some((pipeline, groups)) = three_teams().await else {
        return;
    };
    let first_due = groups.iter().map(|g| g.due_at).min().unwrap();
    let breach_day = first_due.date_naive() + chrono::Days::new(1);

    // 21:00 UTC is 22:00 in Berlin (payments is quiet), 16:00 in New York, 21:00 in UTC.
    let night = breach_day.and_hms_opt(21, 0, 0).unwrap().and_utc();
    let report = pipeline.sweep(night).await.unwrap();
    let payments_groups = expected(&groups, night, &[], true)
        .iter()
        .filter(|((recipient, _), _)| recipient.starts_with("U0PAY") || recipient == "#payments")
        .map(|(_, n)| n)
        .sum::<usize>();
    assert!(payments_groups > 0, "payments has breached groups that night");
    assert_eq!(report.quiet, payments_groups);
    let mut seen = 0;
    assert_eq!(
        sweep_messages(&pipeline, &mut seen).await,
        expected(&groups, night, &["payments"], true)
    );

    // 07:00 UTC next day is 08:00 in Berlin: the window opened, payments hears it now.
    let morning = (breach_day + chrono::Days::new(1))
        .and_hms_opt(7, 0, 0)
        .unwrap()
        .and_utc();
    pipeline.sweep(morning).await.unwrap();
    let told = sweep_messages(&pipeline, &mut seen).await;
    let payments: BTreeMap<_, _> = expected(&groups, morning, &[], true)
        .into_iter()
        .filter(|((recipient, _), _)| recipient.starts_with("U0PAY") || recipient == "#payments")
        .collect();
    assert!(payments.contains_key(&("U0PAYLEAD".to_owned(), "breached".to_owned())));
    assert_eq!(
        told, payments,
        "only payments hears, what it missed overnight; the others were told within the interval"
    );
}

#[tokio::test]
async fn an_acknowledged_group_stops_escalating_until_the_acknowledgement_ends() {
    let Some((pipeline, groups)) = three_teams().await else {
        return;
    };
    let web: Vec<&RemediationGroup> = groups.iter().filter(|g| g.owner.as_str() == "web").collect();
    let first_due = web.iter().map(|g| g.due_at).min().unwrap();
    for group in &web {
        pipeline.acknowledge(&group.key, "U0WEBDEV").await.unwrap();
    }
    let acked = pipeline.store.group_findings(&web[0].key).await.unwrap();
    assert!(
        acked
            .iter()
            .any(|f| f.timeline.iter().any(|t| t.event == "acknowledged"))
    );

    // Acknowledged on 2026-11-01 for 3 days: a sweep on day 2 is silent for web...
    let mut seen = 0;
    let report = pipeline.sweep("2026-11-03T14:00:00Z".parse().unwrap()).await.unwrap();
    let told = sweep_messages(&pipeline, &mut seen).await;
    assert!(!told.keys().any(|(recipient, _)| recipient == "#web"), "{told:?}");
    let web_new = web.iter().filter(|g| g.tier >= Tier::P3).count();
    assert!(web_new > 0);
    assert_eq!(
        report.acknowledged, web_new,
        "nothing of web is due yet; only its new groups' announcement is held"
    );
    // ...and after the acknowledgement ended, the breach is told again.
    let breach = first_due + Duration::hours(4);
    let report = pipeline.sweep(breach).await.unwrap();
    assert_eq!(report.acknowledged, 0);
    assert!(
        sweep_messages(&pipeline, &mut seen)
            .await
            .contains_key(&("#web".to_owned(), "breached".to_owned()))
    );

    // Acknowledging at the breach silences the next sweeps for ack_days.
    let mut later = pipeline;
    later.clock = muster_core::ports::FixedClock(breach);
    for group in &web {
        later.acknowledge(&group.key, "U0WEBDEV").await.unwrap();
    }
    let next_day = breach + Duration::days(1);
    let report = later.sweep(next_day).await.unwrap();
    assert_eq!(
        report.acknowledged,
        web.iter().filter(|g| g.due_at <= next_day + Duration::days(2)).count()
    );
}

#[tokio::test]
async fn digests_go_to_the_security_leads_and_to_each_team_once_a_day() {
    let Some((pipeline, _)) = three_teams().await else {
        return;
    };
    let morning = "2026-11-20T08:00:00Z".parse().unwrap();

    let posted = pipeline.post_digests(morning, Duration::days(1)).await.unwrap();
    let again = pipeline
        .post_digests(morning + Duration::hours(3), Duration::days(1))
        .await
        .unwrap();

    assert_eq!(posted, 4, "security leads + three teams with a channel");
    assert_eq!(again, posted, "the same day's run is deduped by the sink, not skipped");
    let digests: Vec<_> = pipeline
        .store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.dedupe_key.starts_with("chat:digest:"))
        .collect();
    let targets: std::collections::BTreeSet<_> = digests.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(digests.len(), 4, "posted once per day: {digests:?}");
    assert_eq!(
        targets,
        ["#payments", "#platform", "#security", "#web"].into_iter().collect()
    );
    let payments = digests.iter().find(|e| e.target == "#payments").unwrap();
    let lines = payments.payload["digest"]["sections"][0][1].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l.as_str().unwrap().starts_with("payments: open")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.as_str().unwrap().starts_with("web:")),
        "a team digest is scoped"
    );
    let leads = digests.iter().find(|e| e.target == "#security").unwrap();
    let top = leads.payload["digest"]["sections"][1][1].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= 10, "{top:?}");
}
