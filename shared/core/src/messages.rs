//! Messages between pipeline stages: small, serde, ids only — never whole reports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Fingerprint, GroupKey};

/// At most this many fingerprints ride in one triage message (≈ 3.5 KB of JSON; SQS allows
/// 256 KiB, but small messages retry cheaply).
pub const TRIAGE_BATCH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Score, route and group these findings.
    Triage { fingerprints: Vec<Fingerprint> },
    /// Bring the group's ticket in line with its open findings.
    Ticket { group: GroupKey },
    /// Tell the owner what happened to the group's ticket.
    Notify {
        group: GroupKey,
        event: TicketEvent,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEvent {
    Opened,
    Reopened,
    Closed,
    /// Closed as won't fix in the tracker: the security leads decide on a risk acceptance.
    AcceptanceRequested,
}

impl TicketEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Closed => "closed",
            Self::AcceptanceRequested => "acceptance_requested",
        }
    }
}

impl Message {
    /// Splits fingerprints into triage messages of at most `TRIAGE_BATCH`.
    pub fn triage_batches(fingerprints: &[Fingerprint]) -> impl Iterator<Item = Message> + '_ {
        fingerprints.chunks(TRIAGE_BATCH).map(|chunk| Message::Triage {
            fingerprints: chunk.to_vec(),
        })
    }

    /// A short name for logs and dead-letter listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Triage { .. } => "triage",
            Self::Ticket { .. } => "ticket",
            Self::Notify { .. } => "notify",
        }
    }
}
