//! The Slack Web API chat sink: posts (`chat.postMessage`) and updates (`chat.update`)
//! messages with a bot token, through slack-morphism's hyper connector.
//!
//! Owns the mapping from Slack's answers to `SinkError`: rate limits become `RateLimited`,
//! configuration problems `Rejected` with a hint, transient failures are retried here a few
//! times (never waiting more than `MAX_INTERNAL_WAIT` in all). It never logs the token.
//!
//! slack-morphism is used at its connector level (`SlackClientHttpConnector::http_post_uri`)
//! rather than its typed `chat_post_message`: the connector can be pointed at any base URL
//! (the contract mock in tests), reports `ok:false` codes and 429 `Retry-After`, and posting
//! our own body keeps muster's Block Kit JSON byte-for-byte instead of round-tripping it through
//! slack-morphism's block types.

use std::fmt;
use std::time::Duration;

use hyper_rustls::HttpsConnectorBuilder;
use muster_core::ports::{ChatMessage, ChatSink, SinkError};
use muster_core::retry::RetryPolicy;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use slack_morphism::errors::SlackClientError;
use slack_morphism::hyper_tokio::SlackClientHyperHttpsConnector;
use slack_morphism::{SlackApiToken, SlackApiTokenValue, SlackClientApiCallContext, SlackClientHttpConnector};

/// Slack's Web API base URL.
pub const SLACK_API_URL: &str = "https://slack.com/api/";
/// The most a call waits inside, in all, before handing a rate limit or failure back to the
/// queue: a Lambda invocation should not sit idle, and the queue redelivers for free.
pub const MAX_INTERNAL_WAIT: Duration = Duration::from_secs(5);
/// The wait assumed when Slack says `ratelimited` without a usable `Retry-After` (chat
/// methods allow about one message per second per channel).
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// How to reach Slack. Read once at start-up.
#[derive(Clone)]
pub struct SlackSettings {
    /// `https://slack.com/api/`; plain `http://` is accepted only for loopback test servers.
    pub api_url: String,
    /// Bot token (`xoxb-…`) with the `chat:write` scope. Never printed: `Debug` redacts it.
    pub token: String,
    /// Limit for each HTTP request, connection included.
    pub timeout: Duration,
    /// Attempts and backoff for transient failures (5xx, timeouts, `internal_error`).
    pub retry: RetryPolicy,
}

impl SlackSettings {
    /// Slack's real API with a 10 s request timeout and the default retry policy.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            api_url: SLACK_API_URL.to_owned(),
            token: token.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackSettings")
            .field("api_url", &self.api_url)
            .field("token", &redacted(&self.token))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

fn redacted(token: &str) -> &'static str {
    if token.is_empty() { "<empty>" } else { "<redacted>" }
}

/// Settings that cannot work, found before any request.
#[derive(Debug, thiserror::Error)]
pub enum SlackSetupError {
    #[error("slack api_url {url:?} is not a URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "slack api_url {0:?} must use https (plain http is only for 127.0.0.1/localhost test servers); use https://slack.com/api/"
    )]
    Insecure(String),
    #[error("no TLS root certificates: {0} (install the ca-certificates package)")]
    Tls(String),
    /// `[slack]` is configured but its token variable is unset: refuse to start rather than
    /// silently keep chat in the outbox.
    #[error("slack takes its bot token from ${0}, which is not set")]
    MissingToken(String),
}

/// Where a posted message lives, so a button action can update it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// Channel id (Slack answers with the id even when posted by name).
    pub channel: String,
    /// The message's timestamp: its id within the channel.
    pub ts: String,
}

/// A `ChatSink` posting to Slack with a bot token.
pub struct SlackChat {
    connector: SlackClientHyperHttpsConnector,
    /// `None` when the configured token is empty: requests then go without `Authorization`
    /// and Slack's own `not_authed` answer becomes a `Rejected` saying to set the token.
    token: Option<SlackApiToken>,
    api_url: String,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for SlackChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChat")
            .field("api_url", &self.api_url)
            .field("token", &if self.token.is_some() { "<redacted>" } else { "<none>" })
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

#[derive(Serialize)]
struct PostMessageBody<'a> {
    channel: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<&'a serde_json::Value>,
    unfurl_links: bool,
}

#[derive(Serialize)]
struct UpdateBody<'a> {
    channel: &'a str,
    ts: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<&'a serde_json::Value>,
}

/// What a failed attempt means for the next one.
enum Failure {
    RateLimited(Duration),
    Transient(String),
    Rejected(String),
    Fatal(String),
}

