//! `muster`: the embedded default on one machine — ingest reports, inspect findings and the
//! outbox, or serve the webhook API with workers in one process. Wiring and presentation only;
//! the pipeline lives in muster-core.

mod digest;
mod output;
mod push;

/// Parsing a report allocates a few small strings per finding; mimalloc makes that ~15 %
/// cheaper than the system allocator (BENCHMARKS.md, "Trivy parse").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use muster_core::assets::parse_assets_yaml;
use muster_core::formats::{Format, ParseContext, Report, parse_report_with_progress};
use muster_core::intel::{parse_epss, parse_kev};
use muster_core::ownership::{parse_codeowners, parse_owners_yaml};
use muster_core::ports::{
    ContextStore, DeadLetter, DeadLetterStore, FindingFilter, FindingStore, OutboxStore, Queue, TicketStore,
};
use muster_core::services::context::{ImportSummary, import_assets, import_codeowners, import_intel, import_ownership};
use muster_core::services::ingest::apply_report;
use muster_core::services::ticket::open_groups;
use muster_core::services::triage::{accept_risk, review_acceptances};
use muster_core::{AssetKey, Config, Finding, Fingerprint, IngestSummary, SourceName, Status, TeamId, Tier};
use muster_local::{EmbeddedPipeline, StoreThreads, embedded};

/// Turn scanner output into owned, tracked, fixed work.
#[derive(Debug, Parser)]
#[command(name = "muster", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  muster ingest results.sarif           # run the pipeline on a report
  muster ingest 'reports/*.json'        # several reports; the format of each is detected
  muster ingest --format github --event dependabot_alert delivery.json
  muster findings --tier P1             # what is most urgent
  muster explain 3f2a9c1b               # why: score factors, owner rule, SLA, timeline
  muster owners import infra/examples/owners.yaml
  muster assets import infra/examples/assets.yaml
  muster intel import --kev known_exploited_vulnerabilities.json --epss epss_scores-current.csv.gz
  muster intel fetch                    # the same, downloaded from CISA and FIRST
  muster groups                         # one fix per line: what tickets say
  muster outbox                         # tickets and chat messages muster would send
  muster serve --addr 127.0.0.1:8080    # webhook server + workers
  muster push --url http://127.0.0.1:8080 --source ci --secret-env MUSTER_SECRET_CI results.sarif";

