//! Notify: tell the owning team's channel what happened to a group's ticket.
//!
//! The message's dedupe key is derived from the event and its instant, so a redelivered
//! notification is posted once, while a ticket closed, reopened and closed again is told twice.

use super::PipelineError;
use super::ticket::remediation_group;
use crate::messages::TicketEvent;
use crate::model::GroupKey;
use crate::ports::{ChatMessage, ChatSink, FindingStore, TicketStore};

/// Posts the chat message for one ticket event: to the owning team, or for an acceptance
/// request to the security leads' channel.
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
    let Some(ticket) = store.ticket(key).await? else {
        return Ok(());
    };
    let findings = store.group_findings(key).await?;
    let Some(group) = remediation_group(key, &findings) else {
        return Ok(());
    };
    let ticket_name = match (&ticket.key, &ticket.url) {
        (Some(key), Some(url)) => format!("<{url}|{key}>"),
        (Some(key), None) => key.clone(),
        _ => "(pending)".to_owned(),
    };
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
            group.tier,
            group.owner,
            group.title,
            group.open.len()
        ),
    };
    let channel = match event {
        TicketEvent::AcceptanceRequested => security_channel.to_owned(),
        _ => format!("#{}", group.owner),
    };
    chat.post(&ChatMessage {
        channel,
        dedupe_key: format!("{}:{}:{}", event.as_str(), key, at.timestamp_millis()),
        text,
        blocks: None,
    })
    .await?;
    Ok(())
}
