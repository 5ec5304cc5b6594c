//! `muster digest` (the SLA posture as JSON, Markdown or a self-contained HTML page) and
//! `muster gate` (a CI step that fails while the posture breaks a budget). Flag parsing and
//! output only: the numbers come from `muster_core::services::digest`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, ValueEnum};
use muster_core::TeamId;
use muster_core::digest_render::{to_html, to_markdown};
use muster_core::ports::{FindingFilter, FindingStore};
use muster_core::retry::RetryPolicy;
use muster_core::services::digest::{GateQuery, GateQueryError, GateVerdict, digest, gate};
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
  muster gate --max-breached P1=0 --json               # the verdict as JSON (exit code 1 on failure)
  MUSTER_READ_TOKEN=... muster gate --url https://muster.example.com --max-breached P1=0   # ask a deployed muster";

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
    /// Ask a deployed muster (`GET <URL>/gate`) instead of the local database.
    #[arg(long)]
    pub url: Option<String>,
    /// Environment variable holding the server's read token (its `http.read_token_env`).
    #[arg(long, default_value = "MUSTER_READ_TOKEN", requires = "url")]
    token_env: String,
}

impl GateArgs {
    fn query(&self) -> GateQuery {
        GateQuery {
            team: self.team.clone(),
            max_breached: self.max_breached.clone(),
            max_new_tier: self.max_new_tier.clone(),
            since: self.since.clone(),
            now: self.now.clone(),
        }
    }
}

pub(crate) fn parse_now(text: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
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

/// A gate request's error in the words of the command line (`--max-breached`, not `max_breached`).
fn flag_error(error: GateQueryError) -> anyhow::Error {
    let text = error.to_string();
    let flags = ["max_breached", "max_new_tier", "since", "now", "team"];
    let text = flags.iter().fold(text, |text, name| {
        let flag = format!("--{}", name.replace('_', "-"));
        // Only whole words: `since` inside a message is a word, `--since` the flag.
        text.split(' ')
            .map(|word| if word == *name { flag.clone() } else { word.to_owned() })
            .collect::<Vec<_>>()
            .join(" ")
    });
    anyhow::anyhow!(text)
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
    let (policy, now) = args.query().policy(Utc::now()).map_err(flag_error)?;
    let findings = pipeline.store.list_findings(&FindingFilter::default()).await?;
    report_verdict(&gate(&findings, now, &policy), json)
}

fn report_verdict(verdict: &GateVerdict, json: bool) -> anyhow::Result<()> {
    if json {
        output::emit(&(serde_json::to_string_pretty(verdict)? + "\n"))?;
    }
    if !verdict.passed {
        bail!("{}", verdict.reason());
    }
    if !json {
        output::emit(&format!("{}\n", verdict.reason()))?;
    }
    Ok(())
}

/// Attempts against a deployed muster: a CI step should fail rather than hang.
const REMOTE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    first_backoff: std::time::Duration::from_millis(500),
    max_backoff: std::time::Duration::from_secs(20),
};

/// The same gate, judged by a deployed muster through `GET /gate` (bearer read token). The
/// flags are checked here first, so a typo fails without a round trip.
pub async fn run_remote_gate(args: &GateArgs, json: bool) -> anyhow::Result<()> {
    let query = args.query();
    query.policy(Utc::now()).map_err(flag_error)?;
    let base = args.url.as_deref().unwrap_or_default().trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}/gate")).with_context(|| format!("invalid --url {base:?}"))?;
    {
        let mut pairs = url.query_pairs_mut();
        let fields = [
            ("team", &query.team),
            ("max_breached", &query.max_breached),
            ("max_new_tier", &query.max_new_tier),
            ("since", &query.since),
            ("now", &query.now),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                pairs.append_pair(name, value);
            }
        }
    }
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .with_context(|| {
            format!(
                "--token-env names ${}, which is not set: export the server's read token",
                args.token_env
            )
        })?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut attempt = 0;
    let verdict: GateVerdict = loop {
        attempt += 1;
        let (failure, delay) = match client.get(url.clone()).bearer_auth(&token).send().await {
            Ok(response) => {
                let status = response.status();
                let delay = crate::push::retry_after(&response);
                let text = response.text().await.unwrap_or_default();
                if status.is_success() {
                    break serde_json::from_str(&text)
                        .with_context(|| format!("{url} answered something other than a gate verdict"))?;
                }
                let message = crate::push::server_message(&text);
                if !(status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
                    bail!("{base} refused the gate request ({status}): {message}");
                }
                (format!("{base} answered {status}: {message}"), delay)
            }
            Err(error) => (format!("cannot reach {base}: {error}"), None),
        };
        if attempt >= REMOTE_RETRY.max_attempts {
            bail!("{failure} (gave up after {attempt} attempts)");
        }
        let wait = delay
            .unwrap_or_else(|| REMOTE_RETRY.backoff(attempt))
            .min(REMOTE_RETRY.max_backoff);
        eprintln!("{failure}; retrying in {:.1} s", wait.as_secs_f64());
        tokio::time::sleep(wait).await;
    };
    report_verdict(&verdict, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_mistakes_are_reported_in_flag_names() {
        let query = GateQuery {
            max_new_tier: Some("P1".into()),
            since: Some("3y".into()),
            ..GateQuery::default()
        };
        let error = flag_error(query.policy(Utc::now()).unwrap_err()).to_string();
        assert!(error.starts_with("--since \"3y\": expected"), "{error}");
        let error = flag_error(GateQuery::default().policy(Utc::now()).unwrap_err()).to_string();
        assert!(
            error.contains("--max-breached") && error.contains("--max-new-tier"),
            "{error}"
        );
    }
}
