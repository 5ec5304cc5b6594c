//! Digests and the CI gate: the SLA posture of every team (or one), computed from the findings
//! alone by pure functions, so `muster digest` in JSON, Markdown and HTML and `muster gate`
//! all tell the same numbers. Nothing here reads a store or a clock: callers pass the findings
//! and `now`; renderers live in `crate::digest_render`.
//!
//! Only triaged findings count (an untriaged one has no owner, tier or due date yet; they are
//! counted in `Digest::untriaged`). Events after `now` are ignored, so a digest `--now` in the
//! past replays that day from today's data.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ticket::open_groups;
use crate::model::{Finding, GroupKey, Status, TeamId, Tier, Triage};

/// Weeks the MTTR trend chart covers.
pub const MTTR_WEEKS: usize = 8;
/// Risk acceptances ending within this many days are "expiring soon".
pub const EXPIRING_SOON_DAYS: i64 = 14;
/// How many open risks the digest lists.
pub const TOP_RISKS: usize = 10;
/// Age buckets of open findings, in whole days since first seen: (label, first day, last day).
pub const AGE_BUCKETS: [(&str, i64, i64); 4] = [
    ("0-7 days", 0, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    (">90 days", 91, i64::MAX),
];

/// Counts per tier, with their total: the shape every per-tier number takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TierCounts {
    #[serde(rename = "P1")]
    pub p1: usize,
    #[serde(rename = "P2")]
    pub p2: usize,
    #[serde(rename = "P3")]
    pub p3: usize,
    #[serde(rename = "P4")]
    pub p4: usize,
    pub total: usize,
}

impl TierCounts {
    fn add(&mut self, tier: Tier) {
        match tier {
            Tier::P1 => self.p1 += 1,
            Tier::P2 => self.p2 += 1,
            Tier::P3 => self.p3 += 1,
            Tier::P4 => self.p4 += 1,
        }
        self.total += 1;
    }

    pub fn get(&self, tier: Tier) -> usize {
        match tier {
            Tier::P1 => self.p1,
            Tier::P2 => self.p2,
            Tier::P3 => self.p3,
            Tier::P4 => self.p4,
        }
    }
}

/// Time to remediate one tier: resolved_at − first_seen over the fixed findings, in hours
/// rounded to 0.1 (so every rendering prints exactly the JSON's value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mttr {
    pub tier: Tier,
    pub fixed: usize,
    /// `None` when nothing of this tier was fixed.
    pub mean_hours: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90_hours: Option<f64>,
}

/// One number this period against the period before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    pub current: usize,
    pub previous: usize,
    pub delta: i64,
}

impl Change {
    fn new(current: usize, previous: usize) -> Self {
        Self {
            current,
            previous,
            delta: current as i64 - previous as i64,
        }
    }
}

/// This period against the previous one of the same length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Trend {
    /// Findings first seen in the period.
    pub new: Change,
    /// Findings fixed in the period.
    pub fixed: Change,
    /// Open findings past due at the period's end (now) and at the previous period's end.
    pub breached: Change,
}

/// One team's SLA posture (or everyone's, as `Digest::totals`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamSection {
    /// The team id, or `all` for the totals.
    pub team: String,
    pub open: TierCounts,
    /// Open, past due and not risk-accepted (an acceptance pauses the clock).
    pub breached: TierCounts,
    /// Resolved findings (a scanner stopped seeing them), all time up to now.
    pub fixed: usize,
    pub fixed_within_sla: usize,
    /// fixed_within_sla / fixed × 100, rounded to 0.1; `None` when nothing was fixed.
    pub sla_compliance_pct: Option<f64>,
    pub mttr: Vec<Mttr>,
    /// Open findings no ownership rule claimed (they went to the default team).
    pub unowned: usize,
    pub risk_accepted: usize,
    /// Acceptances that end within `EXPIRING_SOON_DAYS`.
    pub acceptances_expiring_soon: usize,
    pub trend: Trend,
}

/// Open findings of one age bucket, by tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgeBucket {
    pub label: &'static str,
    pub counts: TierCounts,
}

/// Mean time to remediate per tier of the findings fixed in one week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MttrWeek {
    /// The week is `(start, end]`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub fixed: usize,
    #[serde(rename = "P1")]
    pub p1_hours: Option<f64>,
    #[serde(rename = "P2")]
    pub p2_hours: Option<f64>,
    #[serde(rename = "P3")]
    pub p3_hours: Option<f64>,
    #[serde(rename = "P4")]
    pub p4_hours: Option<f64>,
}

impl MttrWeek {
    pub fn hours(&self, tier: Tier) -> Option<f64> {
        match tier {
            Tier::P1 => self.p1_hours,
            Tier::P2 => self.p2_hours,
            Tier::P3 => self.p3_hours,
            Tier::P4 => self.p4_hours,
        }
    }
}

