//! muster's embedded default: everything the pipeline needs on one machine, with no cloud —
//! a SQLite store and an in-process queue. `embedded` wires them with the trackers configured
//! in `[trackers]` and the outbox for everything else.

pub mod queue;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use muster_core::Config;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::SystemClock;
use muster_core::services::Pipeline;
use muster_trackers::TrackerRouter;

pub use queue::{DrainReport, LocalQueue, RetryPolicy};
pub use sqlite::SqliteStore;

/// The pipeline as `muster` runs it by default.
pub type EmbeddedPipeline =
    Pipeline<SqliteStore, LocalQueue, Tickets<SqliteStore>, OutboxChat<SqliteStore>, SystemClock>;

/// Tickets go to the team's configured tracker, else to the outbox.
pub type Tickets<S> = TrackerRouter<OutboxTickets<S>>;

/// Opens the database at `db` and wires the embedded pipeline over it. Tracker tokens are read
/// from the environment here, once.
pub fn embedded(db: &Path, config: Arc<Config>) -> anyhow::Result<EmbeddedPipeline> {
    let store = SqliteStore::open(db)?;
    let tickets = muster_trackers::from_config(
        &config.trackers,
        |name| std::env::var(name).ok(),
        OutboxTickets(store.clone()),
    )?;
    Ok(Pipeline {
        tickets,
        chat: OutboxChat(store.clone()),
        store,
        queue: LocalQueue::default(),
        clock: SystemClock,
        config,
    })
}
