//! The pipeline: every port wired once, and one `handle` that runs any stage's message.
//!
//! Local workers and Lambda handlers both call `handle`; they differ only in where messages
//! come from and how failures are retried.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::PipelineError;
use super::chat_actions::{ChatActionKind, chat_action};
use super::ingest::{IngestRequest, IngestSummary, TriageAt, ingest};
use super::notify::notify;
use super::sweep::{SweepReport, acknowledge, sweep};
use super::ticket::sync_ticket;
use super::tracker_sync::{TrackerEvent, TrackerOutcome, apply_tracker_event};
use super::triage::triage;
use crate::config::Config;
use crate::messages::Message;
use crate::model::{GroupKey, Ticket};
use crate::ports::{ChatSink, Clock, Queue, Store, TicketSink};

/// The ports one deployment runs with.
pub struct Pipeline<S, Q, T, N, C> {
    pub store: S,
    pub queue: Q,
    pub tickets: T,
    pub chat: N,
    pub clock: C,
    pub config: Arc<Config>,
}

impl<S, Q, T, N, C> Pipeline<S, Q, T, N, C>
where
    S: Store,
    Q: Queue,
    T: TicketSink,
    N: ChatSink,
    C: Clock,
{
    pub async fn ingest(&self, request: IngestRequest<'_>) -> Result<IngestSummary, PipelineError> {
        ingest(&self.store, &self.queue, &self.clock, self.triage_at(), request).await
    }

    /// Ingest triages itself where the stages share this process (see `services::ingest`).
    pub fn triage_at(&self) -> TriageAt<'_> {
        match self.queue.in_process() {
            true => TriageAt::Ingest(&self.config),
            false => TriageAt::Stage,
        }
    }

    /// Runs one stage message. Safe to call again with the same message.
    pub async fn handle(&self, message: &Message) -> Result<(), PipelineError> {
        self.handle_sent(message, None).await
    }

    /// Runs one stage message that a queue says was sent at `sent_at`: a ticket sync that a
    /// later one already covered is skipped (see `sync_ticket`).
    pub async fn handle_sent(&self, message: &Message, sent_at: Option<DateTime<Utc>>) -> Result<(), PipelineError> {
        match message {
            Message::Triage { fingerprints } => {
                triage(&self.store, &self.queue, &self.clock, &self.config, fingerprints).await
            }
            Message::Ticket { group } => {
                sync_ticket(&self.store, &self.tickets, &self.queue, &self.clock, group, sent_at).await
            }
            Message::Notify { group, event, at } => {
                let channel = &self.config.notify.security_channel;
                notify(&self.store, &self.chat, channel, group, *event, *at).await
            }
        }
    }

    /// One SLA sweep at `now` (`muster sweep`, the hourly schedule).
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, PipelineError> {
        sweep(&self.store, &self.chat, &self.config, now).await
    }

    /// Posts the security leads' digest and every team's for the period ending `now`.
    pub async fn post_digests(&self, now: DateTime<Utc>, period: chrono::Duration) -> Result<usize, PipelineError> {
        super::digest_post::post_digests(&self.store, &self.chat, &self.config, now, period).await
    }

    /// Silences a group's escalation ladder for `sweep.ack_days` (Slack button, `muster ack`).
    pub async fn acknowledge(&self, group: &GroupKey, by: &str) -> Result<Ticket, PipelineError> {
        acknowledge(&self.store, &self.config, group, by, self.clock.now()).await
    }

    /// A chat button clicked by `user` on a group's alert; returns the message's new text.
    pub async fn chat_action(
        &self,
        kind: ChatActionKind,
        group: &GroupKey,
        user: &str,
    ) -> Result<String, PipelineError> {
        let action = (kind, group, user);
        chat_action(
            &self.store,
            &self.queue,
            &self.chat,
            &self.config,
            action,
            self.clock.now(),
        )
        .await
    }

    /// Applies what a person did to a ticket in its tracker (`POST /trackers/{tracker}`).
    pub async fn tracker_event(&self, event: &TrackerEvent) -> Result<TrackerOutcome, PipelineError> {
        apply_tracker_event(&self.store, &self.queue, &self.clock, &self.config, event).await
    }
}
