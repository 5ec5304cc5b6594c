//! DynamoDB (and SQS) requests the AWS adapters send for the work the issue prices, measured
//! against moto through the real SDK: `DynamoStore::request_counts` counts every call, page and
//! retry. Figures for BENCHMARKS.md and docs/cost.md; run it with `bash bench/dynamo.sh`.
//!
//! 1. ingest a generated 20k-finding SARIF report through `Pipeline::ingest` (the path of the
//!    ingest Lambda and `POST /webhooks/{source}`), then the identical report again;
//! 2. ingest a 2k-result report and run the stages it queued (triage, ticket, notify) from the
//!    SQS queues, as the Lambdas would;
//! 3. seed 100k open triaged findings (5,000 ticketed groups) of which 100, then 1,000, are due
//!    by the sweep's horizon, and run the sweep Lambda's handler (`run_sweep`).
//!
//! Needs `MUSTER_MOTO_ENDPOINT` (or `moto_server` on PATH). It never talks to real AWS.
//! `DYNAMO_OPEN`, `DYNAMO_REPORT` and `DYNAMO_STAGES` change the 100k / 20k / 2k sizes;
//! `DYNAMO_TICKET_DELAY` the seconds between triage sending ticket requests and their delivery
//! (60, the ticket queue's `DelaySeconds`; 0 shows a queue without it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use muster_aws::{DynamoStore, QueueUrls, RequestCounts, SqsQueue};
use muster_core::model::{Finding, Fingerprint, GroupKey, Status, Ticket, TicketState, Told};
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::{FindingStore, FixedClock, Queue, QueueError, TicketStore};
use muster_core::services::Pipeline;
use muster_core::{Config, IngestRequest, Message, Rung, SourceName};
use muster_fn_sweep::{ScheduledJob, run_sweep};
use muster_tests::moto;

type MotoPipeline =
    Pipeline<DynamoStore, CountingQueue, OutboxTickets<DynamoStore>, OutboxChat<DynamoStore>, FixedClock>;

/// Findings per remediation group in the seeded backlog.
const GROUP_SIZE: usize = 20;
/// Minutes between consecutive due dates in the seeded backlog (finding `i` is due at
/// `base + i * DUE_STEP`), so "due by the horizon" is an exact count.
const DUE_STEP_MINUTES: i64 = 1;

/// SQS traffic the pipeline asked for, split as `SqsQueue` splits it (≤ 10 entries and
/// ≤ 256 KiB per SendMessageBatch, per destination queue). SQS bills every 64 KB chunk of a
/// request as one request.
#[derive(Debug, Default, Clone, Copy)]
struct SqsCounts {
    messages: u64,
    batches: u64,
    billed: u64,
    bytes: u64,
}

/// The real `SqsQueue`, with a tally of what passes through it.
#[derive(Clone)]
struct CountingQueue {
    inner: SqsQueue,
    counts: Arc<Mutex<SqsCounts>>,
}

impl CountingQueue {
    fn tally(&self, messages: &[Message]) {
        // The adapter's batching rules (shared/aws/src/sqs.rs), per destination queue.
        let mut per_queue: HashMap<&str, Vec<usize>> = HashMap::new();
        for message in messages {
            let body = serde_json::to_string(message).map_or(0, |b| b.len());
            per_queue
                .entry(message.kind())
                .or_default()
                .push(body + message.kind().len() + 64);
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for sizes in per_queue.values() {
            let mut entries = 0;
            let mut bytes = 0;
            let close = |bytes: usize, counts: &mut SqsCounts| {
                counts.batches += 1;
                counts.billed += bytes.div_ceil(64 * 1024).max(1) as u64;
            };
            for &size in sizes {
                if entries > 0 && (entries == 10 || bytes + size > 256 * 1024) {
                    close(bytes, &mut counts);
                    entries = 0;
                    bytes = 0;
                }
                entries += 1;
                bytes += size;
                counts.messages += 1;
                counts.bytes += size as u64;
            }
            if entries > 0 {
                close(bytes, &mut counts);
            }
        }
    }

    fn counts(&self) -> SqsCounts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Queue for CountingQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), QueueError> {
        self.tally(&messages);
        self.inner.send(messages).await
    }
}

