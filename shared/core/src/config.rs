//! `muster.toml`: sources, triage defaults and the tier → SLA table.
//!
//! Read once at start-up and validated whole, so a typo fails fast with the file and line
//! instead of surfacing per request. Secrets are never stored here, only the names of the
//! environment variables that hold them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::formats::Format;
use crate::model::{SourceName, TeamId, Tier};

/// The whole configuration; every section has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_sources")]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub triage: TriageConfig,
    #[serde(default)]
    pub sla: SlaConfig,
    #[serde(default)]
    pub scoring: ScoringConfig,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub trackers: TrackersConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub sweep: SweepConfig,
    /// Slack; without it chat messages are recorded in the outbox.
    #[serde(default)]
    pub slack: Option<SlackConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            triage: TriageConfig::default(),
            sla: SlaConfig::default(),
            scoring: ScoringConfig::default(),
            http: HttpSettings::default(),
            trackers: TrackersConfig::default(),
            notify: NotifyConfig::default(),
            sweep: SweepConfig::default(),
            slack: None,
        }
    }
}

/// The webhook server's limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body, in MiB, compressed or inflated (default 32).
    #[serde(default = "default_body_limit_mib")]
    pub body_limit_mib: u32,
    /// Environment variable holding the bearer token of the read endpoints (`GET /gate`);
    /// without it they answer 404, so the SLA posture is never public by default.
    #[serde(default)]
    pub read_token_env: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_mib: default_body_limit_mib(),
            read_token_env: None,
        }
    }
}

/// Default largest webhook body, in MiB.
pub const DEFAULT_BODY_LIMIT_MIB: u32 = 32;

fn default_body_limit_mib() -> u32 {
    DEFAULT_BODY_LIMIT_MIB
}

impl HttpSettings {
    pub fn body_limit_bytes(&self) -> usize {
        self.body_limit_mib as usize * 1024 * 1024
    }
}

/// A webhook source: `POST /webhooks/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: SourceName,
    #[serde(default = "auto")]
    pub format: String,
    /// Environment variable that holds the HMAC secret; none means unsigned (local use only).
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl SourceConfig {
    /// The configured format, `None` for auto-detection. Validated at load.
    pub fn format(&self) -> Option<Format> {
        Format::parse_choice(&self.format).ok().flatten()
    }
}

fn auto() -> String {
    "auto".to_owned()
}

/// Without a config file muster accepts unsigned reports on one source, `local`.
fn default_sources() -> Vec<SourceConfig> {
    vec![SourceConfig {
        name: SourceName::parse("local").expect("literal is a valid source name"),
        format: auto(),
        secret_env: None,
    }]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// Team that receives what no ownership rule claims.
    #[serde(default = "default_owner")]
    pub default_owner: TeamId,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self {
            default_owner: default_owner(),
        }
    }
}

fn default_owner() -> TeamId {
    TeamId::parse("security-triage").expect("literal is a valid team id")
}

/// Days to fix per tier, counted from first seen. Defaults follow common vulnerability
/// management policies (CISA BOD 22-01 gave KEV entries two weeks; PCI DSS 30 days for
/// critical patches).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    #[serde(rename = "P1", default = "p1")]
    pub p1_days: u32,
    #[serde(rename = "P2", default = "p2")]
    pub p2_days: u32,
    #[serde(rename = "P3", default = "p3")]
    pub p3_days: u32,
    #[serde(rename = "P4", default = "p4")]
    pub p4_days: u32,
    /// Per business criticality (`[sla.criticality.1]`), tiers it leaves out keep the table above.
    #[serde(default)]
    pub criticality: BTreeMap<String, SlaOverride>,
    /// What happens when a risk acceptance expires: the clock `restart`s from the expiry, or
    /// `resume`s where it paused.
    #[serde(default)]
    pub on_acceptance_expiry: AcceptanceExpiry,
}

