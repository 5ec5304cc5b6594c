//! Ingest: parse a report, diff each scope against its previous run, hand changes to triage.
//!
//! Where the stages run in one process (the embedded pipeline), ingest triages what it creates
//! or changes itself, before the first write, and hands the groups straight to the ticket
//! stage: a stage boundary there buys no parallelism and would write every new finding twice.
//! On Lambda, triage stays a stage of its own, so the webhook is answered without it.
//!
//! Re-ingesting an unchanged report costs one write (the run record) and no per-finding
//! writes. Findings are saved before messages are sent and the run is recorded last, so a crash
//! or a queue outage at any point is repaired by sending the same report again.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::PipelineError;
use super::triage::{TriageInputs, decide};
use crate::config::Config;
use crate::formats::{Format, ParseContext, Report, parse_report};
use crate::messages::Message;
use crate::model::{
    AssetKey, Detection, Finding, Fingerprint, GroupKey, Reported, ScanRun, ScopeKey, SourceName, Status, Tool,
};
use crate::ports::{Clock, ContextStore, FindingStore, IntelStore, Queue, RunStore};

/// Findings written per store call during ingest.
const SAVE_BATCH: usize = 2_000;

/// One report to ingest.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    pub source: &'a SourceName,
    /// `None` detects the format from the content.
    pub format: Option<Format>,
    /// Webhook event name (GitHub's `X-GitHub-Event`), when the transport carries one.
    pub event: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// Where the findings an ingest creates or changes are triaged.
#[derive(Debug, Clone, Copy)]
pub enum TriageAt<'a> {
    /// By the triage stage, through the queue.
    Stage,
    /// By ingest itself, before they are first stored.
    Ingest(&'a Config),
}

/// What an ingest did; the webhook's 202 body and `muster ingest`'s output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    pub run_id: String,
    /// Results in the report that are not suppressed.
    pub received: u64,
    /// Findings seen for the first time.
    pub new: u64,
    /// Known findings that changed (content, reopened, seen by another scanner).
    pub updated: u64,
    /// Findings that a scope no longer reports, or that the scanner now suppresses.
    pub resolved: u64,
    /// Results that repeat a fingerprint already in the same scan.
    pub duplicates: u64,
}

/// Parses and applies a report. Nothing is written unless the whole report parsed.
pub async fn ingest<S, Q, C>(
    store: &S,
    queue: &Q,
    clock: &C,
    triage_at: TriageAt<'_>,
    request: IngestRequest<'_>,
) -> Result<IngestSummary, PipelineError>
where
    S: FindingStore + RunStore + ContextStore + IntelStore,
    Q: Queue,
    C: Clock,
{
    let ctx = ParseContext::for_source(request.source.clone()).with_event(request.event.map(str::to_owned));
    let report = parse_report(request.bytes, request.format, &ctx)?;
    apply_report(store, queue, clock, triage_at, request.source, report).await
}

/// Applies a parsed report: callers that parse themselves can drop the raw bytes first, so a
/// large report never sits in memory twice.
pub async fn apply_report<S, Q, C>(
    store: &S,
    queue: &Q,
    clock: &C,
    triage_at: TriageAt<'_>,
    source: &SourceName,
    report: Report,
) -> Result<IngestSummary, PipelineError>
where
    S: FindingStore + RunStore + ContextStore + IntelStore,
    Q: Queue,
    C: Clock,
{
    let now = clock.now();
    let run_id = run_id(source, now, &report);
    tracing::info!(
        source = %source,
        format = %report.format,
        results = report.detection_count(),
        run_id = %run_id,
        "report parsed"
    );

    // Runs of one tool over one asset are one scope, even when a report splits them.
    let mut scopes: BTreeMap<ScopeKey, ScopeScan> = BTreeMap::new();
    for scan in report.scans {
        let scope = ScopeKey::new(source, &scan.tool.name, &scan.asset);
        let entry = scopes.entry(scope).or_insert_with(|| ScopeScan {
            tool: scan.tool,
            asset: scan.asset,
            detections: Vec::new(),
            complete: true,
        });
        entry.detections.extend(scan.detections);
        entry.complete &= scan.complete;
    }

    let mut summary = IngestSummary {
        run_id: run_id.clone(),
        ..IngestSummary::default()
    };
    for (scope, scan) in scopes {
        let scope_run = ScopeIngest {
            scope,
            tool: scan.tool,
            asset: scan.asset,
            complete: scan.complete,
            run_id: &run_id,
            now,
            triage_at,
        };
        scope_run.apply(store, queue, scan.detections, &mut summary).await?;
    }
    tracing::info!(?summary, "report ingested");
    crate::metric!(
        findings_received = summary.received,
        findings_new = summary.new,
        findings_updated = summary.updated,
        findings_resolved = summary.resolved,
    );
    Ok(summary)
}

