//! Ticket: one ticket per remediation group, opened while the group has open findings and
//! closed when the scanners stop seeing them.
//!
//! A ticket is claimed in the store before the tracker is called. A claim without a reference
//! that is older than `CLAIM_TIMEOUT` means a worker died between create and record: the sink
//! is searched for the group's marker before anything is created again.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::PipelineError;
use super::notify::{summarize, told_at_once};
use crate::messages::{Message, TicketEvent};
use crate::model::{AssetKey, Finding, GroupKey, GroupSummary, Location, RemediationGroup, Ticket, TicketState, Tier};
use crate::policy;
use crate::ports::{
    Clock, ContextStore, FindingStore, Queue, StoreError, TicketDraft, TicketRef, TicketSink, TicketStore, group_marker,
};

/// How long a claim may stay without a ticket reference before it is presumed abandoned.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after a sync was requested a read of the group surely sees what the requester
/// wrote: DynamoDB's `by-group` index is eventually consistent (usually well under a second),
/// and Lambda clocks agree to milliseconds. A sync that began reading this long after a request
/// was sent already covered it.
pub const SETTLE: Duration = Duration::from_secs(30);
/// Members listed in a ticket body; the rest are counted.
const MAX_LISTED: usize = 50;

/// Builds the group's current state from its findings; `None` when nothing was triaged into it.
pub fn remediation_group(key: &GroupKey, findings: &[Finding]) -> Option<RemediationGroup> {
    let members: Vec<&Finding> = findings.iter().filter(|f| f.group() == Some(key)).collect();
    let first = members.first()?;
    let triage = first.triage.as_ref()?;
    let open: Vec<&Finding> = members.iter().copied().filter(|f| f.status.is_open()).collect();
    let ranked = if open.is_empty() { &members } else { &open };
    let tier = ranked
        .iter()
        .filter_map(|f| f.triage.as_ref().map(|t| t.risk.tier))
        .min()
        .unwrap_or(Tier::P4);
    let due_at = ranked
        .iter()
        .filter_map(|f| f.triage.as_ref().map(|t| t.due_at))
        .min()
        .unwrap_or(triage.due_at);
    let mut open_fps: Vec<_> = open.iter().map(|f| f.fingerprint()).collect();
    open_fps.sort();
    let (scope, _) = policy::fix_scope(first);
    Some(RemediationGroup {
        key: key.clone(),
        owner: triage.owner.clone(),
        title: group_title(
            first,
            &scope,
            &upgrade_to(ranked),
            &binaries(ranked),
            open.len().max(1),
            tier,
        ),
        asset: scope,
        tier,
        due_at,
        open: open_fps,
        total: members.len(),
    })
}

/// The open remediation groups among `findings`, most urgent first (tier, then due date).
pub fn open_groups(findings: &[Finding]) -> Vec<RemediationGroup> {
    let mut members: std::collections::BTreeMap<&GroupKey, Vec<Finding>> = std::collections::BTreeMap::new();
    for finding in findings.iter().filter(|f| f.status.is_open()) {
        if let Some(key) = finding.group() {
            members.entry(key).or_default().push(finding.clone());
        }
    }
    let mut groups: Vec<RemediationGroup> = members
        .iter()
        .filter_map(|(key, findings)| remediation_group(key, findings))
        .collect();
    groups.sort_by(|a, b| (a.tier, a.due_at, &a.key).cmp(&(b.tier, b.due_at, &b.key)));
    groups
}

/// The version a dependency group must reach: the highest of its members' needed fixes, so
/// one upgrade fixes them all.
pub fn upgrade_to(members: &[&Finding]) -> Option<String> {
    members
        .iter()
        .filter_map(|f| match &f.detection.location {
            Location::Package(package) => package
                .fixed_version
                .as_deref()
                .and_then(|fixed| policy::needed_fix(package.version.as_deref(), fixed)),
            _ => None,
        })
        .max_by(|a, b| policy::compare_versions(a, b))
}