/// An open finding worth a lead's attention, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopRisk {
    pub fingerprint: String,
    pub score: u8,
    pub tier: Tier,
    pub title: String,
    pub asset: String,
    pub owner: String,
    pub due_at: DateTime<Utc>,
    /// The first three score factors.
    pub evidence: Vec<String>,
}

/// The digest: a security lead's (every team) or a team's (one) view of the SLA posture.
/// Serialized as `muster digest --format json`; the JSON shape is a contract (add fields,
/// never rename them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub generated_at: DateTime<Utc>,
    /// `Some` for a team digest.
    pub team: Option<String>,
    pub period_hours: i64,
    pub period_start: DateTime<Utc>,
    pub previous_start: DateTime<Utc>,
    pub totals: TeamSection,
    /// One per owning team, by team id.
    pub teams: Vec<TeamSection>,
    pub age_buckets: Vec<AgeBucket>,
    /// Oldest week first, `MTTR_WEEKS` of them.
    pub mttr_trend: Vec<MttrWeek>,
    pub top_risks: Vec<TopRisk>,
    /// Findings not triaged yet (no owner, tier or due date), left out of every number.
    pub untriaged: usize,
}

/// Whether the finding was open at `t`, as far as its record tells: seen by then and not yet
/// resolved. Suppressed findings were never open work.
fn open_at(finding: &Finding, t: DateTime<Utc>) -> bool {
    if finding.first_seen > t {
        return false;
    }
    match finding.status {
        Status::Suppressed => false,
        Status::Resolved => finding.resolved_at.is_some_and(|r| r > t),
        _ => true,
    }
}

/// Open at `t`, past its due date and not under a risk acceptance.
fn breached_at(finding: &Finding, triage: &Triage, t: DateTime<Utc>) -> bool {
    let accepted = finding.status == Status::RiskAccepted && finding.acceptance.as_ref().is_none_or(|a| a.at <= t);
    open_at(finding, t) && !accepted && triage.due_at <= t
}

/// When a fixed finding was fixed, if it was by `now`.
fn fixed_at(finding: &Finding, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (finding.status == Status::Resolved)
        .then_some(finding.resolved_at)
        .flatten()
        .filter(|r| *r <= now)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn hours(duration: Duration) -> f64 {
    duration.num_seconds() as f64 / 3600.0
}

/// Mean of the values, rounded to 0.1; `None` for none.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round1(values.iter().sum::<f64>() / values.len() as f64))
}

/// Nearest-rank 90th percentile (the smallest value ≥ 90 % of the values), rounded to 0.1.
pub fn p90(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (0.9 * sorted.len() as f64).ceil() as usize;
    Some(round1(sorted[rank.max(1) - 1]))
}

/// The age bucket of an open finding first seen `age` ago.
pub fn age_bucket(age: Duration) -> usize {
    let days = age.num_days().max(0);
    AGE_BUCKETS
        .iter()
        .position(|(_, first, last)| (*first..=*last).contains(&days))
        .unwrap_or(AGE_BUCKETS.len() - 1)
}

fn section(name: &str, findings: &[(&Finding, &Triage)], now: DateTime<Utc>, period: Duration) -> TeamSection {
    let (start, previous_start) = (now - period, now - period - period);
    let mut section = TeamSection {
        team: name.to_owned(),
        open: TierCounts::default(),
        breached: TierCounts::default(),
        fixed: 0,
        fixed_within_sla: 0,
        sla_compliance_pct: None,
        mttr: Vec::new(),
        unowned: 0,
        risk_accepted: 0,
        acceptances_expiring_soon: 0,
        trend: Trend::default(),
    };
    let mut remediation: BTreeMap<Tier, Vec<f64>> = BTreeMap::new();
    let (mut new, mut new_before, mut fixed, mut fixed_before, mut breached_before) = (0, 0, 0, 0, 0);
    for (finding, triage) in findings {
        let tier = triage.risk.tier;
        if open_at(finding, now) {
            section.open.add(tier);
            section.unowned += usize::from(triage.is_unowned());
            if finding.status == Status::RiskAccepted {
                section.risk_accepted += 1;
                let ends = finding.acceptance.as_ref().map(|a| a.until);
                section.acceptances_expiring_soon +=
                    usize::from(ends.is_some_and(|until| until <= now + Duration::days(EXPIRING_SOON_DAYS)));
            }
        }
        if breached_at(finding, triage, now) {
            section.breached.add(tier);
        }
        breached_before += usize::from(breached_at(finding, triage, start));
        if finding.first_seen > start && finding.first_seen <= now {
            new += 1;
        } else if finding.first_seen > previous_start && finding.first_seen <= start {
            new_before += 1;
        }
        if let Some(resolved) = fixed_at(finding, now) {
            section.fixed += 1;
            section.fixed_within_sla += usize::from(resolved <= triage.due_at);
            remediation
                .entry(tier)
                .or_default()
                .push(hours(resolved - finding.first_seen));
            if resolved > start {
                fixed += 1;
            } else if resolved > previous_start {
                fixed_before += 1;
            }
        }
    }
    section.sla_compliance_pct =
        (section.fixed > 0).then(|| round1(section.fixed_within_sla as f64 * 100.0 / section.fixed as f64));
    section.mttr = Tier::ALL
        .iter()
        .map(|tier| {
            let values = remediation.get(tier).map(Vec::as_slice).unwrap_or_default();
            Mttr {
                tier: *tier,
                fixed: values.len(),
                mean_hours: mean(values),
                p90_hours: p90(values),
            }
        })
        .collect();
    section.trend = Trend {
        new: Change::new(new, new_before),
        fixed: Change::new(fixed, fixed_before),
        breached: Change::new(section.breached.total, breached_before),
    };
    section
}