/// Triages the open findings of `changed` in place and queues their groups, old and new, for
/// the ticket stage. Returns the fingerprints it triaged.
async fn triage_here<S>(
    store: &S,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
    changed: &mut [Finding],
    to_ticket: &mut Vec<GroupKey>,
) -> Result<HashSet<Fingerprint>, PipelineError>
where
    S: ContextStore + IntelStore,
{
    let mut triaged = HashSet::new();
    if !changed.iter().any(|f| f.status.is_open()) {
        return Ok(triaged);
    }
    let inputs = TriageInputs::load(store, config, changed).await?;
    let ctx = inputs.context(config);
    for finding in changed.iter_mut().filter(|f| f.status.is_open()) {
        to_ticket.extend(finding.group().cloned());
        decide(finding, &ctx, now);
        to_ticket.extend(finding.group().cloned());
        triaged.insert(finding.fingerprint());
    }
    Ok(triaged)
}

/// Sortable by time, distinct per source and report.
fn run_id(source: &SourceName, now: chrono::DateTime<chrono::Utc>, report: &Report) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_str());
    hasher.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    for scan in &report.scans {
        hasher.update(scan.asset.as_str());
        hasher.update((scan.detections.len() as u64).to_le_bytes());
        if let Some(first) = scan.detections.first() {
            hasher.update(first.fingerprint.as_bytes());
        }
    }
    let digest = hasher.finalize();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"), hex::encode(&digest[..4]))
}

/// What one report says about one scope.
struct ScopeScan {
    tool: Tool,
    asset: AssetKey,
    detections: Vec<Detection>,
    complete: bool,
}

struct ScopeIngest<'a> {
    scope: ScopeKey,
    tool: Tool,
    asset: AssetKey,
    /// Only a complete scan resolves what it no longer lists, and only its fingerprint set is
    /// kept as the scope's latest run.
    complete: bool,
    run_id: &'a str,
    now: chrono::DateTime<chrono::Utc>,
    triage_at: TriageAt<'a>,
}