#[derive(Debug, Args)]
struct GlobalArgs {
    /// SQLite database file.
    #[arg(long, global = true, env = "MUSTER_DB", default_value = "muster.db")]
    db: PathBuf,
    /// Configuration file (default: muster.toml when present, built-in defaults otherwise).
    #[arg(long, global = true, env = "MUSTER_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline on report files: parse, dedupe, diff, triage, ticket, notify.
    #[command(
        after_help = "Examples:\n  muster ingest results.sarif                  # one report; its format is detected\n  muster ingest --source ci a.sarif 'reports/*.json'   # several files and globs\n  muster ingest --format github --event dependabot_alert delivery.json\n  muster ingest results.sarif --json           # the summary as JSON"
    )]
    Ingest(IngestArgs),
    /// List findings, most urgent first.
    #[command(
        after_help = "Examples:\n  muster findings --tier P1                    # the most urgent\n  muster findings --owner payments --open --limit 20\n  muster findings --unowned                    # what no ownership rule claims\n  muster findings --json                       # every field, for scripts"
    )]
    Findings(FindingsArgs),
    /// List tickets, one per remediation group.
    #[command(after_help = "Examples:\n  muster tickets\n  muster tickets --json")]
    Tickets,
    /// Show what the ticket and chat sinks recorded instead of sending.
    #[command(
        after_help = "Examples:\n  muster outbox                                # what would have been sent\n  muster outbox --json"
    )]
    Outbox,
    /// Why a finding is urgent: score factors, owner rule, BOD 26-04 decision, SLA, timeline.
    #[command(
        after_help = "Examples:\n  muster explain 7dde5768                      # a prefix of the fingerprint `muster findings` shows\n  muster explain 7dde5768 --json"
    )]
    Explain(ExplainArgs),
    /// List open remediation groups (one ticket each), most urgent first, with member counts.
    #[command(
        after_help = "Examples:\n  muster groups\n  muster groups --json                         # with the group keys `muster ack` takes"
    )]
    Groups,
    /// Import who owns what: the owners YAML file, or a repository's CODEOWNERS.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  muster owners import infra/examples/owners.yaml\n  muster owners import-codeowners --repo github.com/acme/shop-api .github/CODEOWNERS"
    )]
    Owners(OwnersCommand),
    /// Import the assets YAML file (criticality, exposure, controls, connections).
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  muster assets import infra/examples/assets.yaml")]
    Assets(AssetsCommand),
    /// Import threat intel: CISA KEV (JSON or CSV) and FIRST EPSS (CSV, optionally gzipped).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  muster intel import --kev known_exploited_vulnerabilities.json --epss epss_scores-current.csv.gz\n  muster intel fetch                           # download both from CISA and FIRST"
    )]
    Intel(IntelCommand),
    /// Accept a finding's risk until a date: its SLA clock pauses until then.
    #[command(after_help = "Examples:\n  muster accept 7dde5768 --until 2027-01-31 --reason \"egress filtered\"")]
    Accept(AcceptArgs),
    /// Serve the webhook API with pipeline workers in one process.
    #[command(
        after_help = "Examples:\n  muster serve                                 # 127.0.0.1:8080, muster.db, muster.toml\n  muster serve --addr 0.0.0.0:8080 --db /var/lib/muster/muster.db --config /etc/muster/muster.toml"
    )]
    Serve(ServeArgs),
    /// Send reports to a muster server (gzip, sign, retry), as a scanner's CI job would.
    #[command(
        after_help = "Examples:\n  muster push --url http://127.0.0.1:8080 --source ci results.sarif\n  MUSTER_SECRET_CI=... muster push --url https://muster.example.com --source ci --secret-env MUSTER_SECRET_CI trivy.json"
    )]
    Push(PushArgs),
    /// SLA sweep: announce new groups, remind, then escalate groups due soon or breached (one
    /// batched message per recipient; `serve` runs it hourly).
    #[command(
        after_help = "Examples:\n  muster sweep                                 # what `serve` runs hourly\n  muster sweep --now 2026-12-01T09:00:00Z      # as if it were that instant"
    )]
    Sweep(SweepArgs),
    /// Acknowledge a group: its reminders and escalations pause for `sweep.ack_days`.
    #[command(after_help = "Examples:\n  muster ack 'payments/github.com/acme/shop/pkg:openssl' --by alice")]
    Ack(AckArgs),
    /// Run failed pipeline messages (dead letters: tickets or messages a tracker or Slack
    /// refused) again, after fixing the cause; `--list` shows them with their last error.
    #[command(
        after_help = "Examples:\n  muster retry --list                          # failed work with its last error\n  muster retry                                 # run it again once the cause is fixed"
    )]
    Retry(RetryArgs),
    /// SLA digest per team: open by tier and age, compliance, time to remediate, trend, top
    /// risks; as Markdown, JSON or a self-contained HTML page with charts.
    Digest(digest::DigestArgs),
    /// CI gate: exit non-zero, naming the groups, while the SLA posture breaks a budget.
    Gate(digest::GateArgs),
}

impl Command {
    /// Commands that only read the store.
    fn only_reads(&self) -> bool {
        matches!(
            self,
            Self::Findings(_) | Self::Tickets | Self::Outbox | Self::Explain(_) | Self::Groups | Self::Gate(_)
        ) || matches!(self, Self::Retry(args) if args.list)
            || matches!(self, Self::Digest(args) if !args.post)
    }
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// Sweep as if it were this instant (RFC 3339), to test a policy or replay a day.
    #[arg(long)]
    now: Option<String>,
}

#[derive(Debug, Args)]
struct AckArgs {
    /// The group key (`muster groups --json` lists them).
    group: String,
    /// Who is on it (kept on the findings' timeline).
    #[arg(long, default_value = "cli")]
    by: String,
}

