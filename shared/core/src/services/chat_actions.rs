//! What a chat button does (`POST /slack/actions`): every action lands on the findings'
//! timeline, and the answer is the text that replaces the button's message.

use chrono::{DateTime, Utc};

use super::sweep::{acknowledge, snooze};
use super::{PipelineError, open_members, stamp};
use crate::config::Config;
use crate::messages::{Message, TicketEvent};
use crate::model::GroupKey;
use crate::ports::{ChatMessage, ChatSink, FindingStore, Queue, TicketStore};

/// A button on one of muster's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatActionKind {
    Acknowledge,
    Snooze,
    /// Ask the security leads to accept the risk; the findings stay open until they do.
    RequestAcceptance,
    /// The team says the group is not theirs: the default triage team is asked to reroute it.
    NotMine,
}

impl ChatActionKind {
    /// The button's `action_id` (`ack`, `snooze`, `accept_request`, `not_mine`).
    pub fn parse(action_id: &str) -> Option<Self> {
        match action_id {
            "ack" => Some(Self::Acknowledge),
            "snooze" => Some(Self::Snooze),
            "accept_request" => Some(Self::RequestAcceptance),
            "not_mine" => Some(Self::NotMine),
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
    S: FindingStore + TicketStore,
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
            let owner = record(
                store,
                group,
                now,
                "not_mine",
                format!("{user} says this group is not their team's"),
            )
            .await?;
            let triage = &config.triage.default_owner;
            chat.post(&ChatMessage {
                channel: format!("#{triage}"),
                dedupe_key: format!("not_mine:{group}:{}", now.timestamp()),
                text: format!(
                    "{user} says group {group} is not {owner}'s. Please fix its owner in the owners file \
                     (`muster owners import`), which reroutes it."
                ),
                blocks: None,
                card: None,
            })
            .await?;
            Ok(format!(
                ":leftwards_arrow_with_hook: {user} sent this to {triage} for rerouting"
            ))
        }
    }
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
    let mut members = open_members(store, group).await?;
    let Some(owner) = members
        .first()
        .and_then(|f| f.triage.as_ref())
        .map(|t| t.owner.to_string())
    else {
        return Err(PipelineError::Rejected(format!("group {group} has no open findings")));
    };
    stamp(store, &mut members, now, event, &detail).await?;
    Ok(owner)
}
