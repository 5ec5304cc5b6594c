//! Pipeline stages as plain async functions over ports (DESIGN §1).
//!
//! Each stage is idempotent: delivering its message twice changes nothing the second time.
//! Stages never call each other directly; they hand ids to the next stage through the `Queue`.

pub mod alerts;
pub mod chat_actions;
pub mod context;
pub mod digest;
pub mod digest_post;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod sweep;
pub mod ticket;
pub mod tracker_sync;
pub mod triage;

use std::time::Duration;

use crate::formats::ParseError;
use crate::model::{Finding, GroupKey};
use crate::ports::{FindingStore, QueueError, SinkError, StoreError};

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

/// The group's open findings: what a person's action on the group (acknowledge, close in the
/// tracker, a chat button) is about.
pub(crate) async fn open_members<S: FindingStore>(store: &S, group: &GroupKey) -> Result<Vec<Finding>, StoreError> {
    let findings = store.group_findings(group).await?;
    Ok(findings.into_iter().filter(|f| f.status.is_open()).collect())
}

/// Puts one event on each finding's timeline and saves them, so `muster explain` shows it.
pub(crate) async fn stamp<S: FindingStore>(
    store: &S,
    findings: &mut [Finding],
    now: chrono::DateTime<chrono::Utc>,
    event: &str,
    detail: &str,
) -> Result<(), StoreError> {
    for finding in findings.iter_mut() {
        finding.push_timeline(now, event, detail.to_owned());
    }
    store.save_findings(findings).await
}
