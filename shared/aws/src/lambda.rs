//! Glue shared by the SQS-triggered Lambda functions (triage, ticket, notify): the pipeline
//! built once per cold start from the environment, and one batch handler that runs each record
//! through `Pipeline::handle`.
//!
//! The handler parses every record on its own and answers with `batchItemFailures`
//! (shared/notes/aws-rust.md, trap 4): one bad record never fails its neighbours, and nothing is
//! dropped silently — a record that does not parse or whose stage fails is reported, so SQS
//! delivers it again and, after the queue's `maxReceiveCount`, moves it to the DLQ (alarmed).

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use muster_core::config::{Config, ConfigError};
use muster_core::messages::Message;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::{ChatSink, Clock, Queue, Store, SystemClock, TicketSink};
use muster_core::services::Pipeline;

use crate::{DynamoStore, QueueUrls, SqsQueue};

/// The pipeline every SQS function runs: DynamoDB, SQS, the outbox as ticket and chat sinks,
/// the wall clock.
pub type AwsPipeline =
    Pipeline<DynamoStore, SqsQueue, OutboxTickets<DynamoStore>, OutboxChat<DynamoStore>, SystemClock>;

/// DynamoDB table name.
pub const ENV_TABLE: &str = "MUSTER_TABLE";
/// Queue URLs, one per stage (the SQS adapter routes by message kind and takes all three).
pub const ENV_TRIAGE_QUEUE_URL: &str = "MUSTER_TRIAGE_QUEUE_URL";
pub const ENV_TICKET_QUEUE_URL: &str = "MUSTER_TICKET_QUEUE_URL";
pub const ENV_NOTIFY_QUEUE_URL: &str = "MUSTER_NOTIFY_QUEUE_URL";
/// `score` or `bod-26-04`; unset keeps the default.
pub const ENV_SCORING_POLICY: &str = "MUSTER_SCORING_POLICY";
/// Days resolved findings are kept before the table's TTL removes them (default 365, 0 = keep).
pub const ENV_RETENTION_DAYS: &str = "MUSTER_RETENTION_DAYS";
/// SLA days per tier; unset keeps the defaults.
pub const ENV_SLA_DAYS: [(&str, &str); 4] = [
    ("MUSTER_SLA_P1_DAYS", "P1"),
    ("MUSTER_SLA_P2_DAYS", "P2"),
    ("MUSTER_SLA_P3_DAYS", "P3"),
    ("MUSTER_SLA_P4_DAYS", "P4"),
];

/// Why a function cannot start: its environment is incomplete or wrong.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("configuration from the environment is invalid: {0}")]
    Config(#[from] ConfigError),
}

/// Looks up one variable: `Ok(None)` when unset or blank.
type Lookup<'a> = &'a dyn Fn(&'static str) -> Result<Option<String>, EnvError>;

/// Reads a process environment variable; blank counts as unset.
fn process_env(name: &'static str) -> Result<Option<String>, EnvError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(EnvError::Invalid {
            name,
            message: "not valid UTF-8".into(),
        }),
    }
}

fn required(env: Lookup<'_>, name: &'static str) -> Result<String, EnvError> {
    env(name)?.ok_or(EnvError::Missing(name))
}

/// The configuration: `Config::default()` with the SLA days and scoring policy the environment
/// sets, validated whole (a more urgent tier may not get more days, …).
pub fn config_from_env() -> Result<Config, EnvError> {
    config_from(&process_env)
}

fn config_from(env: Lookup<'_>) -> Result<Config, EnvError> {
    // Built as TOML so `Config::from_toml` applies the same validation as `muster.toml`. Only
    // checked values go into the text: numbers and one of two known policy names.
    let mut sla = String::new();
    for (name, tier) in ENV_SLA_DAYS {
        if let Some(value) = env(name)? {
            let days: u32 = value.parse().map_err(|_| EnvError::Invalid {
                name,
                message: format!("{value:?} is not a whole number of days"),
            })?;
            sla.push_str(&format!("{tier} = {days}\n"));
        }
    }
    let mut toml = String::new();
    if !sla.is_empty() {
        toml.push_str("[sla]\n");
        toml.push_str(&sla);
    }
    if let Some(policy) = env(ENV_SCORING_POLICY)? {
        if !matches!(policy.as_str(), "score" | "bod-26-04") {
            return Err(EnvError::Invalid {
                name: ENV_SCORING_POLICY,
                message: format!("{policy:?} is neither \"score\" nor \"bod-26-04\""),
            });
        }
        toml.push_str(&format!("[scoring]\npolicy = \"{policy}\"\n"));
    }
    Ok(Config::from_toml(&toml, "environment")?)
}

