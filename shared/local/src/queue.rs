//! The in-process queue: the embedded default's stand-in for SQS, with the same semantics —
//! at-least-once delivery, bounded retries with backoff, and a dead-letter record for what
//! keeps failing, so nothing is dropped silently.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use muster_core::messages::Message;
use muster_core::model::Fingerprint;
use muster_core::ports::{ChatSink, Clock, DeadLetter, Queue, QueueError, Store, StoreError, TicketSink};
pub use muster_core::retry::RetryPolicy;
use muster_core::services::Pipeline;
use muster_core::services::alerts::alert_failures;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::SqliteStore;

struct Envelope {
    message: Message,
    attempts: u32,
    not_before: Instant,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Envelope>,
    /// Messages waiting (not in flight): a second identical one is redundant, since every stage
    /// is idempotent and reads current state when it runs.
    waiting: HashSet<Message>,
}

/// Fingerprints one local triage run may take: SQS carries 100 per message, but in one process
/// a bigger batch turns hundreds of small transactions into a few large ones.
const LOCAL_TRIAGE_BATCH: usize = 5_000;

/// Moves the fingerprints of other ready, first-attempt triage messages into `into`.
fn absorb_ready_triage(pending: &mut Pending, into: &mut Vec<Fingerprint>, now: Instant) {
    let mut index = 0;
    while index < pending.queue.len() && into.len() < LOCAL_TRIAGE_BATCH {
        let candidate = &pending.queue[index];
        let absorbable = candidate.attempts == 0
            && candidate.not_before <= now
            && matches!(&candidate.message, Message::Triage { fingerprints } if into.len() + fingerprints.len() <= LOCAL_TRIAGE_BATCH);
        if absorbable {
            let envelope = pending.queue.remove(index).expect("index is in bounds");
            pending.waiting.remove(&envelope.message);
            if let Message::Triage { fingerprints } = envelope.message {
                into.extend(fingerprints);
            }
        } else {
            index += 1;
        }
    }
}

fn stage_rank(message: &Message) -> u8 {
    match message {
        Message::Triage { .. } => 0,
        Message::Ticket { .. } => 1,
        Message::Notify { .. } => 2,
    }
}

/// A cloneable handle to one in-process queue.
#[derive(Clone)]
pub struct LocalQueue {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    policy: RetryPolicy,
}

impl Default for LocalQueue {
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

/// What one `drain` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub handled: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

impl LocalQueue {
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            pending: Arc::new(Mutex::new(Pending::default())),
            wake: Arc::new(Notify::new()),
            closed: Arc::new(AtomicBool::new(false)),
            policy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // The critical sections only move envelopes; a poisoned lock holds consistent data.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Messages waiting to run.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, message: Message, attempts: u32, not_before: Instant) {
        let mut pending = self.lock();
        if pending.waiting.insert(message.clone()) {
            pending.queue.push_back(Envelope {
                message,
                attempts,
                not_before,
            });
        }
    }

    /// The next message whose time has come — earliest pipeline stage first, so a group's
    /// ticket is synced once after all of its findings are triaged rather than after each
    /// batch — or when one will be ready.
    fn pop_ready(&self) -> Result<Envelope, Option<Instant>> {
        let mut pending = self.lock();
        let now = Instant::now();
        let ready = pending
            .queue
            .iter()
            .enumerate()
            .filter(|(_, e)| e.not_before <= now)
            .min_by_key(|(index, e)| (stage_rank(&e.message), *index))
            .map(|(index, _)| index);
        match ready {
            Some(index) => {
                let mut envelope = pending.queue.remove(index).expect("index was just found");
                pending.waiting.remove(&envelope.message);
                if let Message::Triage { fingerprints } = &mut envelope.message {
                    absorb_ready_triage(&mut pending, fingerprints, now);
                }
                Ok(envelope)
            }
            None => Err(pending.queue.iter().map(|e| e.not_before).min()),
        }
    }

    /// Runs messages until the queue is empty, including retries and whatever the stages
    /// enqueue while running. `progress` is called after each message.
    pub async fn drain<S, T, N, C>(
        &self,
        pipeline: &Pipeline<S, LocalQueue, T, N, C>,
        progress: impl FnMut(&DrainReport, usize),
    ) -> DrainReport
    where
        S: Store,
        T: TicketSink,
        N: ChatSink,
        C: Clock,
    {
        self.drain_into(pipeline, None, progress).await
    }

    /// `drain`, with the stages' writes committed to `store` once per batch of messages
    /// (`SqliteStore::begin_batch`) instead of once per write. Only for a one-shot command
    /// whose sinks all record into `store` (the outbox). A batch SQLite loses is redone: its
    /// messages run again, which every stage allows (at-least-once delivery), and the rest of
    /// the drain commits per write.
    pub async fn drain_batched<T, N, C>(
        &self,
        pipeline: &Pipeline<SqliteStore, LocalQueue, T, N, C>,
        progress: impl FnMut(&DrainReport, usize),
    ) -> DrainReport
    where
        T: TicketSink,
        N: ChatSink,
        C: Clock,
    {
        self.drain_into(pipeline, Some(&pipeline.store), progress).await
    }

