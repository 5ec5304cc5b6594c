//! muster's HTTP API as one axum `Router` (DESIGN §9). `muster serve` runs it on a socket; the
//! AWS ingest function runs the same router under lambda_http, so both answer identically.
//!
//! Every error is a 4xx/5xx with `{"error": {"code", "message"}}`; bad input never reaches the
//! store, because a report is parsed whole before anything is written.

pub mod signature;
pub mod uploads;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use muster_core::GroupKey;
use muster_core::ports::{ChatSink, Clock, FindingFilter, Queue, Store, TicketSink};
use muster_core::services::Pipeline;
use muster_core::services::chat_actions::ChatActionKind;
use muster_core::services::digest::{self, GatePolicy, GateQuery, GateVerdict};
use muster_core::services::tracker_sync::{self, TrackerEvent, TrackerOutcome};
use muster_core::{Config, Format, IngestRequest, IngestSummary, PipelineError, SourceName};
use serde_json::json;
pub use signature::Secret;
use uploads::{InflateError, UploadRequest, Uploads};

/// Largest request body accepted by default (32 MiB); larger reports go through uploads.
pub const DEFAULT_BODY_LIMIT: usize = muster_core::config::DEFAULT_BODY_LIMIT_MIB as usize * 1024 * 1024;

/// The event name of a GitHub webhook delivery (`code_scanning_alert`, `ping`, …).
pub const GITHUB_EVENT_HEADER: &str = "x-github-event";

