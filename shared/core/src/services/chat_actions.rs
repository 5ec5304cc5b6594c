//! What a chat button does (`POST /slack/actions`): every action lands on the findings'
//! timeline, and the answer is the text that replaces the button's message.

use chrono::{DateTime, Utc};

use super::sweep::{acknowledge, snooze};
use super::triage::accept_risk;
use super::{PipelineError, open_members, stamp};
use crate::config::Config;
use crate::messages::{Message, TicketEvent};
use crate::model::{Finding, GroupKey, Reroute, Status, TeamId, TicketState};
use crate::ownership::team_channel;
use crate::ports::{ChatMessage, ChatSink, ContextStore, FindingStore, FixedClock, Queue, TicketStore};

/// A button on one of muster's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatActionKind {
    Acknowledge,
    Snooze,
    /// Ask the security leads to accept the risk; the findings stay open until they do.
    RequestAcceptance,
    /// The team says the group is not theirs: the default triage team is asked to reroute it.
    NotMine,
    /// A security lead accepts the group's risk for `notify.acceptance_days`: the SLA pauses.
    ApproveAcceptance,
    /// A security lead refuses: the ticket reopens and the SLA keeps running.
    RejectAcceptance,
}

impl ChatActionKind {
    /// The button's `action_id` (`ack`, `snooze`, `accept_request`, `not_mine`).
    pub fn parse(action_id: &str) -> Option<Self> {
        match action_id {
            "ack" => Some(Self::Acknowledge),
            "snooze" => Some(Self::Snooze),
            "accept_request" => Some(Self::RequestAcceptance),
            "not_mine" => Some(Self::NotMine),
            "approve_acceptance" => Some(Self::ApproveAcceptance),
            "reject_acceptance" => Some(Self::RejectAcceptance),
            _ => None,
        }
    }
}