/// `MUSTER_RETENTION_DAYS`: days resolved findings are kept (default 365; 0 keeps them).
fn retention_days(env: Lookup<'_>) -> Result<Option<u32>, EnvError> {
    let Some(value) = env(ENV_RETENTION_DAYS)? else {
        return Ok(Some(crate::DEFAULT_RETENTION_DAYS));
    };
    let days: u32 = value.parse().map_err(|_| EnvError::Invalid {
        name: ENV_RETENTION_DAYS,
        message: format!("{value:?} is not a whole number of days"),
    })?;
    Ok((days > 0).then_some(days))
}

/// Table and queue URLs.
fn locations(env: Lookup<'_>) -> Result<(String, QueueUrls), EnvError> {
    let table = required(env, ENV_TABLE)?;
    let urls = QueueUrls {
        triage: required(env, ENV_TRIAGE_QUEUE_URL)?,
        ticket: required(env, ENV_TICKET_QUEUE_URL)?,
        notify: required(env, ENV_NOTIFY_QUEUE_URL)?,
    };
    Ok((table, urls))
}

/// Builds the pipeline from the environment, once per cold start. The SDK reads region and
/// credentials from the Lambda environment (and `AWS_ENDPOINT_URL`, which tests point at moto).
/// Everything is checked before the SDK loads, so a bad deployment fails at once and says which
/// variable is wrong.
pub async fn pipeline_from_env() -> Result<AwsPipeline, EnvError> {
    let (table, urls) = locations(&process_env)?;
    let config = config_from_env()?;
    let retention = retention_days(&process_env)?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table).with_retention_days(retention);
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), urls);
    Ok(Pipeline {
        tickets: OutboxTickets(store.clone()),
        chat: OutboxChat(store.clone()),
        store,
        queue,
        clock: SystemClock,
        config: Arc::new(config),
    })
}

/// Runs each record of an SQS batch through `pipeline.handle`, one by one, and reports the
/// records that failed (unparseable bodies included) as `batchItemFailures`.
///
/// Returns `Err` — failing the whole batch, so every record comes back — only when a failed
/// record has no message id to report it by.
pub async fn handle_sqs<S, Q, T, N, C>(
    pipeline: &Pipeline<S, Q, T, N, C>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    S: Store,
    Q: Queue,
    T: TicketSink,
    N: ChatSink,
    C: Clock,
{
    let records = event.payload.records;
    let mut failures = Vec::new();
    let mut unidentified = 0usize;
    for record in &records {
        let id = record.message_id.as_deref();
        let message_id = id.unwrap_or("<no message id>");
        let handled = match parse_record(message_id, record.body.as_deref()) {
            None => false,
            Some(message) => match pipeline.handle(&message).await {
                Ok(()) => {
                    tracing::debug!(message_id, kind = message.kind(), "message handled");
                    true
                }
                Err(error) => {
                    tracing::error!(
                        message_id,
                        kind = message.kind(),
                        retryable = error.is_retryable(),
                        retry_after_ms = error.retry_after().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        error = %error,
                        "stage failed; reported as failed"
                    );
                    false
                }
            },
        };
        if !handled {
            match id {
                Some(id) => {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id.to_owned();
                    failures.push(failure);
                }
                None => unidentified += 1,
            }
        }
    }
    if unidentified > 0 {
        tracing::error!(
            unidentified,
            records = records.len(),
            "failed records without a message id; failing the whole batch"
        );
        return Err(format!("{unidentified} failed record(s) have no message id; the whole batch is retried").into());
    }
    tracing::info!(records = records.len(), failed = failures.len(), "batch done");
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(response)
}

/// A record's message, or `None` (logged) when it has no body or the body is not a message.
/// The body itself is never logged: it may name repositories and paths.
fn parse_record(message_id: &str, body: Option<&str>) -> Option<Message> {
    let Some(body) = body else {
        tracing::error!(message_id, "record has no body; reported as failed");
        return None;
    };
    match serde_json::from_str(body) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::error!(
                message_id,
                body_bytes = body.len(),
                error = %error,
                "record body is not a muster message; reported as failed (DLQ after max receives)"
            );
            None
        }
    }
}

