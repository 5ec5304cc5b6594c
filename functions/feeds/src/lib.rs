//! The scheduled `feeds` job: download the CISA KEV catalog and FIRST's EPSS scores, store
//! them, and queue the re-scoring of every open finding whose CVE changed — the same
//! `import_intel` service `muster intel fetch` runs locally.

use lambda_runtime::LambdaEvent;
use muster_core::ports::{FindingStore, IntelStore, Queue};
use muster_core::services::context::{ImportSummary, import_intel};
use muster_feeds::FeedClient;
use serde::Deserialize;

/// What the schedule sends. EventBridge Scheduler (ScheduleV2) delivers its `Input` verbatim,
/// without an EventBridge envelope: `{"job": "feeds"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledJob {
    pub job: String,
}

/// Where the feeds are read from; `MUSTER_KEV_URL` / `MUSTER_EPSS_URL` override the public
/// URLs (a mirror, or a local server in tests).
#[derive(Debug, Clone)]
pub struct FeedUrls {
    pub kev: String,
    pub epss: String,
}

impl FeedUrls {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            kev: var("MUSTER_KEV_URL", muster_feeds::KEV_URL),
            epss: var("MUSTER_EPSS_URL", muster_feeds::EPSS_URL),
        }
    }
}

/// Runs one scheduled invocation. An error fails the invocation, so the scheduler's retry
/// policy and the function's error alarm see it; nothing is stored unless both feeds parsed.
pub async fn run_feeds<S, Q>(
    store: &S,
    queue: &Q,
    client: &FeedClient,
    urls: &FeedUrls,
    event: LambdaEvent<ScheduledJob>,
) -> Result<ImportSummary, lambda_runtime::Error>
where
    S: FindingStore + IntelStore,
    Q: Queue,
{
    let job = event.payload.job;
    if job != "feeds" {
        return Err(format!("the feeds function runs the \"feeds\" job, not {job:?}").into());
    }
    let kev = client.fetch_kev(&urls.kev).await?;
    let epss = client.fetch_epss(&urls.epss).await?;
    let (kev_entries, epss_scores) = (kev.entries.len(), epss.scores.len());
    let summary = import_intel(store, queue, Some(kev), Some(epss)).await?;
    tracing::info!(
        kev_entries,
        epss_scores,
        changed_cves = summary.changed_cves,
        rescored = summary.rescored,
        "threat intel imported"
    );
    Ok(summary)
}
