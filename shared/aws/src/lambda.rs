//! Glue shared by the Lambda functions: the store, queue and configuration built once per cold
//! start from the environment (with secrets from SSM, `crate::secrets`, and sinks only where a
//! function calls them), and, for the SQS-triggered ones (triage, ticket, notify), one batch
//! handler that runs each record through the function's one stage.
//!
//! The tracker and Slack clients are features (`trackers`, `slack`) of this crate, so a function
//! that never calls them does not compile them, nor the features they turn on in shared crates.
//!
//! The handler parses every record on its own and answers with `batchItemFailures`
//! (shared/notes/aws-rust.md, trap 4): one bad record never fails its neighbours, and nothing is
//! dropped silently — a record that does not parse or whose stage fails is reported, so SQS
//! delivers it again and, after the queue's `maxReceiveCount`, moves it to the DLQ (alarmed).

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use muster_core::config::{Config, ConfigError};
use muster_core::messages::Message;
use muster_core::outbox::{OutboxChat, OutboxTickets};
use muster_core::ports::{ChatSink, Clock, Queue, Store, SystemClock, TicketSink};
#[cfg(feature = "slack")]
use muster_core::services::notify::notify;
#[cfg(feature = "trackers")]
use muster_core::services::ticket::sync_ticket;
use muster_core::services::triage::triage;
use muster_core::services::{Pipeline, PipelineError};
#[cfg(feature = "slack")]
use muster_slack::SlackOrOutbox;
#[cfg(feature = "trackers")]
use muster_trackers::TrackerRouter;

use crate::secrets::{Secrets, SecretsError};
use crate::{DynamoStore, QueueUrls, SqsQueue};

/// The pipeline over DynamoDB, SQS and the wall clock, with the sinks a function chose.
pub type AwsPipeline<T, N> = Pipeline<DynamoStore, SqsQueue, T, N, SystemClock>;