#[derive(Debug, Args)]
struct RetryArgs {
    /// Only list the dead letters.
    #[arg(long)]
    list: bool,
    /// Dead letter ids to retry (default: all).
    ids: Vec<u64>,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// Server base URL, e.g. http://127.0.0.1:8080 or the deployed function URL.
    #[arg(long)]
    url: String,
    /// Source name configured on the server (POST /webhooks/{source}).
    #[arg(long)]
    source: String,
    /// Environment variable holding the source's HMAC secret (omit for unsigned sources).
    #[arg(long)]
    secret_env: Option<String>,
    /// GitHub event name, for payloads of `github` sources (sent as X-GitHub-Event).
    #[arg(long)]
    event: Option<String>,
    /// Gzip bodies larger than this many bytes go through the server's presigned uploads
    /// (POST /uploads), where it has them: AWS takes ~4.4 MB per request. A server without
    /// uploads takes the report directly.
    #[arg(long, value_name = "BYTES", default_value_t = push::DEFAULT_UPLOAD_ABOVE)]
    upload_above: usize,
    /// Report files or glob patterns (`reports/*.json`).
    #[arg(required = true)]
    files: Vec<String>,
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Source the reports come from (scopes the scan diff, like a webhook source).
    #[arg(long, default_value = "local")]
    source: String,
    /// auto (detect from the content), sarif, trivy, grype, snyk, github, asff or ocsf.
    #[arg(long, default_value = "auto")]
    format: String,
    /// GitHub event of a webhook payload (code_scanning_alert, dependabot_alert,
    /// secret_scanning_alert, repository_vulnerability_alert); detected from the payload if
    /// omitted.
    #[arg(long)]
    event: Option<String>,
    /// Report files or glob patterns (`reports/*.json`; read in place: do not rewrite them
    /// while muster reads them).
    #[arg(required = true)]
    files: Vec<String>,
}

#[derive(Debug, Args)]
struct FindingsArgs {
    /// open, acknowledged, risk_accepted, resolved, reopened or suppressed.
    #[arg(long)]
    status: Option<String>,
    /// Only open findings (any open status).
    #[arg(long)]
    open: bool,
    /// Owning team id.
    #[arg(long)]
    owner: Option<String>,
    /// P1, P2, P3 or P4.
    #[arg(long)]
    tier: Option<String>,
    /// Only findings no ownership rule claims (they went to the default team).
    #[arg(long)]
    unowned: bool,
    /// At most this many.
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// Fingerprint, or a unique prefix of it as `muster findings` shows.
    fingerprint: String,
}

