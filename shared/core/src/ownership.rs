//! Ownership as code: teams, the rules that map assets and paths to them, and CODEOWNERS.
//!
//! Users keep an owners YAML file in git (`infra/examples/owners.yaml`); `muster owners import`
//! makes the stored set equal to the file. Routing asks the compiled [`Router`] which team owns
//! a place; the most specific matching rule wins, and two equally specific rules that both
//! match one place are an import error, so routing never depends on file order. This module
//! parses and matches only; it never reads files or stores anything.
//!
//! # Owners file
//!
//! ```yaml
//! default_team: security-triage        # optional; must be one of `teams`
//! teams:
//!   - id: payments                     # letters, digits, '-', '_', '.'; unique
//!     name: Payments                   # optional, defaults to the id
//!     tracker: { jira: PAY }           # or { github: acme/payments }; optional
//!     slack_channel: "#payments-sec"
//!     escalation: [U0OWNER, U0LEAD, U0SECLEAD]   # Slack user ids, first rung first
//!     timezone: Europe/Berlin          # "UTC" or an IANA Area/Location name
//!     quiet_hours: { start: "20:00", end: "08:00" }   # HH:MM, may wrap midnight
//!     codeowners: ["@acme/payments"]   # CODEOWNERS handles meaning this team
//! rules:                               # each rule: `team` plus exactly one matcher
//!   - name: shop-api                   # optional; the id is the name, else "rules[N]" (0-based)
//!     team: payments
//!     asset: github.com/acme/shop-api  # exact key (an image key also matches name:tag / name@digest)
//!   - team: platform
//!     asset_glob: "ghcr.io/acme/*"     # glob on the asset key
//!   - team: payments
//!     path: "services/payments/**"     # glob on the path inside the asset...
//!     asset: "github.com/acme/*"       # ...optionally limited to an exact key or a glob
//!   - team: data
//!     tag: pii                         # assets carrying this tag in the assets file
//! ```
//!
//! Unknown fields are errors. Globs use globset syntax where `*` and `?` never cross `/` and
//! `**` does. Two rules with the same matcher are an error even when they name the same team.
//!
//! # Precedence
//!
//! The most specific matching rule wins:
//!
//! 1. CODEOWNERS lines of the place's repository (the asset key equals the repo), taken as a
//!    block in which the last matching line wins, as on GitHub. If that line has no owners, the
//!    block gives no owner and routing falls through to the classes below.
//! 2. `path` rules whose `asset` is an exact key.
//! 3. `asset` rules (exact key).
//! 4. `path` rules whose `asset` is a glob, or without `asset`.
//! 5. `asset_glob` rules.
//! 6. `tag` rules.
//!
//! Path rules (classes 2 and 4) need a path on the place. Within a class the rule with more
//! literal (non-wildcard) characters wins: for path rules the path glob counts first, then the
//! asset key or glob; in class 3 a rule on `name:tag` beats one on `name`. Equally specific
//! matches of different teams are refused by [`Router::check_ties`] at import.
//!
//! # CODEOWNERS
//!
//! [`parse_codeowners`] follows GitHub: `#` starts a comment; each line is a pattern and zero or
//! more owners; a leading `/` or a `/` inside the pattern anchors it at the repository root,
//! otherwise it matches at any depth; a trailing `/` matches everything beneath that directory;
//! a pattern naming a directory also matches everything beneath it (`docs` matches
//! `docs/a/b.md`), except that a final `/*` matches direct children only (`docs/*`); `*` stays
//! within a segment and `**` crosses segments. `!` negation and `[ ]` ranges are refused, as
//! GitHub does not support them.

use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::NaiveTime;
use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::assets::image_name;
use crate::import::{ImportError, error_at, is_blank_yaml, item_lines, top_level_line, yaml_error};
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
    /// Slack user ids (or channels), first rung first: owner → team lead → security lead. The
    /// SLA sweep sends breaches to the second and long breaches to the third.
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
    /// Tracker accounts its tickets are assigned to (GitHub logins, Jira account ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
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
    Codeowners {
        repo: AssetKey,
        pattern: String,
        line: usize,
    },
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

impl Ownership {
    /// The team that gets what no rule claims: the owners file's `default_team`, else the
    /// configured `triage.default_owner`.
    pub fn triage_team(&self, configured: &TeamId) -> TeamId {
        self.default_team.clone().unwrap_or_else(|| configured.clone())
    }
}

/// Where a team is told things: its `slack_channel`, else `#<team id>`.
pub fn team_channel(team: Option<&Team>, id: &TeamId) -> String {
    team.and_then(|t| t.slack_channel.clone())
        .unwrap_or_else(|| format!("#{id}"))
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

/// Where ownership errors found after parsing (router compilation, ties) come from.
const RULES_ORIGIN: &str = "ownership rules";

/// Parses the owners file (shape in the module docs). Everything is checked before anything is
/// returned: unknown fields, team ids, trackers, timezones, quiet hours, globs, references to
/// teams, and rules that duplicate another rule's matcher.
pub fn parse_owners_yaml(text: &str, origin: &str) -> Result<Ownership, ImportError> {
    let file: OwnersFile = if is_blank_yaml(text) {
        OwnersFile::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| yaml_error(origin, &e))?
    };
    let team_lines = item_lines(text, "teams", file.teams.len());
    let mut teams: Vec<Team> = Vec::with_capacity(file.teams.len());
    let mut handles: HashMap<String, TeamId> = HashMap::new();
    for (i, entry) in file.teams.into_iter().enumerate() {
        let line = team_lines.get(i).copied();
        let team = team_from_entry(entry, i).map_err(|message| error_at(origin, line, message))?;
        if let Some(first) = teams.iter().position(|t| t.id == team.id) {
            return Err(error_at(
                origin,
                line,
                format!(
                    "team id \"{}\" is defined twice (teams[{first}] and teams[{i}]); team ids must be unique",
                    team.id
                ),
            ));
        }
        for handle in &team.codeowners {
            if let Some(other) = handles.insert(handle.to_lowercase(), team.id.clone()) {
                return Err(error_at(
                    origin,
                    line,
                    format!(
                        "CODEOWNERS handle \"{handle}\" is listed by teams \"{other}\" and \"{}\"; a handle can mean one team only",
                        team.id
                    ),
                ));
            }
        }
        teams.push(team);
    }
    let known = |id: &TeamId| teams.iter().any(|t| &t.id == id);
    let known_list = || teams.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ");

    let default_team = match file.default_team {
        None => None,
        Some(text_id) => {
            let line = top_level_line(text, "default_team");
            let id = TeamId::parse(&text_id).map_err(|e| error_at(origin, line, format!("default_team: {e}")))?;
            if !known(&id) {
                return Err(error_at(
                    origin,
                    line,
                    format!(
                        "default_team \"{id}\" is not a team; define it under teams: (known: {})",
                        known_list()
                    ),
                ));
            }
            Some(id)
        }
    };

    let rule_lines = item_lines(text, "rules", file.rules.len());
    let mut rules: Vec<OwnershipRule> = Vec::with_capacity(file.rules.len());
    let mut by_matcher: HashMap<String, usize> = HashMap::new();
    for (i, entry) in file.rules.into_iter().enumerate() {
        let line = rule_lines.get(i).copied();
        let fail = |message: String| error_at(origin, line, message);
        let id = match entry.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("rules[{i}]"),
        };
        if rules.iter().any(|r| r.id == id) {
            return Err(fail(format!(
                "rule name \"{id}\" is used twice; rule names must be unique"
            )));
        }
        let team = TeamId::parse(&entry.team).map_err(|e| fail(format!("rule \"{id}\": {e}")))?;
        if !known(&team) {
            return Err(fail(format!(
                "rule \"{id}\": unknown team \"{team}\"; define it under teams: (known: {})",
                known_list()
            )));
        }
        let matcher = matcher_from_entry(&entry).map_err(|message| fail(format!("rule \"{id}\": {message}")))?;
        let description = describe(&matcher);
        if let Some(&first) = by_matcher.get(&description) {
            return Err(fail(format!(
                "rules \"{}\" and \"{id}\" both match {description}; ties are ambiguous: remove one of them",
                rules[first].id
            )));
        }
        by_matcher.insert(description, rules.len());
        rules.push(OwnershipRule {
            id,
            team: Some(team),
            matcher,
        });
    }
    Ok(Ownership {
        teams,
        rules,
        default_team,
    })
}