/// What the router needs from the pipeline; implemented by `Pipeline` and by test doubles of
/// nothing — tests use the real embedded pipeline.
pub trait Ingestor: Send + Sync + 'static {
    fn ingest(&self, request: IngestRequest<'_>) -> impl Future<Output = Result<IngestSummary, PipelineError>> + Send;

    /// Applies a tracker webhook (a person closed or reopened a ticket).
    fn tracker_event(&self, event: &TrackerEvent)
    -> impl Future<Output = Result<TrackerOutcome, PipelineError>> + Send;

    /// Applies a chat button and replaces its message (channel id, ts) with the outcome.
    fn chat_action(
        &self,
        action: ChatActionKind,
        group: &GroupKey,
        user: &str,
        message: (&str, &str),
    ) -> impl Future<Output = Result<String, PipelineError>> + Send;

    /// The pipeline's clock, which a gate request without `now` is judged at.
    fn now(&self) -> DateTime<Utc>;

    /// Judges the SLA posture against a release budget (`GET /gate`).
    fn gate(
        &self,
        policy: &GatePolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<GateVerdict, PipelineError>> + Send;
}

impl<S, Q, T, N, C> Ingestor for Pipeline<S, Q, T, N, C>
where
    S: Store + 'static,
    Q: Queue + 'static,
    T: TicketSink + 'static,
    N: ChatSink + 'static,
    C: Clock + 'static,
{
    fn ingest(&self, request: IngestRequest<'_>) -> impl Future<Output = Result<IngestSummary, PipelineError>> + Send {
        Pipeline::ingest(self, request)
    }

    fn tracker_event(
        &self,
        event: &TrackerEvent,
    ) -> impl Future<Output = Result<TrackerOutcome, PipelineError>> + Send {
        Pipeline::tracker_event(self, event)
    }

    async fn chat_action(
        &self,
        action: ChatActionKind,
        group: &GroupKey,
        user: &str,
        (channel, ts): (&str, &str),
    ) -> Result<String, PipelineError> {
        let outcome = Pipeline::chat_action(self, action, group, user).await?;
        // The action is recorded; a message that cannot be updated only looks stale.
        if let Err(error) = self.chat.replace(channel, ts, &outcome).await {
            tracing::warn!(%error, %group, "cannot update the chat message");
        }
        Ok(outcome)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn gate(&self, policy: &GatePolicy, now: DateTime<Utc>) -> Result<GateVerdict, PipelineError> {
        let findings = self.store.list_findings(&FindingFilter::default()).await?;
        Ok(digest::gate(&findings, now, policy))
    }
}

/// Router settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub config: Arc<Config>,
    /// Largest accepted body, compressed or not.
    pub body_limit: usize,
    /// HMAC secrets by source name; a source without one accepts unsigned reports.
    pub secrets: HashMap<String, Secret>,
    /// Webhook secrets of the trackers (`github`, `jira`); a tracker without one has no
    /// `POST /trackers/{tracker}` endpoint.
    pub tracker_secrets: HashMap<String, Secret>,
    /// The Slack app's signing secret; without it `POST /slack/actions` answers 404.
    pub slack_signing_secret: Option<Secret>,
    /// Bearer token of the read endpoints (`GET /gate`); without it they answer 404.
    pub read_token: Option<Secret>,
    /// Presigned uploads for reports too large for a request; without them `POST /uploads`
    /// answers 404 and clients post reports directly.
    pub uploads: Option<Arc<dyn Uploads>>,
}

/// A source names a secret variable that is not set: refuse to start rather than accept
/// unsigned reports on a source its owner meant to protect.
#[derive(Debug, thiserror::Error)]
#[error("source {source_name:?} takes its secret from ${variable}, which is not set (or not UTF-8)")]
pub struct MissingSecret {
    pub source_name: String,
    pub variable: String,
    /// Which secret it is, so a caller with other stores (SSM) can say where else it looked.
    pub slot: SecretSlot,
}

/// One secret the router verifies requests with, as asked of a [`HttpConfig::with_secrets`]
/// lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSlot {
    /// The HMAC secret of the webhook source with this name.
    Source(String),
    /// The webhook secret of a tracker, `github` or `jira`.
    Tracker(&'static str),
    /// The Slack app's signing secret.
    SlackSigning,
    /// The bearer token of the read endpoints.
    ReadToken,
}

impl HttpConfig {
    /// Reads every source's secret from the environment once, at start-up.
    pub fn from_env(config: Arc<Config>, body_limit: usize) -> Result<Self, MissingSecret> {
        Self::with_secrets(config, body_limit, |_, variable| {
            variable.and_then(|v| std::env::var(v).ok())
        })
    }

    /// Asks `lookup` once for each secret the router may need, with the environment variable
    /// muster.toml names for it (if any), so the local server (environment) and the AWS
    /// functions (environment, then SSM) share one set of rules:
    /// a secret the lookup finds is enforced, even where muster.toml names no variable (its
    /// owner stored it to protect the endpoint); a variable muster.toml names but the lookup
    /// cannot resolve stops the start-up ([`MissingSecret`]) rather than serve the endpoint
    /// unsigned. Blank values count as missing.
    pub fn with_secrets(
        config: Arc<Config>,
        body_limit: usize,
        lookup: impl Fn(&SecretSlot, Option<&str>) -> Option<String>,
    ) -> Result<Self, MissingSecret> {
        let resolve = |slot: SecretSlot, label: &str, variable: Option<&String>| {
            let value = lookup(&slot, variable.map(String::as_str)).filter(|v| !v.is_empty());
            match (value, variable) {
                (Some(value), _) => Ok(Some(Secret::new(value))),
                (None, None) => Ok(None),
                (None, Some(variable)) => Err(MissingSecret {
                    source_name: label.to_owned(),
                    variable: variable.clone(),
                    slot,
                }),
            }
        };
        let mut secrets = HashMap::new();
        for source in &config.sources {
            let name = source.name.as_str();
            if let Some(secret) = resolve(SecretSlot::Source(name.to_owned()), name, source.secret_env.as_ref())? {
                secrets.insert(name.to_owned(), secret);
            }
        }
        let trackers = &config.trackers;
        let named = [
            (
                "github",
                trackers.github.as_ref().and_then(|g| g.webhook_secret_env.as_ref()),
            ),
            (
                "jira",
                trackers.jira.as_ref().and_then(|j| j.webhook_secret_env.as_ref()),
            ),
        ];
        let mut tracker_secrets = HashMap::new();
        for (tracker, variable) in named {
            let label = format!("trackers.{tracker}");
            if let Some(secret) = resolve(SecretSlot::Tracker(tracker), &label, variable)? {
                tracker_secrets.insert(tracker.to_owned(), secret);
            }
        }
        let variable = config.slack.as_ref().and_then(|s| s.signing_secret_env.as_ref());
        let slack_signing_secret = resolve(SecretSlot::SlackSigning, "slack", variable)?;
        let variable = config.http.read_token_env.as_ref();
        let read_token = resolve(SecretSlot::ReadToken, "http.read_token_env", variable)?;
        Ok(Self {
            config,
            body_limit,
            secrets,
            tracker_secrets,
            slack_signing_secret,
            read_token,
            uploads: None,
        })
    }

    /// Serves `POST /uploads` through `uploads`.
    pub fn with_uploads(mut self, uploads: Arc<dyn Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }
}

/// The router's state: the pipeline and the settings; opaque outside this crate.
pub struct AppState<I> {
    ingestor: Arc<I>,
    http: HttpConfig,
}

impl<I> Clone for AppState<I> {
    fn clone(&self) -> Self {
        Self {
            ingestor: Arc::clone(&self.ingestor),
            http: self.http.clone(),
        }
    }
}

/// The API's description, kept beside the router; a test fails when the two disagree.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every (method, path) the router serves, in OpenAPI path syntax.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("POST", "/webhooks/{source}"),
    ("POST", "/uploads"),
    ("POST", "/trackers/{tracker}"),
    ("POST", "/slack/actions"),
    ("GET", "/gate"),
];