/// Store and queue requests between two moments.
#[derive(Debug, Clone, Copy)]
struct Mark {
    dynamo: RequestCounts,
    sqs: SqsCounts,
    at: Instant,
}

struct Bench {
    store: DynamoStore,
    queue: CountingQueue,
    sqs: aws_sdk_sqs::Client,
    urls: QueueUrls,
    dynamo: aws_sdk_dynamodb::Client,
    rows: Vec<String>,
}

impl Bench {
    async fn new(endpoint: &str, prefix: &str) -> anyhow::Result<Self> {
        let dynamo = moto::dynamo_client(endpoint);
        let table = moto::unique_name(prefix);
        DynamoStore::create_table(&dynamo, &table)
            .await
            .with_context(|| format!("cannot create table {table} on moto at {endpoint}"))?;
        let sqs = moto::sqs_client(endpoint);
        let mut urls = Vec::new();
        for stage in ["triage", "ticket", "notify"] {
            let name = moto::unique_name(&format!("{prefix}-{stage}"));
            let created = sqs
                .create_queue()
                .queue_name(&name)
                .send()
                .await
                .with_context(|| format!("cannot create queue {name}"))?;
            urls.push(created.queue_url().context("moto returns the queue URL")?.to_owned());
        }
        let [triage, ticket, notify] = <[String; 3]>::try_from(urls).map_err(|_| anyhow::anyhow!("three queues"))?;
        let urls = QueueUrls { triage, ticket, notify };
        Ok(Self {
            store: DynamoStore::new(dynamo.clone(), table),
            queue: CountingQueue {
                inner: SqsQueue::new(sqs.clone(), urls.clone()),
                counts: Arc::default(),
            },
            sqs,
            urls,
            dynamo,
            rows: Vec::new(),
        })
    }

    fn pipeline(&self, now: DateTime<Utc>) -> MotoPipeline {
        Pipeline {
            tickets: OutboxTickets(self.store.clone()),
            chat: OutboxChat(self.store.clone()),
            store: self.store.clone(),
            queue: self.queue.clone(),
            clock: FixedClock(now),
            config: Arc::new(Config::default()),
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            dynamo: self.store.request_counts(),
            sqs: self.queue.counts(),
            at: Instant::now(),
        }
    }

    /// Records one row of the table: what happened since `from`.
    fn row(&mut self, what: &str, from: Mark, note: &str) {
        let now = self.mark();
        let row = format!(
            "| {what} | {} | {} | {} | {} | {:.1} | {note} |",
            now.dynamo.writes - from.dynamo.writes,
            now.dynamo.reads - from.dynamo.reads,
            now.sqs.messages - from.sqs.messages,
            now.sqs.billed - from.sqs.billed,
            (now.at - from.at).as_secs_f64(),
        );
        eprintln!("{row}");
        self.rows.push(row);
    }

    /// Every message waiting in `url`, deleted as a Lambda event source mapping would.
    async fn receive_all(&self, url: &str) -> anyhow::Result<Vec<Message>> {
        let mut messages = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .context("receive from moto")?;
            if out.messages().is_empty() {
                return Ok(messages);
            }
            for message in out.messages() {
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                    .send()
                    .await
                    .context("delete from moto")?;
                let body = message.body().context("a message body")?;
                messages.push(serde_json::from_str(body).context("a muster message")?);
            }
        }
    }

    /// Sizes of up to `sample` finding items as DynamoDB counts them (attribute names plus
    /// values), read with the raw client so the store's counters stay untouched.
    async fn item_sizes(&self, fingerprints: &[Fingerprint], sample: usize) -> anyhow::Result<Vec<usize>> {
        let mut sizes = Vec::new();
        let step = (fingerprints.len() / sample.max(1)).max(1);
        for fingerprint in fingerprints.iter().step_by(step).take(sample) {
            let key = HashMap::from([
                (
                    "pk".to_owned(),
                    AttributeValue::S(format!("FINDING#{}", fingerprint.to_hex())),
                ),
                ("sk".to_owned(), AttributeValue::S("FINDING".into())),
            ]);
            let out = self
                .dynamo
                .get_item()
                .table_name(self.store.table())
                .set_key(Some(key))
                .send()
                .await
                .context("read a finding item")?;
            if let Some(item) = out.item() {
                sizes.push(item.iter().map(|(name, value)| name.len() + value_size(value)).sum());
            }
        }
        Ok(sizes)
    }
}