/// Computes the digest at `now` over every finding, open or not (pass them all: resolved ones
/// are what compliance and MTTR are made of). `period` is a day or a week; `team` scopes it to
/// one team's findings.
pub fn digest(findings: &[Finding], now: DateTime<Utc>, period: Duration, team: Option<&TeamId>) -> Digest {
    let untriaged = findings
        .iter()
        .filter(|f| f.triage.is_none() && open_at(f, now))
        .count();
    let triaged: Vec<(&Finding, &Triage)> = findings
        .iter()
        .filter_map(|f| f.triage.as_deref().map(|t| (f, t)))
        .filter(|(_, t)| team.is_none_or(|team| &t.owner == team))
        .collect();

    let mut by_team: BTreeMap<&str, Vec<(&Finding, &Triage)>> = BTreeMap::new();
    if let Some(team) = team {
        by_team.entry(team.as_str()).or_default();
    }
    for pair in &triaged {
        by_team.entry(pair.1.owner.as_str()).or_default().push(*pair);
    }
    let teams = by_team
        .iter()
        .map(|(name, findings)| section(name, findings, now, period))
        .collect();

    let mut age_buckets: Vec<AgeBucket> = AGE_BUCKETS
        .iter()
        .map(|(label, _, _)| AgeBucket {
            label,
            counts: TierCounts::default(),
        })
        .collect();
    for (finding, triage) in triaged.iter().filter(|(f, _)| open_at(f, now)) {
        age_buckets[age_bucket(now - finding.first_seen)]
            .counts
            .add(triage.risk.tier);
    }

    let mttr_trend = (0..MTTR_WEEKS)
        .map(|index| {
            let end = now - Duration::weeks((MTTR_WEEKS - 1 - index) as i64);
            let start = end - Duration::weeks(1);
            let mut per_tier: BTreeMap<Tier, Vec<f64>> = BTreeMap::new();
            for (finding, triage) in &triaged {
                if let Some(resolved) = fixed_at(finding, end).filter(|r| *r > start) {
                    per_tier
                        .entry(triage.risk.tier)
                        .or_default()
                        .push(hours(resolved - finding.first_seen));
                }
            }
            let mean_of = |tier| mean(per_tier.get(&tier).map(Vec::as_slice).unwrap_or_default());
            MttrWeek {
                start,
                end,
                fixed: per_tier.values().map(Vec::len).sum(),
                p1_hours: mean_of(Tier::P1),
                p2_hours: mean_of(Tier::P2),
                p3_hours: mean_of(Tier::P3),
                p4_hours: mean_of(Tier::P4),
            }
        })
        .collect();

    let mut open: Vec<&(&Finding, &Triage)> = triaged.iter().filter(|(f, _)| open_at(f, now)).collect();
    open.sort_by(|(fa, ta), (fb, tb)| {
        (
            std::cmp::Reverse(ta.risk.score),
            ta.risk.tier,
            ta.due_at,
            fa.fingerprint(),
        )
            .cmp(&(
                std::cmp::Reverse(tb.risk.score),
                tb.risk.tier,
                tb.due_at,
                fb.fingerprint(),
            ))
    });
    let top_risks = open
        .iter()
        .take(TOP_RISKS)
        .map(|(finding, triage)| TopRisk {
            fingerprint: finding.fingerprint().to_string(),
            score: triage.risk.score,
            tier: triage.risk.tier,
            title: finding.detection.title.clone(),
            asset: finding.asset.to_string(),
            owner: triage.owner.to_string(),
            due_at: triage.due_at,
            evidence: triage.risk.evidence.iter().take(3).map(ToString::to_string).collect(),
        })
        .collect();

    Digest {
        generated_at: now,
        team: team.map(ToString::to_string),
        period_hours: period.num_hours(),
        period_start: now - period,
        previous_start: now - period - period,
        totals: section("all", &triaged, now, period),
        teams,
        age_buckets,
        mttr_trend,
        top_risks,
        untriaged,
    }
}