/// The binary packages of a source-package group (`libcrypto3, libssl3` for openssl), when
/// they are not just the source itself.
fn binaries(members: &[&Finding]) -> Vec<String> {
    let mut names: Vec<String> = members
        .iter()
        .filter_map(|f| match &f.detection.location {
            Location::Package(package) if package.source.is_some() => Some(package.name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn group_title(
    sample: &Finding,
    scope: &AssetKey,
    upgrade: &Option<String>,
    binaries: &[String],
    count: usize,
    tier: Tier,
) -> String {
    let (_, target) = policy::fix_scope(sample);
    let asset = scope;
    let action = if let Some(package) = target.strip_prefix("pkg:") {
        let package = if binaries.is_empty() {
            package.to_owned()
        } else {
            format!("{package} ({})", binaries.join(", "))
        };
        match upgrade {
            Some(version) => format!("Upgrade {package} to ≥ {version} in {asset}"),
            None => format!("Upgrade {package} in {asset}"),
        }
    } else if let Some(rule) = target.strip_prefix("rule:") {
        let what = sample.detection.description.as_deref().unwrap_or(rule);
        format!("Fix {rule} in {asset}: {what}")
    } else if let Some(control) = target.strip_prefix("control:") {
        format!("Fix {control} in {asset}: {}", sample.detection.title)
    } else {
        format!("Fix in {asset}: {}", sample.detection.title)
    };
    let plural = if count == 1 { "finding" } else { "findings" };
    let mut title = format!("{action} — {count} {plural} ({tier})");
    if title.len() > 250 {
        let mut cut = 247;
        while !title.is_char_boundary(cut) {
            cut -= 1;
        }
        title.truncate(cut);
        title.push('…');
    }
    title
}

/// The ticket text for a group: what to do, by when, and the evidence per finding.
/// `revision` is the instant of the ticket's last transition (see `TicketDraft::revision`).
pub fn draft(group: &RemediationGroup, findings: &[Finding], revision: DateTime<Utc>) -> TicketDraft {
    let mut body = String::new();
    let _ = writeln!(body, "**{}** — due {}", group.tier, group.due_at.format("%Y-%m-%d"));
    let _ = writeln!(body, "\nAsset: `{}` · owner: `{}`\n", group.asset, group.owner);
    let mut open: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.group() == Some(&group.key) && f.status.is_open())
        .collect();
    open.sort_by_key(|f| (std::cmp::Reverse(f.detection.severity), f.fingerprint()));
    if let Some(version) = upgrade_to(&open) {
        let _ = writeln!(body, "Fix: upgrade to ≥ {version} (fixes every finding below)\n");
    } else if let Some(fix) = open.iter().find_map(|f| f.detection.fix.as_deref()) {
        let _ = writeln!(body, "Fix: {fix}\n");
    }
    let _ = writeln!(body, "| severity | location | finding | why |\n|---|---|---|---|");
    for finding in open.iter().take(MAX_LISTED) {
        let evidence = finding
            .triage
            .as_ref()
            .map(|t| {
                let why: Vec<String> = t.risk.evidence.iter().map(ToString::to_string).collect();
                format!("score {}: {}", t.risk.score, why.join("; ").replace(['\n', '|'], " "))
            })
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "| {} | `{}` | {} | {} |",
            finding.detection.severity,
            finding.detection.location,
            finding.detection.title.replace(['\n', '|'], " "),
            evidence
        );
    }
    if open.len() > MAX_LISTED {
        let _ = writeln!(body, "\n…and {} more (`muster groups`).", open.len() - MAX_LISTED);
    }
    let _ = write!(body, "\n<!-- {} -->", group_marker(&group.key));

    // What a reader acts on: the members, the urgency, the date, who, and the fix. Evidence
    // alone (a daily EPSS drift) does not re-post a ticket.
    let mut hasher = Sha256::new();
    for fingerprint in &group.open {
        hasher.update(fingerprint.as_bytes());
    }
    hasher.update(group.tier.as_str());
    hasher.update(group.due_at.format("%Y-%m-%d").to_string());
    hasher.update(group.owner.as_str());
    hasher.update(&group.title);
    TicketDraft {
        group: group.key.clone(),
        owner: group.owner.clone(),
        title: group.title.clone(),
        body,
        tier: group.tier,
        due_at: group.due_at,
        labels: vec![
            "security".into(),
            "muster".into(),
            group.tier.as_str().to_ascii_lowercase(),
        ],
        digest: hex::encode(&hasher.finalize()[..8]),
        revision,
        destination: None,
        assignees: Vec::new(),
        note: None,
    }
}

/// Brings a group's ticket in line with its findings.
///
/// `sent_at` is when the request for this sync was sent, after the requester's writes (SQS's
/// `SentTimestamp`). Triage asks once per group per batch, so a large report queues many
/// requests per group; when a saved sync began reading the group [`SETTLE`] or more after this
/// one was sent, it saw everything this one would, and the group is not read again. `None`
/// (the embedded queue, which already coalesces requests) always syncs.
pub async fn sync_ticket<S, T, Q, C>(
    store: &S,
    sink: &T,
    queue: &Q,
    clock: &C,
    key: &GroupKey,
    sent_at: Option<DateTime<Utc>>,
) -> Result<(), PipelineError>
where
    S: FindingStore + TicketStore + ContextStore,
    T: TicketSink,
    Q: Queue,
    C: Clock,
{
    let now = clock.now();
    let existing = store.ticket(key).await?;
    if let (Some(ticket), Some(sent_at)) = (&existing, sent_at)
        && covered(ticket, sent_at)
    {
        tracing::debug!(group = %key, %sent_at, "a later sync already covered this request");
        return Ok(());
    }
    let findings = store.group_findings(key).await?;
    let Some(group) = remediation_group(key, &findings) else {
        return Ok(());
    };
    let has_open = !group.open.is_empty();
    let mut draft = draft(&group, &findings, existing.as_ref().map_or(now, |t| t.updated_at));
    let summary = GroupSummary {
        read_at: Some(now),
        ..summarize(&group, &findings)
    };
    let context = store.org_context().await?;
    if let Some(team) = context.ownership.teams.iter().find(|t| t.id == group.owner) {
        draft.destination = team.tracker.clone();
        draft.assignees = team.assignees.clone();
    }

    let mut ticket = match existing {
        Some(ticket) => ticket,
        None if !has_open => return Ok(()),
        None => {
            let claim = Ticket {
                group: key.clone(),
                tracker: sink.tracker(&draft).to_owned(),
                key: None,
                url: None,
                state: TicketState::Claimed,
                digest: None,
                updated_at: now,
                acknowledged: None,
                told: None,
                summary: Some(summary.clone()),
            };
            match store.claim_ticket(&claim).await {
                Ok(()) => return open_ticket(store, sink, queue, claim, &draft, now, None).await,
                Err(StoreError::AlreadyExists { .. }) => store
                    .ticket(key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("ticket claim for {key} vanished")))?,
                Err(other) => return Err(other.into()),
            }
        }
    };

    // Saved with whatever the arm below saves; only a changed summary alone is saved for itself.
    let summary_changed = !ticket.summary.as_ref().is_some_and(|kept| kept.says_same_as(&summary));
    ticket.summary = Some(summary);

    match (ticket.state, has_open) {
        (TicketState::Claimed, _) => {
            let age = (now - ticket.updated_at).to_std().unwrap_or_default();
            if age < CLAIM_TIMEOUT {
                return Err(PipelineError::Busy {
                    what: format!("ticket for {key} is being opened by another worker"),
                    retry_after: CLAIM_TIMEOUT - age,
                });
            }
            let found = sink.find(&draft).await?;
            open_ticket(store, sink, queue, ticket, &draft, now, found).await
        }
        (TicketState::Open, true) => {
            let changed = ticket.digest.as_deref() != Some(draft.digest.as_str());
            if changed {
                sink.update(&reference(&ticket)?, &draft).await?;
                ticket.digest = Some(draft.digest.clone());
                ticket.updated_at = now;
            }
            // Evidence alone (a daily EPSS drift) does not re-post the ticket, but the next
            // alert about it should say it.
            if changed || summary_changed {
                store.save_ticket(&ticket).await?;
            }
            Ok(())
        }
        (TicketState::Open, false) => {
            sink.close(&reference(&ticket)?, &draft).await?;
            transition(
                store,
                queue,
                ticket,
                TicketState::Closed,
                TicketEvent::Closed,
                &draft,
                now,
            )
            .await
        }
        (TicketState::Closed, true) => {
            let last_scan = findings
                .iter()
                .filter(|f| f.status.is_open())
                .map(|f| f.last_seen)
                .max()
                .unwrap_or(now);
            draft.note = Some(format!(
                "muster reopened this: {} finding(s) of this group are still detected (last scan {}).",
                group.open.len(),
                last_scan.format("%Y-%m-%d %H:%M UTC")
            ));
            sink.reopen(&reference(&ticket)?, &draft).await?;
            transition(
                store,
                queue,
                ticket,
                TicketState::Open,
                TicketEvent::Reopened,
                &draft,
                now,
            )
            .await
        }
        (TicketState::Closed, false) => Ok(()),
        // A person closed it while the scanners still see it and policy says only flag it: it
        // stays closed (the digest lists it) until the findings go away.
        (TicketState::ClosedInTracker, true) => Ok(()),
        (TicketState::ClosedInTracker, false) => {
            ticket.state = TicketState::Closed;
            ticket.digest = Some(draft.digest.clone());
            ticket.updated_at = now;
            store.save_ticket(&ticket).await?;
            Ok(())
        }
    }
}

/// Whether a saved sync began reading the group [`SETTLE`] or more after `sent_at`. A claim
/// never covers: its worker may have died, and only a later sync can finish it.
fn covered(ticket: &Ticket, sent_at: DateTime<Utc>) -> bool {
    let settle = chrono::Duration::from_std(SETTLE).unwrap_or_default();
    ticket.state != TicketState::Claimed
        && ticket
            .summary
            .as_ref()
            .and_then(|summary| summary.read_at)
            .is_some_and(|read_at| read_at >= sent_at + settle)
}

async fn open_ticket<S, T, Q>(
    store: &S,
    sink: &T,
    queue: &Q,
    mut ticket: Ticket,
    draft: &TicketDraft,
    now: DateTime<Utc>,
    existing: Option<TicketRef>,
) -> Result<(), PipelineError>
where
    S: TicketStore,
    T: TicketSink,
    Q: Queue,
{
    let created = match existing {
        Some(found) => found,
        None => match sink.create(draft).await {
            Ok(created) => created,
            Err(error) => {
                // The create may or may not have happened (a lost reply): age the claim so the
                // next delivery searches the tracker for the marker at once, instead of waiting
                // out CLAIM_TIMEOUT or creating blindly.
                let claim_age = chrono::Duration::from_std(CLAIM_TIMEOUT).unwrap_or_default();
                ticket.updated_at = now - claim_age;
                store.save_ticket(&ticket).await?;
                return Err(error.into());
            }
        },
    };
    ticket.tracker = created.tracker;
    ticket.key = Some(created.key);
    ticket.url = created.url;
    transition(store, queue, ticket, TicketState::Open, TicketEvent::Opened, draft, now).await
}

async fn transition<S, Q>(
    store: &S,
    queue: &Q,
    mut ticket: Ticket,
    state: TicketState,
    event: TicketEvent,
    draft: &TicketDraft,
    now: DateTime<Utc>,
) -> Result<(), PipelineError>
where
    S: TicketStore,
    Q: Queue,
{
    ticket.state = state;
    ticket.updated_at = now;
    ticket.digest = Some(draft.digest.clone());
    store.save_ticket(&ticket).await?;
    if told_at_once(draft.tier, event) {
        queue
            .send(vec![Message::Notify {
                group: ticket.group.clone(),
                event,
                at: now,
            }])
            .await?;
    }
    let tracker = ticket.tracker.as_str();
    match event {
        TicketEvent::Opened => crate::metric!(tracker, groups_ticketed = 1_u64),
        TicketEvent::Closed => crate::metric!(tracker, groups_closed = 1_u64),
        TicketEvent::Reopened => crate::metric!(tracker, groups_reopened = 1_u64),
        _ => {}
    }
    Ok(())
}

fn reference(ticket: &Ticket) -> Result<TicketRef, PipelineError> {
    let key = ticket
        .key
        .clone()
        .ok_or_else(|| StoreError::Corrupt(format!("ticket for {} has no key", ticket.group)))?;
    Ok(TicketRef {
        tracker: ticket.tracker.clone(),
        key,
        url: ticket.url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TeamId;

    fn ticket(state: TicketState, read_at: Option<DateTime<Utc>>) -> Ticket {
        let at = "2026-11-02T10:00:00Z".parse().unwrap();
        Ticket {
            group: GroupKey::parse("payments/github.com/acme/shop/lodash").unwrap(),
            tracker: "outbox".into(),
            key: Some("SEC-1".into()),
            url: None,
            state,
            digest: None,
            updated_at: at,
            acknowledged: None,
            told: None,
            summary: Some(GroupSummary {
                tier: Tier::P2,
                title: "Upgrade lodash".into(),
                owner: TeamId::parse("payments").unwrap(),
                due_at: at,
                open: 1,
                fix: "upgrade to ≥ 4.17.21".into(),
                evidence: Vec::new(),
                read_at,
            }),
        }
    }

    #[test]
    fn only_a_read_that_began_settle_after_the_request_covers_it() {
        let sent: DateTime<Utc> = "2026-11-02T10:00:00Z".parse().unwrap();
        let settle = chrono::Duration::from_std(SETTLE).unwrap();
        let second = chrono::Duration::seconds(1);
        assert!(covered(&ticket(TicketState::Open, Some(sent + settle)), sent));
        assert!(covered(&ticket(TicketState::Closed, Some(sent + settle * 10)), sent));
        assert!(!covered(&ticket(TicketState::Open, Some(sent + settle - second)), sent));
        assert!(!covered(&ticket(TicketState::Open, Some(sent - second)), sent));
        assert!(
            !covered(&ticket(TicketState::Open, None), sent),
            "summaries from before read_at"
        );
        assert!(
            !covered(&ticket(TicketState::Claimed, Some(sent + settle * 10)), sent),
            "a claim must be finished by a later sync"
        );
    }
}
