//! muster's embedded default: everything the pipeline needs on one machine, with no cloud —
//! a SQLite store and an in-process queue. `embedded` wires them with the trackers configured
//! in `[trackers]` and the outbox for everything else.

pub mod queue;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use muster_core::Config;
use muster_core::outbox::OutboxTickets;
use muster_core::ports::SystemClock;
use muster_core::services::Pipeline;
use muster_core::services::sweep::SweepReport;
use muster_trackers::TrackerRouter;

pub use queue::{DrainReport, LocalQueue, RetryPolicy};
pub use sqlite::{SqliteStore, StoreThreads};

/// The pipeline as `muster` runs it by default.
pub type EmbeddedPipeline = Pipeline<SqliteStore, LocalQueue, Tickets<SqliteStore>, Chat<SqliteStore>, SystemClock>;

/// Tickets go to the team's configured tracker, else to the outbox.
pub type Tickets<S> = TrackerRouter<OutboxTickets<S>>;

/// Chat goes to Slack when `[slack]` is configured, else to the outbox.
pub type Chat<S> = muster_slack::SlackOrOutbox<S>;

/// Whether every ticket and chat message of `pipeline` is recorded in its own database (no
/// tracker or Slack credentials configured), so a drain may batch its writes.
pub fn records_locally(pipeline: &EmbeddedPipeline) -> bool {
    pipeline.tickets.jira.is_none() && pipeline.tickets.github.is_none() && pipeline.chat.slack.is_none()
}

/// Drains a one-shot command's queue: in store batches when everything is recorded locally
/// (`LocalQueue::drain_batched`), committing per write when a tracker or Slack is called.
pub async fn drain_once(pipeline: &EmbeddedPipeline, progress: impl FnMut(&DrainReport, usize)) -> DrainReport {
    if records_locally(pipeline) {
        pipeline.queue.drain_batched(pipeline, progress).await
    } else {
        pipeline.queue.drain(pipeline, progress).await
    }
}

/// A one-shot `muster sweep` at `now`. When everything is recorded locally its writes (one per
/// ticket it tells about) commit together, and commit what was done when it fails part-way,
/// as per-write commits would have; if SQLite loses them, nothing of the sweep is kept and
/// running it again repeats it whole.
pub async fn sweep_once(pipeline: &EmbeddedPipeline, now: DateTime<Utc>) -> anyhow::Result<SweepReport> {
    if !records_locally(pipeline) {
        return Ok(pipeline.sweep(now).await?);
    }
    pipeline.store.begin_batch().await?;
    let swept = pipeline.sweep(now).await;
    let committed = pipeline.store.commit_batch().await;
    let report = swept?;
    committed.context("the sweep's writes were rolled back; run it again")?;
    Ok(report)
}

/// Opens the database at `db` and wires the embedded pipeline over it, its store calls run on
/// `threads`. Tracker tokens are read from the environment here, once.
pub fn embedded(db: &Path, config: Arc<Config>, threads: StoreThreads) -> anyhow::Result<EmbeddedPipeline> {
    let store = SqliteStore::open(db)?.on_threads(threads);
    let tickets = muster_trackers::from_config(
        &config.trackers,
        |name| std::env::var(name).ok(),
        OutboxTickets(store.clone()),
    )?;
    let chat = muster_slack::from_config(config.slack.as_ref(), |name| std::env::var(name).ok(), store.clone())?;
    Ok(Pipeline {
        tickets,
        chat,
        store,
        queue: LocalQueue::default(),
        clock: SystemClock,
        config,
    })
}