/// A `--max-breached` flag was not `TIER=COUNT[,TIER=COUNT…]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("{entry:?} is not TIER=COUNT (e.g. P1=0,P2=3)")]
    Shape { entry: String },
    #[error("unknown tier {tier:?} in {entry:?}: expected P1, P2, P3 or P4")]
    Tier { tier: String, entry: String },
    #[error("count {count:?} in {entry:?} is not a whole number ≥ 0")]
    Count { count: String, entry: String },
    #[error("tier {tier} is given twice")]
    Repeated { tier: Tier },
}

/// How many breached remediation groups each tier may have before the gate fails; tiers not
/// named are not gated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BreachBudget(pub BTreeMap<Tier, usize>);

impl BreachBudget {
    /// Parses `P1=0,P2=3` strictly: a bad tier, count or shape is an error naming it.
    pub fn parse(text: &str) -> Result<Self, BudgetError> {
        let mut budget = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (tier, count) = entry.split_once('=').ok_or_else(|| BudgetError::Shape {
                entry: entry.to_owned(),
            })?;
            let tier = Tier::parse(tier).map_err(|_| BudgetError::Tier {
                tier: tier.trim().to_owned(),
                entry: entry.to_owned(),
            })?;
            let count = count.trim().parse::<usize>().map_err(|_| BudgetError::Count {
                count: count.trim().to_owned(),
                entry: entry.to_owned(),
            })?;
            if budget.insert(tier, count).is_some() {
                return Err(BudgetError::Repeated { tier });
            }
        }
        if budget.is_empty() {
            return Err(BudgetError::Shape { entry: text.to_owned() });
        }
        Ok(Self(budget))
    }
}

/// A gate request as text — `muster gate`'s flags or the `GET /gate` query string — so both
/// are read by the same code and refuse the same mistakes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// `P1=0,P2=3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_breached: Option<String>,
    /// `P1`: new findings of this tier or worse fail the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_tier: Option<String>,
    /// What counts as new: an RFC 3339 instant, or a duration back from now (`30m`, `24h`, `7d`, `2w`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Judge as of this RFC 3339 instant instead of the current time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
}

/// A gate request that cannot be judged; `param` is the field's name (`max_breached`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateQueryError {
    #[error("{param} {value:?}: {message}")]
    Invalid {
        param: &'static str,
        value: String,
        message: String,
    },
    #[error("nothing to gate on: give max_breached (e.g. P1=0,P2=3) and/or max_new_tier (e.g. P1)")]
    Empty,
    #[error("since only applies to max_new_tier; give that too")]
    SinceWithoutTier,
}

impl GateQuery {
    /// The policy and the instant to judge at (`now`, else `clock_now`).
    pub fn policy(&self, clock_now: DateTime<Utc>) -> Result<(GatePolicy, DateTime<Utc>), GateQueryError> {
        let invalid = |param: &'static str, value: &str, message: String| GateQueryError::Invalid {
            param,
            value: value.to_owned(),
            message,
        };
        let now = match &self.now {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    invalid(
                        "now",
                        text,
                        "expected an RFC 3339 time such as 2026-12-01T09:00:00Z".into(),
                    )
                })?
                .to_utc(),
            None => clock_now,
        };
        let team = self
            .team
            .as_deref()
            .map(|t| TeamId::parse(t).map_err(|e| invalid("team", t, e.to_string())))
            .transpose()?;
        let max_breached = self
            .max_breached
            .as_deref()
            .map(|text| BreachBudget::parse(text).map_err(|e| invalid("max_breached", text, e.to_string())))
            .transpose()?
            .unwrap_or_default();
        let max_new_tier = self
            .max_new_tier
            .as_deref()
            .map(|text| Tier::parse(text).map_err(|e| invalid("max_new_tier", text, e.to_string())))
            .transpose()?;
        if max_breached.0.is_empty() && max_new_tier.is_none() {
            return Err(GateQueryError::Empty);
        }
        let since = self
            .since
            .as_deref()
            .map(|text| {
                parse_since(text, now).ok_or_else(|| {
                    invalid(
                        "since",
                        text,
                        "expected an RFC 3339 time or a duration such as 30m, 24h, 7d or 2w".into(),
                    )
                })
            })
            .transpose()?;
        if since.is_some() && max_new_tier.is_none() {
            return Err(GateQueryError::SinceWithoutTier);
        }
        let policy = GatePolicy {
            team,
            max_breached,
            max_new_tier,
            since,
        };
        Ok((policy, now))
    }
}