/// DynamoDB's size of an attribute value (numbers approximated as digits / 2 + 1).
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len() / 2 + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        _ => 0,
    }
}

fn describe_sizes(what: &str, sizes: &[usize]) -> String {
    if sizes.is_empty() {
        return format!("{what}: no items read");
    }
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let wru = sizes.iter().map(|s| s.div_ceil(1024)).sum::<usize>() as f64 / sizes.len() as f64;
    let max = sizes.iter().max().copied().unwrap_or_default();
    format!(
        "{what}: {} items sampled, mean {mean:.0} B, max {max} B, mean {wru:.2} write units per put (1 KB each, before index writes)",
        sizes.len()
    )
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .with_context(|| format!("{name}={text:?} is not a whole number")),
        _ => Ok(default),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    // A literal below; parsing it cannot fail.
    DateTime::parse_from_rfc3339(text).map_or_else(|_| Utc::now(), |t| t.to_utc())
}

/// A well-spread fingerprint for seeded finding `i` (splitmix64), so the 8 shards of the
/// due-date index fill evenly, as SHA-256 fingerprints do.
fn seeded_fingerprint(i: u64) -> Fingerprint {
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&x.to_be_bytes());
    bytes[8..].copy_from_slice(&i.to_be_bytes());
    Fingerprint::from_bytes(bytes)
}

