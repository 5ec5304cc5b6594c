//! CloudWatch Embedded Metric Format: each `muster_core::metric!` event becomes one JSON line on
//! stdout that CloudWatch Logs turns into metrics (namespace `muster`, dimension `function` plus
//! the event's string fields), with no PutMetricData call and no extra latency.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write as _;

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// The target metric events are emitted on (`muster_core::metrics::TARGET`).
pub const METRICS_TARGET: &str = "muster::metrics";

/// The CloudWatch namespace of muster's metrics.
pub const NAMESPACE: &str = "muster";

/// Writes metric events as EMF lines through `writer`.
pub struct EmfLayer<W> {
    writer: W,
    function: String,
}

impl<W> EmfLayer<W> {
    /// `function` is the value of the `function` dimension (the Lambda function's name).
    pub fn new(writer: W, function: impl Into<String>) -> Self {
        Self {
            writer,
            function: function.into(),
        }
    }
}

#[derive(Default)]
struct Fields {
    metrics: Vec<(String, Value)>,
    dimensions: Vec<(String, String)>,
}

impl Fields {
    fn metric(&mut self, field: &Field, value: Value) {
        self.metrics.push((field.name().to_owned(), value));
    }
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.metric(field, json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.metric(field, json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.metric(field, json!(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.dimensions.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() != "message" {
            self.dimensions.push((field.name().to_owned(), format!("{value:?}")));
        }
    }
}

/// The EMF document of one metric event, or `None` when it carries no numeric field.
fn document(function: &str, fields: Fields, timestamp_ms: i64) -> Option<Value> {
    if fields.metrics.is_empty() {
        return None;
    }
    let mut root = Map::new();
    let mut dimension_names = vec![Value::from("function")];
    root.insert("function".into(), Value::from(function));
    for (name, value) in fields.dimensions {
        dimension_names.push(Value::from(name.clone()));
        root.insert(name, Value::from(value));
    }
    let mut definitions = Vec::with_capacity(fields.metrics.len());
    for (name, value) in fields.metrics {
        let unit = if name.ends_with("_ms") { "Milliseconds" } else { "Count" };
        definitions.push(json!({ "Name": name, "Unit": unit }));
        root.insert(name, value);
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimension_names],
                "Metrics": definitions,
            }],
        }),
    );
    Some(Value::Object(root))
}

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != METRICS_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if let Some(document) = document(&self.function, fields, now) {
            let mut line = document.to_string();
            line.push('\n');
            // One write per line, so concurrent lines never interleave.
            let _ = self.writer.make_writer().write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn metric_events_become_emf_lines_and_other_events_do_not() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(EmfLayer::new(captured.clone(), "muster-ticket"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "muster::metrics", tracker = "jira", groups_ticketed = 1_u64);
            tracing::info!(target: "muster::metrics", kind = "sweep", messages_sent = 3_u64, sweep_duration_ms = 42_u64);
            tracing::info!(groups_ticketed = 9_u64, "an ordinary log line");
            tracing::info!(target: "muster::metrics", only = "a dimension");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");

        let ticketed = &lines[0];
        assert_eq!(ticketed["function"], "muster-ticket");
        assert_eq!(ticketed["tracker"], "jira");
        assert_eq!(ticketed["groups_ticketed"], 1);
        let directive = &ticketed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "muster");
        assert_eq!(directive["Dimensions"], json!([["function", "tracker"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "groups_ticketed", "Unit": "Count" }])
        );
        assert!(ticketed["_aws"]["Timestamp"].as_i64().unwrap() > 1_700_000_000_000);

        let sweep = &lines[1];
        assert_eq!(
            (sweep["messages_sent"].as_u64(), sweep["sweep_duration_ms"].as_u64()),
            (Some(3), Some(42))
        );
        assert_eq!(
            sweep["_aws"]["CloudWatchMetrics"][0]["Metrics"][1],
            json!({ "Name": "sweep_duration_ms", "Unit": "Milliseconds" })
        );
    }
}
