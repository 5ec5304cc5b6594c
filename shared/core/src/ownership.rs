//! Ownership as code: teams, the rules that map assets and paths to them, and CODEOWNERS.
//!
//! Users keep an owners YAML file in git (`infra/examples/owners.yaml`); `muster owners import`
//! makes the stored set equal to the file. Routing asks the compiled [`Router`] which team owns
//! a place; the most specific matching rule wins, and two equally specific rules that both
//! match one place are an import error, so routing never depends on file order.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use crate::import::ImportError;
use crate::model::{AssetKey, TeamId};

/// Where a team's tickets go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracker {
    /// A Jira project key, e.g. `PAY`.
    Jira { project: String },
    /// A GitHub repository, `owner/name`.
    Github { repo: String },
}

/// Hours (in the team's timezone) in which chat messages wait; may wrap midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A team that owns assets, receives tickets and is nagged in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker: Option<Tracker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// Slack user ids, first rung first: owner → team lead → security lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation: Vec<String>,
    /// IANA name, e.g. `Europe/Berlin`; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// CODEOWNERS handles that mean this team (`@org/payments`, `alice@example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codeowners: Vec<String>,
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Matcher {
    /// Exactly this asset (an image key also matches its tagged and digested forms).
    Asset { key: AssetKey },
    /// A glob on the asset key (`github.com/acme/payments-*`).
    AssetGlob { glob: String },
    /// A glob on the file path inside the asset, optionally limited to assets matching `asset`
    /// (exact key or glob).
    Path {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asset: Option<String>,
        glob: String,
    },
    /// Assets carrying this tag in the assets file.
    Tag { tag: String },
    /// One line of a repository's CODEOWNERS file; within one file the last matching line wins.
    Codeowners { repo: AssetKey, pattern: String, line: usize },
}

/// One ownership rule as imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipRule {
    /// Stable name used in evidence and errors: the rule's `name`, else `rules[3]`, or
    /// `CODEOWNERS:12` for CODEOWNERS lines.
    pub id: String,
    /// `None` only for a CODEOWNERS line without owners (explicitly unowned).
    pub team: Option<TeamId>,
    pub matcher: Matcher,
}

/// Everything the owners file says, plus the imported CODEOWNERS rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub teams: Vec<Team>,
    pub rules: Vec<OwnershipRule>,
    /// Catches what no rule claims; findings routed here count as unowned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_team: Option<TeamId>,
}

/// The rule that decided an owner, for evidence and `muster explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMatch {
    pub team: TeamId,
    pub rule: String,
}

/// What routing needs to know about the place of a finding.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub asset: &'a AssetKey,
    /// File path inside the asset (source file, lock file), without a leading `/`.
    pub path: Option<&'a str>,
    /// Tags of the asset from the assets file.
    pub tags: &'a [String],
}