impl SlackChat {
    /// Builds the HTTPS client (rustls with aws-lc-rs, the system's root certificates).
    pub fn new(settings: SlackSettings) -> Result<Self, SlackSetupError> {
        let parsed = url::Url::parse(&settings.api_url).map_err(|e| SlackSetupError::InvalidUrl {
            url: settings.api_url.clone(),
            reason: e.to_string(),
        })?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(SlackSetupError::Insecure(settings.api_url)),
            other => {
                return Err(SlackSetupError::InvalidUrl {
                    url: settings.api_url.clone(),
                    reason: format!("scheme {other:?} is not http(s)"),
                });
            }
        }
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| SlackSetupError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        // slack-morphism joins base and method with a `/`.
        let api_url = settings.api_url.trim_end_matches('/').to_owned();
        let connector = SlackClientHyperHttpsConnector::from(https).with_slack_api_url(&api_url);
        let token = (!settings.token.is_empty()).then(|| SlackApiToken::new(SlackApiTokenValue(settings.token)));
        Ok(Self {
            connector,
            token,
            api_url,
            timeout: settings.timeout,
            retry: settings.retry,
        })
    }

    /// Posts a message and says where it went, so its buttons' handler can update it.
    /// `ChatSink::post` is this without the answer.
    pub async fn post_message(&self, message: &ChatMessage) -> Result<PostedMessage, SinkError> {
        let body = PostMessageBody {
            channel: &message.channel,
            text: &message.text,
            blocks: message.blocks.as_ref(),
            unfurl_links: false,
        };
        self.call("chat.postMessage", &message.channel, &body).await
    }

    /// Replaces a posted message's text and blocks (`chat.update`), e.g. to show who
    /// acknowledged an alert. `blocks: None` keeps the message's current blocks.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<&serde_json::Value>,
    ) -> Result<PostedMessage, SinkError> {
        let body = UpdateBody {
            channel,
            ts,
            text,
            blocks,
        };
        self.call("chat.update", channel, &body).await
    }

    /// One Web API call with bounded retries: every attempt has the timeout, and the waits
    /// between attempts add up to at most `MAX_INTERNAL_WAIT`.
    async fn call<RQ, RS>(&self, method: &'static str, channel: &str, body: &RQ) -> Result<RS, SinkError>
    where
        RQ: Serialize + Send + Sync,
        RS: DeserializeOwned + Send,
    {
        let url = self
            .connector
            .create_method_uri_path(method)
            .map_err(|e| anyhow::anyhow!("slack {method}: bad api_url {}: {e}", self.api_url))?;
        let span = tracing::debug_span!("slack", method, channel);
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let context = SlackClientApiCallContext {
                rate_control_params: None,
                token: self.token.as_ref(),
                tracing_span: &span,
                is_sensitive_url: false,
            };
            let request = self.connector.http_post_uri(url.clone(), body, context);
            let failure = match tokio::time::timeout(self.timeout, request).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(error)) => classify(method, channel, error),
                Err(_) => Failure::Transient(format!("no answer within {:?}", self.timeout)),
            };
            let last = attempt >= self.retry.max_attempts;
            let wait = match failure {
                Failure::Rejected(message) => return Err(SinkError::Rejected(message)),
                Failure::Fatal(reason) => {
                    return Err(anyhow::anyhow!("slack {method} to {}: {reason}", at(channel)).into());
                }
                Failure::RateLimited(retry_after) => {
                    if last || waited + retry_after > MAX_INTERNAL_WAIT {
                        return Err(SinkError::RateLimited { retry_after });
                    }
                    retry_after
                }
                Failure::Transient(reason) => {
                    let wait = jitter(self.retry.backoff(attempt));
                    if last || waited + wait > MAX_INTERNAL_WAIT {
                        return Err(anyhow::anyhow!(
                            "slack {method} to {}: {reason} (gave up after {attempt} attempts)",
                            at(channel)
                        )
                        .into());
                    }
                    tracing::warn!(method, channel, attempt, ?wait, %reason, "slack call failed; retrying");
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            waited += wait;
            attempt += 1;
        }
    }
}

/// Slack's `chat.postMessage` has no idempotency key, so `dedupe_key` is not sent: a message
/// redelivered after a lost answer can appear twice. Callers that must post once keep the
/// `PostedMessage` (or an outbox entry) and check it before posting.
impl ChatSink for SlackChat {
    async fn post(&self, message: &ChatMessage) -> Result<(), SinkError> {
        self.post_message(message).await.map(|_| ())
    }
}

/// Half the backoff plus a random part of the other half, so workers that failed together
/// do not retry together.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let extra = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(extra)
}

/// `#payments` for a channel name, the id as it is.
fn at(channel: &str) -> String {
    let is_id =
        channel.starts_with(['C', 'G', 'D']) && channel.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if channel.starts_with('#') || is_id {
        channel.to_owned()
    } else {
        format!("#{channel}")
    }
}