/// Days per tier for one business criticality; absent tiers use the main table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaOverride {
    #[serde(rename = "P1")]
    pub p1_days: Option<u32>,
    #[serde(rename = "P2")]
    pub p2_days: Option<u32>,
    #[serde(rename = "P3")]
    pub p3_days: Option<u32>,
    #[serde(rename = "P4")]
    pub p4_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceExpiry {
    #[default]
    Restart,
    Resume,
}

fn p1() -> u32 {
    7
}
fn p2() -> u32 {
    30
}
fn p3() -> u32 {
    90
}
fn p4() -> u32 {
    180
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            p1_days: p1(),
            p2_days: p2(),
            p3_days: p3(),
            p4_days: p4(),
            criticality: BTreeMap::new(),
            on_acceptance_expiry: AcceptanceExpiry::default(),
        }
    }
}

impl SlaConfig {
    pub fn days(&self, tier: Tier) -> u32 {
        match tier {
            Tier::P1 => self.p1_days,
            Tier::P2 => self.p2_days,
            Tier::P3 => self.p3_days,
            Tier::P4 => self.p4_days,
        }
    }

    /// Days for a tier on an asset of the given business criticality (1–4), if known.
    pub fn days_for(&self, tier: Tier, criticality: Option<u8>) -> u32 {
        let custom = criticality
            .and_then(|c| self.criticality.get(&c.to_string()))
            .and_then(|o| match tier {
                Tier::P1 => o.p1_days,
                Tier::P2 => o.p2_days,
                Tier::P3 => o.p3_days,
                Tier::P4 => o.p4_days,
            });
        custom.unwrap_or_else(|| self.days(tier))
    }
}

/// Which policy sets tier and due date; the other is still computed and shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyChoice {
    /// The weighted 0–100 score and its tier thresholds.
    #[default]
    Score,
    /// CISA BOD 26-04's SSVC table: the remediation timeline sets due date and tier.
    #[serde(rename = "bod-26-04")]
    Bod2604,
}

/// The risk score's weights and thresholds (README, "Scoring"). Points are added to the base
/// (the higher of severity band and CVSS × 10, times `base_weight`) and the sum is clamped
/// to 0–100.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    pub policy: PolicyChoice,
    /// Share of the base (severity band or CVSS × 10) that counts: below 1 so that severity
    /// alone never makes P1 — exploitation, exposure or criticality must add to it.
    pub base_weight: f32,
    /// Minimum score of P1, P2 and P3; lower is P4.
    pub p1: u8,
    pub p2: u8,
    pub p3: u8,
    /// CVE in CISA KEV: exploited in the wild.
    pub kev: i16,
    /// KEV says ransomware campaigns use it.
    pub ransomware: i16,
    /// EPSS probability at or above `epss_high_at` / `epss_medium_at`.
    pub epss_high: i16,
    pub epss_high_at: f32,
    pub epss_medium: i16,
    pub epss_medium_at: f32,
    /// Internet-facing asset, or one reached through connected assets.
    pub external: i16,
    pub via_connected: i16,
    /// Points for business criticality 1, 2, 3, 4.
    pub criticality: [i16; 4],
    pub staging: i16,
    pub development: i16,
    /// Points per compensating control (negative), by name; others get `control_default`.
    pub controls: BTreeMap<String, i16>,
    pub control_default: i16,
    /// Controls together never take away more than this.
    pub controls_floor: i16,
    /// A fix is known (fixed version or fix text): cheap to act on.
    pub fix_available: i16,
    /// KEV entries are at least this tier whatever the score.
    pub kev_min_tier: Tier,
    /// Days for BOD 26-04's "next scheduled upgrade".
    pub next_upgrade_days: u32,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            policy: PolicyChoice::Score,
            base_weight: 0.7,
            p1: 80,
            p2: 60,
            p3: 30,
            kev: 25,
            ransomware: 5,
            epss_high: 15,
            epss_high_at: 0.1,
            epss_medium: 5,
            epss_medium_at: 0.01,
            external: 10,
            via_connected: 5,
            criticality: [10, 5, 0, -10],
            staging: -10,
            development: -15,
            controls: BTreeMap::from([("waf".to_owned(), -10), ("network-isolated".to_owned(), -10)]),
            control_default: -5,
            controls_floor: -15,
            fix_available: 5,
            kev_min_tier: Tier::P2,
            next_upgrade_days: 180,
        }
    }
}

