//! Chat for a deployment: Slack when a bot token is configured, the outbox otherwise.
//!
//! Slack posts are written to the outbox ledger too (action `sent`, with the message's `ts`):
//! a redelivered message whose dedupe key is already there is not posted again, and the ledger
//! shows what was said where. A post whose reply was lost can still appear twice (Slack has no
//! idempotency key); the ledger is written only after Slack accepted it, so nothing is lost, and
//! a ledger write that fails after the post is logged, not retried by the queue.

use chrono::Utc;
use muster_core::config::SlackConfig;
use muster_core::outbox::OutboxChat;
use muster_core::ports::{ChatMessage, ChatSink, OutboxEntry, OutboxStore, SinkError};
use serde_json::json;

use crate::{SlackChat, SlackSettings, SlackSetupError};

/// Slack or the outbox, chosen once at start-up.
#[derive(Debug)]
pub struct SlackOrOutbox<S> {
    pub slack: Option<SlackChat>,
    pub store: S,
}

/// The chat sink `[slack]` describes; the token is read from the environment once (`env` is
/// `std::env::var` outside tests).
pub fn from_config<S>(
    config: Option<&SlackConfig>,
    env: impl Fn(&str) -> Option<String>,
    store: S,
) -> Result<SlackOrOutbox<S>, SlackSetupError> {
    let slack = match config {
        None => None,
        Some(config) => {
            let token = env(&config.token_env)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| SlackSetupError::MissingToken(config.token_env.clone()))?;
            let mut settings = SlackSettings::new(token);
            settings.api_url = config.api_url.clone();
            Some(SlackChat::new(settings)?)
        }
    };
    Ok(SlackOrOutbox { slack, store })
}

impl<S: OutboxStore + Clone> ChatSink for SlackOrOutbox<S> {
    async fn post(&self, message: &ChatMessage) -> Result<(), SinkError> {
        let Some(slack) = &self.slack else {
            return OutboxChat(self.store.clone()).post(message).await;
        };
        let key = format!("chat:{}", message.dedupe_key);
        if self.store.outbox_entry(&key).await?.is_some() {
            return Ok(());
        }
        // An alert card becomes Block Kit with the action buttons.
        // A digest becomes headed Block Kit sections.
        let blocks = match (&message.blocks, &message.card, &message.digest) {
            (None, Some(card), _) => Some(crate::alert_blocks(card)),
            (None, None, Some(digest)) => Some(crate::digest_blocks(&digest.title, &digest.sections)),
            _ => None,
        };
        let posted = match blocks {
            Some(blocks) => {
                let with_blocks = ChatMessage {
                    blocks: Some(blocks),
                    ..message.clone()
                };
                slack.post_message(&with_blocks).await?
            }
            None => slack.post_message(message).await?,
        };
        let entry = OutboxEntry {
            id: 0,
            kind: "chat".into(),
            action: "sent".into(),
            target: message.channel.clone(),
            dedupe_key: key,
            payload: json!({
                "channel": posted.channel,
                "ts": posted.ts,
                "text": message.text,
            }),
            created_at: Utc::now(),
        };
        // The message is out. Failing the stage now would make the queue redeliver it and Slack
        // show it twice (found by tests/faults.rs: DynamoDB throttling the ledger write after a
        // post). Only the ledger line is lost, so it is logged and the post counts as done.
        if let Err(error) = self.store.append_outbox(&entry).await {
            tracing::error!(%error, dedupe_key = %entry.dedupe_key, "posted to Slack but could not record it in the ledger");
        }
        Ok(())
    }

    async fn replace(&self, channel: &str, ts: &str, text: &str) -> Result<(), SinkError> {
        let Some(slack) = &self.slack else {
            return Ok(());
        };
        let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
        slack.update(channel, ts, text, Some(&blocks)).await?;
        Ok(())
    }
}
