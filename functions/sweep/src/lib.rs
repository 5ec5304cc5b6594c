//! The scheduled `sweep` job: expired risk acceptances reopen, then the SLA sweep reminds and
//! escalates — the same services `muster serve` runs hourly on one machine.

use lambda_runtime::LambdaEvent;
use muster_core::ports::{ChatSink, Clock, Queue, Store, TicketSink};
use muster_core::services::Pipeline;
use muster_core::services::sweep::SweepReport;
use muster_core::services::triage::review_acceptances;
use serde::Deserialize;

/// What the schedule sends. EventBridge Scheduler (ScheduleV2) delivers its `Input` verbatim,
/// without an envelope: `{"job": "sweep"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledJob {
    pub job: String,
}

/// Runs one scheduled invocation. An error fails the invocation, so the scheduler retries it
/// and the function's error alarm sees it; the sweep is idempotent, so a retry repeats nothing.
pub async fn run_sweep<S, Q, T, N, C>(
    pipeline: &Pipeline<S, Q, T, N, C>,
    event: LambdaEvent<ScheduledJob>,
) -> Result<SweepReport, lambda_runtime::Error>
where
    S: Store,
    Q: Queue,
    T: TicketSink,
    N: ChatSink,
    C: Clock,
{
    let job = event.payload.job;
    if job == "digest" {
        let now = pipeline.clock.now();
        let notify = &pipeline.config.notify;
        // The schedule picks the hour; the setting still decides daily, Mondays only, or off.
        if let Some(period) = notify.digest.period_at(now, 0) {
            let posted = pipeline.post_digests(now, period).await?;
            tracing::info!(posted, "digests");
        }
        return Ok(SweepReport::default());
    }
    if job != "sweep" {
        return Err(format!("the sweep function runs the \"sweep\" or \"digest\" job, not {job:?}").into());
    }
    let started = std::time::Instant::now();
    let expired = review_acceptances(&pipeline.store, &pipeline.queue, &pipeline.clock).await?;
    let report = pipeline.sweep(pipeline.clock.now()).await?;
    tracing::info!(
        expired_acceptances = expired,
        new = report.new,
        due_soon = report.due_soon,
        breached = report.breached,
        long_breached = report.long_breached,
        acknowledged = report.acknowledged,
        quiet = report.quiet,
        messages = report.messages,
        duration_ms = started.elapsed().as_millis() as u64,
        "SLA sweep"
    );
    Ok(report)
}