impl ScoringConfig {
    pub fn tier_of(&self, score: u8) -> Tier {
        if score >= self.p1 {
            Tier::P1
        } else if score >= self.p2 {
            Tier::P2
        } else if score >= self.p3 {
            Tier::P3
        } else {
            Tier::P4
        }
    }
}

/// Where tickets go. Teams name their tracker in the owners file (`tracker: {jira: PAY}` or
/// `{github: org/repo}`); a tracker configured here receives them, otherwise the outbox does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackersConfig {
    pub jira: Option<JiraConfig>,
    pub github: Option<GithubConfig>,
    /// A person closed a ticket while the scanners still see its findings.
    pub on_closed_while_detected: ClosedWhileDetected,
}

/// What to do with a ticket closed in the tracker while its findings are still detected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedWhileDetected {
    /// Reopen it with a comment citing the last scan.
    #[default]
    Reopen,
    /// Leave it closed and list it in the digest.
    Flag,
}

/// Jira Cloud (REST v3). Auth: account email + API token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `https://acme.atlassian.net`
    pub url: String,
    pub email: String,
    /// Environment variable holding the API token.
    pub token_env: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Jira priority names for P1..P4.
    #[serde(default = "default_jira_priorities")]
    pub priorities: BTreeMap<Tier, String>,
    /// Transition taken when every finding is fixed; without it muster comments and labels.
    #[serde(default = "default_done_transition")]
    pub done_transition: String,
    /// Transition taken when a fixed finding comes back.
    #[serde(default = "default_reopen_transition")]
    pub reopen_transition: String,
    /// Set `duedate` from the SLA (turn off for projects without the field).
    #[serde(default = "yes")]
    pub due_date: bool,
    /// Extra fields for projects that require them: static values, or strings with {tier},
    /// {due}, {group}, {owner}, {title}.
    #[serde(default)]
    pub fields: BTreeMap<String, toml::Value>,
    /// Environment variable holding the shared secret of the Jira webhook (`POST /trackers/jira`).
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Resolutions that mean "won't fix": such a close becomes a risk acceptance request.
    #[serde(default = "default_wont_fix")]
    pub wont_fix_resolutions: Vec<String>,
}

/// GitHub Issues. Auth: a token (PAT or GitHub App installation token).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Environment variable holding the token.
    pub token_env: String,
    /// Environment variable holding the webhook secret (`POST /trackers/github`).
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
}

fn default_issue_type() -> String {
    "Task".into()
}

fn default_jira_priorities() -> BTreeMap<Tier, String> {
    Tier::ALL
        .into_iter()
        .zip(["Highest", "High", "Medium", "Low"].map(String::from))
        .collect()
}

fn default_done_transition() -> String {
    "Done".into()
}

fn default_reopen_transition() -> String {
    "Reopen".into()
}

fn yes() -> bool {
    true
}

fn default_wont_fix() -> Vec<String> {
    ["Won't Do", "Won't Fix", "Declined"].map(String::from).to_vec()
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}

/// A Slack app: bot token for posting, signing secret for its buttons (`POST /slack/actions`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Environment variable holding the bot token (`xoxb-…`).
    pub token_env: String,
    /// Environment variable holding the app's signing secret; without it buttons are refused.
    #[serde(default)]
    pub signing_secret_env: Option<String>,
    #[serde(default = "default_slack_api")]
    pub api_url: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api/".into()
}

/// Who hears about what beyond the owning team.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The security leads' channel: risk acceptance requests, aggregated sink failures, digests.
    #[serde(default = "default_security_channel")]
    pub security_channel: String,
    /// Chat user ids (Slack `U…`) who may approve or reject risk acceptance requests.
    #[serde(default)]
    pub security_leads: Vec<String>,
    /// How long a risk acceptance approved in chat lasts, in days.
    #[serde(default = "default_acceptance_days")]
    pub acceptance_days: u32,
    /// How often digests are posted: `daily`, `weekly` (Mondays) or `off`.
    #[serde(default)]
    pub digest: DigestSchedule,
    /// The hour (UTC) from which the day's digest is posted.
    #[serde(default = "default_digest_hour")]
    pub digest_hour: u32,
}