#[derive(Debug, Subcommand)]
enum OwnersCommand {
    /// Make the owners file the truth: teams, ownership rules, default team.
    #[command(after_help = "Examples:\n  muster owners import infra/examples/owners.yaml")]
    Import { file: PathBuf },
    /// Make a repository's CODEOWNERS file the truth for paths inside that repository.
    #[command(
        after_help = "Examples:\n  muster owners import-codeowners --repo github.com/acme/shop-api .github/CODEOWNERS"
    )]
    ImportCodeowners {
        /// Repository as findings name it: github.com/ORG/NAME (ORG/NAME is accepted too).
        #[arg(long)]
        repo: String,
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AssetsCommand {
    /// Make the assets file the truth.
    #[command(after_help = "Examples:\n  muster assets import infra/examples/assets.yaml")]
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum IntelCommand {
    /// Read feeds from files; findings whose CVEs changed are re-scored.
    #[command(
        after_help = "Examples:\n  muster intel import --kev known_exploited_vulnerabilities.json\n  muster intel import --epss epss_scores-2026-11-27.csv.gz"
    )]
    Import {
        /// CISA KEV catalog, JSON or CSV as CISA publishes it.
        #[arg(long, required_unless_present = "epss")]
        kev: Option<PathBuf>,
        /// FIRST EPSS daily scores CSV (`epss_scores-YYYY-MM-DD.csv`, or `.csv.gz`).
        #[arg(long)]
        epss: Option<PathBuf>,
    },
    /// Download today's CISA KEV catalog and FIRST EPSS scores and import them.
    #[command(
        after_help = "Examples:\n  muster intel fetch                           # from CISA and FIRST (daily is enough)"
    )]
    Fetch {
        #[arg(long, default_value = muster_feeds::KEV_URL)]
        kev_url: String,
        #[arg(long, default_value = muster_feeds::EPSS_URL)]
        epss_url: String,
        /// Only the KEV catalog (the EPSS file is a few MB).
        #[arg(long)]
        kev_only: bool,
        /// Seconds one download attempt may take.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}

#[derive(Debug, Args)]
struct AcceptArgs {
    /// Fingerprint, or a unique prefix of it.
    fingerprint: String,
    /// Last day of the acceptance (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    until: String,
    /// Why the risk is accepted (kept on the finding's timeline).
    #[arg(long)]
    reason: String,
    /// Who accepted it.
    #[arg(long)]
    by: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_log = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    muster_runtime::init(muster_runtime::LogStyle::detect(), default_log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None if Path::new("muster.toml").exists() => Ok(Config::load(Path::new("muster.toml"))?),
        None => Ok(Config::default()),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Push(args) = &cli.command {
        return push(args, cli.global.json).await;
    }
    if let Command::Gate(args) = &cli.command
        && args.url.is_some()
    {
        return digest::run_remote_gate(args, cli.global.json).await;
    }
    let mut config = load_config(cli.global.config.as_deref())?;
    if cli.command.only_reads() {
        // Listings never call a tracker or Slack, so they need no tokens.
        config.trackers.jira = None;
        config.trackers.github = None;
        config.slack = None;
    }
    let config = Arc::new(config);
    // A server keeps its store calls off the threads that answer requests; every other command
    // has nothing else to run meanwhile.
    let threads = match cli.command {
        Command::Serve(_) => StoreThreads::BlockingPool,
        _ => StoreThreads::Caller,
    };
    let pipeline = embedded(&cli.global.db, Arc::clone(&config), threads)?;
    let json = cli.global.json;
    match cli.command {
        Command::Ingest(args) => ingest(&pipeline, &config, args, json).await,
        Command::Findings(args) => {
            let filter = FindingFilter {
                status: args.status.as_deref().map(Status::parse).transpose()?,
                open_only: args.open,
                owner: args.owner.as_deref().map(TeamId::parse).transpose()?,
                tier: args.tier.as_deref().map(Tier::parse).transpose()?,
                severity: None,
                unowned: args.unowned,
                limit: args.limit,
            };
            let findings = pipeline.store.list_findings(&filter).await?;
            output::findings(&findings, json)
        }
        Command::Explain(args) => output::explain(&find_one(&pipeline, &args.fingerprint).await?, json),
        Command::Groups => {
            let open = pipeline
                .store
                .list_findings(&FindingFilter {
                    open_only: true,
                    ..FindingFilter::default()
                })
                .await?;
            output::groups(&open_groups(&open), json)
        }
        Command::Owners(command) => owners(&pipeline, command, json).await,
        Command::Assets(AssetsCommand::Import { file }) => {
            let assets = parse_assets_yaml(&read_text(&file)?, &file.display().to_string())?;
            let summary = import_assets(&pipeline.store, &pipeline.queue, assets).await?;
            rescore(&pipeline, "assets", &summary, json).await
        }
        Command::Intel(IntelCommand::Import { kev, epss }) => {
            let kev = kev
                .map(|path| parse_kev(&read_bytes(&path)?, &path.display().to_string()).map_err(anyhow::Error::from))
                .transpose()?;
            let epss = epss
                .map(|path| parse_epss(&read_bytes(&path)?, &path.display().to_string()).map_err(anyhow::Error::from))
                .transpose()?;
            let summary = import_intel(&pipeline.store, &pipeline.queue, kev, epss).await?;
            rescore(&pipeline, "intel", &summary, json).await
        }
        Command::Intel(IntelCommand::Fetch {
            kev_url,
            epss_url,
            kev_only,
            timeout,
        }) => {
            let client = muster_feeds::FeedClient::new(muster_feeds::FeedSettings {
                timeout: Duration::from_secs(timeout),
                ..muster_feeds::FeedSettings::default()
            })?;
            let spinner = progress_bar(0, "{spinner} {msg} {elapsed}");
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner.set_message("downloading the CISA KEV catalog");
            let kev = client.fetch_kev(&kev_url).await?;
            let epss = if kev_only {
                None
            } else {
                spinner.set_message("downloading FIRST EPSS scores");
                Some(client.fetch_epss(&epss_url).await?)
            };
            spinner.finish_and_clear();
            let summary = import_intel(&pipeline.store, &pipeline.queue, Some(kev), epss).await?;
            rescore(&pipeline, "intel", &summary, json).await
        }
        Command::Accept(args) => {
            let finding = find_one(&pipeline, &args.fingerprint).await?;
            let until = parse_until(&args.until)?;
            let accepted = accept_risk(
                &pipeline.store,
                &pipeline.clock,
                finding.fingerprint(),
                until,
                &args.reason,
                args.by.as_deref(),
            )
            .await?;
            output::explain(&accepted, json)
        }
        Command::Tickets => output::tickets(&pipeline.store.tickets().await?, json),
        Command::Outbox => output::outbox(&pipeline.store.outbox().await?, json),
        Command::Retry(args) => retry(&pipeline, args, json).await,
        Command::Sweep(args) => {
            let report = muster_local::sweep_once(&pipeline, digest::parse_now(args.now.as_deref())?).await?;
            output::swept(&report, json)
        }
        Command::Ack(args) => {
            let group = muster_core::GroupKey::parse(&args.group)?;
            let ticket = pipeline.acknowledge(&group, &args.by).await?;
            output::tickets(&[ticket], json)
        }
        Command::Digest(args) => digest::run_digest(&pipeline, args, json).await,
        Command::Gate(args) => digest::run_gate(&pipeline, args, json).await,
        Command::Serve(args) => serve(pipeline, config, args).await,
        Command::Push(_) => unreachable!("push returned above"),
    }
}

/// A finding by full fingerprint or unique prefix.
async fn find_one(pipeline: &EmbeddedPipeline, wanted: &str) -> anyhow::Result<Finding> {
    let wanted = wanted.trim().to_ascii_lowercase();
    if let Ok(fingerprint) = Fingerprint::parse(&wanted) {
        return pipeline
            .store
            .findings(&[fingerprint])
            .await?
            .pop()
            .with_context(|| format!("no finding {wanted}"));
    }
    if wanted.len() < 4 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{wanted:?} is not a fingerprint: give at least 4 hex digits, as `muster findings` shows");
    }
    let all = pipeline.store.list_findings(&FindingFilter::default()).await?;
    let mut matches = all
        .into_iter()
        .filter(|f| f.fingerprint().to_string().starts_with(&wanted));
    match (matches.next(), matches.next()) {
        (Some(found), None) => Ok(found),
        (None, _) => bail!("no finding starts with {wanted}"),
        (Some(_), Some(_)) => bail!("several findings start with {wanted}; give more digits"),
    }
}

fn parse_until(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = date.and_hms_opt(23, 59, 59).context("invalid date")?;
        return Ok(end.and_utc());
    }
    Ok(chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--until {text:?}: expected YYYY-MM-DD or an RFC 3339 time"))?
        .to_utc())
}