/// DynamoDB table name.
pub const ENV_TABLE: &str = "MUSTER_TABLE";
/// Queue URLs, one per stage (the SQS adapter routes by message kind and takes all three).
pub const ENV_TRIAGE_QUEUE_URL: &str = "MUSTER_TRIAGE_QUEUE_URL";
pub const ENV_TICKET_QUEUE_URL: &str = "MUSTER_TICKET_QUEUE_URL";
pub const ENV_NOTIFY_QUEUE_URL: &str = "MUSTER_NOTIFY_QUEUE_URL";
/// The bucket `POST /uploads` hands out PUTs for (the template's `UploadBucket`).
pub const ENV_UPLOAD_BUCKET: &str = "MUSTER_UPLOAD_BUCKET";
/// The whole `muster.toml` as text (a SAM parameter): trackers, Slack, sweep, notify… The
/// variables below override single settings in it.
pub const ENV_CONFIG_TOML: &str = "MUSTER_CONFIG_TOML";
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
    #[error("a tracker or Slack cannot be set up: {0}")]
    Sink(String),
    /// An SSM parameter a `_PARAM` / `_PATH` variable names cannot be read.
    #[error("a secret cannot be read: {0}")]
    Secrets(#[from] SecretsError),
    /// A request secret muster.toml asks for is in neither the environment nor SSM.
    #[error("{0}")]
    MissingSecret(String),
    /// The SDK settings lack what a client needs (a region, credentials).
    #[error("{0}")]
    AwsSettings(String),
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

/// The configuration: `Config::default()` (or `MUSTER_CONFIG_TOML`) with the SLA days and scoring
/// policy the environment sets, validated whole (a more urgent tier may not get more days, …).
fn config_from(env: Lookup<'_>) -> Result<Config, EnvError> {
    // The whole muster.toml (trackers, Slack, sweep, …) may come in one variable; the single
    // settings below override it. Merged as TOML tables so `Config::from_toml` applies the same
    // validation as to `muster.toml`.
    let mut table: toml::Table = match env(ENV_CONFIG_TOML)? {
        Some(text) => text.parse().map_err(|e: toml::de::Error| EnvError::Invalid {
            name: ENV_CONFIG_TOML,
            message: e.to_string().trim().to_owned(),
        })?,
        None => toml::Table::new(),
    };
    for (name, tier) in ENV_SLA_DAYS {
        if let Some(value) = env(name)? {
            let days: u32 = value.parse().map_err(|_| EnvError::Invalid {
                name,
                message: format!("{value:?} is not a whole number of days"),
            })?;
            section(&mut table, "sla")?.insert(tier.into(), toml::Value::Integer(i64::from(days)));
        }
    }
    if let Some(policy) = env(ENV_SCORING_POLICY)? {
        if !matches!(policy.as_str(), "score" | "bod-26-04") {
            return Err(EnvError::Invalid {
                name: ENV_SCORING_POLICY,
                message: format!("{policy:?} is neither \"score\" nor \"bod-26-04\""),
            });
        }
        section(&mut table, "scoring")?.insert("policy".into(), toml::Value::String(policy));
    }
    Ok(Config::from_toml(&table.to_string(), "environment")?)
}

/// The `[name]` table of a config, created when absent.
fn section<'a>(table: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, EnvError> {
    let entry = table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    entry.as_table_mut().ok_or_else(|| EnvError::Invalid {
        name: ENV_CONFIG_TOML,
        message: format!("{name} must be a table"),
    })
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

/// What every function builds first, once per cold start: the checked configuration, the
/// DynamoDB store and the SQS queue. Secrets and sinks come on top only where a function calls
/// them, so a function links only the clients it uses (the triage stage no tracker, Slack or
/// SSM client).
pub struct Base {
    pub config: Config,
    pub store: DynamoStore,
    pub queue: SqsQueue,
    /// The SDK settings the clients were built with, for a function's other clients (SSM, S3).
    pub sdk: SdkConfig,
}

/// [`Base`] from the process environment: the function's variables and the SDK settings of
/// [`sdk_from_lambda_env`]. A bad deployment fails at once and says which variable is wrong.
pub fn base_from_env() -> Result<Base, EnvError> {
    let sdk = sdk_from_lambda_env()?;
    base(&env_var, &sdk)
}

/// SDK settings from the variables Lambda sets: `AWS_REGION` and the execution role's
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), plus
/// `AWS_ENDPOINT_URL` where tests point it at moto. Timeouts, retries and the HTTPS client are
/// the service clients' defaults for the latest behavior version. `aws_config::defaults()` would
/// also look in profile files, IMDS, ECS, web identity and STS, none of which a function has:
/// leaving that chain out keeps ~0.6 MB of code out of every function (BENCHMARKS.md) and any
/// I/O out of the cold start.
pub fn sdk_from_lambda_env() -> Result<SdkConfig, EnvError> {
    sdk_from(&process_env)
}

/// [`sdk_from_lambda_env`] over `env`; the credentials are still read from the process
/// environment when a client first signs.
fn sdk_from(env: Lookup) -> Result<SdkConfig, EnvError> {
    let region = env("AWS_REGION")?
        .or(env("AWS_DEFAULT_REGION")?)
        .ok_or(EnvError::Missing("AWS_REGION"))?;
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            credentials,
        ));
    if let Some(endpoint) = env("AWS_ENDPOINT_URL")? {
        sdk = sdk.endpoint_url(endpoint);
    }
    Ok(sdk.build())
}

/// A process environment variable, as [`base`] and [`Base::secrets`] take them.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `vars(name)` trimmed; blank counts as unset, as for every variable of a function.
fn non_blank(vars: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    vars(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// [`Base`] from `vars` (the environment, or a map in tests) and SDK settings.
pub fn base(vars: &dyn Fn(&str) -> Option<String>, sdk: &SdkConfig) -> Result<Base, EnvError> {
    let env = |name: &'static str| Ok(non_blank(vars, name));
    let (table, urls) = locations(&env)?;
    let config = config_from(&env)?;
    let retention = retention_days(&env)?;
    Ok(Base {
        config,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table).with_retention_days(retention),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), urls),
        sdk: sdk.clone(),
    })
}

