//! The outbox: ticket and chat sinks that record what they would send (DESIGN §8).
//!
//! Used whenever no tracker or chat credentials are configured, so the whole pipeline runs —
//! and can be inspected with `muster outbox` — on one machine with zero cloud accounts.

use chrono::Utc;
use serde_json::json;

use crate::model::GroupKey;
use crate::ports::{ChatMessage, ChatSink, OutboxEntry, OutboxStore, SinkError, TicketDraft, TicketRef, TicketSink};

/// Ticket keys the outbox hands out: `OUTBOX-<entry id>`.
const KEY_PREFIX: &str = "OUTBOX-";
/// The name tickets record for this sink.
const TRACKER: &str = "outbox";

/// A `TicketSink` that records tickets in the store's outbox.
#[derive(Debug, Clone)]
pub struct OutboxTickets<S>(pub S);

/// A `ChatSink` that records messages in the store's outbox.
#[derive(Debug, Clone)]
pub struct OutboxChat<S>(pub S);

fn entry(kind: &str, action: &str, target: &str, dedupe_key: String, payload: serde_json::Value) -> OutboxEntry {
    OutboxEntry {
        id: 0,
        kind: kind.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        dedupe_key,
        payload,
        created_at: Utc::now(),
    }
}

/// One create per group, ever: later changes are updates, closes and reopens.
fn create_key(group: &GroupKey) -> String {
    format!("ticket:create:{group}")
}

fn draft_payload(draft: &TicketDraft, ticket: Option<&TicketRef>) -> serde_json::Value {
    json!({
        "ticket": ticket.map(|t| t.key.as_str()),
        "group": draft.group,
        "title": draft.title,
        "body": draft.body,
        "tier": draft.tier,
        "due_at": draft.due_at,
        "labels": draft.labels,
        "destination": draft.destination,
        "assignees": draft.assignees,
        "note": draft.note,
    })
}

impl<S: OutboxStore> OutboxTickets<S> {
    async fn record(&self, action: &str, draft: &TicketDraft, ticket: &TicketRef) -> Result<(), SinkError> {
        let dedupe = format!(
            "ticket:{action}:{}:{}:{}",
            ticket.key,
            draft.group,
            draft.revision.timestamp_micros()
        );
        let entry = entry(
            "ticket",
            action,
            draft.owner.as_str(),
            dedupe,
            draft_payload(draft, Some(ticket)),
        );
        self.0.append_outbox(&entry).await?;
        Ok(())
    }
}

impl<S: OutboxStore> TicketSink for OutboxTickets<S> {
    fn tracker(&self, _: &TicketDraft) -> &str {
        TRACKER
    }

    async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
        let dedupe = create_key(&draft.group);
        let entry = entry(
            "ticket",
            "create",
            draft.owner.as_str(),
            dedupe,
            draft_payload(draft, None),
        );
        let (id, _) = self.0.append_outbox(&entry).await?;
        Ok(TicketRef {
            tracker: TRACKER.to_owned(),
            key: format!("{KEY_PREFIX}{id}"),
            url: None,
        })
    }

    async fn find(&self, draft: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
        let entry = self.0.outbox_entry(&create_key(&draft.group)).await?;
        Ok(entry.map(|e| TicketRef {
            tracker: TRACKER.to_owned(),
            key: format!("{KEY_PREFIX}{}", e.id),
            url: None,
        }))
    }

    async fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.record("update", draft, ticket).await
    }

    async fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.record("close", draft, ticket).await
    }

    async fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        self.record("reopen", draft, ticket).await
    }
}

impl<S: OutboxStore> ChatSink for OutboxChat<S> {
    async fn post(&self, message: &ChatMessage) -> Result<(), SinkError> {
        let entry = entry(
            "chat",
            "post",
            &message.channel,
            format!("chat:{}", message.dedupe_key),
            json!({ "channel": message.channel, "text": message.text, "blocks": message.blocks, "card": message.card, "digest": message.digest }),
        );
        self.0.append_outbox(&entry).await?;
        Ok(())
    }
}