/// The most a gzipped context file (owners, assets, intel feeds) may inflate to: the largest
/// real one, the EPSS feed, is ~10 MB uncompressed, so this only stops a gzip bomb from taking
/// the machine's memory.
const MAX_INFLATED_BYTES: u64 = 1 << 30;

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return inflate_bounded(&bytes, MAX_INFLATED_BYTES).with_context(|| path.display().to_string());
    }
    Ok(bytes)
}

fn inflate_bounded(gzipped: &[u8], limit: u64) -> anyhow::Result<Vec<u8>> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .take(limit + 1)
        .read_to_end(&mut inflated)
        .context("not a valid gzip file")?;
    if inflated.len() as u64 > limit {
        bail!("inflates to more than {limit} bytes; gunzip it and check its content first");
    }
    Ok(inflated)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    String::from_utf8(read_bytes(path)?).with_context(|| format!("{}: not UTF-8 text", path.display()))
}

async fn owners(pipeline: &EmbeddedPipeline, command: OwnersCommand, json: bool) -> anyhow::Result<()> {
    match command {
        OwnersCommand::Import { file } => {
            let ownership = parse_owners_yaml(&read_text(&file)?, &file.display().to_string())?;
            let summary = import_ownership(&pipeline.store, &pipeline.queue, ownership).await?;
            rescore(pipeline, "owners", &summary, json).await
        }
        OwnersCommand::ImportCodeowners { repo, file } => {
            let repo = if repo.matches('/').count() == 1 && !repo.contains('.') {
                format!("github.com/{repo}")
            } else {
                repo
            };
            let repo = AssetKey::parse(&repo)?;
            let teams = pipeline.store.org_context().await?.ownership.teams;
            if teams.is_empty() {
                bail!("import the owners file first: CODEOWNERS handles map to its teams");
            }
            let rules = parse_codeowners(&read_text(&file)?, &file.display().to_string(), &repo, &teams)?;
            let summary = import_codeowners(&pipeline.store, &pipeline.queue, &repo, rules).await?;
            rescore(pipeline, &format!("CODEOWNERS of {repo}"), &summary, json).await
        }
    }
}