/// How often `muster serve` posts the digests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestSchedule {
    #[default]
    Daily,
    /// Mondays, covering the week.
    Weekly,
    Off,
}

impl DigestSchedule {
    /// The period a digest posted at `now` covers, or `None` when none is due then.
    pub fn period_at(self, now: chrono::DateTime<chrono::Utc>, hour: u32) -> Option<chrono::Duration> {
        use chrono::{Datelike, Timelike};
        if now.hour() < hour {
            return None;
        }
        match self {
            Self::Daily => Some(chrono::Duration::days(1)),
            Self::Weekly if now.weekday() == chrono::Weekday::Mon => Some(chrono::Duration::weeks(1)),
            Self::Weekly | Self::Off => None,
        }
    }
}

fn default_digest_hour() -> u32 {
    8
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            security_channel: default_security_channel(),
            security_leads: Vec::new(),
            acceptance_days: default_acceptance_days(),
            digest: DigestSchedule::default(),
            digest_hour: default_digest_hour(),
        }
    }
}

fn default_acceptance_days() -> u32 {
    30
}

fn default_security_channel() -> String {
    "#security".into()
}

/// The SLA sweep's escalation ladder: due soon → the team's channel; breached → the team lead
/// (second `escalation` entry of the team, after the owner); breached for `long_breach_days` →
/// the security lead (third entry, else `notify.security_channel`). Each rung speaks once per
/// `nag_interval_hours` per recipient, in one batched message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// A group due within this many days is "due soon".
    pub reminder_days: u32,
    pub nag_interval_hours: u32,
    pub long_breach_days: u32,
    /// How long an acknowledgement silences a group's ladder.
    pub ack_days: u32,
    /// P1 messages are sent during a team's quiet hours.
    pub p1_breaks_quiet_hours: bool,
    /// How long the Snooze button silences a group (at most a week).
    pub snooze_hours: u32,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            reminder_days: 2,
            nag_interval_hours: 24,
            long_breach_days: 7,
            ack_days: 3,
            p1_breaks_quiet_hours: true,
            snooze_hours: 24,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Parses and validates TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let mut names = HashSet::new();
        for source in &self.sources {
            if !names.insert(source.name.as_str()) {
                return Err(invalid(format!("source {:?} is declared twice", source.name.as_str())));
            }
            Format::parse_choice(&source.format)
                .map_err(|e| invalid(format!("source {:?}: {e}", source.name.as_str())))?;
        }
        if !(1..=1024).contains(&self.http.body_limit_mib) {
            return Err(invalid(format!(
                "http.body_limit_mib must be between 1 and 1024, not {}",
                self.http.body_limit_mib
            )));
        }
        let days = Tier::ALL.map(|t| self.sla.days(t));
        if days.contains(&0) {
            return Err(invalid("sla: every tier needs at least 1 day".into()));
        }
        if days.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid(format!(
                "sla: a more urgent tier must not get more days (P1..P4 = {days:?})"
            )));
        }
        for key in self.sla.criticality.keys() {
            if !matches!(key.as_str(), "1" | "2" | "3" | "4") {
                return Err(invalid(format!(
                    "sla.criticality.{key}: business criticality is 1, 2, 3 or 4"
                )));
            }
        }
        for criticality in 1..=4u8 {
            let days = Tier::ALL.map(|t| self.sla.days_for(t, Some(criticality)));
            if days.contains(&0) || days.windows(2).any(|w| w[0] > w[1]) {
                return Err(invalid(format!(
                    "sla.criticality.{criticality}: every tier needs at least 1 day and a more urgent tier \
                     must not get more days (P1..P4 = {days:?})"
                )));
            }
        }
        let scoring = &self.scoring;
        if !(scoring.p1 > scoring.p2 && scoring.p2 > scoring.p3 && scoring.p1 <= 100) {
            return Err(invalid(format!(
                "scoring: thresholds must fall from p1 to p3 within 0–100 (p1 {}, p2 {}, p3 {})",
                scoring.p1, scoring.p2, scoring.p3
            )));
        }
        let probability = 0.0..=1.0;
        if !probability.contains(&scoring.epss_high_at)
            || !probability.contains(&scoring.epss_medium_at)
            || scoring.epss_medium_at > scoring.epss_high_at
        {
            return Err(invalid(
                "scoring: epss_medium_at ≤ epss_high_at, both probabilities between 0 and 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&scoring.base_weight) {
            return Err(invalid("scoring.base_weight must be between 0 and 1".into()));
        }
        if scoring.next_upgrade_days == 0 {
            return Err(invalid("scoring.next_upgrade_days must be at least 1".into()));
        }
        if self.notify.digest_hour > 23 {
            return Err(invalid(format!(
                "notify.digest_hour is an hour of the day (0-23, UTC), not {}",
                self.notify.digest_hour
            )));
        }
        if !(1..=365).contains(&self.notify.acceptance_days) {
            return Err(invalid(format!(
                "notify.acceptance_days must be between 1 and 365, not {}",
                self.notify.acceptance_days
            )));
        }
        let sweep = &self.sweep;
        if !(1..=168).contains(&sweep.snooze_hours) {
            return Err(invalid(format!(
                "sweep.snooze_hours must be between 1 and 168 (a week), not {}",
                sweep.snooze_hours
            )));
        }
        if sweep.nag_interval_hours == 0 || sweep.long_breach_days == 0 || sweep.ack_days == 0 {
            return Err(invalid(
                "sweep: nag_interval_hours, long_breach_days and ack_days must be at least 1".into(),
            ));
        }
        if let Some(jira) = &self.trackers.jira {
            if !(jira.url.starts_with("https://") || jira.url.starts_with("http://")) {
                return Err(invalid(format!(
                    "trackers.jira.url must be an http(s) URL, not {:?}",
                    jira.url
                )));
            }
            if let Some(tier) = Tier::ALL.into_iter().find(|t| !jira.priorities.contains_key(t)) {
                return Err(invalid(format!(
                    "trackers.jira.priorities: no priority name for {tier}"
                )));
            }
        }
        if let Some(github) = &self.trackers.github
            && !(github.api_url.starts_with("https://") || github.api_url.starts_with("http://"))
        {
            return Err(invalid(format!(
                "trackers.github.api_url must be an http(s) URL, not {:?}",
                github.api_url
            )));
        }
        Ok(())
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::from_toml("", "muster.toml").unwrap();
        assert_eq!(config.sources.len(), 1);
        assert_eq!(config.sla.days(Tier::P1), 7);
        assert_eq!(config.triage.default_owner.as_str(), "security-triage");
    }

    #[test]
    fn sources_and_sla_are_read() {
        let config = Config::from_toml(
            r#"
            [[sources]]
            name = "ci"
            format = "sarif"
            secret_env = "MUSTER_SECRET_CI"

            [sla]
            P1 = 3
            "#,
            "muster.toml",
        )
        .unwrap();
        assert_eq!(config.source("ci").unwrap().format(), Some(Format::Sarif));
        assert_eq!(config.sla.days(Tier::P1), 3);
        assert_eq!(config.sla.days(Tier::P2), 30);
        assert_eq!(config.http.body_limit_bytes(), 32 * 1024 * 1024);
        let bigger = Config::from_toml("[http]\nbody_limit_mib = 100\n", "muster.toml").unwrap();
        assert_eq!(bigger.http.body_limit_bytes(), 100 * 1024 * 1024);
    }

    #[test]
    fn digests_are_due_from_the_digest_hour_daily_or_on_mondays() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        // 2026-11-30 is a Monday.
        assert_eq!(DigestSchedule::Daily.period_at(at("2026-11-27T07:59:00Z"), 8), None);
        assert_eq!(
            DigestSchedule::Daily.period_at(at("2026-11-27T08:00:00Z"), 8),
            Some(chrono::Duration::days(1))
        );
        assert_eq!(DigestSchedule::Weekly.period_at(at("2026-11-27T09:00:00Z"), 8), None);
        assert_eq!(
            DigestSchedule::Weekly.period_at(at("2026-11-30T09:00:00Z"), 8),
            Some(chrono::Duration::weeks(1))
        );
        assert_eq!(DigestSchedule::Off.period_at(at("2026-11-30T09:00:00Z"), 8), None);
        let err = Config::from_toml("[notify]\ndigest_hour = 24\n", "t").unwrap_err();
        assert!(err.to_string().contains("digest_hour"), "{err}");
    }

    #[test]
    fn every_toml_example_in_the_readme_is_a_valid_config() {
        let readme = include_str!("../../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert!(blocks.len() >= 2, "the README shows tracker and Slack configuration");
        for block in blocks {
            let config = Config::from_toml(block, "README.md").unwrap_or_else(|e| panic!("{e}\n{block}"));
            if let Some(jira) = &config.trackers.jira {
                assert_eq!(jira.priorities[&Tier::P1], "Highest");
                assert!(jira.fields.contains_key("customfield_10010"));
            }
        }
    }

    #[test]
    fn example_file_parses_and_shows_the_defaults() {
        let example = Config::from_toml(include_str!("../../../infra/muster.toml"), "infra/muster.toml").unwrap();
        let defaults = ScoringConfig::default();
        let shown = &example.scoring;
        assert_eq!(
            (
                shown.p1,
                shown.p2,
                shown.p3,
                shown.kev,
                shown.ransomware,
                shown.epss_high,
                shown.epss_medium
            ),
            (
                defaults.p1,
                defaults.p2,
                defaults.p3,
                defaults.kev,
                defaults.ransomware,
                defaults.epss_high,
                defaults.epss_medium
            )
        );
        assert_eq!(
            (
                shown.external,
                shown.via_connected,
                shown.criticality,
                shown.staging,
                shown.development
            ),
            (
                defaults.external,
                defaults.via_connected,
                defaults.criticality,
                defaults.staging,
                defaults.development
            )
        );
        assert_eq!(shown.controls, defaults.controls);
        assert_eq!(
            (
                shown.control_default,
                shown.controls_floor,
                shown.fix_available,
                shown.kev_min_tier
            ),
            (
                defaults.control_default,
                defaults.controls_floor,
                defaults.fix_available,
                defaults.kev_min_tier
            )
        );
        assert_eq!(example.sla.days_for(Tier::P1, Some(1)), 3);
        assert_eq!(example.sla.days_for(Tier::P3, Some(1)), 90);
        assert_eq!(example.sla.days_for(Tier::P1, Some(2)), 7);
    }

    #[test]
    fn scoring_and_sla_are_validated() {
        for (text, needle) in [
            ("[scoring]\np1 = 50\np2 = 60\n", "thresholds"),
            ("[scoring]\nepss_high_at = 1.5\n", "epss"),
            ("[scoring]\npolicy = \"ssvc\"\n", "unknown variant"),
            ("[sla.criticality.5]\nP1 = 1\n", "criticality is 1, 2, 3 or 4"),
            ("[sla.criticality.1]\nP1 = 40\n", "more urgent tier"),
        ] {
            let err = Config::from_toml(text, "m.toml").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn errors_name_the_file_and_problem() {
        let err = Config::from_toml("[[sources]]\nname = \"x\"\nformat = \"xml\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.toml") && err.contains("xml"), "{err}");

        let err = Config::from_toml("[sla]\nP1 = 40\n", "m.toml").unwrap_err().to_string();
        assert!(err.contains("more urgent"), "{err}");

        let err = Config::from_toml("[http]\nbody_limit_mib = 0\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("body_limit_mib"), "{err}");

        let err = Config::from_toml("[triage]\nowner = \"x\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
