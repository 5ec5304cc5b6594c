//! `muster digest` (the SLA posture as JSON, Markdown or a self-contained HTML page) and
//! `muster gate` (a CI step that fails while the posture breaks a budget). Flag parsing and
//! output only: the numbers come from `muster_core::services::digest`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, ValueEnum};
use muster_core::digest_render::{to_html, to_markdown};
use muster_core::ports::{FindingFilter, FindingStore};
use muster_core::services::digest::{BreachBudget, GatePolicy, digest, gate};
use muster_core::{TeamId, Tier};
use muster_local::EmbeddedPipeline;

use crate::output;

const DIGEST_EXAMPLES: &str = "Examples:
  muster digest                                        # every team, this week, Markdown
  muster digest --team payments --period day           # one team's daily digest
  muster digest --format html --out digest.html        # self-contained page with SVG charts
  muster digest --format json --now 2026-12-01T09:00:00Z";

const GATE_EXAMPLES: &str = "Examples:
  muster gate --max-breached P1=0,P2=3                 # fail while a P1 group is past due, or 4+ P2
  muster gate --team payments --max-new-tier P1 --since 24h   # fail on new P1s of the last day
  muster gate --max-breached P1=0 --json               # the verdict as JSON (exit code 1 on failure)";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Period {
    Day,
    Week,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DigestFormat {
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Args)]
#[command(after_help = DIGEST_EXAMPLES)]
pub struct DigestArgs {
    /// Only this team's findings (a team digest); default: every team (the security lead's).
    #[arg(long)]
    team: Option<String>,
    /// The period "new", "fixed" and the trend compare: this one against the one before.
    #[arg(long, value_enum, default_value = "week")]
    period: Period,
    /// json, markdown or html (one page, no external assets); `--json` means json.
    #[arg(long, value_enum, default_value = "markdown")]
    format: DigestFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compute the digest as of this instant (RFC 3339), to replay a day.
    #[arg(long)]
    now: Option<String>,
    /// Post the security leads' digest and every team's to chat instead of printing
    /// (`muster serve` does this daily).
    #[arg(long, conflicts_with_all = ["team", "out"])]
    pub post: bool,
}

#[derive(Debug, Args)]
#[command(after_help = GATE_EXAMPLES)]
pub struct GateArgs {
    /// Only this team's remediation groups.
    #[arg(long)]
    team: Option<String>,
    /// Past-due remediation groups allowed per tier, e.g. P1=0,P2=3 (unnamed tiers are not gated).
    #[arg(long)]
    max_breached: Option<String>,
    /// Fail on any new finding of this tier or a more urgent one (P2 fails on new P1 and P2).
    #[arg(long)]
    max_new_tier: Option<String>,
    /// What counts as new for --max-new-tier: first seen after this instant (RFC 3339) or
    /// within this duration (30m, 24h, 7d, 2w). Default 24h.
    #[arg(long)]
    since: Option<String>,
    /// Judge as of this instant (RFC 3339) instead of the current time.
    #[arg(long)]
    now: Option<String>,
}

fn parse_now(text: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    match text {
        Some(text) => Ok(DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--now {text:?}: expected an RFC 3339 time such as 2026-12-01T09:00:00Z"))?
            .to_utc()),
        None => Ok(Utc::now()),
    }
}

fn parse_team(text: Option<&str>) -> anyhow::Result<Option<TeamId>> {
    text.map(|t| TeamId::parse(t).with_context(|| format!("--team {t:?}")))
        .transpose()
}

/// `--since`: an RFC 3339 instant, or a duration back from `now` (`30m`, `24h`, `7d`, `2w`).
fn parse_since(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.to_utc());
    }
    let fail =
        || anyhow::anyhow!("--since {text:?}: expected an RFC 3339 time or a duration such as 30m, 24h, 7d or 2w");
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(fail)?;
    let amount: i64 = text[..text.len() - unit.len_utf8()].parse().map_err(|_| fail())?;
    if amount <= 0 {
        return Err(fail());
    }
    let back = match unit {
        'm' => Duration::try_minutes(amount),
        'h' => Duration::try_hours(amount),
        'd' => Duration::try_days(amount),
        'w' => Duration::try_weeks(amount),
        _ => None,
    }
    .ok_or_else(fail)?;
    Ok(now - back)
}

/// Writes the digest in the asked format to stdout or `--out`.
pub async fn run_digest(pipeline: &EmbeddedPipeline, args: DigestArgs, json: bool) -> anyhow::Result<()> {
    let now = parse_now(args.now.as_deref())?;
    let team = parse_team(args.team.as_deref())?;
    let period = match args.period {
        Period::Day => Duration::days(1),
        Period::Week => Duration::weeks(1),
    };
    if args.post {
        let posted = pipeline.post_digests(now, period).await?;
        eprintln!("posted {posted} digests");
        return Ok(());
    }
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await?;
    let digest = digest(&findings, now, period, team.as_ref());
    let format = if json { DigestFormat::Json } else { args.format };
    let text = match format {
        DigestFormat::Json => serde_json::to_string_pretty(&digest)? + "\n",
        DigestFormat::Markdown => to_markdown(&digest),
        DigestFormat::Html => to_html(&digest),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        None => output::emit(&text),
    }
}

/// Prints the verdict; a broken budget is an error, so the process exits non-zero.
pub async fn run_gate(pipeline: &EmbeddedPipeline, args: GateArgs, json: bool) -> anyhow::Result<()> {
    let now = parse_now(args.now.as_deref())?;
    let max_breached = args
        .max_breached
        .as_deref()
        .map(|text| BreachBudget::parse(text).with_context(|| format!("--max-breached {text:?}")))
        .transpose()?
        .unwrap_or_default();
    let max_new_tier = args
        .max_new_tier
        .as_deref()
        .map(|text| Tier::parse(text).with_context(|| format!("--max-new-tier {text:?}")))
        .transpose()?;
    if max_breached.0.is_empty() && max_new_tier.is_none() {
        bail!("nothing to gate on: give --max-breached (e.g. P1=0,P2=3) and/or --max-new-tier (e.g. P1)");
    }
    let since = args.since.as_deref().map(|s| parse_since(s, now)).transpose()?;
    if since.is_some() && max_new_tier.is_none() {
        bail!("--since only applies to --max-new-tier; give that too");
    }
    let policy = GatePolicy {
        team: parse_team(args.team.as_deref())?,
        max_breached,
        max_new_tier,
        since,
    };
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await?;
    let verdict = gate(&findings, now, &policy);
    if json {
        output::emit(&(serde_json::to_string_pretty(&verdict)? + "\n"))?;
    }
    if !verdict.passed {
        bail!("{}", verdict.reason());
    }
    if !json {
        output::emit(&format!("{}\n", verdict.reason()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_an_instant_or_a_duration_back_from_now() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(parse_since("24h", now).unwrap(), now - Duration::hours(24));
        assert_eq!(parse_since("2w", now).unwrap(), now - Duration::weeks(2));
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now).unwrap(),
            "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        for bad in ["", "h", "24", "-3d", "3y", "1.5h"] {
            let error = parse_since(bad, now).unwrap_err().to_string();
            assert!(error.contains("--since"), "{bad}: {error}");
        }
    }
}