impl Base {
    /// The secrets `vars` and the configuration call for, from SSM as `secrets` describes; no
    /// SSM call is made when no `_PATH` / `_PARAM` variable applies.
    pub async fn secrets(&self, vars: &dyn Fn(&str) -> Option<String>) -> Result<Secrets, EnvError> {
        Ok(Secrets::load(&aws_sdk_ssm::Client::new(&self.sdk), &self.config, vars).await?)
    }

    /// [`Base::secrets`] for the process environment.
    pub async fn secrets_from_env(&self) -> Result<Secrets, EnvError> {
        self.secrets(&env_var).await
    }

    /// The trackers `[trackers]` configures, each only when this function was given its token.
    ///
    /// A tracker or Slack whose token a function was not given (neither the variable nor its
    /// `_PARAM`) is left out, so its messages go to the outbox: the template gives each token
    /// only to the functions that use it (ticket: tracker tokens; notify, sweep, slack-actions:
    /// the Slack bot token). The configuration the stages read stays whole.
    #[cfg(feature = "trackers")]
    pub fn ticket_sink(&self, secrets: &Secrets) -> Result<TrackerRouter<OutboxTickets<DynamoStore>>, EnvError> {
        use crate::secrets::{ENV_GITHUB_TOKEN_PARAM, ENV_JIRA_TOKEN_PARAM};
        let mut trackers = self.config.trackers.clone();
        if let Some(jira) = &trackers.jira
            && secrets.variable(&jira.token_env).is_none()
        {
            tracing::info!(variable = %jira.token_env, param = ENV_JIRA_TOKEN_PARAM, "no Jira token given to this function; Jira tickets go to the outbox");
            trackers.jira = None;
        }
        if let Some(github) = &trackers.github
            && secrets.variable(&github.token_env).is_none()
        {
            tracing::info!(variable = %github.token_env, param = ENV_GITHUB_TOKEN_PARAM, "no GitHub token given to this function; GitHub issues go to the outbox");
            trackers.github = None;
        }
        muster_trackers::from_config(
            &trackers,
            |name| secrets.variable(name),
            OutboxTickets(self.store.clone()),
        )
        .map_err(|e| EnvError::Sink(e.to_string()))
    }

    /// Slack as `[slack]` configures it when this function was given the bot token (see
    /// [`Base::ticket_sink`]); the outbox otherwise.
    #[cfg(feature = "slack")]
    pub fn chat_sink(&self, secrets: &Secrets) -> Result<SlackOrOutbox<DynamoStore>, EnvError> {
        use crate::secrets::ENV_SLACK_BOT_TOKEN_PARAM;
        let slack = self.config.slack.as_ref().filter(|slack| {
            let given = secrets.variable(&slack.token_env).is_some();
            if !given {
                tracing::info!(variable = %slack.token_env, param = ENV_SLACK_BOT_TOKEN_PARAM, "no Slack bot token given to this function; chat goes to the outbox");
            }
            given
        });
        muster_slack::from_config(slack, |name| secrets.variable(name), self.store.clone())
            .map_err(|e| EnvError::Sink(e.to_string()))
    }

    /// The pipeline over this base with the given sinks and the wall clock.
    pub fn into_pipeline<T, N>(self, tickets: T, chat: N) -> AwsPipeline<T, N> {
        Pipeline {
            store: self.store,
            queue: self.queue,
            tickets,
            chat,
            clock: SystemClock,
            config: Arc::new(self.config),
        }
    }

