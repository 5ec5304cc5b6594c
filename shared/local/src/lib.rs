//! muster's embedded default: everything the pipeline needs on one machine, with no cloud —
//! a SQLite store and an in-process queue. `embedded` wires them with the outbox sinks.

pub mod queue;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use muster_core::Config;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::SystemClock;
use muster_core::services::Pipeline;

pub use queue::{DrainReport, LocalQueue, RetryPolicy};
pub use sqlite::SqliteStore;

/// The pipeline as `muster` runs it by default.
pub type EmbeddedPipeline =
    Pipeline<SqliteStore, LocalQueue, OutboxTickets<SqliteStore>, OutboxChat<SqliteStore>, SystemClock>;

/// Opens the database at `db` and wires the embedded pipeline over it.
pub fn embedded(db: &Path, config: Arc<Config>) -> anyhow::Result<EmbeddedPipeline> {
    let store = SqliteStore::open(db)?;
    Ok(Pipeline {
        tickets: OutboxTickets(store.clone()),
        chat: OutboxChat(store.clone()),
        store,
        queue: LocalQueue::default(),
        clock: SystemClock,
        config,
    })
}