fn classify(method: &str, channel: &str, error: SlackClientError) -> Failure {
    match error {
        SlackClientError::ApiError(error) => classify_code(method, channel, &error.code),
        SlackClientError::RateLimitError(error) => {
            Failure::RateLimited(error.retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT))
        }
        SlackClientError::HttpError(error) => {
            let status = error.status_code.as_u16();
            let hint = match status {
                500..=599 => return Failure::Transient(format!("HTTP {status} from Slack")),
                401 | 403 => "the bot token is missing or refused: set a valid xoxb- token with the chat:write scope",
                404 => "no such API method here: check api_url (https://slack.com/api/)",
                _ => "Slack refused the request",
            };
            Failure::Rejected(format!("slack {method} to {}: HTTP {status} — {hint}", at(channel)))
        }
        SlackClientError::HttpProtocolError(_)
        | SlackClientError::EndOfStream(_)
        | SlackClientError::SystemError(_) => Failure::Transient(error.to_string()),
        // A 200 we could not read may still have posted: not retried here.
        SlackClientError::ProtocolError(_) | SlackClientError::SocketModeProtocolError(_) => {
            Failure::Fatal(error.to_string())
        }
    }
}

/// Slack's `ok:false` codes: what each means for a retry, and what a person should do.
fn classify_code(method: &str, channel: &str, code: &str) -> Failure {
    let hint = match code {
        "ratelimited" | "rate_limited" => return Failure::RateLimited(DEFAULT_RATE_LIMIT_WAIT),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            return Failure::Transient(format!("Slack answered {code}"));
        }
        "channel_not_found" => "invite the muster app to the channel or fix the channel name",
        "not_in_channel" => "invite the muster app to the channel (/invite @muster)",
        "is_archived" => "the channel is archived: unarchive it or route the team to another channel",
        "invalid_auth" | "not_authed" => "the bot token is missing or wrong: set a valid xoxb- token",
        "account_inactive" | "token_revoked" => {
            "the Slack app was uninstalled or its token revoked: reinstall it and update the token"
        }
        "missing_scope" => "add the chat:write scope to the Slack app and reinstall it",
        "invalid_blocks" | "invalid_blocks_format" => {
            "Slack refused the Block Kit layout: a muster bug, please report it"
        }
        "msg_too_long" => "the message text is over Slack's limit: a muster bug, please report it",
        "message_not_found" | "cant_update_message" | "edit_window_closed" => {
            "the original message is gone or no longer editable by muster"
        }
        _ => {
            return Failure::Rejected(format!(
                "slack {method} to {}: {code} — see https://api.slack.com/methods/{method}#errors",
                at(channel)
            ));
        }
    };
    Failure::Rejected(format!("slack {method} to {}: {code} — {hint}", at(channel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let settings = SlackSettings::new("xoxb-1234-secret");
        assert!(!format!("{settings:?}").contains("xoxb"), "{settings:?}");
        let chat = SlackChat::new(settings).unwrap();
        assert!(!format!("{chat:?}").contains("xoxb"), "{chat:?}");
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        let mut settings = SlackSettings::new("xoxb-1");
        settings.api_url = "http://slack.example.com/api/".into();
        assert!(matches!(
            SlackChat::new(settings.clone()),
            Err(SlackSetupError::Insecure(_))
        ));
        settings.api_url = "http://127.0.0.1:4040/api/".into();
        assert!(SlackChat::new(settings.clone()).is_ok());
        settings.api_url = "not a url".into();
        assert!(matches!(
            SlackChat::new(settings),
            Err(SlackSetupError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn channel_errors_name_the_channel_and_what_to_do() {
        let Failure::Rejected(message) = classify_code("chat.postMessage", "chan", "channel_not_found") else {
            panic!("not rejected");
        };
        assert_eq!(
            message,
            "slack chat.postMessage to #chan: channel_not_found — invite the muster app to the channel or fix the channel name"
        );
        let Failure::Rejected(message) = classify_code("chat.postMessage", "C0123ABC", "not_in_channel") else {
            panic!("not rejected");
        };
        assert!(
            message.starts_with("slack chat.postMessage to C0123ABC: not_in_channel — invite"),
            "{message}"
        );
    }

    #[test]
    fn every_documented_refusal_is_rejected_with_a_hint() {
        for code in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "missing_scope",
            "invalid_blocks",
            "msg_too_long",
        ] {
            let Failure::Rejected(message) = classify_code("chat.postMessage", "#sec", code) else {
                panic!("{code} not rejected");
            };
            assert!(
                message.starts_with(&format!("slack chat.postMessage to #sec: {code} — ")),
                "{message}"
            );
            assert!(
                !message.contains("api.slack.com"),
                "{code} has no specific hint: {message}"
            );
        }
    }

    #[test]
    fn slack_side_trouble_is_transient_and_rate_limits_are_rate_limits() {
        for code in ["internal_error", "fatal_error", "service_unavailable"] {
            assert!(
                matches!(classify_code("chat.postMessage", "c", code), Failure::Transient(_)),
                "{code}"
            );
        }
        for code in ["ratelimited", "rate_limited"] {
            assert!(
                matches!(classify_code("chat.postMessage", "c", code), Failure::RateLimited(_)),
                "{code}"
            );
        }
        assert!(matches!(
            classify_code("chat.postMessage", "c", "no_text"),
            Failure::Rejected(_)
        ));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        for _ in 0..100 {
            let wait = jitter(Duration::from_millis(400));
            assert!(
                wait >= Duration::from_millis(200) && wait <= Duration::from_millis(400),
                "{wait:?}"
            );
        }
    }
}