/// Sends dead letters through the pipeline again. A letter is forgotten only after its rerun;
/// one that fails again is recorded anew with its new error.
async fn retry(pipeline: &EmbeddedPipeline, args: RetryArgs, json: bool) -> anyhow::Result<()> {
    let letters = pipeline.store.dead_letters().await?;
    if let Some(unknown) = args.ids.iter().find(|id| !letters.iter().any(|l| l.id == **id)) {
        bail!("no dead letter #{unknown}; `muster retry --list` shows them");
    }
    let selected: Vec<DeadLetter> = letters
        .into_iter()
        .filter(|l| args.ids.is_empty() || args.ids.contains(&l.id))
        .collect();
    if args.list || selected.is_empty() {
        return output::dead_letters(&selected, json);
    }
    pipeline
        .queue
        .send(selected.iter().map(|l| l.message.clone()).collect())
        .await?;
    let spinner = progress_bar(0, "{spinner} {msg} {elapsed}");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let drained = muster_local::drain_once(pipeline, |report, waiting| {
        spinner.set_message(format!("retrying: {} done, {waiting} waiting", report.handled));
    })
    .await;
    spinner.finish_and_clear();
    for letter in &selected {
        pipeline.store.remove_dead_letter(letter.id).await?;
    }
    output::retried(selected.len(), drained.dead_lettered, json)?;
    if drained.dead_lettered > 0 {
        bail!(
            "{} messages failed again and were kept as dead letters; `muster retry --list` shows why",
            drained.dead_lettered
        );
    }
    Ok(())
}

/// Runs the triage an import queued, with progress, then prints what changed.
async fn rescore(pipeline: &EmbeddedPipeline, what: &str, summary: &ImportSummary, json: bool) -> anyhow::Result<()> {
    let spinner = progress_bar(0, "{spinner} {msg} {elapsed}");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let drained = muster_local::drain_once(pipeline, |report, waiting| {
        spinner.set_message(format!("re-scoring: {} done, {waiting} waiting", report.handled));
    })
    .await;
    spinner.finish_and_clear();
    output::imported(what, summary, json)?;
    if drained.dead_lettered > 0 {
        bail!(
            "{} pipeline messages failed after retries and were kept as dead letters",
            drained.dead_lettered
        );
    }
    Ok(())
}

async fn push(args: &PushArgs, json: bool) -> anyhow::Result<()> {
    let mut target = push::PushTarget::new(
        &args.url,
        &args.source,
        args.secret_env.as_deref(),
        args.event.as_deref(),
    )?;
    target.upload_above = args.upload_above;
    let client = push::client()?;
    for path in &expand_files(&args.files)? {
        let summary = push::push_file(&client, &target, path).await?;
        if json {
            output::emit(&format!("{}\n", summary.trim()))?;
        } else {
            output::emit(&format!("{}: {}\n", path.display(), summary.trim()))?;
        }
    }
    Ok(())
}

fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// A report's bytes: mapped from disk, or read whole where mapping is not possible (pipes).
enum ReportBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl ReportBytes {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let is_file = file.metadata().map(|m| m.is_file() && m.len() > 0).unwrap_or(false);
        if is_file {
            // SAFETY: the mapping is only read. If another process truncated the file while we
            // parse, reads past the new end would fault; scanners write reports before handing
            // them over, and `muster ingest` documents that the file must not change meanwhile.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                let _ = map.advise(memmap2::Advice::Sequential);
                return Ok(Self::Mapped(map));
            }
        }
        let mut bytes = Vec::new();
        let mut file = file;
        file.read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self::Read(bytes))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Read(bytes) => bytes,
        }
    }

    /// Drops the pages before `offset` from memory; they are re-read from the file if touched
    /// again, so the report never sits in memory beside everything parsed from it.
    fn release_before(&self, offset: usize) {
        const PAGE: usize = 4096;
        if let Self::Mapped(map) = self {
            let len = offset.min(map.len()) / PAGE * PAGE;
            if len > 0 {
                // SAFETY: for a read-only shared file mapping, MADV_DONTNEED only discards
                // resident pages; later reads fault them back in from the unchanged file.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len) };
            }
        }
    }
}

/// Parses one report file with a progress bar, releasing what the parser is done with.
fn parse_file(path: &Path, format: Option<Format>, ctx: &ParseContext) -> anyhow::Result<Report> {
    /// Release mapped pages in steps of this many bytes.
    const RELEASE_STEP: usize = 16 * 1024 * 1024;
    let report = ReportBytes::open(path)?;
    let bytes = report.bytes();
    let bar = progress_bar(
        bytes.len() as u64,
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
    );
    bar.set_message(format!("parsing {}", path.display()));
    let mut released = 0;
    let parsed = parse_report_with_progress(bytes, format, ctx, &mut |offset| {
        bar.set_position(offset as u64);
        if offset >= released + RELEASE_STEP {
            report.release_before(offset);
            released = offset;
        }
    });
    bar.finish_and_clear();
    parsed.with_context(|| path.display().to_string())
}

async fn ingest(pipeline: &EmbeddedPipeline, config: &Config, args: IngestArgs, json: bool) -> anyhow::Result<()> {
    let source = SourceName::parse(&args.source)?;
    let format = match Format::parse_choice(&args.format)? {
        Some(format) => Some(format),
        None => config.source(source.as_str()).and_then(|s| s.format()),
    };
    let ctx = ParseContext::for_source(source.clone()).with_event(args.event.clone());
    let files = expand_files(&args.files)?;
    let mut failed = Vec::new();
    for (index, path) in files.iter().enumerate() {
        if files.len() > 1 {
            tracing::info!(file = %path.display(), "file {} of {}", index + 1, files.len());
        }
        let started = std::time::Instant::now();
        // One bad report must not stop the others: each is parsed whole before anything of
        // it is stored, so a failure leaves the store as it was.
        let report = match parse_file(path, format, &ctx) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("error: {error:#}");
                failed.push(path.display().to_string());
                continue;
            }
        };
        let spinner = progress_bar(0, "{spinner} {msg} {elapsed}");
        spinner.enable_steady_tick(Duration::from_millis(120));
        tracing::info!(file = %path.display(), elapsed_ms = started.elapsed().as_millis(), "parsed");
        spinner.set_message(format!("storing {} results", report.detection_count()));
        let summary = apply_report(
            &pipeline.store,
            &pipeline.queue,
            &pipeline.clock,
            pipeline.triage_at(),
            &source,
            report,
        )
        .await
        .with_context(|| format!("cannot ingest {}", path.display()))?;
        tracing::info!(file = %path.display(), elapsed_ms = started.elapsed().as_millis(), "stored");
        let drained = muster_local::drain_once(pipeline, |report, waiting| {
            spinner.set_message(format!(
                "triage, tickets, notifications: {} done, {waiting} waiting",
                report.handled
            ));
        })
        .await;
        spinner.finish_and_clear();
        tracing::info!(file = %path.display(), elapsed_ms = started.elapsed().as_millis(), ?drained, "pipeline done");
        print_summary(path, &summary, json)?;
        if drained.dead_lettered > 0 {
            bail!(
                "{} pipeline messages failed after retries and were kept as dead letters; see the log above",
                drained.dead_lettered
            );
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} reports could not be read and were not ingested: {}",
            failed.len(),
            files.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Files named on the command line, with glob patterns expanded (for shells that do not, and
/// for quoted patterns); a pattern that matches nothing is an error, not a silent no-op.
fn expand_files(args: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        let is_pattern = arg.contains(['*', '?', '[']) && !Path::new(arg).exists();
        if !is_pattern {
            files.push(PathBuf::from(arg));
            continue;
        }
        let matches = glob::glob(arg).with_context(|| format!("invalid glob pattern {arg:?}"))?;
        let before = files.len();
        for entry in matches {
            let path = entry.with_context(|| format!("cannot read a match of {arg:?}"))?;
            if path.is_file() {
                files.push(path);
            }
        }
        if files.len() == before {
            bail!("no file matches {arg:?}");
        }
    }
    Ok(files)
}