fn team_from_entry(entry: TeamEntry, index: usize) -> Result<Team, String> {
    let id = TeamId::parse(&entry.id).map_err(|e| format!("teams[{index}]: {e}"))?;
    let what = format!("team \"{id}\"");
    let tracker = entry
        .tracker
        .map(|t| tracker_from_entry(t).map_err(|e| format!("{what}: tracker: {e}")))
        .transpose()?;
    if let Some(timezone) = &entry.timezone
        && !is_iana_name(timezone)
    {
        return Err(format!(
            "{what}: timezone {timezone:?} is not an IANA name; use \"UTC\" or Area/Location such as \"Europe/Berlin\""
        ));
    }
    let quiet_hours = match &entry.quiet_hours {
        None => None,
        Some(q) => Some(QuietHours {
            start: parse_hh_mm(&q.start)
                .ok_or_else(|| format!("{what}: quiet_hours.start {:?} is not HH:MM", q.start))?,
            end: parse_hh_mm(&q.end).ok_or_else(|| format!("{what}: quiet_hours.end {:?} is not HH:MM", q.end))?,
        }),
    };
    let non_empty = |items: Vec<String>, field: &str| -> Result<Vec<String>, String> {
        items
            .into_iter()
            .map(|item| {
                let item = item.trim().to_owned();
                if item.is_empty() {
                    Err(format!("{what}: {field} has an empty entry"))
                } else {
                    Ok(item)
                }
            })
            .collect()
    };
    let slack_channel = match entry.slack_channel.map(|c| c.trim().to_owned()) {
        Some(channel) if channel.is_empty() => return Err(format!("{what}: slack_channel is empty")),
        other => other,
    };
    Ok(Team {
        name: entry
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string()),
        tracker,
        slack_channel,
        escalation: non_empty(entry.escalation, "escalation")?,
        timezone: entry.timezone.map(|t| t.trim().to_owned()),
        quiet_hours,
        codeowners: non_empty(entry.codeowners, "codeowners")?,
        assignees: non_empty(entry.assignees, "assignees")?,
        id,
    })
}

fn tracker_from_entry(entry: TrackerEntry) -> Result<Tracker, String> {
    match (entry.jira, entry.github) {
        (Some(project), None) => {
            let project = project.trim().to_owned();
            let mut chars = project.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if valid {
                Ok(Tracker::Jira { project })
            } else {
                Err(format!(
                    "Jira project key {project:?} must be upper-case letters and digits starting with a letter, e.g. PAY"
                ))
            }
        }
        (None, Some(repo)) => {
            let repo = repo.trim().to_owned();
            let part_ok = |p: &str| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            match repo.split_once('/') {
                Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(Tracker::Github { repo }),
                _ => Err(format!(
                    "GitHub repository {repo:?} must be owner/name, e.g. acme/payments"
                )),
            }
        }
        _ => Err("give exactly one of {jira: KEY} or {github: owner/repo}".to_owned()),
    }
}

/// `UTC` or the Area/Location form of the IANA database (`Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`); the zone itself is not looked up.
fn is_iana_name(name: &str) -> bool {
    if name == "UTC" {
        return true;
    }
    let segments: Vec<&str> = name.split('/').collect();
    segments.len() >= 2
        && segments[0].starts_with(|c: char| c.is_ascii_uppercase())
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(hours.parse().ok()?, minutes.parse().ok()?, 0)
}

fn matcher_from_entry(entry: &RuleEntry) -> Result<Matcher, String> {
    let trimmed = |field: &Option<String>| field.as_deref().map(str::trim).map(str::to_owned);
    let (asset, asset_glob, path, tag) = (
        trimmed(&entry.asset),
        trimmed(&entry.asset_glob),
        trimmed(&entry.path),
        trimmed(&entry.tag),
    );
    match (asset, asset_glob, path, tag) {
        (Some(_), Some(_), Some(_), _) => {
            Err("give `asset` (exact key or glob) or `asset_glob` with `path`, not both".to_owned())
        }
        (asset, asset_glob, Some(path), None) => {
            let scope = asset.or(asset_glob);
            if let Some(scope) = &scope {
                if is_glob(scope) {
                    compile_glob(scope)?;
                } else {
                    AssetKey::parse(scope).map_err(|e| e.to_string())?;
                }
            }
            let glob = path.trim_start_matches('/').to_owned();
            compile_glob(&glob)?;
            Ok(Matcher::Path { asset: scope, glob })
        }
        (Some(asset), None, None, None) => {
            if is_glob(&asset) {
                return Err(format!(
                    "asset {asset:?} contains glob characters; use `asset_glob:` for patterns"
                ));
            }
            let key = AssetKey::parse(&asset).map_err(|e| e.to_string())?;
            Ok(Matcher::Asset { key })
        }
        (None, Some(glob), None, None) => {
            compile_glob(&glob)?;
            Ok(Matcher::AssetGlob { glob })
        }
        (None, None, None, Some(tag)) if !tag.is_empty() => Ok(Matcher::Tag { tag }),
        (None, None, None, Some(_)) => Err("tag is empty".to_owned()),
        _ => Err(
            "give exactly one of `asset`, `asset_glob`, `tag` or `path` (`path` may be combined with `asset` \
                  or `asset_glob`)"
                .to_owned(),
        ),
    }
}