/// An RFC 3339 instant, or a duration back from `now` (`30m`, `24h`, `7d`, `2w`).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.to_utc());
    }
    let text = text.trim();
    let unit = text.chars().last()?;
    let amount: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if amount <= 0 {
        return None;
    }
    let back = match unit {
        'm' => Duration::try_minutes(amount),
        'h' => Duration::try_hours(amount),
        'd' => Duration::try_days(amount),
        'w' => Duration::try_weeks(amount),
        _ => None,
    }?;
    Some(now - back)
}

/// What the release gate checks.
#[derive(Debug, Clone, Default)]
pub struct GatePolicy {
    pub team: Option<TeamId>,
    pub max_breached: BreachBudget,
    /// New findings (first seen after `since`) of this tier or a more urgent one fail the gate.
    pub max_new_tier: Option<Tier>,
    pub since: Option<DateTime<Utc>>,
}

/// A remediation group the gate names as a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateGroup {
    pub key: GroupKey,
    pub title: String,
    pub tier: Tier,
    pub due_at: DateTime<Utc>,
}

/// One broken budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// More past-due groups of `tier` than the budget allows.
    Breached {
        tier: Tier,
        count: usize,
        budget: usize,
        groups: Vec<GateGroup>,
    },
    /// Groups with findings of `tier` or worse first seen since `since`.
    New {
        tier: Tier,
        since: DateTime<Utc>,
        groups: Vec<GateGroup>,
    },
}

impl Violation {
    /// What broke, against which budget, then the offending groups one per line (a CI log
    /// shows them without scrolling sideways).
    pub fn reason(&self) -> String {
        let list = |groups: &[GateGroup]| {
            groups
                .iter()
                .map(|g| format!("\n  - {} (due {})", g.title, g.due_at.format("%Y-%m-%d")))
                .collect::<String>()
        };
        match self {
            Self::Breached {
                tier,
                count,
                budget,
                groups,
            } => {
                let noun = if *count == 1 { "group" } else { "groups" };
                format!(
                    "{count} {tier} {noun} past their SLA (budget {budget}):{}",
                    list(groups)
                )
            }
            Self::New { tier, since, groups } => {
                let noun = if groups.len() == 1 { "group" } else { "groups" };
                format!(
                    "{} {noun} with new findings of {tier} or worse since {} (budget 0):{}",
                    groups.len(),
                    since.format("%Y-%m-%d %H:%M UTC"),
                    list(groups)
                )
            }
        }
    }
}

/// The gate's answer; `muster gate --json` prints it, `GET /gate` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub passed: bool,
    pub at: DateTime<Utc>,
    pub team: Option<String>,
    pub violations: Vec<Violation>,
}

impl GateVerdict {
    /// `gate passed` or `gate failed: …` with every violation.
    pub fn reason(&self) -> String {
        if self.passed {
            return "gate passed".to_owned();
        }
        let reasons: Vec<String> = self.violations.iter().map(Violation::reason).collect();
        format!("gate failed: {}", reasons.join("\nand "))
    }
}

fn gate_group(group: &crate::model::RemediationGroup) -> GateGroup {
    GateGroup {
        key: group.key.clone(),
        title: group.title.clone(),
        tier: group.tier,
        due_at: group.due_at,
    }
}