    async fn drain_into<S, T, N, C>(
        &self,
        pipeline: &Pipeline<S, LocalQueue, T, N, C>,
        batching: Option<&SqliteStore>,
        mut progress: impl FnMut(&DrainReport, usize),
    ) -> DrainReport
    where
        S: Store,
        T: TicketSink,
        N: ChatSink,
        C: Clock,
    {
        let mut report = DrainReport::default();
        let mut failed: Vec<DeadLetter> = Vec::new();
        let mut batch = batching.map(Batch::new);
        loop {
            let envelope = match self.pop_ready() {
                Ok(envelope) => envelope,
                Err(waiting) => {
                    // Commit before waiting or returning: a retry's wait must not hold the
                    // write lock, and a lost batch puts its messages back in the queue.
                    if let Some(b) = batch.as_mut().filter(|b| b.is_open()) {
                        if !b.commit(self, &mut report, &mut failed).await {
                            batch = None;
                        }
                        continue;
                    }
                    match waiting {
                        Some(ready_at) => {
                            tokio::time::sleep_until(ready_at).await;
                            continue;
                        }
                        None => {
                            // One summary for the security leads, not one message per failure.
                            let channel = &pipeline.config.notify.security_channel;
                            let now = pipeline.clock.now();
                            if let Err(error) = alert_failures(&pipeline.chat, channel, &failed, now).await {
                                tracing::error!(%error, failures = failed.len(), "cannot alert the security channel");
                            }
                            return report;
                        }
                    }
                }
            };
            if let Some(b) = batch.as_mut().filter(|b| !b.is_open())
                && let Err(error) = b.begin(&report, failed.len()).await
            {
                tracing::warn!(%error, "cannot open a store batch; committing per write");
                batch = None;
            }
            let message = batch.as_ref().map(|_| (envelope.message.clone(), envelope.attempts));
            self.handle_one(pipeline, envelope, &mut report, &mut failed).await;
            if let (Some(b), Some(message)) = (batch.as_mut(), message) {
                b.messages.push(message);
                let due = b.is_full() || b.store.batch_lost().await;
                if due && !b.commit(self, &mut report, &mut failed).await {
                    batch = None;
                }
            }
            progress(&report, self.len());
        }
    }

    /// Runs one message and settles its outcome: handled, queued again with backoff, or
    /// recorded as a dead letter.
    async fn handle_one<S, T, N, C>(
        &self,
        pipeline: &Pipeline<S, LocalQueue, T, N, C>,
        envelope: Envelope,
        report: &mut DrainReport,
        failed: &mut Vec<DeadLetter>,
    ) where
        S: Store,
        T: TicketSink,
        N: ChatSink,
        C: Clock,
    {
        let attempts = envelope.attempts + 1;
        match pipeline.handle(&envelope.message).await {
            Ok(()) => report.handled += 1,
            Err(error) if error.is_retryable() && attempts < self.policy.max_attempts => {
                let delay = error.retry_after().unwrap_or_else(|| self.policy.backoff(attempts));
                tracing::warn!(kind = envelope.message.kind(), attempts, ?delay, %error, "stage failed; will retry");
                self.push(envelope.message, attempts, Instant::now() + delay);
                report.retried += 1;
            }
            Err(error) => {
                tracing::error!(kind = envelope.message.kind(), attempts, %error, "stage failed; dead-lettered");
                let letter = DeadLetter {
                    id: 0,
                    message: envelope.message,
                    error: error.to_string(),
                    attempts,
                    failed_at: pipeline.clock.now(),
                };
                if let Err(store_error) = pipeline.store.record_dead_letter(&letter).await {
                    // Keep the message rather than lose it: retry it later.
                    tracing::error!(%store_error, "cannot record dead letter; keeping the message");
                    self.push(letter.message, attempts, Instant::now() + self.policy.max_backoff);
                } else {
                    failed.push(letter);
                }
                report.dead_lettered += 1;
            }
        }
    }