impl ScopeIngest<'_> {
    async fn apply<S, Q>(
        self,
        store: &S,
        queue: &Q,
        mut detections: Vec<Detection>,
        summary: &mut IngestSummary,
    ) -> Result<(), PipelineError>
    where
        S: FindingStore + RunStore + ContextStore + IntelStore,
        Q: Queue,
    {
        summary.received += detections.iter().filter(|d| d.is_open()).count() as u64;

        // Dedupe within the scan: the first report of a fingerprint wins, except that an
        // open report beats a suppressed or resolved one.
        detections.sort_by_key(|d| (d.fingerprint, d.reported));
        let before = detections.len();
        detections.dedup_by_key(|d| d.fingerprint);
        summary.duplicates += (before - detections.len()) as u64;

        let hashes: Vec<[u8; 16]> = detections.iter().map(Detection::content_hash).collect();
        let digest = run_digest(&detections, &hashes);
        let fingerprints: Vec<Fingerprint> = detections.iter().map(|d| d.fingerprint).collect();
        let run = ScanRun {
            id: self.run_id.to_owned(),
            scope: self.scope.clone(),
            at: self.now,
            received: detections.len() as u64,
            digest,
            fingerprints,
        };

        let previous = match self.complete {
            true => store.latest_run(&self.scope).await?,
            false => None,
        };
        if previous.as_ref().is_some_and(|p| p.digest == digest) {
            store.record_run(&run).await?;
            return Ok(());
        }

        let missing: Vec<Fingerprint> = match &previous {
            Some(previous) => sorted_difference(&previous.fingerprints, &run.fingerprints),
            None => Vec::new(),
        };
        let mut lookup = run.fingerprints.clone();
        lookup.extend_from_slice(&missing);
        let mut existing: HashMap<Fingerprint, Finding> = store
            .findings(&lookup)
            .await?
            .into_iter()
            .map(|f| (f.fingerprint(), f))
            .collect();

        // Sized up front: a first scan changes every finding, and regrowing a vector of whole
        // findings copies them all at each doubling.
        let mut changed = Vec::with_capacity(detections.len() + missing.len());
        let mut to_triage = Vec::new();
        let mut to_ticket = Vec::new();
        for (detection, hash) in detections.into_iter().zip(hashes) {
            match existing.remove(&detection.fingerprint) {
                None => {
                    let finding = self.new_finding(detection);
                    if finding.status.is_open() {
                        summary.new += 1;
                        to_triage.push(finding.fingerprint());
                    }
                    changed.push(finding);
                }
                Some(finding) => {
                    let outcome = self.reseen(finding, detection, hash);
                    match outcome.effect {
                        Effect::None => {}
                        Effect::Updated => summary.updated += 1,
                        Effect::Resolved => summary.resolved += 1,
                    }
                    let finding = outcome.finding;
                    if finding.status.is_open() && (outcome.effect != Effect::None || finding.triage.is_none()) {
                        to_triage.push(finding.fingerprint());
                    } else if self.handed_on_before(previous.as_ref(), &finding) == Some(false) {
                        to_ticket.extend(finding.group().cloned());
                    }
                    if !finding.status.is_open()
                        && let Some(group) = finding.group()
                    {
                        to_ticket.push(group.clone());
                    }
                    if outcome.effect != Effect::None {
                        changed.push(finding);
                    }
                }
            }
        }
        for fingerprint in missing {
            let Some(mut finding) = existing.remove(&fingerprint) else {
                continue;
            };
            let was_open = finding.status.is_open();
            let seen_before = finding.seen_by.len();
            finding.seen_by.retain(|s| *s != self.scope);
            if finding.seen_by.is_empty() && was_open {
                finding.status = Status::Resolved;
                finding.resolved_at = Some(self.now);
                finding.push_timeline(self.now, "resolved", format!("no longer reported by {}", self.scope));
                summary.resolved += 1;
            }
            // A resolved group is re-announced on every retry until the run is recorded.
            if !finding.status.is_open()
                && let Some(group) = finding.group()
            {
                to_ticket.push(group.clone());
            }
            if finding.seen_by.len() != seen_before || finding.status.is_open() != was_open {
                changed.push(finding);
            }
        }

        if let TriageAt::Ingest(config) = self.triage_at {
            let triaged = triage_here(store, config, self.now, &mut changed, &mut to_ticket).await?;
            to_triage.retain(|fingerprint| !triaged.contains(fingerprint));
        }

        // Bounded batches keep the serialized rows of a huge first scan out of memory at once;
        // the run is recorded last, so a failure part-way is repaired by the next delivery.
        for batch in changed.chunks(SAVE_BATCH) {
            store.save_findings(batch).await?;
        }
        drop(changed);
        to_ticket.sort();
        to_ticket.dedup();
        let messages: Vec<Message> = Message::triage_batches(&to_triage)
            .chain(to_ticket.into_iter().map(|group| Message::Ticket { group }))
            .collect();
        if !messages.is_empty() {
            queue.send(messages).await?;
        }
        if self.complete {
            store.record_run(&run).await?;
        }
        Ok(())
    }

    /// Whether an unchanged, triaged, open finding's group was handed to the ticket stage by an
    /// earlier delivery, when ingest triages: a finding that is in this complete scan but not in
    /// the scope's recorded run was written by a delivery that stopped before it recorded the
    /// run, perhaps before it sent the group on. `None` when that cannot be told (the triage
    /// stage's own marker, no triage yet, covers the other cases).
    fn handed_on_before(&self, previous: Option<&ScanRun>, finding: &Finding) -> Option<bool> {
        let triaged_here = matches!(self.triage_at, TriageAt::Ingest(_));
        if !triaged_here || !self.complete || !finding.status.is_open() || finding.triage.is_none() {
            return None;
        }
        let fingerprint = finding.fingerprint();
        Some(previous.is_some_and(|run| run.fingerprints.binary_search(&fingerprint).is_ok()))
    }

    fn new_finding(&self, detection: Detection) -> Finding {
        let status = reported_status(detection.reported);
        Finding {
            seen_by: match detection.reported {
                Reported::Resolved => Vec::new(),
                _ => vec![self.scope.clone()],
            },
            detection,
            tool: self.tool.clone(),
            asset: self.asset.clone(),
            status,
            first_seen: self.now,
            last_seen: self.now,
            resolved_at: (!status.is_open()).then_some(self.now),
            triage: None,
            acceptance: None,
            clock_start: None,
            rerouted: None,
            // First seen is a field; the timeline starts with triage, so a 200k-finding report
            // does not carry 200k copies of the same line through the diff.
            timeline: Vec::new(),
        }
    }

    fn reseen(&self, mut finding: Finding, detection: Detection, hash: [u8; 16]) -> Reseen {
        let mut effect = Effect::None;
        if finding.detection.content_hash() != hash {
            effect = Effect::Updated;
        }
        let sees = detection.reported != Reported::Resolved;
        if sees && !finding.seen_by.contains(&self.scope) {
            finding.seen_by.push(self.scope.clone());
            effect = Effect::Updated;
        } else if !sees && finding.seen_by.contains(&self.scope) {
            finding.seen_by.retain(|s| *s != self.scope);
            effect = Effect::Updated;
        }
        if !detection.is_open() && finding.status.is_open() {
            finding.status = reported_status(detection.reported);
            finding.resolved_at = Some(self.now);
            let reason = detection
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            finding.push_timeline(
                self.now,
                finding.status.as_str(),
                format!("{} says so{reason}", self.scope),
            );
            effect = Effect::Resolved;
        } else if detection.is_open() && !finding.status.is_open() {
            finding.status = Status::Reopened;
            finding.resolved_at = None;
            finding.push_timeline(self.now, "reopened", format!("reported again by {}", self.scope));
            effect = Effect::Updated;
        }
        if effect != Effect::None {
            finding.detection = detection;
            finding.last_seen = self.now;
        }
        Reseen { finding, effect }
    }
}