/// The whole life of an SQS-driven function after `muster_runtime::init`: build the pipeline
/// once per cold start, then hand every batch to [`handle_sqs`]. A configuration error is
/// logged and ends the process with a failure code instead of a panic.
pub async fn serve_sqs(function: &str) -> std::process::ExitCode {
    let pipeline = match pipeline_from_env().await {
        Ok(pipeline) => pipeline,
        Err(error) => {
            tracing::error!(%function, error = %error, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Boxed and type-erased: the runtime's future is deep enough to overflow the compiler's
    // layout recursion limit when nested inline in `main`.
    let run: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), lambda_runtime::Error>> + '_>> =
        Box::pin(lambda_runtime::run(lambda_runtime::service_fn(|event| {
            handle_sqs(&pipeline, event)
        })));
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%function, error = %error, "runtime stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use muster_core::config::PolicyChoice;
    use muster_core::model::Tier;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&'static str) -> Result<Option<String>, EnvError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| {
            Ok(vars
                .get(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned()))
        }
    }

    #[test]
    fn retention_defaults_to_a_year_and_zero_keeps_history() {
        assert_eq!(retention_days(&env(&[])).unwrap(), Some(365));
        assert_eq!(
            retention_days(&env(&[("MUSTER_RETENTION_DAYS", "30")])).unwrap(),
            Some(30)
        );
        assert_eq!(retention_days(&env(&[("MUSTER_RETENTION_DAYS", "0")])).unwrap(), None);
        let error = retention_days(&env(&[("MUSTER_RETENTION_DAYS", "a year")])).unwrap_err();
        assert!(error.to_string().contains("MUSTER_RETENTION_DAYS"), "{error}");
    }

    #[test]
    fn unset_variables_keep_the_defaults() {
        let config = config_from(&env(&[])).unwrap();
        assert_eq!(config.sla.days(Tier::P1), 7);
        assert_eq!(config.scoring.policy, PolicyChoice::Score);
    }

    #[test]
    fn sla_days_and_policy_are_applied() {
        let config = config_from(&env(&[
            ("MUSTER_SLA_P1_DAYS", "3"),
            ("MUSTER_SLA_P4_DAYS", "365"),
            ("MUSTER_SCORING_POLICY", "bod-26-04"),
        ]))
        .unwrap();
        assert_eq!(config.sla.days(Tier::P1), 3);
        assert_eq!(config.sla.days(Tier::P2), 30);
        assert_eq!(config.sla.days(Tier::P4), 365);
        assert_eq!(config.scoring.policy, PolicyChoice::Bod2604);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config_from(&env(&[("MUSTER_SLA_P2_DAYS", "thirty")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MUSTER_SLA_P2_DAYS"), "{err}");
        let err = config_from(&env(&[("MUSTER_SCORING_POLICY", "ssvc\"\n[x]")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MUSTER_SCORING_POLICY"), "{err}");
        // Validated whole: P1 may not get more days than P2.
        let err = config_from(&env(&[("MUSTER_SLA_P1_DAYS", "40")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("more urgent tier"), "{err}");
    }

    #[test]
    fn missing_locations_name_the_variable() {
        let err = locations(&env(&[("MUSTER_TABLE", "t"), ("MUSTER_TRIAGE_QUEUE_URL", "u")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable MUSTER_TICKET_QUEUE_URL is not set"
        );
        let (table, urls) = locations(&env(&[
            ("MUSTER_TABLE", "t"),
            ("MUSTER_TRIAGE_QUEUE_URL", "a"),
            ("MUSTER_TICKET_QUEUE_URL", "b"),
            ("MUSTER_NOTIFY_QUEUE_URL", "c"),
        ]))
        .unwrap();
        assert_eq!(table, "t");
        assert_eq!(urls.notify, "c");
    }
}