    /// This base with the secrets `vars` call for and the sinks `sinks` picks: a [`Deployment`].
    pub async fn into_deployment<T, N>(
        self,
        vars: &dyn Fn(&str) -> Option<String>,
        sinks: impl FnOnce(&Base, &Secrets) -> Result<(T, N), EnvError>,
    ) -> Result<Deployment<T, N>, EnvError> {
        let secrets = self.secrets(vars).await?;
        let (tickets, chat) = sinks(&self, &secrets)?;
        let upload_bucket = non_blank(vars, ENV_UPLOAD_BUCKET);
        let sdk = self.sdk.clone();
        Ok(Deployment {
            pipeline: self.into_pipeline(tickets, chat),
            secrets,
            sdk,
            upload_bucket,
        })
    }
}

/// Sinks that only record to the outbox, for the functions that never call a tracker or Slack
/// (ingest, tracker-events and uploads queue the stages that do): they link neither client.
pub fn outbox_sinks(
    base: &Base,
    _: &Secrets,
) -> Result<(OutboxTickets<DynamoStore>, OutboxChat<DynamoStore>), EnvError> {
    Ok((OutboxTickets(base.store.clone()), OutboxChat(base.store.clone())))
}

/// Slack where given its token, tickets to the outbox: the functions that post to chat but never
/// file tickets (sweep, slack-actions).
#[cfg(feature = "slack")]
pub fn chat_sinks(
    base: &Base,
    secrets: &Secrets,
) -> Result<(OutboxTickets<DynamoStore>, SlackOrOutbox<DynamoStore>), EnvError> {
    Ok((OutboxTickets(base.store.clone()), base.chat_sink(secrets)?))
}

/// Every sink the configuration names, for one process serving all stages (tests).
#[cfg(all(feature = "trackers", feature = "slack"))]
pub fn all_sinks(
    base: &Base,
    secrets: &Secrets,
) -> Result<(TrackerRouter<OutboxTickets<DynamoStore>>, SlackOrOutbox<DynamoStore>), EnvError> {
    Ok((base.ticket_sink(secrets)?, base.chat_sink(secrets)?))
}

/// What a function that serves requests or scheduled jobs builds once per cold start: the
/// pipeline with the sinks it calls, and the secrets its environment names (the HTTP functions
/// verify requests with them).
pub struct Deployment<T, N> {
    pub pipeline: AwsPipeline<T, N>,
    pub secrets: Secrets,
    /// The SDK settings the clients were built with, for the functions' other clients (S3).
    pub sdk: SdkConfig,
    /// Where large reports are uploaded (`MUSTER_UPLOAD_BUCKET`); `None` disables uploads.
    pub upload_bucket: Option<String>,
}

/// A [`Deployment`] from the process environment and the SDK's defaults (see [`base_from_env`]),
/// with the sinks `sinks` picks ([`outbox_sinks`], [`chat_sinks`], [`all_sinks`]).
pub async fn deployment_from_env<T, N>(
    sinks: impl FnOnce(&Base, &Secrets) -> Result<(T, N), EnvError>,
) -> Result<Deployment<T, N>, EnvError> {
    base_from_env()?.into_deployment(&env_var, sinks).await
}

/// A [`Deployment`] from `vars` (the environment, or a map in tests) and SDK settings.
pub async fn deployment<T, N>(
    vars: &dyn Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
    sinks: impl FnOnce(&Base, &Secrets) -> Result<(T, N), EnvError>,
) -> Result<Deployment<T, N>, EnvError> {
    base(vars, sdk)?.into_deployment(vars, sinks).await
}

/// What an SQS-fed function does with one message of its queue, sent at `sent_at` (the
/// record's `SentTimestamp`, when it has one).
pub trait MessageHandler {
    fn handle_message(
        &self,
        message: &Message,
        sent_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), PipelineError>>;
}