    /// Asks `run` to return once the queue is empty, so a shutting-down server finishes the
    /// work it accepted instead of cutting a stage off mid-message.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Drains whenever messages arrive, until `close` (the server's worker).
    pub async fn run<S, T, N, C>(&self, pipeline: &Pipeline<S, LocalQueue, T, N, C>)
    where
        S: Store,
        T: TicketSink,
        N: ChatSink,
        C: Clock,
    {
        loop {
            let notified = self.wake.notified();
            let report = self.drain(pipeline, |_, _| {}).await;
            if report != DrainReport::default() {
                tracing::info!(?report, "queue drained");
            }
            if self.closed.load(Ordering::SeqCst) && self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// Messages a batch runs before it commits, and the longest it stays open: large enough that
/// a 20k-result report's ~1,500 ticket and notify messages commit a handful of times, small
/// enough that a concurrent writer (`muster serve` on the same file) waits well under its
/// 10 s busy timeout.
const BATCH_MESSAGES: usize = 256;
const BATCH_AGE: Duration = Duration::from_millis(250);

/// One drain's open store batch: the messages run inside it, so a lost batch can be redone,
/// and the report as it stood when it opened.
struct Batch<'a> {
    store: &'a SqliteStore,
    opened: Option<Instant>,
    messages: Vec<(Message, u32)>,
    report_before: DrainReport,
    failed_before: usize,
}

impl<'a> Batch<'a> {
    fn new(store: &'a SqliteStore) -> Self {
        Self {
            store,
            opened: None,
            messages: Vec::new(),
            report_before: DrainReport::default(),
            failed_before: 0,
        }
    }

    fn is_open(&self) -> bool {
        self.opened.is_some()
    }

    fn is_full(&self) -> bool {
        self.messages.len() >= BATCH_MESSAGES || self.opened.is_some_and(|at| at.elapsed() >= BATCH_AGE)
    }

    async fn begin(&mut self, report: &DrainReport, failed: usize) -> Result<(), StoreError> {
        self.store.begin_batch().await?;
        self.opened = Some(Instant::now());
        self.report_before = *report;
        self.failed_before = failed;
        Ok(())
    }

    /// Commits; false when the batch was lost, after putting its messages back in `queue`
    /// and the report back where it stood (the drain then commits per write).
    async fn commit(&mut self, queue: &LocalQueue, report: &mut DrainReport, failed: &mut Vec<DeadLetter>) -> bool {
        self.opened = None;
        let messages = std::mem::take(&mut self.messages);
        let Err(error) = self.store.commit_batch().await else {
            return true;
        };
        tracing::error!(%error, messages = messages.len(), "a store batch was lost; running its messages again");
        let redone = messages.len() as u64;
        *report = self.report_before;
        report.retried += redone;
        failed.truncate(self.failed_before);
        let now = Instant::now();
        for (message, attempts) in messages {
            queue.push(message, attempts, now);
        }
        false
    }
}

impl Queue for LocalQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), QueueError> {
        let now = Instant::now();
        for message in messages {
            self.push(message, 0, now);
        }
        self.wake.notify_one();
        Ok(())
    }

    fn in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn fingerprints(range: std::ops::Range<u8>) -> Vec<Fingerprint> {
        range.map(|n| Fingerprint::from_bytes([n; 16])).collect()
    }

    #[tokio::test]
    async fn earlier_stages_run_first_and_ready_triage_batches_merge() {
        let queue = LocalQueue::default();
        let group = muster_core::GroupKey::parse("t/a/rule:x").unwrap();
        queue
            .send(vec![
                Message::Ticket { group: group.clone() },
                Message::Triage {
                    fingerprints: fingerprints(0..3),
                },
                Message::Triage {
                    fingerprints: fingerprints(3..5),
                },
            ])
            .await
            .unwrap();

        let first = queue.pop_ready().ok().unwrap();
        assert_eq!(
            first.message,
            Message::Triage {
                fingerprints: fingerprints(0..5)
            }
        );
        let second = queue.pop_ready().ok().unwrap();
        assert_eq!(second.message, Message::Ticket { group });
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_closed_worker_finishes_queued_work_then_returns() {
        let store = crate::SqliteStore::open_in_memory().unwrap();
        let pipeline = Pipeline {
            tickets: muster_core::outbox::OutboxTickets(store.clone()),
            chat: muster_core::outbox::OutboxChat(store.clone()),
            store,
            queue: LocalQueue::default(),
            clock: muster_core::ports::SystemClock,
            config: std::sync::Arc::new(muster_core::Config::default()),
        };
        pipeline
            .queue
            .send(vec![Message::Triage {
                fingerprints: fingerprints(0..3),
            }])
            .await
            .unwrap();
        pipeline.queue.close();

        tokio::time::timeout(Duration::from_secs(10), pipeline.queue.run(&pipeline))
            .await
            .expect("run returns");
        assert!(pipeline.queue.is_empty());
    }

    #[tokio::test]
    async fn identical_waiting_messages_are_coalesced() {
        let queue = LocalQueue::default();
        let group = muster_core::GroupKey::parse("t/a/rule:x").unwrap();
        let message = Message::Ticket { group };
        queue.send(vec![message.clone(), message.clone()]).await.unwrap();
        queue.send(vec![message]).await.unwrap();
        assert_eq!(queue.len(), 1);
    }
}