/// Judges the SLA posture at `now` against the budgets. Breaches are counted per remediation
/// group (one fix, one ticket), the unit a release owner can act on; risk-accepted findings do
/// not count (their clock is paused).
pub fn gate(findings: &[Finding], now: DateTime<Utc>, policy: &GatePolicy) -> GateVerdict {
    let in_scope: Vec<Finding> = findings
        .iter()
        .filter(|f| open_at(f, now) && f.status != Status::RiskAccepted)
        .filter(|f| {
            f.triage
                .as_ref()
                .is_some_and(|t| policy.team.as_ref().is_none_or(|team| &t.owner == team))
        })
        .cloned()
        .collect();
    let groups = open_groups(&in_scope);
    let mut violations = Vec::new();
    for (tier, budget) in &policy.max_breached.0 {
        let breached: Vec<GateGroup> = groups
            .iter()
            .filter(|g| g.tier == *tier && g.due_at <= now)
            .map(gate_group)
            .collect();
        if breached.len() > *budget {
            violations.push(Violation::Breached {
                tier: *tier,
                count: breached.len(),
                budget: *budget,
                groups: breached,
            });
        }
    }
    if let Some(worst) = policy.max_new_tier {
        let since = policy.since.unwrap_or(now - Duration::hours(24));
        let new_keys: BTreeSet<&GroupKey> = in_scope
            .iter()
            .filter(|f| f.first_seen > since)
            .filter_map(|f| f.triage.as_deref())
            .filter(|t| t.risk.tier <= worst)
            .map(|t| &t.group)
            .collect();
        let offending: Vec<GateGroup> = groups
            .iter()
            .filter(|g| new_keys.contains(&g.key))
            .map(gate_group)
            .collect();
        if !offending.is_empty() {
            violations.push(Violation::New {
                tier: worst,
                since,
                groups: offending,
            });
        }
    }
    GateVerdict {
        passed: violations.is_empty(),
        at: now,
        team: policy.team.as_ref().map(ToString::to_string),
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Detection, Evidence, Factor, FindingKind, Fingerprint, Location, Remediation, Risk, Severity, SsvcDecision,
        Tool,
    };

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A triaged finding of `team`, first seen `first_seen`, due `sla_days` later.
    fn finding(id: u8, team: &str, tier: Tier, first_seen: &str, sla_days: i64) -> Finding {
        let first_seen = at(first_seen);
        let owner = TeamId::parse(team).unwrap();
        let asset = crate::model::AssetKey::parse("github.com/acme/shop").unwrap();
        Finding {
            detection: Detection::new(
                Fingerprint::from_bytes([id; 16]),
                FindingKind::Code,
                format!("finding {id}"),
                Severity::High,
                Location::Unspecified,
            ),
            tool: Tool {
                name: "codeql".into(),
                version: None,
            },
            asset: asset.clone(),
            seen_by: vec![],
            status: Status::Open,
            first_seen,
            last_seen: first_seen,
            resolved_at: None,
            triage: Some(Box::new(Triage {
                risk: Risk {
                    score: 100 - id,
                    tier,
                    evidence: vec![Evidence {
                        factor: Factor::Severity,
                        value: "high".into(),
                        contribution: 30,
                        source: "codeql".into(),
                    }],
                    ssvc: SsvcDecision {
                        exposed: false,
                        kev: false,
                        automatable: false,
                        total_impact: false,
                        assumed: vec![],
                        remediation: Remediation::Days60,
                    },
                },
                owner_rule: Some("rule".into()),
                group: GroupKey::new(&owner, &asset, &format!("rule:r{id}")),
                owner,
                clock_start: first_seen,
                due_at: first_seen + Duration::days(sla_days),
            })),
            acceptance: None,
            clock_start: None,
            rerouted: None,
            timeline: vec![],
        }
    }

    fn resolved(mut finding: Finding, at_: &str) -> Finding {
        finding.status = Status::Resolved;
        finding.resolved_at = Some(at(at_));
        finding
    }

    #[test]
    fn compliance_counts_fixes_on_or_before_the_due_date() {
        // GIVEN four fixes, three within their 10-day SLA (one exactly on the due date)
        let findings = vec![
            resolved(
                finding(1, "web", Tier::P2, "2026-11-01T00:00:00Z", 10),
                "2026-11-02T00:00:00Z",
            ),
            resolved(
                finding(2, "web", Tier::P2, "2026-11-01T00:00:00Z", 10),
                "2026-11-11T00:00:00Z",
            ),
            resolved(
                finding(3, "web", Tier::P2, "2026-11-01T00:00:00Z", 10),
                "2026-11-05T00:00:00Z",
            ),
            resolved(
                finding(4, "web", Tier::P2, "2026-11-01T00:00:00Z", 10),
                "2026-11-20T00:00:00Z",
            ),
            finding(5, "api", Tier::P3, "2026-11-01T00:00:00Z", 30),
        ];
        // WHEN
        let digest = digest(&findings, at("2026-11-21T00:00:00Z"), Duration::weeks(1), None);
        // THEN 3 of 4 = 75 %, and a team with no fixes says n/a
        let web = digest.teams.iter().find(|t| t.team == "web").unwrap();
        assert_eq!((web.fixed, web.fixed_within_sla), (4, 3));
        assert_eq!(web.sla_compliance_pct, Some(75.0));
        let api = digest.teams.iter().find(|t| t.team == "api").unwrap();
        assert_eq!(api.sla_compliance_pct, None);
        assert_eq!(digest.totals.sla_compliance_pct, Some(75.0));
    }

    #[test]
    fn mttr_mean_and_nearest_rank_p90() {
        // 1..=10 days: mean 5.5 days = 132 h; p90 is the 9th value, 9 days = 216 h.
        let findings: Vec<Finding> = (1..=10u8)
            .map(|day| {
                let fixed = at("2026-10-01T00:00:00Z") + Duration::days(i64::from(day));
                resolved(
                    finding(day, "web", Tier::P1, "2026-10-01T00:00:00Z", 3),
                    &fixed.to_rfc3339(),
                )
            })
            .collect();
        let digest = digest(&findings, at("2026-11-01T00:00:00Z"), Duration::weeks(1), None);
        let p1 = digest.totals.mttr[0];
        assert_eq!((p1.tier, p1.fixed), (Tier::P1, 10));
        assert_eq!(p1.mean_hours, Some(132.0));
        assert_eq!(p1.p90_hours, Some(216.0));
        assert_eq!(digest.totals.mttr[1].mean_hours, None);
        assert_eq!(p90(&[5.0]), Some(5.0));
        assert_eq!(p90(&[]), None);
    }

    #[test]
    fn open_findings_fall_in_age_buckets_by_whole_days() {
        let now = at("2026-11-30T12:00:00Z");
        let seen = |days: i64| (now - Duration::days(days)).to_rfc3339();
        let findings = vec![
            finding(1, "web", Tier::P1, &seen(0), 3),
            finding(2, "web", Tier::P2, &seen(7), 3),
            finding(3, "web", Tier::P2, &seen(8), 3),
            finding(4, "web", Tier::P3, &seen(30), 3),
            finding(5, "web", Tier::P3, &seen(31), 3),
            finding(6, "web", Tier::P4, &seen(91), 3),
            resolved(finding(7, "web", Tier::P1, &seen(100), 3), &seen(50)),
        ];
        let digest = digest(&findings, now, Duration::days(1), None);
        let counts: Vec<(usize, usize, usize, usize)> = digest
            .age_buckets
            .iter()
            .map(|b| (b.counts.p1, b.counts.p2, b.counts.p3, b.counts.p4))
            .collect();
        assert_eq!(counts, vec![(1, 1, 0, 0), (0, 1, 1, 0), (0, 0, 1, 0), (0, 0, 0, 1)]);
        assert_eq!(digest.totals.open.total, 6);
    }

    #[test]
    fn trend_compares_this_period_with_the_previous_one() {
        let now = at("2026-11-30T00:00:00Z");
        let findings = vec![
            // new this week, breached now (3-day SLA)
            finding(1, "web", Tier::P1, "2026-11-24T00:00:00Z", 3),
            finding(2, "web", Tier::P2, "2026-11-29T00:00:00Z", 30),
            // new last week, fixed this week (after breaching)
            resolved(
                finding(3, "web", Tier::P1, "2026-11-18T00:00:00Z", 3),
                "2026-11-25T00:00:00Z",
            ),
            // older, fixed last week
            resolved(
                finding(4, "web", Tier::P3, "2026-10-01T00:00:00Z", 90),
                "2026-11-20T00:00:00Z",
            ),
        ];
        let digest = digest(&findings, now, Duration::weeks(1), None);
        let trend = digest.totals.trend;
        assert_eq!(
            trend.new,
            Change {
                current: 2,
                previous: 1,
                delta: 1
            }
        );
        assert_eq!(
            trend.fixed,
            Change {
                current: 1,
                previous: 1,
                delta: 0
            }
        );
        // At the previous period's end (11-23) finding 3 was open and past its 11-21 due date.
        assert_eq!(
            trend.breached,
            Change {
                current: 1,
                previous: 1,
                delta: 0
            }
        );
        assert_eq!(digest.totals.breached.p1, 1);
        // The MTTR trend puts both fixes in their weeks (7 days and 50 days).
        let last = digest.mttr_trend.last().unwrap();
        assert_eq!(last.p1_hours, Some(168.0));
        assert_eq!(digest.mttr_trend[MTTR_WEEKS - 2].p3_hours, Some(50.0 * 24.0));
    }

    #[test]
    fn empty_data_gives_zeros_and_no_compliance() {
        let team = TeamId::parse("web").unwrap();
        let digest = digest(&[], at("2026-11-30T00:00:00Z"), Duration::days(1), Some(&team));
        assert_eq!(digest.teams.len(), 1, "a team digest always has the team's section");
        assert_eq!(digest.totals.sla_compliance_pct, None);
        assert!(digest.top_risks.is_empty());
        assert_eq!(digest.mttr_trend.len(), MTTR_WEEKS);
    }

    #[test]
    fn accepted_risk_is_counted_and_not_breached() {
        let now = at("2026-11-30T00:00:00Z");
        let mut accepted = finding(1, "web", Tier::P1, "2026-11-01T00:00:00Z", 3);
        accepted.status = Status::RiskAccepted;
        accepted.acceptance = Some(Box::new(crate::model::Acceptance {
            at: at("2026-11-02T00:00:00Z"),
            until: at("2026-12-05T00:00:00Z"),
            reason: "egress filtered".into(),
            by: None,
        }));
        let digest = digest(&[accepted.clone()], now, Duration::weeks(1), None);
        assert_eq!(
            (digest.totals.risk_accepted, digest.totals.acceptances_expiring_soon),
            (1, 1)
        );
        assert_eq!(digest.totals.breached.total, 0);
        let verdict = gate(
            &[accepted],
            now,
            &GatePolicy {
                max_breached: BreachBudget::parse("P1=0").unwrap(),
                ..GatePolicy::default()
            },
        );
        assert!(verdict.passed);
    }

    #[test]
    fn budgets_parse_strictly_and_name_the_bad_part() {
        let budget = BreachBudget::parse("P1=0, p2=3").unwrap();
        assert_eq!(budget.0, BTreeMap::from([(Tier::P1, 0), (Tier::P2, 3)]));
        let error = BreachBudget::parse("P7=1").unwrap_err();
        assert!(error.to_string().contains("\"P7\""), "{error}");
        assert!(matches!(BreachBudget::parse("P1"), Err(BudgetError::Shape { .. })));
        assert!(matches!(BreachBudget::parse("P1=-1"), Err(BudgetError::Count { .. })));
        assert!(matches!(
            BreachBudget::parse("P1=0,P1=2"),
            Err(BudgetError::Repeated { .. })
        ));
        assert!(BreachBudget::parse("").is_err());
    }

    #[test]
    fn since_takes_an_instant_or_a_duration_back_from_now() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(parse_since("24h", now), Some(now - Duration::hours(24)));
        assert_eq!(parse_since("2w", now), Some(now - Duration::weeks(2)));
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now),
            Some(at("2026-11-01T00:00:00Z"))
        );
        for bad in ["", "h", "24", "-3d", "3y", "1.5h"] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn a_gate_query_is_checked_whole() {
        let now = at("2026-11-30T12:00:00Z");
        let query = GateQuery {
            team: Some("payments".into()),
            max_breached: Some("P1=0, P2=3".into()),
            max_new_tier: Some("P2".into()),
            since: Some("7d".into()),
            now: None,
        };
        let (policy, judged_at) = query.policy(now).unwrap();
        assert_eq!(judged_at, now);
        assert_eq!(policy.max_breached.0.get(&Tier::P2), Some(&3));
        assert_eq!(policy.since, Some(now - Duration::days(7)));
        let bad = GateQuery {
            max_breached: Some("P9=1".into()),
            ..query.clone()
        };
        assert!(matches!(
            bad.policy(now),
            Err(GateQueryError::Invalid {
                param: "max_breached",
                ..
            })
        ));
        let lonely_since = GateQuery {
            max_new_tier: None,
            ..query
        };
        assert_eq!(lonely_since.policy(now).unwrap_err(), GateQueryError::SinceWithoutTier);
        assert_eq!(GateQuery::default().policy(now).unwrap_err(), GateQueryError::Empty);
    }

    #[test]
    fn gate_fails_past_the_due_date_and_on_new_urgent_findings() {
        let findings = vec![
            finding(1, "web", Tier::P1, "2026-11-01T00:00:00Z", 3),
            finding(2, "api", Tier::P2, "2026-11-03T00:00:00Z", 30),
        ];
        let policy = GatePolicy {
            max_breached: BreachBudget::parse("P1=0").unwrap(),
            ..GatePolicy::default()
        };
        assert!(gate(&findings, at("2026-11-03T23:59:59Z"), &policy).passed);
        let verdict = gate(&findings, at("2026-11-04T00:00:00Z"), &policy);
        assert!(!verdict.passed);
        let reason = verdict.reason();
        assert!(
            reason.starts_with("gate failed: 1 P1 group past their SLA (budget 0):\n  - "),
            "{reason}"
        );
        assert!(reason.contains("(due 2026-11-04)"), "{reason}");

        let other_team = GatePolicy {
            team: Some(TeamId::parse("api").unwrap()),
            ..policy.clone()
        };
        assert!(gate(&findings, at("2026-11-04T00:00:00Z"), &other_team).passed);

        let new_p2 = GatePolicy {
            max_new_tier: Some(Tier::P2),
            since: Some(at("2026-11-02T00:00:00Z")),
            ..GatePolicy::default()
        };
        let verdict = gate(&findings, at("2026-11-03T12:00:00Z"), &new_p2);
        assert!(matches!(&verdict.violations[..], [Violation::New { groups, .. }] if groups.len() == 1));
        let new_p1 = GatePolicy {
            max_new_tier: Some(Tier::P1),
            ..new_p2
        };
        assert!(gate(&findings, at("2026-11-03T12:00:00Z"), &new_p1).passed);
    }
}