/// The whole pipeline handles every kind of message (tests; one process serving all queues).
impl<S, Q, T, N, C> MessageHandler for Pipeline<S, Q, T, N, C>
where
    S: Store,
    Q: Queue,
    T: TicketSink,
    N: ChatSink,
    C: Clock,
{
    fn handle_message(
        &self,
        message: &Message,
        sent_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), PipelineError>> {
        self.handle_sent(message, sent_at)
    }
}

/// The triage function's stage: scores, routes and groups findings, queues ticket syncs.
pub struct TriageStage(pub Base);

impl MessageHandler for TriageStage {
    async fn handle_message(&self, message: &Message, _sent_at: Option<DateTime<Utc>>) -> Result<(), PipelineError> {
        let Base {
            store, queue, config, ..
        } = &self.0;
        match message {
            Message::Triage { fingerprints } => triage(store, queue, &SystemClock, config, fingerprints).await,
            other => Err(crossed_queues("triage", other)),
        }
    }
}

/// The ticket function's stage: one tracker issue per group, through the trackers only.
#[cfg(feature = "trackers")]
pub struct TicketStage {
    pub base: Base,
    pub tickets: TrackerRouter<OutboxTickets<DynamoStore>>,
}

#[cfg(feature = "trackers")]
impl MessageHandler for TicketStage {
    async fn handle_message(&self, message: &Message, sent_at: Option<DateTime<Utc>>) -> Result<(), PipelineError> {
        let Base { store, queue, .. } = &self.base;
        match message {
            Message::Ticket { group } => sync_ticket(store, &self.tickets, queue, &SystemClock, group, sent_at).await,
            other => Err(crossed_queues("ticket", other)),
        }
    }
}

/// The notify function's stage: chat messages about a group, through Slack only.
#[cfg(feature = "slack")]
pub struct NotifyStage {
    pub base: Base,
    pub chat: SlackOrOutbox<DynamoStore>,
}

#[cfg(feature = "slack")]
impl MessageHandler for NotifyStage {
    async fn handle_message(&self, message: &Message, _sent_at: Option<DateTime<Utc>>) -> Result<(), PipelineError> {
        let Base { store, config, .. } = &self.base;
        match message {
            Message::Notify { group, event, at } => {
                notify(store, &self.chat, &config.notify.security_channel, group, *event, *at).await
            }
            other => Err(crossed_queues("notify", other)),
        }
    }
}

/// A message on another stage's queue: a deployment whose queue URLs are crossed. Reported as
/// failed, so SQS keeps it and finally moves it to the DLQ, where it can be re-driven.
fn crossed_queues(stage: &str, message: &Message) -> PipelineError {
    PipelineError::Rejected(format!(
        "a {} message reached the {stage} function; check the queue URLs and event sources",
        message.kind()
    ))
}

