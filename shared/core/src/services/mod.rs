//! Pipeline stages as plain async functions over ports (DESIGN §1).
//!
//! Each stage is idempotent: delivering its message twice changes nothing the second time.
//! Stages never call each other directly; they hand ids to the next stage through the `Queue`.

pub mod alerts;
pub mod chat_actions;
pub mod context;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod sweep;
pub mod ticket;
pub mod tracker_sync;
pub mod triage;

use std::time::Duration;

use crate::formats::ParseError;
use crate::ports::{QueueError, SinkError, StoreError};

pub use pipeline::Pipeline;

/// Why a stage failed, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input is bad; retrying will not help (HTTP 400).
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error("sink: {0}")]
    Sink(#[from] SinkError),
    /// The request contradicts the finding's state (accepting a resolved finding…).
    #[error("{0}")]
    Rejected(String),
    /// Another worker holds the work; retry after the delay.
    #[error("{what}; retry after {retry_after:?}")]
    Busy { what: String, retry_after: Duration },
}

impl PipelineError {
    /// Delay a retry should wait, when the error says so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Sink(SinkError::RateLimited { retry_after }) | Self::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// False for errors that no retry can fix.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::Parse(_) | Self::Rejected(_) | Self::Sink(SinkError::Rejected(_))
        )
    }
}