/// A part of the API. `muster serve` serves all of it; on AWS each HTTP function serves only
/// the part template.yaml routes to it, and so links only that part's code: a function without
/// the webhook route links no report parser (issue 5: binary size and cold start).
pub struct Routes<I>(Router<AppState<I>>);

impl<I: Ingestor> Routes<I> {
    /// The whole API (`muster serve`).
    pub fn all() -> Self {
        Self::reports().merge(Self::trackers()).merge(Self::slack())
    }

    /// Reports in and verdicts out — the ingest function: scanner webhooks, presigned uploads,
    /// the release gate and the API's description.
    pub fn reports() -> Self {
        Self(
            Router::new()
                .route("/openapi.json", get(openapi))
                .route("/webhooks/{source}", post(webhook::<I>))
                .route("/uploads", post(upload::<I>))
                .route("/gate", get(gate::<I>)),
        )
    }

    /// Tracker webhooks: a ticket closed or reopened (the tracker-events function).
    pub fn trackers() -> Self {
        Self(Router::new().route("/trackers/{tracker}", post(tracker_webhook::<I>)))
    }

    /// Slack's button clicks (the slack-actions function).
    pub fn slack() -> Self {
        Self(Router::new().route("/slack/actions", post(slack_action::<I>)))
    }

    /// Both parts in one router.
    pub fn merge(self, other: Self) -> Self {
        Self(self.0.merge(other.0))
    }

    /// The served router: these routes plus `GET /healthz` (every part answers it, so each
    /// function can be probed), JSON 404/405 for the rest, and the body limit.
    pub fn serve(self, ingestor: Arc<I>, http: HttpConfig) -> Router {
        let limit = http.body_limit;
        self.0
            .route("/healthz", get(healthz))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(AppState { ingestor, http })
    }
}

/// Builds the whole API's router over an ingestor (`muster serve`).
pub fn router<I: Ingestor>(ingestor: Arc<I>, http: HttpConfig) -> Router {
    Routes::all().serve(ingestor, http)
}

/// A JSON error response: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        match &error {
            PipelineError::Parse(parse) => Self::new(StatusCode::BAD_REQUEST, parse.code(), error.to_string()),
            _ => {
                tracing::error!(%error, "ingest failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "muster could not store the report; nothing was lost, send it again",
                )
            }
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see GET /healthz and POST /webhooks/{source}",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

async fn webhook<I: Ingestor>(
    State(state): State<AppState<I>>,
    source: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestSummary>), ApiError> {
    let source_config = configured_source(&state.http, &path_segment(source)?)?;
    check_content_type(&headers)?;
    check_event_header(&headers)?;
    let body = readable_body(body, state.http.body_limit)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let format = source_config.format();
    verify_source(&state.http, source_config, &headers, &body)?;
    let bytes = decode_body(&headers, body, state.http.body_limit)?;
    let name: SourceName = source_config.name.clone();
    let summary = state
        .ingestor
        .ingest(IngestRequest {
            source: &name,
            format,
            event: header(GITHUB_EVENT_HEADER),
            bytes: &bytes,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `X-GitHub-Event`, when sent, names an event the way GitHub does (`code_scanning_alert`).
fn check_event_header(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(GITHUB_EVENT_HEADER) else {
        return Ok(());
    };
    let bytes = value.as_bytes();
    if (1..=64).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_lowercase() || *b == b'_') {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_event_header",
        "X-GitHub-Event is malformed: expected an event name such as code_scanning_alert (a-z and _, at most 64)",
    ))
}

fn configured_source<'a>(
    http: &'a HttpConfig,
    source: &str,
) -> Result<&'a muster_core::config::SourceConfig, ApiError> {
    http.config.source(source).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source named {source:?} is configured; add [[sources]] name = {source:?} to muster.toml"),
        )
    })
}

/// The `{source}` or `{tracker}` of a path, or a JSON 400 when it is not UTF-8 once
/// percent-decoded (axum's own rejection is plain text).
fn path_segment(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(segment)| segment)
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", rejection.body_text()))
}

fn readable_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {limit} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text())
        }
    })
}