/// Applies a button click by `user` on the group's alert; returns the text for the message.
pub async fn chat_action<S, Q, N>(
    store: &S,
    queue: &Q,
    chat: &N,
    config: &Config,
    (kind, group, user): (ChatActionKind, &GroupKey, &str),
    now: DateTime<Utc>,
) -> Result<String, PipelineError>
where
    S: FindingStore + TicketStore + ContextStore,
    Q: Queue,
    N: ChatSink,
{
    match kind {
        ChatActionKind::Acknowledge => {
            let ticket = acknowledge(store, config, group, user, now).await?;
            Ok(format!(
                ":white_check_mark: Acknowledged by {user}: reminders paused until {}",
                until(&ticket)
            ))
        }
        ChatActionKind::Snooze => {
            let ticket = snooze(store, config, group, user, now).await?;
            Ok(format!(":zzz: Snoozed by {user} until {}", until(&ticket)))
        }
        ChatActionKind::RequestAcceptance => {
            record(
                store,
                group,
                now,
                "acceptance_requested",
                format!("risk acceptance requested by {user} in chat"),
            )
            .await?;
            queue
                .send(vec![Message::Notify {
                    group: group.clone(),
                    event: TicketEvent::AcceptanceRequested,
                    at: now,
                }])
                .await?;
            Ok(format!(
                ":scales: {user} asked the security leads to accept this risk; the SLA runs until they do"
            ))
        }
        ChatActionKind::NotMine => {
            let org = store.org_context().await?;
            let triage_team = org.ownership.triage_team(&config.triage.default_owner);
            let (mut members, owner) = open_members_and_owner(store, group).await?;
            if owner == triage_team {
                let detail = format!("{user} says this group is not theirs; it is already with {triage_team}");
                stamp(store, &mut members, now, "not_mine", &detail).await?;
                return Ok(format!(
                    ":leftwards_arrow_with_hook: already with {triage_team}: fix its owner in the owners file"
                ));
            }
            for finding in &mut members {
                finding.rerouted = Some(Reroute {
                    from: owner.clone(),
                    to: triage_team.clone(),
                    by: user.to_owned(),
                    at: now,
                });
            }
            let detail = format!(
                "{user} says this is not {owner}'s: rerouted to {triage_team} until the owners file names another team"
            );
            stamp(store, &mut members, now, "not_mine", &detail).await?;
            let fingerprints: Vec<_> = members.iter().map(|f| f.detection.fingerprint).collect();
            queue.send(Message::triage_batches(&fingerprints).collect()).await?;
            let team = org.ownership.teams.iter().find(|t| t.id == triage_team);
            let channel = team_channel(team, &triage_team);
            chat.post(&ChatMessage {
                channel,
                dedupe_key: format!("not_mine:{group}:{}", now.timestamp()),
                text: format!(
                    "{user} says group {group} is not {owner}'s: its {} open findings are now {triage_team}'s, \
                     with a new ticket. Fix the owners file (`muster owners import`) to route them for good.",
                    members.len()
                ),
                blocks: None,
                card: None,
                digest: None,
            })
            .await?;
            Ok(format!(
                ":leftwards_arrow_with_hook: {user} rerouted this to {triage_team}"
            ))
        }
        ChatActionKind::ApproveAcceptance => {
            require_security_lead(config, user)?;
            let until = now + chrono::Duration::days(i64::from(config.notify.acceptance_days));
            let members = open_members(store, group).await?;
            let clock = FixedClock(now);
            let reason = format!("approved in chat by {user}");
            let mut accepted = 0;
            for finding in members.iter().filter(|f| f.status != Status::RiskAccepted) {
                accept_risk(store, &clock, finding.fingerprint(), until, &reason, Some(user)).await?;
                accepted += 1;
            }
            Ok(format!(
                ":white_check_mark: {user} accepted the risk of {accepted} finding(s) until {}; their SLA is paused",
                until.format("%Y-%m-%d")
            ))
        }
        ChatActionKind::RejectAcceptance => {
            require_security_lead(config, user)?;
            record(
                store,
                group,
                now,
                "acceptance_rejected",
                format!("risk acceptance rejected by {user}"),
            )
            .await?;
            if let Some(mut ticket) = store.ticket(group).await? {
                // Closed with open findings: the ticket sync reopens it, citing the last scan.
                ticket.state = TicketState::Closed;
                ticket.updated_at = now;
                store.save_ticket(&ticket).await?;
                queue.send(vec![Message::Ticket { group: group.clone() }]).await?;
            }
            Ok(format!(
                ":x: {user} rejected the risk acceptance; the ticket reopens and the SLA keeps running"
            ))
        }
    }
}

/// Only the configured security leads decide on risk acceptances.
fn require_security_lead(config: &Config, user: &str) -> Result<(), PipelineError> {
    let id = user.trim_start_matches("<@").trim_end_matches('>');
    if config.notify.security_leads.iter().any(|lead| lead == id) {
        return Ok(());
    }
    Err(PipelineError::Rejected(format!(
        "only the security leads (notify.security_leads) decide risk acceptances; {user} is not one"
    )))
}

fn until(ticket: &crate::model::Ticket) -> String {
    ticket
        .acknowledged
        .as_ref()
        .map(|a| a.until.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Puts the event on every open member's timeline; returns the group's owner.
async fn record<S: FindingStore>(
    store: &S,
    group: &GroupKey,
    now: DateTime<Utc>,
    event: &str,
    detail: String,
) -> Result<String, PipelineError> {
    let (mut members, owner) = open_members_and_owner(store, group).await?;
    stamp(store, &mut members, now, event, &detail).await?;
    Ok(owner.to_string())
}

/// The group's open findings and the team that owns them; a group with none is refused.
async fn open_members_and_owner<S: FindingStore>(
    store: &S,
    group: &GroupKey,
) -> Result<(Vec<Finding>, TeamId), PipelineError> {
    let members = open_members(store, group).await?;
    let Some(owner) = members.first().and_then(|f| f.triage.as_ref()).map(|t| t.owner.clone()) else {
        return Err(PipelineError::Rejected(format!("group {group} has no open findings")));
    };
    Ok((members, owner))
}
