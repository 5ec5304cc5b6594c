//! Operational counts (findings received, new and resolved; groups ticketed and closed;
//! messages sent; failures by stage; sweep durations) as `tracing` events on target [`TARGET`]:
//! numeric fields are metric values, string fields their dimensions. Inside Lambda,
//! `muster-runtime` writes each as one CloudWatch Embedded Metric Format line, which CloudWatch
//! turns into metrics without an API call; elsewhere they are ordinary `info` log lines.
//!
//! Names are snake_case; a name ending in `_ms` is a duration in milliseconds, any other a count.

/// The `tracing` target of metric events.
pub const TARGET: &str = "muster::metrics";

/// Records metric values: `metric!(findings_new = summary.new, findings_resolved = 3_u64)`, with
/// optional string dimensions: `metric!(stage = "ticket", failures = 1_u64)`. Keep dimension
/// values few (a stage, a tracker): every distinct value is a separate CloudWatch metric.
#[macro_export]
macro_rules! metric {
    ($($fields:tt)+) => {
        ::tracing::info!(target: "muster::metrics", $($fields)+)
    };
}