/// Human-readable matcher, also the key for spotting two rules with the same matcher.
fn describe(matcher: &Matcher) -> String {
    match matcher {
        Matcher::Asset { key } => format!("asset {key}"),
        Matcher::AssetGlob { glob } => format!("asset glob {glob}"),
        Matcher::Path {
            asset: Some(asset),
            glob,
        } => format!("path {glob} in {asset}"),
        Matcher::Path { asset: None, glob } => format!("path {glob}"),
        Matcher::Tag { tag } => format!("tag {tag}"),
        Matcher::Codeowners { repo, pattern, line } => format!("CODEOWNERS line {line} ({pattern}) of {repo}"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnersFile {
    #[serde(default)]
    default_team: Option<String>,
    #[serde(default)]
    teams: Vec<TeamEntry>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamEntry {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tracker: Option<TrackerEntry>,
    #[serde(default)]
    slack_channel: Option<String>,
    #[serde(default)]
    escalation: Vec<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    quiet_hours: Option<QuietHoursEntry>,
    #[serde(default)]
    codeowners: Vec<String>,
    #[serde(default)]
    assignees: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackerEntry {
    #[serde(default)]
    jira: Option<String>,
    #[serde(default)]
    github: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietHoursEntry {
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    #[serde(default)]
    name: Option<String>,
    team: String,
    #[serde(default)]
    asset: Option<String>,
    #[serde(default)]
    asset_glob: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

/// Parses one repository's CODEOWNERS file into rules, one per pattern line, id
/// `"{origin}:{line}"`. Owners map to teams by a team's `codeowners:` handles
/// (case-insensitive), else `@org/<team-id>` or `@<team-id>`; an owner that maps to no team is
/// an error. When a line's owners are several teams, the first owner's team owns the line
/// (tickets need one owner; put the accountable team first). A line without owners yields an
/// unowned rule (`team: None`). Negation (`!`) and character ranges (`[ ]`) are refused: GitHub
/// does not support them either, and silently reading them differently would misroute.
pub fn parse_codeowners(
    text: &str,
    origin: &str,
    repo: &AssetKey,
    teams: &[Team],
) -> Result<Vec<OwnershipRule>, ImportError> {
    let mut rules = Vec::new();
    for (index, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = index + 1;
        let mut tokens = strip_comment(raw).split_whitespace();
        let Some(pattern) = tokens.next() else {
            continue;
        };
        codeowners_globs(pattern).map_err(|message| ImportError::at_line(origin, line, message))?;
        let mut team = None;
        for owner in tokens {
            let owner_team = team_of_handle(owner, teams)
                .ok_or_else(|| ImportError::at_line(origin, line, unmapped_owner_message(owner)))?;
            team.get_or_insert(owner_team);
        }
        rules.push(OwnershipRule {
            id: format!("{origin}:{line}"),
            team,
            matcher: Matcher::Codeowners {
                repo: repo.clone(),
                pattern: pattern.to_owned(),
                line,
            },
        });
    }
    Ok(rules)
}

/// The line up to a `#` that starts it or follows whitespace (owners never start with `#`).
fn strip_comment(line: &str) -> &str {
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if c == '#' && previous.is_whitespace() {
            return &line[..at];
        }
        previous = c;
    }
    line
}

fn team_of_handle(handle: &str, teams: &[Team]) -> Option<TeamId> {
    if let Some(team) = teams
        .iter()
        .find(|t| t.codeowners.iter().any(|h| h.eq_ignore_ascii_case(handle)))
    {
        return Some(team.id.clone());
    }
    let name = handle.strip_prefix('@')?;
    let name = match name.split_once('/') {
        Some((_org, team)) => team,
        None => name,
    };
    teams
        .iter()
        .find(|t| t.id.as_str().eq_ignore_ascii_case(name))
        .map(|t| t.id.clone())
}

fn unmapped_owner_message(owner: &str) -> String {
    let mut message = format!(
        "owner \"{owner}\" maps to no team: add \"{owner}\" to the `codeowners:` list of the team that owns it in \
         the owners file"
    );
    if let Some(name) = owner.strip_prefix('@') {
        let name = name.split_once('/').map_or(name, |(_, team)| team);
        message.push_str(&format!(", or define a team with id \"{name}\""));
    }
    message
}

/// Globs (globset syntax, `literal_separator`) equivalent to one CODEOWNERS pattern:
/// a leading `/` or an inner `/` anchors at the root, otherwise the pattern matches at any
/// depth; a trailing `/` matches only what is beneath the directory; any other pattern matches
/// the path itself and everything beneath it, except that a last segment of exactly `*`
/// (`docs/*`) matches direct children only, as GitHub documents.
fn codeowners_globs(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.starts_with('!') {
        return Err(format!(
            "pattern {pattern:?}: negation (`!`) is not supported by GitHub CODEOWNERS; give the files to the \
             right owner with a later, more specific line instead"
        ));
    }
    if pattern.contains(['[', ']']) {
        return Err(format!(
            "pattern {pattern:?}: character ranges (`[ ]`) are not supported by GitHub CODEOWNERS; list the \
             paths separately"
        ));
    }
    let directory_only = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let anchored = trimmed.contains('/');
    let body = trimmed.trim_start_matches('/');
    if body.is_empty() {
        return Ok(vec!["**".to_owned()]);
    }
    // Braces and backslashes are literal in CODEOWNERS but special in globset.
    let mut escaped = String::with_capacity(body.len());
    for c in body.chars() {
        if matches!(c, '{' | '}' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    let base = if anchored || escaped.starts_with("**") {
        escaped
    } else {
        format!("**/{escaped}")
    };
    let last_segment = body.rsplit('/').next().unwrap_or(body);
    let mut globs = Vec::with_capacity(2);
    if !directory_only {
        globs.push(base.clone());
    }
    if directory_only || last_segment != "*" {
        globs.push(format!("{base}/**"));
    }
    for glob in &globs {
        compile_glob(glob).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
    }
    Ok(globs)
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// Compiles a glob where `*` stays within one path segment and `**` crosses segments.
fn compile_glob(glob: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {glob:?}: {}", e.kind()))
}

/// Characters of a glob outside wildcards and classes: the measure of "more specific".
fn literal_chars(glob: &str) -> usize {
    let mut count = 0;
    let mut depth = 0usize;
    let mut escaped = false;
    for c in glob.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                count += 1;
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            '*' | '?' => {}
            _ if depth == 0 => count += 1,
            _ => {}
        }
    }
    count
}

/// All ownership rules compiled once: routing is matching, never parsing.
#[derive(Debug, Clone)]
pub struct Router {
    rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    id: String,
    team: Option<TeamId>,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Codeowners {
        repo: AssetKey,
        globs: Vec<GlobMatcher>,
    },
    Asset {
        key: AssetKey,
    },
    Path {
        asset: Scope,
        glob: GlobMatcher,
        literals: usize,
    },
    AssetGlob {
        glob: GlobMatcher,
        literals: usize,
    },
    Tag {
        tag: String,
    },
}

/// Which assets a path rule applies to.
#[derive(Debug, Clone)]
enum Scope {
    Any,
    Exact(AssetKey),
    Glob(GlobMatcher, usize),
}

/// Precedence classes of the module docs, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Codeowners,
    PathInAsset,
    Asset,
    PathInGlob,
    AssetGlob,
    Tag,
}

/// One rule that matches a place, with what ranks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    class: Class,
    /// Higher is more specific; compared only within a class.
    specificity: (usize, usize),
    index: usize,
}

impl Candidate {
    fn rank(&self) -> (Class, Reverse<(usize, usize)>, usize) {
        (self.class, Reverse(self.specificity), self.index)
    }
}

impl Router {
    /// Compiles every rule's globs once. Fails only on a glob or CODEOWNERS pattern that does
    /// not compile, which [`parse_owners_yaml`] and [`parse_codeowners`] already refuse.
    pub fn new(ownership: &Ownership) -> Result<Router, ImportError> {
        let rules = ownership
            .rules
            .iter()
            .map(|rule| {
                let fail = |message: String| ImportError::new(RULES_ORIGIN, format!("rule \"{}\": {message}", rule.id));
                let test = match &rule.matcher {
                    Matcher::Asset { key } => Test::Asset { key: key.clone() },
                    Matcher::AssetGlob { glob } => Test::AssetGlob {
                        glob: compile_glob(glob).map_err(fail)?,
                        literals: literal_chars(glob),
                    },
                    Matcher::Path { asset, glob } => {
                        let glob = glob.trim_start_matches('/');
                        let asset = match asset {
                            None => Scope::Any,
                            Some(asset) if is_glob(asset) => {
                                Scope::Glob(compile_glob(asset).map_err(fail)?, literal_chars(asset))
                            }
                            Some(asset) => Scope::Exact(AssetKey::parse(asset).map_err(|e| fail(e.to_string()))?),
                        };
                        Test::Path {
                            asset,
                            glob: compile_glob(glob).map_err(fail)?,
                            literals: literal_chars(glob),
                        }
                    }
                    Matcher::Tag { tag } => Test::Tag { tag: tag.clone() },
                    Matcher::Codeowners { repo, pattern, .. } => Test::Codeowners {
                        repo: repo.clone(),
                        globs: codeowners_globs(pattern)
                            .map_err(&fail)?
                            .iter()
                            .map(|g| compile_glob(g))
                            .collect::<Result<_, _>>()
                            .map_err(fail)?,
                    },
                };
                Ok(CompiledRule {
                    id: rule.id.clone(),
                    team: rule.team.clone(),
                    test,
                })
            })
            .collect::<Result<_, ImportError>>()?;
        Ok(Router { rules })
    }

    /// The team of the most specific matching rule, or `None` when no rule claims the place
    /// (the caller then applies the default team). Equally specific rules resolve to the
    /// earlier one; [`Router::check_ties`] makes that case an import error.
    pub fn route(&self, place: Place<'_>) -> Option<RouteMatch> {
        let best = self.candidates(place).into_iter().min_by_key(Candidate::rank)?;
        let rule = &self.rules[best.index];
        Some(RouteMatch {
            team: rule.team.clone()?,
            rule: rule.id.clone(),
        })
    }

    /// Refuses rule sets where two equally specific rules of different teams both win for one
    /// of the given places (run at import over every known asset and path), so routing never
    /// depends on rule order.
    pub fn check_ties(&self, places: &[Place<'_>]) -> Result<(), ImportError> {
        for place in places {
            let mut candidates = self.candidates(*place);
            candidates.sort_by_key(Candidate::rank);
            let Some(best) = candidates.first() else {
                continue;
            };
            let tied = candidates
                .iter()
                .skip(1)
                .take_while(|c| c.class == best.class && c.specificity == best.specificity)
                .find(|c| self.rules[c.index].team != self.rules[best.index].team);
            if let Some(other) = tied {
                let path = place.path.map(|p| format!(" path {p}")).unwrap_or_default();
                return Err(ImportError::new(
                    RULES_ORIGIN,
                    format!(
                        "rules \"{}\" and \"{}\" are equally specific for {}{path}: make one more specific \
                         (a longer literal path or asset) or give both the same team",
                        self.rules[best.index].id, self.rules[other.index].id, place.asset
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every owned rule that matches the place; CODEOWNERS contributes at most its last
    /// matching line, and nothing when that line is unowned.
    fn candidates(&self, place: Place<'_>) -> Vec<Candidate> {
        let asset = place.asset;
        let mut found = Vec::new();
        if let Some(path) = place.path {
            let last_line = self.rules.iter().enumerate().rev().find(|(_, rule)| match &rule.test {
                Test::Codeowners { repo, globs } => asset_is(asset, repo) && globs.iter().any(|g| g.is_match(path)),
                _ => false,
            });
            if let Some((index, rule)) = last_line
                && rule.team.is_some()
            {
                found.push(Candidate {
                    class: Class::Codeowners,
                    specificity: (0, 0),
                    index,
                });
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.team.is_none() {
                continue;
            }
            let hit = match &rule.test {
                Test::Codeowners { .. } => None,
                Test::Asset { key } => asset_is(asset, key).then_some((Class::Asset, (key.as_str().len(), 0))),
                Test::Path {
                    asset: scope,
                    glob,
                    literals,
                } => match (place.path, scope) {
                    (Some(path), _) if !glob.is_match(path) => None,
                    (None, _) => None,
                    (Some(_), Scope::Any) => Some((Class::PathInGlob, (*literals, 0))),
                    (Some(_), Scope::Glob(scope, scope_literals)) => {
                        glob_matches_asset(scope, asset).then_some((Class::PathInGlob, (*literals, *scope_literals)))
                    }
                    (Some(_), Scope::Exact(key)) => {
                        asset_is(asset, key).then_some((Class::PathInAsset, (*literals, key.as_str().len())))
                    }
                },
                Test::AssetGlob { glob, literals } => {
                    glob_matches_asset(glob, asset).then_some((Class::AssetGlob, (*literals, 0)))
                }
                Test::Tag { tag } => place
                    .tags
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(tag))
                    .then_some((Class::Tag, (0, 0))),
            };
            if let Some((class, specificity)) = hit {
                found.push(Candidate {
                    class,
                    specificity,
                    index,
                });
            }
        }
        found
    }
}

/// The place's asset is `key`, or is `key` with an image tag or digest.
fn asset_is(asset: &AssetKey, key: &AssetKey) -> bool {
    asset == key || image_name(asset.as_str()) == Some(key.as_str())
}

fn glob_matches_asset(glob: &GlobMatcher, asset: &AssetKey) -> bool {
    glob.is_match(asset.as_str()) || image_name(asset.as_str()).is_some_and(|name| glob.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::{AssetGraph, parse_assets_yaml};

    fn key(text: &str) -> AssetKey {
        AssetKey::parse(text).unwrap()
    }

    fn team(id: &str, handles: &[&str]) -> Team {
        Team {
            id: TeamId::parse(id).unwrap(),
            name: id.to_owned(),
            tracker: None,
            slack_channel: None,
            escalation: vec![],
            timezone: None,
            quiet_hours: None,
            codeowners: handles.iter().map(|h| (*h).to_owned()).collect(),
            assignees: vec![],
        }
    }

    fn rule(id: &str, team: &str, matcher: Matcher) -> OwnershipRule {
        OwnershipRule {
            id: id.to_owned(),
            team: Some(TeamId::parse(team).unwrap()),
            matcher,
        }
    }

    fn router(rules: Vec<OwnershipRule>) -> Router {
        Router::new(&Ownership {
            teams: vec![],
            rules,
            default_team: None,
        })
        .unwrap()
    }

    /// The winning rule id for an asset, path and tags.
    fn winner(router: &Router, asset: &str, path: Option<&str>, tags: &[&str]) -> Option<String> {
        let asset = key(asset);
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        router
            .route(Place {
                asset: &asset,
                path,
                tags: &tags,
            })
            .map(|m| m.rule)
    }

    const TEAMS: &str = "\
teams:
  - id: payments
  - id: platform
  - id: data
";

    fn owners(rules: &str) -> Result<Ownership, ImportError> {
        parse_owners_yaml(&format!("{TEAMS}rules:\n{rules}"), "owners.yaml")
    }

    // --- owners file ---

    #[test]
    fn full_owners_file_is_parsed_into_teams_and_rules() {
        // GIVEN
        let text = r##"
default_team: security-triage
teams:
  - id: payments
    name: Payments
    tracker: { jira: PAY }
    slack_channel: "#payments-sec"
    escalation: [U0OWNER, U0LEAD, U0SECLEAD]
    timezone: Europe/Berlin
    quiet_hours: { start: 20:00, end: "08:00" }
    codeowners: ["@acme/payments"]
  - id: platform
    tracker: { github: acme/platform }
  - id: security-triage
rules:
  - name: shop-api
    team: payments
    asset: github.com/acme/shop-api
  - team: platform
    asset_glob: "ghcr.io/acme/*"
  - team: payments
    path: "/services/payments/**"
    asset: "github.com/acme/*"
  - team: platform
    tag: pii
"##;
        // WHEN
        let ownership = parse_owners_yaml(text, "owners.yaml").unwrap();
        // THEN
        assert_eq!(ownership.default_team, Some(TeamId::parse("security-triage").unwrap()));
        let payments = &ownership.teams[0];
        assert_eq!(payments.name, "Payments");
        assert_eq!(payments.tracker, Some(Tracker::Jira { project: "PAY".into() }));
        assert_eq!(payments.slack_channel.as_deref(), Some("#payments-sec"));
        assert_eq!(payments.escalation, ["U0OWNER", "U0LEAD", "U0SECLEAD"]);
        assert_eq!(payments.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            payments.quiet_hours,
            Some(QuietHours {
                start: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            })
        );
        assert_eq!(payments.codeowners, ["@acme/payments"]);
        assert_eq!(ownership.teams[1].name, "platform", "name defaults to the id");
        assert_eq!(
            ownership.teams[1].tracker,
            Some(Tracker::Github {
                repo: "acme/platform".into()
            })
        );
        let ids: Vec<&str> = ownership.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["shop-api", "rules[1]", "rules[2]", "rules[3]"]);
        let matchers: Vec<&Matcher> = ownership.rules.iter().map(|r| &r.matcher).collect();
        assert_eq!(
            matchers,
            [
                &Matcher::Asset {
                    key: key("github.com/acme/shop-api")
                },
                &Matcher::AssetGlob {
                    glob: "ghcr.io/acme/*".into()
                },
                &Matcher::Path {
                    asset: Some("github.com/acme/*".into()),
                    glob: "services/payments/**".into()
                },
                &Matcher::Tag { tag: "pii".into() },
            ]
        );
    }

    #[test]
    fn yaml_syntax_error_carries_line_and_column() {
        let err = parse_owners_yaml("teams:\n  - id: payments\n    name: [unclosed\n", "owners.yaml").unwrap_err();
        assert_eq!(err.origin, "owners.yaml");
        assert!(err.line.is_some_and(|l| l >= 3), "{err:?}");
        assert!(err.column.is_some(), "{err:?}");
    }

    #[test]
    fn unknown_field_is_refused_at_its_line() {
        let err = owners("  - team: payments\n    assett: github.com/acme/x\n").unwrap_err();
        assert!(err.message.contains("assett"), "{err}");
        assert_eq!(err.line, Some(7));
        let err = parse_owners_yaml("teams:\n  - id: a\n    tracker: { jira: A, linear: B }\n", "o").unwrap_err();
        assert!(err.message.contains("linear"), "{err}");
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn duplicate_team_id_is_refused_at_the_second_definition() {
        let err = parse_owners_yaml("teams:\n  - id: payments\n  - id: web\n  - id: payments\n", "o").unwrap_err();
        assert!(err.message.contains("\"payments\" is defined twice"), "{err}");
        assert!(err.message.contains("teams[0] and teams[2]"), "{err}");
        assert_eq!(err.line, Some(4));
    }

    #[test]
    fn invalid_team_id_is_refused() {
        let err = parse_owners_yaml("teams:\n  - id: pay ments\n", "o").unwrap_err();
        assert!(
            err.message.contains("teams[0]") && err.message.contains("team id"),
            "{err}"
        );
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn rule_naming_an_unknown_team_is_refused() {
        let err = owners("  - name: api\n    team: payment\n    asset: github.com/acme/api\n").unwrap_err();
        assert!(err.message.contains("rule \"api\": unknown team \"payment\""), "{err}");
        assert!(err.message.contains("known: payments, platform, data"), "{err}");
        assert_eq!(err.line, Some(6));
    }

    #[test]
    fn unknown_default_team_is_refused() {
        let err = parse_owners_yaml("teams:\n  - id: payments\ndefault_team: triage\n", "o").unwrap_err();
        assert!(err.message.contains("default_team \"triage\""), "{err}");
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn invalid_globs_are_refused() {
        let err = owners("  - team: platform\n    asset_glob: \"ghcr.io/[acme\"\n").unwrap_err();
        assert!(
            err.message.contains("rules[0]") && err.message.contains("invalid glob"),
            "{err}"
        );
        let err = owners("  - team: platform\n    path: \"src/{a,b\"\n").unwrap_err();
        assert!(err.message.contains("invalid glob"), "{err}");
    }

    #[test]
    fn timezone_must_look_like_an_iana_name() {
        for good in ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            let text = format!("teams:\n  - id: a\n    timezone: {good}\n");
            assert!(parse_owners_yaml(&text, "o").is_ok(), "{good}");
        }
        for bad in ["Berlin", "CET+1", "europe/berlin", "Europe/", "Europe/Ber lin"] {
            let text = format!("teams:\n  - id: a\n    timezone: \"{bad}\"\n");
            let err = parse_owners_yaml(&text, "o").unwrap_err();
            assert!(err.message.contains("team \"a\": timezone"), "{bad}: {err}");
        }
    }

    #[test]
    fn quiet_hours_must_be_hh_mm() {
        for bad in ["8pm", "25:00", "20:0", "2000"] {
            let text = format!("teams:\n  - id: a\n    quiet_hours: {{ start: \"{bad}\", end: \"08:00\" }}\n");
            let err = parse_owners_yaml(&text, "o").unwrap_err();
            assert!(err.message.contains("quiet_hours.start"), "{bad}: {err}");
            assert_eq!(err.line, Some(2));
        }
    }

    #[test]
    fn trackers_are_validated() {
        for bad in [
            "{ jira: pay }",
            "{ jira: 1PAY }",
            "{ github: payments }",
            "{ github: acme/pay/ments }",
            "{ jira: PAY, github: acme/payments }",
            "{}",
        ] {
            let text = format!("teams:\n  - id: a\n    tracker: {bad}\n");
            let err = parse_owners_yaml(&text, "o").unwrap_err();
            assert!(err.message.contains("team \"a\": tracker"), "{bad}: {err}");
        }
        let ok = parse_owners_yaml("teams:\n  - id: a\n    tracker: { jira: PAY2 }\n", "o").unwrap();
        assert_eq!(ok.teams[0].tracker, Some(Tracker::Jira { project: "PAY2".into() }));
    }

    #[test]
    fn rule_needs_exactly_one_matcher() {
        for bad in [
            "  - team: data\n",
            "  - team: data\n    asset: github.com/acme/x\n    tag: pii\n",
            "  - team: data\n    asset_glob: 'github.com/*'\n    tag: pii\n",
            "  - team: data\n    path: 'a/**'\n    tag: pii\n",
            "  - team: data\n    path: 'a/**'\n    asset: a\n    asset_glob: 'b*'\n",
        ] {
            let err = owners(bad).unwrap_err();
            assert!(err.message.starts_with("rule \"rules[0]\""), "{bad}: {err}");
        }
        let err = owners("  - team: data\n    asset: 'github.com/acme/*'\n").unwrap_err();
        assert!(err.message.contains("use `asset_glob:`"), "{err}");
    }

    #[test]
    fn two_rules_with_the_same_matcher_are_ambiguous() {
        let err = owners(
            "  - name: first\n    team: payments\n    asset: github.com/acme/x\n  - team: platform\n    tag: pii\n  \
             - team: payments\n    asset: github.com/acme/x\n",
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("rules \"first\" and \"rules[2]\" both match asset github.com/acme/x"),
            "{err}"
        );
        assert!(err.message.contains("ties are ambiguous"), "{err}");
        assert_eq!(err.line, Some(11));
        let err = owners("  - team: payments\n    path: 'a/**'\n  - team: data\n    path: '/a/**'\n").unwrap_err();
        assert!(err.message.contains("both match path a/**"), "{err}");
        assert!(
            owners("  - team: payments\n    path: 'a/**'\n    asset: x\n  - team: data\n    path: 'a/**'\n").is_ok()
        );
    }

    #[test]
    fn codeowners_handle_claimed_by_two_teams_is_refused() {
        let text = "teams:\n  - id: a\n    codeowners: ['@acme/x']\n  - id: b\n    codeowners: ['@ACME/X']\n";
        let err = parse_owners_yaml(text, "o").unwrap_err();
        assert!(err.message.contains("listed by teams \"a\" and \"b\""), "{err}");
    }

    // --- CODEOWNERS parsing ---

    fn teams() -> Vec<Team> {
        vec![
            team("payments", &["@acme/payments-devs", "alice@acme.example"]),
            team("platform", &[]),
            team("web", &[]),
        ]
    }

    fn codeowners(text: &str) -> Result<Vec<OwnershipRule>, ImportError> {
        parse_codeowners(text, "CODEOWNERS", &key("github.com/acme/shop"), &teams())
    }

    fn owner_of(rules: &[OwnershipRule], line: usize) -> Option<&str> {
        let rule = rules.iter().find(|r| r.id == format!("CODEOWNERS:{line}")).unwrap();
        rule.team.as_ref().map(TeamId::as_str)
    }

    #[test]
    fn codeowners_owners_map_to_teams() {
        // GIVEN
        let text = "\
# comment line

*            @acme/platform
/pay/        @ACME/Payments-Devs   # handle from the team's codeowners list, any case
/mail/       alice@acme.example
/web/        @web
/checkout/   @acme/payments @acme/web
/docs/
";
        // WHEN
        let rules = codeowners(text).unwrap();
        // THEN
        assert_eq!(rules.len(), 6, "comments and blank lines yield no rules");
        assert_eq!(owner_of(&rules, 3), Some("platform"), "@org/<team-id>");
        assert_eq!(owner_of(&rules, 4), Some("payments"));
        assert_eq!(owner_of(&rules, 5), Some("payments"));
        assert_eq!(owner_of(&rules, 6), Some("web"), "@<team-id>");
        assert_eq!(owner_of(&rules, 7), Some("payments"), "first owner's team");
        assert_eq!(owner_of(&rules, 8), None, "no owners: explicitly unowned");
        assert_eq!(
            rules[1].matcher,
            Matcher::Codeowners {
                repo: key("github.com/acme/shop"),
                pattern: "/pay/".into(),
                line: 4
            }
        );
    }

    #[test]
    fn codeowners_owner_without_team_is_an_error_at_its_line() {
        let err = codeowners("* @acme/platform\n\n/x/ @acme/platform @acme/mobile\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("\"@acme/mobile\" maps to no team"), "{err}");
        assert!(err.message.contains("codeowners:"), "{err}");
        assert!(err.message.contains("team with id \"mobile\""), "{err}");
    }

    #[test]
    fn codeowners_negation_and_ranges_are_refused() {
        let err = codeowners("*.js @web\n!vendor.js @web\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("negation"), "{err}");
        let err = codeowners("*.[ch] @web\n").unwrap_err();
        assert!(err.message.contains("character ranges"), "{err}");
    }

    // --- CODEOWNERS matching ---

    fn codeowners_router(text: &str) -> Router {
        router(codeowners(text).unwrap())
    }

    fn code_owner(router: &Router, path: &str) -> Option<String> {
        let asset = key("github.com/acme/shop");
        router
            .route(Place {
                asset: &asset,
                path: Some(path),
                tags: &[],
            })
            .map(|m| m.team.to_string())
    }

    #[test]
    fn last_matching_codeowners_line_wins() {
        let router = codeowners_router("* @acme/platform\n/services/payments/ @acme/payments\n");
        assert_eq!(
            code_owner(&router, "services/payments/api/charge.rs").as_deref(),
            Some("payments")
        );
        assert_eq!(
            code_owner(&router, "services/search/main.rs").as_deref(),
            Some("platform")
        );
        // Reversed order: the catch-all comes last and wins everywhere.
        let router = codeowners_router("/services/payments/ @acme/payments\n* @acme/platform\n");
        assert_eq!(
            code_owner(&router, "services/payments/api/charge.rs").as_deref(),
            Some("platform")
        );
    }

    #[test]
    fn anchored_patterns_match_at_the_root_only() {
        let router = codeowners_router("/build/ @web\nsrc/app @platform\nlogs/ @payments\n");
        assert_eq!(code_owner(&router, "build/x.js").as_deref(), Some("web"));
        assert_eq!(code_owner(&router, "app/build/x.js"), None, "leading / anchors");
        assert_eq!(code_owner(&router, "src/app/main.rs").as_deref(), Some("platform"));
        assert_eq!(code_owner(&router, "lib/src/app/main.rs"), None, "inner / anchors");
        assert_eq!(code_owner(&router, "logs/a.log").as_deref(), Some("payments"));
        assert_eq!(
            code_owner(&router, "deep/nested/logs/a.log").as_deref(),
            Some("payments"),
            "unanchored"
        );
    }

    #[test]
    fn directory_patterns_match_everything_beneath() {
        let router = codeowners_router("docs @web\n/api/ @payments\n/conf/* @platform\n");
        assert_eq!(code_owner(&router, "docs/a/b.md").as_deref(), Some("web"));
        assert_eq!(code_owner(&router, "x/docs/a.md").as_deref(), Some("web"));
        assert_eq!(code_owner(&router, "docs").as_deref(), Some("web"), "a file named docs");
        assert_eq!(code_owner(&router, "api/v1/x.rs").as_deref(), Some("payments"));
        assert_eq!(code_owner(&router, "api"), None, "trailing / matches beneath only");
        assert_eq!(code_owner(&router, "conf/a.yaml").as_deref(), Some("platform"));
        assert_eq!(
            code_owner(&router, "conf/sub/a.yaml"),
            None,
            "/* matches direct children only"
        );
    }

    #[test]
    fn single_star_stays_in_a_segment_and_double_star_crosses() {
        let router = codeowners_router("/src/*.rs @web\n/lib/**/*.rs @payments\n*.tf @platform\n");
        assert_eq!(code_owner(&router, "src/main.rs").as_deref(), Some("web"));
        assert_eq!(code_owner(&router, "src/bin/main.rs"), None);
        assert_eq!(code_owner(&router, "lib/a.rs").as_deref(), Some("payments"));
        assert_eq!(code_owner(&router, "lib/a/b/c.rs").as_deref(), Some("payments"));
        assert_eq!(code_owner(&router, "infra/prod/main.tf").as_deref(), Some("platform"));
    }

    #[test]
    fn unowned_codeowners_line_falls_through_to_other_rules() {
        // GIVEN CODEOWNERS gives docs/ to nobody, and the owners file has a repo rule
        let mut rules = codeowners("* @acme/platform\n/docs/\n").unwrap();
        rules.push(rule(
            "shop-repo",
            "web",
            Matcher::Asset {
                key: key("github.com/acme/shop"),
            },
        ));
        let router = router(rules);
        // THEN
        assert_eq!(
            winner(&router, "github.com/acme/shop", Some("docs/a.md"), &[]).as_deref(),
            Some("shop-repo")
        );
        assert_eq!(
            winner(&router, "github.com/acme/shop", Some("src/a.rs"), &[]).as_deref(),
            Some("CODEOWNERS:1")
        );
    }

    #[test]
    fn codeowners_apply_to_their_repository_only() {
        let router = codeowners_router("* @acme/platform\n");
        assert_eq!(winner(&router, "github.com/acme/other", Some("a.rs"), &[]), None);
        assert_eq!(winner(&router, "github.com/acme/shop", None, &[]), None, "needs a path");
    }

    // --- precedence ---

    /// One matching rule per class, most specific first.
    fn one_rule_per_class() -> Vec<OwnershipRule> {
        let mut rules = vec![
            rule(
                "path-in-asset",
                "t2",
                Matcher::Path {
                    asset: Some("github.com/acme/shop".into()),
                    glob: "src/**".into(),
                },
            ),
            rule(
                "asset",
                "t3",
                Matcher::Asset {
                    key: key("github.com/acme/shop"),
                },
            ),
            rule(
                "path-in-glob",
                "t4",
                Matcher::Path {
                    asset: Some("github.com/acme/*".into()),
                    glob: "src/**".into(),
                },
            ),
            rule(
                "asset-glob",
                "t5",
                Matcher::AssetGlob {
                    glob: "github.com/acme/*".into(),
                },
            ),
            rule("tag", "t6", Matcher::Tag { tag: "pci".into() }),
        ];
        let mut codeowners = parse_codeowners(
            "* @t1\n",
            "CODEOWNERS",
            &key("github.com/acme/shop"),
            &[team("t1", &[])],
        )
        .unwrap();
        codeowners.append(&mut rules);
        codeowners
    }

    #[test]
    fn each_class_beats_the_next() {
        let expected = [
            "CODEOWNERS:1",
            "path-in-asset",
            "asset",
            "path-in-glob",
            "asset-glob",
            "tag",
        ];
        for (skip, expected) in expected.into_iter().enumerate() {
            // GIVEN every rule from class `skip` on, in reverse file order so order cannot help
            let mut rules: Vec<OwnershipRule> = one_rule_per_class().into_iter().skip(skip).collect();
            rules.reverse();
            let router = router(rules);
            // THEN the most specific remaining class wins
            assert_eq!(
                winner(&router, "github.com/acme/shop", Some("src/a.rs"), &["PCI"]).as_deref(),
                Some(expected),
                "with classes {skip}.. present"
            );
        }
    }

    #[test]
    fn path_rules_need_a_path() {
        let exact = router(one_rule_per_class().into_iter().skip(1).collect());
        assert_eq!(
            winner(&exact, "github.com/acme/shop", None, &[]).as_deref(),
            Some("asset")
        );
        let globs = router(one_rule_per_class().into_iter().skip(3).collect());
        assert_eq!(
            winner(&globs, "github.com/acme/shop", None, &[]).as_deref(),
            Some("asset-glob")
        );
        assert_eq!(
            winner(&globs, "github.com/acme/shop", Some("docs/a.md"), &[]).as_deref(),
            Some("asset-glob")
        );
    }

    #[test]
    fn more_literal_glob_wins_within_a_class() {
        let router = router(vec![
            rule(
                "broad",
                "a",
                Matcher::AssetGlob {
                    glob: "github.com/**".into(),
                },
            ),
            rule(
                "narrow",
                "b",
                Matcher::AssetGlob {
                    glob: "github.com/acme/pay-*".into(),
                },
            ),
            rule(
                "any-src",
                "a",
                Matcher::Path {
                    asset: None,
                    glob: "**/*.rs".into(),
                },
            ),
            rule(
                "pay-src",
                "b",
                Matcher::Path {
                    asset: None,
                    glob: "services/pay/**".into(),
                },
            ),
            rule(
                "pay-src-in-acme",
                "c",
                Matcher::Path {
                    asset: Some("github.com/acme/*".into()),
                    glob: "services/pay/**".into(),
                },
            ),
        ]);
        assert_eq!(
            winner(&router, "github.com/acme/pay-api", None, &[]).as_deref(),
            Some("narrow")
        );
        assert_eq!(
            winner(&router, "github.com/other/x", None, &[]).as_deref(),
            Some("broad")
        );
        assert_eq!(
            winner(&router, "gitlab.com/x/y", Some("services/pay/a.rs"), &[]).as_deref(),
            Some("pay-src")
        );
        assert_eq!(
            winner(&router, "github.com/acme/y", Some("services/pay/a.rs"), &[]).as_deref(),
            Some("pay-src-in-acme"),
            "same path, asset glob adds specificity"
        );
        assert_eq!(
            winner(&router, "gitlab.com/x/y", Some("lib/a.rs"), &[]).as_deref(),
            Some("any-src")
        );
    }

    #[test]
    fn image_rule_matches_tagged_and_digested_keys() {
        let router = router(vec![
            rule(
                "api",
                "a",
                Matcher::Asset {
                    key: key("ghcr.io/acme/api"),
                },
            ),
            rule(
                "api-1",
                "b",
                Matcher::Asset {
                    key: key("ghcr.io/acme/api:1"),
                },
            ),
            rule(
                "local",
                "c",
                Matcher::Asset {
                    key: key("reg.acme.example:5000/api"),
                },
            ),
        ]);
        assert_eq!(
            winner(&router, "ghcr.io/acme/api:2.0", None, &[]).as_deref(),
            Some("api")
        );
        assert_eq!(
            winner(&router, "ghcr.io/acme/api@sha256:abc123", None, &[]).as_deref(),
            Some("api")
        );
        assert_eq!(
            winner(&router, "ghcr.io/acme/api:1", None, &[]).as_deref(),
            Some("api-1"),
            "exact beats stripped"
        );
        assert_eq!(
            winner(&router, "reg.acme.example:5000/api:3", None, &[]).as_deref(),
            Some("local")
        );
        assert_eq!(winner(&router, "ghcr.io/acme/api-worker:2", None, &[]), None);
        assert_eq!(winner(&router, "reg.acme.example/api", None, &[]), None);
    }

    #[test]
    fn nothing_matching_routes_to_none() {
        let router = router(one_rule_per_class());
        assert_eq!(
            winner(&router, "gitlab.com/acme/shop", Some("src/a.rs"), &["pii"]),
            None
        );
    }

    // --- ties ---

    fn place<'a>(asset: &'a AssetKey, path: Option<&'a str>) -> Place<'a> {
        Place { asset, path, tags: &[] }
    }

    #[test]
    fn equally_specific_rules_of_different_teams_are_a_tie() {
        // GIVEN two globs with the same number of literal characters
        let router = router(vec![
            rule(
                "pay-star",
                "payments",
                Matcher::AssetGlob {
                    glob: "github.com/acme/pay*".into(),
                },
            ),
            rule(
                "star-api",
                "platform",
                Matcher::AssetGlob {
                    glob: "github.com/acme/*api".into(),
                },
            ),
        ]);
        let asset = key("github.com/acme/payapi");
        let other = key("github.com/acme/pay-ui");
        // WHEN / THEN
        let err = router
            .check_ties(&[place(&other, None), place(&asset, Some("src/x.rs"))])
            .unwrap_err();
        assert!(
            err.message.contains(
                "rules \"pay-star\" and \"star-api\" are equally specific for github.com/acme/payapi path src/x.rs"
            ),
            "{err}"
        );
        assert!(err.message.contains("make one more specific"), "{err}");
        assert!(
            router.check_ties(&[place(&other, None)]).is_ok(),
            "only one rule matches there"
        );
    }

    #[test]
    fn different_specificity_or_same_team_is_no_tie() {
        let asset = key("github.com/acme/payapi");
        let router_ok = router(vec![
            rule(
                "pay-star",
                "payments",
                Matcher::AssetGlob {
                    glob: "github.com/acme/pay*".into(),
                },
            ),
            rule(
                "payap-star",
                "platform",
                Matcher::AssetGlob {
                    glob: "github.com/acme/payap*".into(),
                },
            ),
        ]);
        assert!(router_ok.check_ties(&[place(&asset, None)]).is_ok());
        let same_team = router(vec![
            rule(
                "pay-star",
                "payments",
                Matcher::AssetGlob {
                    glob: "github.com/acme/pay*".into(),
                },
            ),
            rule(
                "star-api",
                "payments",
                Matcher::AssetGlob {
                    glob: "github.com/acme/*api".into(),
                },
            ),
        ]);
        assert!(same_team.check_ties(&[place(&asset, None)]).is_ok());
        // Different classes never tie.
        let classes = router(vec![
            rule(
                "glob",
                "payments",
                Matcher::AssetGlob {
                    glob: "github.com/acme/*".into(),
                },
            ),
            rule(
                "exact",
                "platform",
                Matcher::Asset {
                    key: key("github.com/acme/payapi"),
                },
            ),
        ]);
        assert!(classes.check_ties(&[place(&asset, None)]).is_ok());
    }

    #[test]
    fn two_tags_of_different_teams_tie() {
        let router = router(vec![
            rule("pii", "data", Matcher::Tag { tag: "pii".into() }),
            rule("pci", "payments", Matcher::Tag { tag: "pci".into() }),
        ]);
        let asset = key("db");
        let tags = vec!["pii".to_owned(), "pci".to_owned()];
        let err = router
            .check_ties(&[Place {
                asset: &asset,
                path: None,
                tags: &tags,
            }])
            .unwrap_err();
        assert!(err.message.contains("\"pii\" and \"pci\""), "{err}");
    }

    #[test]
    fn router_refuses_rules_that_do_not_compile() {
        let err = Router::new(&Ownership {
            teams: vec![],
            rules: vec![rule("bad", "a", Matcher::AssetGlob { glob: "a/[b".into() })],
            default_team: None,
        })
        .unwrap_err();
        assert!(err.message.contains("rule \"bad\""), "{err}");
    }

    #[test]
    fn literal_chars_ignore_wildcards_and_classes() {
        assert_eq!(literal_chars("services/**"), 9);
        assert_eq!(literal_chars("a*b?c"), 3);
        assert_eq!(literal_chars("x[abc]{d,e}y"), 2);
        assert_eq!(literal_chars(r"a\*"), 2);
    }

    // --- examples ---

    #[test]
    fn example_files_parse_route_and_have_no_ties() {
        // GIVEN the example owners file, CODEOWNERS and assets file
        let mut ownership =
            parse_owners_yaml(include_str!("../../../infra/examples/owners.yaml"), "owners.yaml").unwrap();
        let shop = key("github.com/acme/shop-api");
        let codeowners_text = include_str!("../../../infra/examples/CODEOWNERS");
        let codeowners = parse_codeowners(codeowners_text, "CODEOWNERS", &shop, &ownership.teams).unwrap();
        let line_of = |pattern: &str| {
            let index = codeowners_text
                .lines()
                .position(|l| l.split_whitespace().next() == Some(pattern));
            format!("CODEOWNERS:{}", index.unwrap() + 1)
        };
        ownership.rules.extend(codeowners);
        let assets = parse_assets_yaml(include_str!("../../../infra/examples/assets.yaml"), "assets.yaml").unwrap();
        let graph = AssetGraph::new(&assets);
        let router = Router::new(&ownership).unwrap();
        assert_eq!(ownership.teams.len(), 4);
        assert_eq!(
            ownership.default_team.as_ref().map(TeamId::as_str),
            Some("security-triage")
        );

        // WHEN routing typical places
        let owner = |asset: &str, path: Option<&str>| {
            let asset = key(asset);
            let tags = graph.get(&asset).map(|a| a.tags.clone()).unwrap_or_default();
            router
                .route(Place {
                    asset: &asset,
                    path,
                    tags: &tags,
                })
                .map(|m| format!("{} by {}", m.team, m.rule))
        };
        // THEN
        let shop_api = "github.com/acme/shop-api";
        assert_eq!(
            owner(shop_api, Some("services/payments/ledger.go")).unwrap(),
            format!("payments by {}", line_of("/services/payments/"))
        );
        assert_eq!(
            owner(shop_api, Some("services/checkout/cart.go")).unwrap(),
            format!("payments by {}", line_of("/services/checkout/"))
        );
        assert_eq!(
            owner(shop_api, Some("services/checkout/ui/cart.tsx")).unwrap(),
            format!("web by {}", line_of("/services/checkout/ui/"))
        );
        assert_eq!(
            owner(shop_api, Some("services/search/main.go")).unwrap(),
            format!("platform by {}", line_of("*"))
        );
        assert_eq!(
            owner(shop_api, Some("services/payments/fraud/x.go")).unwrap(),
            format!("payments by {}", line_of("/services/payments/fraud/"))
        );
        assert_eq!(
            owner(shop_api, Some("deploy/terraform/main.tf")).unwrap(),
            format!("platform by {}", line_of("*.tf"))
        );
        assert_eq!(
            owner(shop_api, Some("docs/runbook.md")).unwrap(),
            "payments by shop-api-repo"
        );
        assert_eq!(owner(shop_api, None).unwrap(), "payments by shop-api-repo");
        assert_eq!(
            owner("github.com/acme/tools", Some(".github/workflows/ci.yml")).unwrap(),
            "platform by ci-workflows"
        );
        assert_eq!(
            owner("github.com/acme/web", Some("src/app.tsx")).unwrap(),
            "web by web-repo"
        );
        assert_eq!(
            owner("ghcr.io/acme/shop-api:1.42", None).unwrap(),
            "payments by shop-api-image"
        );
        assert_eq!(
            owner("ghcr.io/acme/web@sha256:0123", None).unwrap(),
            "platform by images"
        );
        assert_eq!(
            owner("github.com/acme/infra-terraform", None).unwrap(),
            "platform by infra-repos"
        );
        assert_eq!(
            owner(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188",
                None
            )
            .unwrap(),
            "platform by load-balancers"
        );
        assert_eq!(
            owner("arn:aws:rds:eu-west-1:123456789012:db:shop", None).unwrap(),
            "payments by shop-db"
        );
        assert_eq!(
            owner("arn:aws:rds:eu-west-1:123456789012:db:reports", None).unwrap(),
            "platform by databases"
        );
        assert_eq!(
            owner("staging.shop.acme.example", None),
            None,
            "falls to the default team"
        );

        // AND no asset/path of the examples has a tie
        let paths = [
            None,
            Some("services/payments/a.go"),
            Some(".github/workflows/ci.yml"),
            Some("docs/a.md"),
        ];
        let tags: Vec<Vec<String>> = assets.iter().map(|a| a.tags.clone()).collect();
        let places: Vec<Place<'_>> = assets
            .iter()
            .zip(&tags)
            .flat_map(|(asset, tags)| {
                paths.iter().map(move |path| Place {
                    asset: &asset.key,
                    path: *path,
                    tags,
                })
            })
            .collect();
        router.check_ties(&places).unwrap();
    }
}