/// Peak resident memory of this process so far, in MiB (Linux), and a reset of that peak.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn reset_peak_rss() {
    // "5" resets VmHWM to the current RSS (Linux ≥ 4.0); elsewhere the figure is just higher.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(endpoint) = moto::moto_endpoint() else {
        bail!("no moto: set MUSTER_MOTO_ENDPOINT or put moto_server on PATH (bench/dynamo.sh does)");
    };
    let report_size = env_usize("DYNAMO_REPORT", 20_000)?;
    let open = env_usize("DYNAMO_OPEN", 100_000)?;
    let stages_size = env_usize("DYNAMO_STAGES", 2_000)?;
    let ticket_delay = env_usize("DYNAMO_TICKET_DELAY", 60)?;
    let mut notes = Vec::new();

    // ---- 1. ingest, re-ingest, stages ----------------------------------------------------------
    let mut bench = Bench::new(&endpoint, "muster-dynreq").await?;
    let report = muster_bench::generate_sarif(report_size, 1, 50, 0.0, 7);
    notes.push(format!(
        "report: generated SARIF, {report_size} results, 1 run (one scope), 50 rules, seed 7, {} bytes",
        report.len()
    ));
    let source = SourceName::parse("ci").context("source name")?;
    let request = IngestRequest {
        source: &source,
        format: None,
        event: None,
        bytes: &report,
    };
    let t0 = at("2026-11-01T10:00:00Z");

    let from = bench.mark();
    let first = bench.pipeline(t0).ingest(request).await.context("first ingest")?;
    bench.row(
        &format!("ingest {report_size}-result report (new table)"),
        from,
        &format!("new {}, duplicates {}", first.new, first.duplicates),
    );
    let from = bench.mark();
    let again = bench
        .pipeline(t0 + Duration::hours(1))
        .ingest(request)
        .await
        .context("re-ingest")?;
    bench.row(
        "re-ingest the identical report",
        from,
        &format!(
            "new {}, updated {}, resolved {}",
            again.new, again.updated, again.resolved
        ),
    );

    let fingerprints: Vec<Fingerprint> = {
        let all = bench.store.list_findings(&Default::default()).await?;
        all.iter().map(Finding::fingerprint).collect()
    };
    notes.push(describe_sizes(
        "untriaged finding item (after ingest)",
        &bench.item_sizes(&fingerprints, 200).await?,
    ));

    // The stages a smaller report queued, in the order their Lambdas would run them (on moto the
    // ticket stage handles ~5 messages a second, so 20k findings' worth would take half an hour).
    let mut staged = Bench::new(&endpoint, "muster-dynstage").await?;
    let small = muster_bench::generate_sarif(stages_size, 1, 50, 0.0, 11);
    let from = staged.mark();
    let summary = staged
        .pipeline(t0)
        .ingest(IngestRequest {
            bytes: &small,
            ..request
        })
        .await
        .context("ingest for the stages")?;
    staged.row(
        &format!("ingest {stages_size}-result report (new table)"),
        from,
        &format!("new {}; its stages follow", summary.new),
    );
    // Triage sends its ticket requests at t0 + 1 min; the ticket queue delivers them 60 s later
    // (its DelaySeconds in template.yaml; DYNAMO_TICKET_DELAY changes it). The first request of
    // a group syncs it; the others were sent before that sync read the group, so it covered them.
    let triage_at = t0 + Duration::minutes(1);
    let ticket_at = triage_at + Duration::seconds(ticket_delay as i64);
    for (stage, url, now, note) in [
        ("triage", staged.urls.triage.clone(), triage_at, "Pipeline::handle"),
        (
            "ticket",
            staged.urls.ticket.clone(),
            ticket_at,
            &format!("Pipeline::handle_sent, delivered {ticket_delay} s after sent"),
        ),
        ("notify", staged.urls.notify.clone(), ticket_at, "Pipeline::handle"),
    ] {
        let pipeline = staged.pipeline(now);
        let sent_at = (stage == "ticket").then_some(triage_at);
        let messages = staged.receive_all(&url).await?;
        let from = staged.mark();
        for message in &messages {
            pipeline
                .handle_sent(message, sent_at)
                .await
                .with_context(|| format!("{stage} stage"))?;
        }
        let items_read = staged.store.request_counts().items_read - from.dynamo.items_read;
        staged.row(
            &format!("{stage} stage: {} messages", messages.len()),
            from,
            &format!("handled as the stage Lambda does ({note}); {items_read} items read"),
        );
    }
    let small_fps: Vec<Fingerprint> = {
        let all = staged.store.list_findings(&Default::default()).await?;
        all.iter().map(Finding::fingerprint).collect()
    };
    let triaged = staged.store.findings(&small_fps).await?;
    let tickets = staged.store.tickets().await?;
    notes.push(describe_sizes(
        "triaged finding item",
        &staged.item_sizes(&small_fps, 200).await?,
    ));
    notes.push(format!(
        "after the stages: {} findings, {} triaged, {} tickets (groups)",
        triaged.len(),
        triaged.iter().filter(|f| f.triage.is_some()).count(),
        tickets.len()
    ));

    // ---- 2. sweep over a large open backlog -------------------------------------------------------
    let templates: Vec<Finding> = triaged.into_iter().filter(|f| f.triage.is_some()).collect();
    if templates.is_empty() {
        bail!("triage left no triaged finding to seed the backlog from");
    }
    let mut backlog = Bench::new(&endpoint, "muster-dynsweep").await?;
    let base = at("2026-12-01T00:00:00Z");
    let groups = open.div_ceil(GROUP_SIZE).max(1);
    // Finding i belongs to group i mod groups (GROUP_SIZE findings each, one ticket each).
    let group_key = |i: usize, owner: &str| {
        let g = i % groups;
        GroupKey::parse(&format!("{owner}/github.com/acme/repo-{:02}/fix-{g:05}", g % 97))
    };
    let seed_started = Instant::now();
    let mut chunk = Vec::with_capacity(5_000);
    for i in 0..open {
        let mut finding = templates[i % templates.len()].clone();
        finding.detection.fingerprint = seeded_fingerprint(i as u64);
        finding.status = Status::Open;
        let Some(triage) = finding.triage.as_deref_mut() else {
            continue;
        };
        triage.due_at = base + Duration::minutes(i as i64 * DUE_STEP_MINUTES);
        triage.group = group_key(i, triage.owner.as_str())?;
        chunk.push(finding);
        if chunk.len() == chunk.capacity() || i + 1 == open {
            backlog.store.save_findings(&chunk).await.context("seed findings")?;
            chunk.clear();
        }
    }
    let seeded = backlog.store.request_counts();
    let owner = templates[0]
        .triage
        .as_deref()
        .map(|t| t.owner.to_string())
        .unwrap_or_default();
    let told_at = base - Duration::days(3);
    let mut running = tokio::task::JoinSet::new();
    for g in 0..groups {
        if running.len() >= 16
            && let Some(done) = running.join_next().await
        {
            done??;
        }
        let ticket = Ticket {
            group: group_key(g, &owner)?,
            tracker: "jira".into(),
            key: Some(format!("SEC-{}", 10_000 + g)),
            url: Some(format!("https://acme.atlassian.net/browse/SEC-{}", 10_000 + g)),
            state: TicketState::Open,
            digest: Some(format!("{:032x}", g)),
            updated_at: told_at,
            acknowledged: None,
            told: Some(Told {
                rung: Rung::New,
                at: told_at,
            }),
            summary: None,
        };
        let store = backlog.store.clone();
        running.spawn(async move { store.save_ticket(&ticket).await });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    let seed_counts = backlog.store.request_counts();
    notes.push(format!(
        "backlog seeded in {:.0} s: {open} open triaged findings ({} BatchWriteItem calls), {groups} tickets \
         ({} PutItem calls); finding i due at {base} + i min, group i mod {groups}",
        seed_started.elapsed().as_secs_f64(),
        seeded.writes,
        seed_counts.writes - seeded.writes,
    ));
    let sample: Vec<Fingerprint> = (0..open as u64).map(seeded_fingerprint).collect();
    notes.push(describe_sizes(
        "seeded open triaged finding item",
        &backlog.item_sizes(&sample, 200).await?,
    ));

    let reminder = Duration::days(i64::from(Config::default().sweep.reminder_days));
    for due in [100usize, 1_000] {
        if due > open {
            continue;
        }
        // Findings 0..due are due by the horizon (now + reminder_days); finding `due` is not.
        let horizon = base + Duration::minutes((due as i64 - 1) * DUE_STEP_MINUTES) + Duration::seconds(30);
        let now = horizon - reminder;
        let pipeline = backlog.pipeline(now);
        let job = LambdaEvent::new(ScheduledJob { job: "sweep".into() }, Context::default());
        reset_peak_rss();
        let rss_before = peak_rss_mib();
        let from = backlog.mark();
        let swept = run_sweep(&pipeline, job)
            .await
            .map_err(|e| anyhow::anyhow!("sweep: {e}"))?;
        let rss = match (rss_before, peak_rss_mib()) {
            (Some(before), Some(after)) => format!("; peak RSS {after:.0} MiB (from {before:.0})"),
            _ => String::new(),
        };
        backlog.row(
            &format!("sweep Lambda (`run_sweep`), {open} open, {due} due"),
            from,
            &format!(
                "due soon {}, breached {}, messages {}{rss}",
                swept.due_soon, swept.breached, swept.messages
            ),
        );
        if due == 100 {
            // The SLA half again at the same instant (nothing left to tell: reads only); the
            // rest of the job's reads are the expired-acceptance review.
            let from = backlog.mark();
            pipeline.sweep(now).await.context("SLA sweep")?;
            backlog.row(
                &format!("  SLA sweep alone (`Pipeline::sweep`), {due} due, repeated"),
                from,
                "all told already; run_sweep minus this = expired-acceptance review",
            );
        }
    }

    // ---- the table ---------------------------------------------------------------------------------
    println!(
        "| step | DynamoDB write requests | DynamoDB read requests | SQS messages | SQS billed requests | seconds (moto) | notes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for row in bench.rows.iter().chain(&staged.rows).chain(&backlog.rows) {
        println!("{row}");
    }
    println!();
    for note in notes {
        println!("- {note}");
    }
    println!(
        "- write requests count PutItem, UpdateItem, DeleteItem and BatchWriteItem calls (each retry); read \
         requests count GetItem, BatchGetItem, Query and Scan calls (each page)"
    );
    Ok(())
}