/// Runs each record of an SQS batch through `handler`, one by one, and reports the
/// records that failed (unparseable bodies included) as `batchItemFailures`.
///
/// Returns `Err` — failing the whole batch, so every record comes back — only when a failed
/// record has no message id to report it by.
pub async fn handle_sqs<H: MessageHandler>(
    handler: &H,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let mut failures = Vec::new();
    let mut unidentified = 0usize;
    for record in &records {
        let id = record.message_id.as_deref();
        let message_id = id.unwrap_or("<no message id>");
        let handled = match parse_record(message_id, record.body.as_deref()) {
            None => false,
            Some(message) => match handler.handle_message(&message, sent_at(record)).await {
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
                    muster_core::metric!(stage = message.kind(), stage_failures = 1_u64);
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

/// When SQS accepted the record (`SentTimestamp`, milliseconds since the epoch), if it says.
fn sent_at(record: &SqsMessage) -> Option<DateTime<Utc>> {
    let millis = record.attributes.get("SentTimestamp")?.parse().ok()?;
    DateTime::from_timestamp_millis(millis)
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
            muster_core::metric!(stage = "unparsed", stage_failures = 1_u64);
            None
        }
    }
}

/// The triage function after `muster_runtime::init` (see [`serve_stage`]).
pub async fn serve_triage() -> ExitCode {
    serve_stage("muster-triage", async { Ok(TriageStage(base_from_env()?)) }).await
}

/// The ticket function after `muster_runtime::init` (see [`serve_stage`]).
#[cfg(feature = "trackers")]
pub async fn serve_ticket() -> ExitCode {
    serve_stage("muster-ticket", async {
        let base = base_from_env()?;
        let secrets = base.secrets_from_env().await?;
        let tickets = base.ticket_sink(&secrets)?;
        Ok(TicketStage { base, tickets })
    })
    .await
}

/// The notify function after `muster_runtime::init` (see [`serve_stage`]).
#[cfg(feature = "slack")]
pub async fn serve_notify() -> ExitCode {
    serve_stage("muster-notify", async {
        let base = base_from_env()?;
        let secrets = base.secrets_from_env().await?;
        let chat = base.chat_sink(&secrets)?;
        Ok(NotifyStage { base, chat })
    })
    .await
}

/// The whole life of an SQS-driven function: build its stage once per cold start, then hand
/// every batch to [`handle_sqs`]. A configuration error is logged and ends the process with a
/// failure code instead of a panic.
async fn serve_stage<H: MessageHandler>(function: &str, stage: impl Future<Output = Result<H, EnvError>>) -> ExitCode {
    let stage = match stage.await {
        Ok(stage) => stage,
        Err(error) => {
            tracing::error!(%function, error = %error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    // Boxed and type-erased: the runtime's future is deep enough to overflow the compiler's
    // layout recursion limit when nested inline in `main`.
    let run: Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + '_>> =
        Box::pin(lambda_runtime::run(lambda_runtime::service_fn(|event| {
            handle_sqs(&stage, event)
        })));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%function, error = %error, "runtime stopped");
            ExitCode::FAILURE
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
    fn sdk_settings_need_a_region_and_take_the_endpoint_lambda_or_a_test_sets() {
        let error = sdk_from(&env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:1")])).unwrap_err();
        assert!(matches!(error, EnvError::Missing("AWS_REGION")), "{error}");
        assert_eq!(error.to_string(), "environment variable AWS_REGION is not set");
        assert!(sdk_from(&env(&[("AWS_REGION", "  ")])).is_err(), "blank is unset");

        let sdk = sdk_from(&env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]))
        .unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"), "AWS_REGION wins");
        assert_eq!(sdk.endpoint_url(), None);
        assert!(sdk.credentials_provider().is_some());
        let sdk = sdk_from(&env(&[
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:45123"),
        ]))
        .unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:45123"));
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
    fn the_whole_config_comes_in_one_variable_and_single_settings_override_it() {
        let toml = "[sla]\nP1 = 5\nP2 = 20\n[trackers.github]\ntoken_env = \"GH_TOKEN\"\n[sweep]\nack_days = 2\n";
        let config = config_from(&env(&[("MUSTER_CONFIG_TOML", toml), ("MUSTER_SLA_P1_DAYS", "3")])).unwrap();
        assert_eq!(config.sla.days(Tier::P1), 3, "the single variable wins");
        assert_eq!(config.sla.days(Tier::P2), 20, "the rest of the file stays");
        assert_eq!(config.trackers.github.unwrap().token_env, "GH_TOKEN");
        assert_eq!(config.sweep.ack_days, 2);

        let error = config_from(&env(&[("MUSTER_CONFIG_TOML", "[sla\nP1 = 5")])).unwrap_err();
        assert!(error.to_string().contains("MUSTER_CONFIG_TOML"), "{error}");
        let error = config_from(&env(&[("MUSTER_CONFIG_TOML", "[sweep]\nack_days = 0")])).unwrap_err();
        assert!(
            error.to_string().contains("ack_days"),
            "validated like muster.toml: {error}"
        );
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