fn print_summary(path: &Path, summary: &IngestSummary, json: bool) -> anyhow::Result<()> {
    if json {
        output::emit(&(serde_json::to_string(summary)? + "\n"))
    } else {
        output::emit(&format!(
            "{}: run {} — received {}, new {}, updated {}, resolved {}, duplicates {}\n",
            path.display(),
            summary.run_id,
            summary.received,
            summary.new,
            summary.updated,
            summary.resolved,
            summary.duplicates
        ))
    }
}

async fn serve(pipeline: EmbeddedPipeline, config: Arc<Config>, args: ServeArgs) -> anyhow::Result<()> {
    let body_limit = config.http.body_limit_bytes();
    let http = muster_http::HttpConfig::from_env(config, body_limit)?;
    let pipeline = Arc::new(pipeline);
    let worker = {
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move { pipeline.queue.run(&pipeline).await })
    };
    // Scheduled work of the embedded default, hourly: expired risk acceptances reopen, and the
    // SLA sweep reminds and escalates.
    let schedule = {
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                match review_acceptances(&pipeline.store, &pipeline.queue, &pipeline.clock).await {
                    Ok(0) => {}
                    Ok(expired) => tracing::info!(expired, "risk acceptances expired; findings reopened"),
                    Err(error) => tracing::warn!(%error, "reviewing risk acceptances failed; next hour retries"),
                }
                let now = chrono::Utc::now();
                match pipeline.sweep(now).await {
                    Ok(report) => tracing::info!(?report, "SLA sweep"),
                    Err(error) => tracing::warn!(%error, "SLA sweep failed; next hour retries"),
                }
                // Posted once per day (the dedupe key names it), from notify.digest_hour on.
                let notify = &pipeline.config.notify;
                if let Some(period) = notify.digest.period_at(now, notify.digest_hour) {
                    match pipeline.post_digests(now, period).await {
                        Ok(posted) => tracing::info!(posted, "digests"),
                        Err(error) => tracing::warn!(%error, "posting digests failed; next hour retries"),
                    }
                }
            }
        })
    };
    let app = muster_http::router(Arc::clone(&pipeline), http);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "muster serving");
    eprintln!("muster listening on http://{local} (POST /webhooks/{{source}}, GET /healthz)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server failed")?;
    // Let queued work finish before exiting, so nothing accepted is left undone.
    schedule.abort();
    pipeline.queue.close();
    worker.await.context("pipeline worker failed")?;
    tracing::info!("shut down");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use clap::CommandFactory as _;

    use super::{Cli, inflate_bounded};

    #[test]
    fn gzipped_files_inflate_up_to_the_limit_and_no_further() {
        let text = b"team: payments\n".repeat(100);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&text).unwrap();
        let gzipped = encoder.finish().unwrap();
        assert_eq!(inflate_bounded(&gzipped, text.len() as u64).unwrap(), text);
        let error = inflate_bounded(&gzipped, text.len() as u64 - 1).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("more than {} bytes", text.len() - 1)),
            "{error:#}"
        );
        let error = inflate_bounded(&[0x1f, 0x8b, 0, 1, 2], 100).unwrap_err();
        assert!(error.to_string().contains("not a valid gzip file"), "{error:#}");
    }

    /// A newcomer reads `--help` first: every command shows at least one example there.
    #[test]
    fn every_command_has_examples_in_its_help() {
        fn missing(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                let has_examples = sub
                    .get_after_help()
                    .is_some_and(|help| help.to_string().contains("Examples:\n  muster "));
                if !has_examples {
                    out.push(path.clone());
                }
                missing(sub, &path, out);
            }
        }
        let mut without = Vec::new();
        missing(&Cli::command(), "muster", &mut without);
        assert!(without.is_empty(), "no examples in --help of: {without:?}");
    }
}