/// Checks a request to a source against the source's secret, in the scheme its format uses
/// (GitHub's for `github` sources, muster's timestamped HMAC otherwise). A source without a
/// secret takes unsigned requests, but refuses malformed signature headers (400).
fn verify_source(
    http: &HttpConfig,
    source: &muster_core::config::SourceConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(secret) = http.secrets.get(source.name.as_str()) else {
        // A value that is not visible ASCII is present, and malformed.
        let present = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        return signature::check_unverified(
            present(signature::SIGNATURE_HEADER),
            present(signature::TIMESTAMP_HEADER),
            present(signature::GITHUB_SIGNATURE_HEADER),
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.code(),
                format!("{e}; this source takes unsigned requests, so fix the signer or send no signature"),
            )
        });
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = match source.format() {
        Some(Format::Github) => signature::verify_github(secret, header(signature::GITHUB_SIGNATURE_HEADER), body),
        _ => signature::verify(
            secret,
            header(signature::SIGNATURE_HEADER),
            header(signature::TIMESTAMP_HEADER),
            body,
            chrono::Utc::now().timestamp(),
        ),
    };
    verified.map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))
}

/// `POST /uploads`: a presigned PUT for a report too large for `POST /webhooks/{source}`. The
/// request is signed with the source's secret like the report itself would be; the object is
/// ingested as that source's report once it is stored.
async fn upload<I: Ingestor>(
    State(state): State<AppState<I>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<uploads::UploadTarget>), ApiError> {
    let uploads = state.http.uploads.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "uploads_disabled",
            "this server takes reports of any accepted size directly: POST /webhooks/{source}",
        )
    })?;
    let body = readable_body(body, state.http.body_limit)?;
    let request: UploadRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_upload_request",
            format!("the body must be {{\"source\", \"bytes\", \"content_encoding\"?}}: {e}"),
        )
    })?;
    let source = configured_source(&state.http, &request.source)?;
    verify_source(&state.http, source, &headers, &body)?;
    let limit = state.http.body_limit as u64;
    if request.bytes > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the report is {} bytes, more than this server's limit of {limit} (http.body_limit_mib)",
                request.bytes
            ),
        ));
    }
    let key = uploads::object_key(&source.name, request.content_encoding, Utc::now(), rand::random());
    let target = uploads.presign(&key, request.content_encoding).await.map_err(|error| {
        tracing::error!(%error, "presign failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "cannot hand out an upload now; ask again",
        )
    })?;
    tracing::info!(source = %source.name, key = %target.key, bytes = request.bytes, "upload presigned");
    Ok((StatusCode::CREATED, Json(target)))
}

/// `POST /trackers/github` (issues events, `X-Hub-Signature-256`) and `POST /trackers/jira`
/// (issue webhooks, `X-Hub-Signature`): what people do to tickets comes back to muster.
async fn tracker_webhook<I: Ingestor>(
    State(state): State<AppState<I>>,
    tracker: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TrackerOutcome>), ApiError> {
    let tracker = path_segment(tracker)?;
    let (signature_header, header_name) = match tracker.as_str() {
        "github" => (signature::GITHUB_SIGNATURE_HEADER, "X-Hub-Signature-256"),
        "jira" => (signature::JIRA_SIGNATURE_HEADER, "X-Hub-Signature"),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_tracker",
                format!("no tracker {tracker:?}; muster takes webhooks from github and jira"),
            ));
        }
    };
    let secret = state.http.tracker_secrets.get(&tracker).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "tracker_not_configured",
            format!("set trackers.{tracker}.webhook_secret_env in muster.toml to receive {tracker} webhooks"),
        )
    })?;
    let body = readable_body(body, state.http.body_limit)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify_body_hmac(header_name, secret, header(signature_header), &body)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    let parsed = match tracker.as_str() {
        "github" => match header(GITHUB_EVENT_HEADER) {
            Some("issues") => tracker_sync::parse_github_issue_event(&body),
            Some(other) => {
                return Ok((
                    StatusCode::OK,
                    Json(TrackerOutcome {
                        outcome: "ignored",
                        detail: format!("{other} events are not read; subscribe the webhook to issues"),
                    }),
                ));
            }
            None => Err(tracker_sync::TrackerEventError("missing X-GitHub-Event header".into())),
        },
        _ => {
            let wont_fix = state
                .http
                .config
                .trackers
                .jira
                .as_ref()
                .map(|j| j.wont_fix_resolutions.as_slice())
                .unwrap_or_default();
            tracker_sync::parse_jira_event(&body, wont_fix)
        }
    };
    let event = parsed.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_tracker_event", e.to_string()))?;
    let Some(event) = event else {
        let outcome = TrackerOutcome {
            outcome: "ignored",
            detail: "not a close or reopen of a muster ticket".into(),
        };
        return Ok((StatusCode::OK, Json(outcome)));
    };
    let outcome = state.ingestor.tracker_event(&event).await?;
    tracing::info!(tracker = %event.tracker, ticket = %event.key, group = %event.group, outcome = outcome.outcome, "tracker event");
    Ok((StatusCode::OK, Json(outcome)))
}

