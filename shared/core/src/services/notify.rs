//! Notify: tell people what happened to a group's ticket — only when it is urgent.
//!
//! A P1/P2 group's ticket opening (or reopening) is told at once in the owning team's channel,
//! as an alert card with buttons; its closing too. Less urgent groups are not told one by one:
//! their ticket is the notification, and the SLA sweep batches them when they come due. An
//! acceptance request always goes to the security leads, with Approve / Reject buttons.
//!
//! What the alert says comes from the summary the ticket stage kept on the ticket when it
//! synced it, so the card matches the ticket and notify reads one record, not the whole group.
//!
//! The message's dedupe key is derived from the event and its instant, so a redelivered
//! notification is posted once, while a ticket closed, reopened and closed again is told twice.

use super::PipelineError;
use super::ticket::{remediation_group, upgrade_to};
use crate::messages::TicketEvent;
use crate::model::{Finding, GroupKey, GroupSummary, RemediationGroup, Tier};
use crate::ports::{AlertCard, CardActions, ChatMessage, ChatSink, FindingStore, TicketStore};

/// Evidence lines on an alert card.
const CARD_EVIDENCE: usize = 3;

/// Whether an event of a group of this tier is told at once; the ticket stage asks first, so a
/// less urgent group's notification is not queued only for this stage to read the group and
/// drop it.
pub fn told_at_once(tier: Tier, event: TicketEvent) -> bool {
    tier <= Tier::P2 || event == TicketEvent::AcceptanceRequested
}

/// Posts the chat message for one ticket event, if it deserves one.
pub async fn notify<S, N>(
    store: &S,
    chat: &N,
    security_channel: &str,
    key: &GroupKey,
    event: TicketEvent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), PipelineError>
where
    S: FindingStore + TicketStore,
    N: ChatSink,
{
    let Some(mut ticket) = store.ticket(key).await? else {
        return Ok(());
    };
    let group = match ticket.summary.take() {
        Some(summary) => summary,
        None => {
            let findings = store.group_findings(key).await?;
            let Some(group) = remediation_group(key, &findings) else {
                return Ok(());
            };
            summarize(&group, &findings)
        }
    };
    if !told_at_once(group.tier, event) {
        return Ok(());
    }
    let ticket_name = ticket.link().unwrap_or_else(|| "(pending)".to_owned());
    let text = match event {
        TicketEvent::Opened => format!(
            "[{}] New ticket {ticket_name}: {} — due {}",
            group.tier,
            group.title,
            group.due_at.format("%Y-%m-%d")
        ),
        TicketEvent::Reopened => format!(
            "[{}] Reopened {ticket_name}: {} — a scanner sees it again",
            group.tier, group.title
        ),
        TicketEvent::Closed => format!("Closed {ticket_name}: {} — no scanner reports it any more", group.title),
        TicketEvent::AcceptanceRequested => format!(
            "[{}] Risk acceptance requested: {ticket_name} was closed as won't fix by team {} — {} ({} open). \
             Accept with `muster accept FINGERPRINT --until DATE --reason ...`, or reopen the ticket.",
            group.tier, group.owner, group.title, group.open
        ),
    };
    let channel = match event {
        TicketEvent::AcceptanceRequested => security_channel.to_owned(),
        _ => format!("#{}", group.owner),
    };
    let actions = match event {
        TicketEvent::AcceptanceRequested => CardActions::AcceptanceDecision,
        _ => CardActions::Alert,
    };
    let with_card = matches!(
        event,
        TicketEvent::Opened | TicketEvent::Reopened | TicketEvent::AcceptanceRequested
    );
    let card = with_card.then(|| AlertCard {
        tier: group.tier,
        title: group.title.clone(),
        fix: group.fix.clone(),
        due: group.due_at,
        ticket_url: ticket.url.clone(),
        ticket_key: ticket.key.clone(),
        evidence: group.evidence.clone(),
        group_key: key.clone(),
        actions,
    });
    chat.post(&ChatMessage {
        channel,
        dedupe_key: format!("{}:{}:{}", event.as_str(), key, at.timestamp_millis()),
        text,
        blocks: None,
        card,
        digest: None,
    })
    .await?;
    crate::metric!(kind = "alert", messages_sent = 1_u64);
    Ok(())
}

/// What an alert about `group` says, from its findings.
pub fn summarize(group: &RemediationGroup, findings: &[Finding]) -> GroupSummary {
    let open: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.group() == Some(&group.key) && f.status.is_open())
        .collect();
    GroupSummary {
        tier: group.tier,
        title: group.title.clone(),
        owner: group.owner.clone(),
        due_at: group.due_at,
        open: group.open.len(),
        fix: fix(&open),
        evidence: evidence(&open),
        read_at: None,
    }
}

/// The one change that fixes the group: the upgrade, else the scanner's advice.
fn fix(open: &[&Finding]) -> String {
    if let Some(version) = upgrade_to(open) {
        return format!("upgrade to ≥ {version}");
    }
    open.iter()
        .find_map(|f| f.detection.fix.clone())
        .unwrap_or_else(|| "see the ticket".to_owned())
}

/// Why it is urgent: the evidence of the highest-scored open member, strongest first.
fn evidence(open: &[&Finding]) -> Vec<String> {
    let top = open
        .iter()
        .filter_map(|f| f.triage.as_ref())
        .max_by_key(|t| t.risk.score);
    let Some(triage) = top else {
        return Vec::new();
    };
    let mut evidence: Vec<_> = triage.risk.evidence.iter().collect();
    evidence.sort_by_key(|e| std::cmp::Reverse(e.contribution.unsigned_abs()));
    evidence
        .into_iter()
        .take(CARD_EVIDENCE)
        .map(ToString::to_string)
        .collect()
}