/// The status a first report gives a finding.
fn reported_status(reported: Reported) -> Status {
    match reported {
        Reported::Open => Status::Open,
        Reported::Suppressed => Status::Suppressed,
        Reported::Resolved => Status::Resolved,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    None,
    Updated,
    Resolved,
}

struct Reseen {
    finding: Finding,
    effect: Effect,
}

/// Order-independent digest of a scan: detections are sorted by fingerprint beforehand.
fn run_digest(detections: &[Detection], hashes: &[[u8; 16]]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for (detection, hash) in detections.iter().zip(hashes) {
        hasher.update(detection.fingerprint.as_bytes());
        hasher.update(hash);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Elements of sorted `a` that are not in sorted `b`.
fn sorted_difference(a: &[Fingerprint], b: &[Fingerprint]) -> Vec<Fingerprint> {
    let mut out = Vec::new();
    let mut j = 0;
    for x in a {
        while j < b.len() && b[j] < *x {
            j += 1;
        }
        if j >= b.len() || b[j] != *x {
            out.push(*x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 16])
    }

    #[test]
    fn sorted_difference_keeps_only_missing() {
        let a = [fp(1), fp(2), fp(3), fp(5)];
        let b = [fp(2), fp(4), fp(5)];
        assert_eq!(sorted_difference(&a, &b), vec![fp(1), fp(3)]);
        assert_eq!(sorted_difference(&a, &[]), a.to_vec());
        assert!(sorted_difference(&[], &b).is_empty());
    }
}