/// `POST /slack/actions`: a click on one of muster's alert buttons, signed by Slack (v0
/// scheme, five-minute replay window). Slack wants an answer within 3 seconds; the action is a
/// few store writes.
/// The release gate of `muster gate --url`: the same query, judged here, answered as the
/// verdict (200 whether it passed or not: the verdict is the answer; the client decides).
async fn gate<I: Ingestor>(
    State(state): State<AppState<I>>,
    headers: HeaderMap,
    query: Result<Query<GateQuery>, QueryRejection>,
) -> Result<Json<GateVerdict>, ApiError> {
    let token = state.http.read_token.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "read_api_not_configured",
            "set http.read_token_env in muster.toml to serve GET /gate",
        )
    })?;
    check_bearer(&headers, token)?;
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let (policy, now) = query
        .policy(state.ingestor.now())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))?;
    Ok(Json(state.ingestor.gate(&policy, now).await?))
}

/// `Authorization: Bearer <token>`, compared through SHA-256 digests so the time taken says
/// nothing about how much of the token matched.
fn check_bearer(headers: &HeaderMap, token: &Secret) -> Result<(), ApiError> {
    let refused = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", message);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| refused("missing Authorization header: send `Authorization: Bearer <read token>`"))?;
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| refused("Authorization must be `Bearer <read token>`"))?;
    use sha2::{Digest as _, Sha256};
    if Sha256::digest(presented.as_bytes()) != Sha256::digest(token.bytes()) {
        return Err(refused("the read token is wrong"));
    }
    Ok(())
}

async fn slack_action<I: Ingestor>(
    State(state): State<AppState<I>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let secret = state.http.slack_signing_secret.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "slack_not_configured",
            "set slack.signing_secret_env in muster.toml to receive Slack button clicks",
        )
    })?;
    let body = readable_body(body, state.http.body_limit)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    muster_slack::verify_request(
        secret.bytes(),
        header(muster_slack::verify::TIMESTAMP_HEADER),
        header(muster_slack::verify::SIGNATURE_HEADER),
        &body,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    let action = muster_slack::parse_action(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_action", e.to_string()))?;
    let kind = ChatActionKind::parse(&action.action_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_action",
            format!(
                "action {:?} is not one of ack, snooze, accept_request, not_mine, approve_acceptance, reject_acceptance",
                action.action_id
            ),
        )
    })?;
    let group = GroupKey::parse(&action.value)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_action", format!("button value: {e}")))?;
    let user = format!("<@{}>", action.user_id);
    let outcome = match state
        .ingestor
        .chat_action(kind, &group, &user, (&action.channel, &action.message_ts))
        .await
    {
        Ok(outcome) => outcome,
        // A refusal (no ticket, nothing open) is an answer for the clicker, not a server error.
        Err(PipelineError::Rejected(why)) => return Err(ApiError::new(StatusCode::CONFLICT, "action_refused", why)),
        Err(other) => return Err(other.into()),
    };
    tracing::info!(%group, action = action.action_id, "chat action");
    Ok(Json(json!({ "text": outcome })))
}

/// Reports are JSON (or JSON Lines); a form upload or an HTML/XML body is a client mistake that
/// deserves a clear 415 rather than a parse error. Clients that label JSON loosely (curl's
/// default form type, octet-stream, text/plain) are accepted.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let accepted = matches!(
        essence.as_str(),
        "" | "application/json"
            | "application/x-ndjson"
            | "application/jsonl"
            | "application/octet-stream"
            | "application/gzip"
            | "application/x-gzip"
            | "application/x-www-form-urlencoded"
            | "text/plain"
            | "text/json"
    ) || essence.ends_with("+json");
    if accepted {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {essence:?} is not a report; send the JSON report as application/json"),
        ))
    }
}

/// Undoes `Content-Encoding: gzip`, refusing bodies that inflate past `limit`.
fn decode_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") | Some("x-gzip") => match uploads::inflate(&body, limit) {
            Ok(decoded) => Ok(Bytes::from(decoded)),
            Err(error @ InflateError::Corrupt(_)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_encoding",
                error.to_string(),
            )),
            Err(error @ InflateError::TooLarge(_)) => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                error.to_string(),
            )),
        },
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {other:?} is not supported; send identity or gzip"),
        )),
    }
}
