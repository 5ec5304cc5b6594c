//! Ports: what the services need from the outside world, as traits.
//!
//! Adapters (SQLite, DynamoDB, SQS, Jira, GitHub, Slack, the outbox) implement these; services
//! are generic over them (static dispatch, no boxing). Each error enum carries the variants a
//! caller can act on; everything else is `Unknown` with its context.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::assets::Asset;
use crate::intel::{EpssScore, KevEntry};
use crate::messages::Message;
use crate::model::{
    AssetKey, Finding, Fingerprint, GroupKey, ScanRun, ScopeKey, Severity, Status, TeamId, Ticket, Tier,
};
use crate::ownership::{Ownership, OwnershipRule, Tracker};

/// Time comes through a port so tests and replays (`--now`) are deterministic.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Which findings a listing wants.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub status: Option<Status>,
    /// Only open statuses (open, acknowledged, risk accepted, reopened).
    pub open_only: bool,
    pub owner: Option<TeamId>,
    pub tier: Option<Tier>,
    pub severity: Option<Severity>,
    /// Only findings no ownership rule claimed (routed to the default team).
    pub unowned: bool,
    pub limit: Option<usize>,
}

pub trait FindingStore: Send + Sync {
    /// The stored findings among `fingerprints`; unknown ones are left out.
    fn findings(&self, fingerprints: &[Fingerprint]) -> impl Future<Output = Result<Vec<Finding>, StoreError>> + Send;

    /// Inserts or replaces whole findings, atomically for the batch where the backend can.
    fn save_findings(&self, findings: &[Finding]) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn list_findings(&self, filter: &FindingFilter) -> impl Future<Output = Result<Vec<Finding>, StoreError>> + Send;

    /// Every finding triaged into `group`, open or not.
    fn group_findings(&self, group: &GroupKey) -> impl Future<Output = Result<Vec<Finding>, StoreError>> + Send;

    /// Open, triaged findings due at or before `deadline`, earliest first: what the SLA sweep
    /// reads, through the due-date index (never the whole table).
    fn due_by(&self, deadline: DateTime<Utc>) -> impl Future<Output = Result<Vec<Finding>, StoreError>> + Send;
}

pub trait RunStore: Send + Sync {
    /// The latest run of a scope, with its fingerprint set.
    fn latest_run(&self, scope: &ScopeKey) -> impl Future<Output = Result<Option<ScanRun>, StoreError>> + Send;

    /// Makes `run` the scope's latest run. One write, whatever the size of the run.
    fn record_run(&self, run: &ScanRun) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait TicketStore: Send + Sync {
    fn ticket(&self, group: &GroupKey) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// Conditional create: `AlreadyExists` when the group already has a ticket or claim. This
    /// is what keeps two workers from opening two tickets for one group.
    fn claim_ticket(&self, ticket: &Ticket) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn save_ticket(&self, ticket: &Ticket) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn tickets(&self) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;
}

/// Something a sink would have sent, recorded instead (DESIGN §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: u64,
    /// `ticket` or `chat`.
    pub kind: String,
    /// `create`, `update`, `close`, `reopen` or `post`.
    pub action: String,
    /// Tracker project or chat channel.
    pub target: String,
    /// Unique: recording the same thing twice returns the first entry.
    pub dedupe_key: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub trait OutboxStore: Send + Sync {
    /// Appends unless an entry with the same dedupe key exists; returns the entry's id and
    /// whether it was new.
    fn append_outbox(&self, entry: &OutboxEntry) -> impl Future<Output = Result<(u64, bool), StoreError>> + Send;

    fn outbox(&self) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// The entry recorded under `dedupe_key`, if any.
    fn outbox_entry(&self, dedupe_key: &str) -> impl Future<Output = Result<Option<OutboxEntry>, StoreError>> + Send;
}

/// A message that kept failing, kept with its last error so nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Assigned by the store; 0 before it is recorded.
    #[serde(default)]
    pub id: u64,
    pub message: Message,
    pub error: String,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}

pub trait DeadLetterStore: Send + Sync {
    fn record_dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every dead letter, oldest first, with its id.
    fn dead_letters(&self) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Forgets a dead letter once its message was sent again (`muster retry`).
    fn remove_dead_letter(&self, id: u64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What users declare about their organisation: teams, ownership rules, assets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgContext {
    /// Teams, rules and default team of the owners file, with every repository's CODEOWNERS
    /// rules appended.
    pub ownership: Ownership,
    pub assets: Vec<Asset>,
}

/// Each import replaces what the previous import of the same file kind said: the file is the
/// truth, and removed entries go away.
pub trait ContextStore: Send + Sync {
    fn org_context(&self) -> impl Future<Output = Result<OrgContext, StoreError>> + Send;

    /// Replaces teams, rules and the default team (CODEOWNERS rules are kept).
    fn replace_ownership(&self, ownership: &Ownership) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the CODEOWNERS rules of one repository.
    fn replace_codeowners(
        &self,
        repo: &AssetKey,
        rules: &[OwnershipRule],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn replace_assets(&self, assets: &[Asset]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the threat intel feeds say about one CVE.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CveIntel {
    pub kev: Option<KevEntry>,
    pub epss: Option<EpssScore>,
}

pub trait IntelStore: Send + Sync {
    /// Makes the stored catalog equal to `entries`; returns the CVEs that entered, left or
    /// changed, so their findings can be re-scored.
    fn replace_kev(&self, entries: &[KevEntry]) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Stores a day's EPSS scores; returns the CVEs whose probability or percentile changed.
    fn replace_epss(&self, scores: &[EpssScore]) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Intel for the given CVE ids (upper case); CVEs the feeds do not know are left out.
    fn intel(&self, cves: &[String]) -> impl Future<Output = Result<HashMap<String, CveIntel>, StoreError>> + Send;
}

/// Everything the pipeline keeps.
pub trait Store:
    FindingStore + RunStore + TicketStore + OutboxStore + DeadLetterStore + ContextStore + IntelStore
{
}
impl<T> Store for T where
    T: FindingStore + RunStore + TicketStore + OutboxStore + DeadLetterStore + ContextStore + IntelStore
{
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue rejected {failed} of {total} messages: {reason}")]
    Rejected {
        failed: usize,
        total: usize,
        reason: String,
    },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Hands messages to the next stage. Delivery is at least once.
pub trait Queue: Send + Sync {
    fn send(&self, messages: Vec<Message>) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Whether the stages that read this queue run in the sending process.
    fn in_process(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Try again after the given delay (429 / Retry-After, secondary rate limits).
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The remote refused the request; retrying the same request will not help.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<StoreError> for SinkError {
    fn from(error: StoreError) -> Self {
        Self::Unknown(error.into())
    }
}

/// Where a ticket lives in its tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    /// `outbox`, `jira` or `github`: which sink owns the key.
    pub tracker: String,
    /// `PAY-12`, `acme/payments#12`, `OUTBOX-3`.
    pub key: String,
    pub url: Option<String>,
}

/// What a ticket should say: built by the ticket service, rendered by each sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketDraft {
    pub group: GroupKey,
    pub owner: TeamId,
    pub title: String,
    /// Markdown; sinks convert (Jira: ADF).
    pub body: String,
    pub tier: Tier,
    pub due_at: DateTime<Utc>,
    pub labels: Vec<String>,
    /// Changes whenever the set of open members changes.
    pub digest: String,
    /// When the ticket last changed state in muster: identifies this update, close or reopen,
    /// so a redelivered message does not repeat it.
    pub revision: DateTime<Utc>,
    /// The owning team's tracker; `None` sends the ticket to the outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Tracker>,
    /// The owning team's assignees (GitHub logins, Jira account ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
    /// A comment to add with this change (e.g. why muster reopened a ticket a person closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The text every ticket carries so the tracker can be searched for it after a crash and a
/// tracker webhook can name its group: `muster:group=<key>`.
/// Spaces and `%` are percent-encoded so the marker is one word.
pub fn group_marker(group: &GroupKey) -> String {
    format!(
        "muster:group={}",
        group.as_str().replace('%', "%25").replace(' ', "%20")
    )
}

/// Finds the group named by a marker in a ticket's text (GitHub body, Jira description).
pub fn parse_group_marker(text: &str) -> Option<GroupKey> {
    let start = text.find("muster:group=")? + "muster:group=".len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '`')
        .unwrap_or(rest.len());
    let encoded = rest[..end].trim_end_matches(['-', '>']);
    GroupKey::parse(&encoded.replace("%20", " ").replace("%25", "%")).ok()
}

/// A tracker: Jira, GitHub Issues, or the outbox.
pub trait TicketSink: Send + Sync {
    /// Which tracker a draft's ticket goes to (`outbox`, `jira`, `github`), recorded on the
    /// ticket's claim.
    fn tracker(&self, draft: &TicketDraft) -> &str;

    fn create(&self, draft: &TicketDraft) -> impl Future<Output = Result<TicketRef, SinkError>> + Send;

    /// Looks for a ticket already created for the draft's group (marker search), to recover
    /// from a crash between creating it and recording it.
    fn find(&self, draft: &TicketDraft) -> impl Future<Output = Result<Option<TicketRef>, SinkError>> + Send;

    fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> impl Future<Output = Result<(), SinkError>> + Send;

    fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> impl Future<Output = Result<(), SinkError>> + Send;

    fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// An urgent group told on its own (new P1/P2 ticket): what a chat sink renders as a card with
/// buttons (Slack: Block Kit). Text-only sinks use the message's `text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertCard {
    pub tier: Tier,
    pub title: String,
    /// What to do: upgrade target, rule fix.
    pub fix: String,
    pub due: DateTime<Utc>,
    pub ticket_url: Option<String>,
    /// `PAY-12`, `acme/payments#12`; `None` before the ticket exists.
    pub ticket_key: Option<String>,
    /// Most important first.
    pub evidence: Vec<String>,
    pub group_key: GroupKey,
    /// Which buttons the card offers.
    #[serde(default)]
    pub actions: CardActions,
}

/// The buttons of an alert card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardActions {
    /// For the owning team: Acknowledge, Snooze, Request risk acceptance, Not mine.
    #[default]
    Alert,
    /// For the security leads: Approve or Reject a risk acceptance request.
    AcceptanceDecision,
}

/// One chat message to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub channel: String,
    /// Same key, same message: a sink posts it once.
    pub dedupe_key: String,
    /// Plain text: the notification and fallback for clients without blocks.
    pub text: String,
    /// Slack Block Kit blocks (a JSON array), when the message has a richer layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<serde_json::Value>,
    /// An alert card with action buttons; sinks that can render one do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<AlertCard>,
    /// A digest's sections; sinks that can lay them out (Slack: Block Kit) do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ChatDigest>,
}

/// A digest for chat: a title and headed sections of lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatDigest {
    pub title: String,
    pub sections: Vec<(String, Vec<String>)>,
}

pub trait ChatSink: Send + Sync {
    fn post(&self, message: &ChatMessage) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Replaces a posted message (`channel` id and `ts` from the chat service) with `text`, so
    /// a button's message shows what was done. Sinks without posted messages ignore it.
    fn replace(&self, channel: &str, ts: &str, text: &str) -> impl Future<Output = Result<(), SinkError>> + Send {
        let _ = (channel, ts, text);
        async { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_markers_round_trip_through_ticket_text() {
        for key in ["payments/img:1/pkg:openssl", "a/b/rule:has space", "a/b/rule:100%"] {
            let group = GroupKey::parse(key).unwrap();
            let marker = group_marker(&group);
            assert!(!marker.contains(' '), "{marker}");
            let body = format!("Fix it.\n\n<!-- {marker} -->");
            assert_eq!(parse_group_marker(&body), Some(group.clone()), "{body}");
            assert_eq!(parse_group_marker(&format!("{marker}`")), Some(group));
        }
        assert_eq!(parse_group_marker("no marker here"), None);
    }
}
