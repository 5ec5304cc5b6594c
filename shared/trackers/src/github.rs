//! The GitHub Issues ticket sink, on octocrab.
//!
//! Owns issue create/edit/close in the team's repository, the `muster-p1..p4` tier labels
//! (created once per repository when missing) and the marker search that finds a group's
//! issue after a crash. It goes through octocrab's raw `_get/_post/_patch`: the typed calls
//! drop response headers, and rate limits are only told in headers.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use http::Method;
use muster_core::model::Tier;
use muster_core::ownership::Tracker;
use muster_core::ports::{SinkError, TicketDraft, TicketRef, TicketSink, group_marker};
use muster_core::retry::RetryPolicy;
use octocrab::Octocrab;
use serde_json::{Value, json};

use crate::ConfigError;
use crate::http::{Reply, Transport, with_retries};

/// The name tickets record for this sink.
pub const TRACKER: &str = "github";

/// Labels listed per page while looking for a tier label (GitHub's maximum).
const LABELS_PER_PAGE: usize = 100;

/// How muster talks to GitHub (or GitHub Enterprise). `Debug` never shows the token.
#[derive(Clone)]
pub struct GitHubSettings {
    /// `https://api.github.com`, or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// A token with `issues: write` on the teams' repositories. Secret: never logged.
    pub token: String,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Attempts and backoff for 5xx and timeouts; rate limits longer than 5 s are not waited.
    pub retry: RetryPolicy,
}

impl GitHubSettings {
    /// Settings for github.com with default timeout and retries.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            api_url: "https://api.github.com".into(),
            token: token.into(),
            timeout: Duration::from_secs(20),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for GitHubSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubSettings")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A `TicketSink` for GitHub Issues. Cheap to clone; clones share the client and label cache.
#[derive(Clone)]
pub struct GitHubSink {
    settings: GitHubSettings,
    client: Octocrab,
    /// `(repo, label)` pairs known to exist, so a label is looked up once per process.
    labels: Arc<Mutex<HashSet<(String, String)>>>,
}

impl fmt::Debug for GitHubSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubSink")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The label that carries a ticket's tier: `muster-p1`..`muster-p4`.
pub fn tier_label(tier: Tier) -> String {
    format!("muster-{}", tier.as_str().to_ascii_lowercase())
}

fn tier_color(tier: Tier) -> &'static str {
    match tier {
        Tier::P1 => "b60205",
        Tier::P2 => "d93f0b",
        Tier::P3 => "fbca04",
        Tier::P4 => "c5def5",
    }
}

/// `owner/name`, checked so it can go into a URL path as is.
fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn destination(draft: &TicketDraft) -> Result<&str, SinkError> {
    match &draft.destination {
        Some(Tracker::Github { repo }) if valid_repo(repo) => Ok(repo),
        other => Err(SinkError::Rejected(format!(
            "group {} is routed to {other:?}, not to a GitHub repository 'owner/name'",
            draft.group
        ))),
    }
}

/// `owner/name#12` → (`owner/name`, 12).
fn parse_key(ticket: &TicketRef) -> Result<(&str, u64), SinkError> {
    ticket
        .key
        .rsplit_once('#')
        .and_then(|(repo, number)| Some((repo, number.parse().ok()?)))
        .filter(|(repo, _)| valid_repo(repo))
        .ok_or_else(|| {
            SinkError::Rejected(format!(
                "'{}' is not a GitHub issue key (expected owner/name#12)",
                ticket.key
            ))
        })
}

impl GitHubSink {
    /// Builds the octocrab client (rustls, personal token); fails fast on a bad URL.
    pub fn new(settings: GitHubSettings) -> Result<Self, ConfigError> {
        if settings.token.trim().is_empty() {
            return Err(ConfigError::invalid("github token", "", "a token is required"));
        }
        let client = Octocrab::builder()
            .set_connect_timeout(Some(settings.timeout))
            .set_read_timeout(Some(settings.timeout))
            .set_write_timeout(Some(settings.timeout))
            .base_uri(settings.api_url.trim_end_matches('/'))
            .map_err(|e| ConfigError::invalid("github api_url", &settings.api_url, e))?
            .personal_token(settings.token.clone())
            .build()
            .map_err(|e| ConfigError::invalid("github client", &settings.api_url, e))?;
        Ok(Self {
            settings,
            client,
            labels: Arc::default(),
        })
    }

    /// One call, retried per the policy, each attempt bounded by the timeout.
    async fn send(&self, call: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, SinkError> {
        tracing::debug!(%method, path, "github request");
        let timeout = self.settings.timeout;
        let idempotent = method != Method::POST;
        with_retries(&self.settings.retry, call, idempotent, || {
            let method = method.clone();
            async move {
                let attempt = async {
                    let response = match method {
                        Method::POST => self.client._post(path, body).await,
                        Method::PATCH => self.client._patch(path, body).await,
                        _ => self.client._get(path).await,
                    }
                    .map_err(|e| Transport(anyhow::Error::new(e)))?;
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = self
                        .client
                        .body_to_string(response)
                        .await
                        .map_err(|e| Transport(anyhow::Error::new(e)))?;
                    Ok(Reply { status, headers, body })
                };
                tokio::time::timeout(timeout, attempt)
                    .await
                    .map_err(|_| Transport(anyhow::anyhow!("no reply within {timeout:?}")))?
            }
        })
        .await
    }

    /// Makes sure `label` exists in `repo`, creating it (with the tier's colour) when missing.
    async fn ensure_tier_label(&self, repo: &str, tier: Tier) -> Result<String, SinkError> {
        let label = tier_label(tier);
        let cache_key = (repo.to_owned(), label.clone());
        if self.known(&cache_key) {
            return Ok(label);
        }
        let mut found = false;
        for page in 1.. {
            let path = format!("/repos/{repo}/labels?per_page={LABELS_PER_PAGE}&page={page}");
            let reply = self
                .send(&format!("list labels of {repo}"), Method::GET, &path, None)
                .await?;
            let names = reply.json();
            let names: Vec<&str> = names
                .as_array()
                .map(|a| a.iter().filter_map(|l| l["name"].as_str()).collect())
                .unwrap_or_default();
            found = names.iter().any(|n| n.eq_ignore_ascii_case(&label));
            if found || names.len() < LABELS_PER_PAGE {
                break;
            }
        }
        if !found {
            let body = json!({
                "name": label,
                "color": tier_color(tier),
                "description": format!("muster: {} security remediation", tier.as_str()),
            });
            let path = format!("/repos/{repo}/labels");
            match self
                .send(
                    &format!("create label {label} in {repo}"),
                    Method::POST,
                    &path,
                    Some(&body),
                )
                .await
            {
                // Another worker created it in between.
                Err(SinkError::Rejected(message)) if message.contains("already_exists") => {}
                other => {
                    other?;
                }
            }
        }
        self.labels.lock().unwrap_or_else(|e| e.into_inner()).insert(cache_key);
        Ok(label)
    }

    fn known(&self, key: &(String, String)) -> bool {
        self.labels.lock().unwrap_or_else(|e| e.into_inner()).contains(key)
    }

    fn labels(draft: &TicketDraft, tier_label: String) -> Vec<String> {
        let mut labels = draft.labels.clone();
        labels.push(tier_label);
        labels.sort();
        labels.dedup();
        labels
    }

    async fn edit(&self, repo: &str, number: u64, call: &str, body: &Value) -> Result<(), SinkError> {
        let path = format!("/repos/{repo}/issues/{number}");
        self.send(&format!("{call} {repo}#{number}"), Method::PATCH, &path, Some(body))
            .await?;
        Ok(())
    }

    async fn note(&self, repo: &str, number: u64, draft: &TicketDraft) -> Result<(), SinkError> {
        let Some(note) = draft.note.as_deref().filter(|n| !n.trim().is_empty()) else {
            return Ok(());
        };
        let path = format!("/repos/{repo}/issues/{number}/comments");
        self.send(
            &format!("comment on {repo}#{number}"),
            Method::POST,
            &path,
            Some(&json!({ "body": note })),
        )
        .await?;
        Ok(())
    }

    fn ticket(repo: &str, issue: &Value) -> Option<TicketRef> {
        let number = issue["number"].as_u64()?;
        Some(TicketRef {
            tracker: TRACKER.into(),
            key: format!("{repo}#{number}"),
            url: issue["html_url"].as_str().map(str::to_owned),
        })
    }
}

/// The body GitHub gets: the draft's, with the marker comment appended if the draft lacks it.
fn body(draft: &TicketDraft) -> String {
    let marker = group_marker(&draft.group);
    if draft.body.contains(&marker) {
        draft.body.clone()
    } else {
        format!("{}\n\n<!-- {marker} -->", draft.body)
    }
}

impl TicketSink for GitHubSink {
    fn tracker(&self, _: &TicketDraft) -> &str {
        TRACKER
    }

    async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
        let repo = destination(draft)?;
        let tier_label = self.ensure_tier_label(repo, draft.tier).await?;
        let mut issue = json!({
            "title": draft.title,
            "body": body(draft),
            "labels": Self::labels(draft, tier_label),
        });
        if !draft.assignees.is_empty() {
            issue["assignees"] = json!(draft.assignees);
        }
        let path = format!("/repos/{repo}/issues");
        let reply = self
            .send(&format!("create issue in {repo}"), Method::POST, &path, Some(&issue))
            .await?;
        let created = Self::ticket(repo, &reply.json())
            .with_context(|| format!("GitHub created an issue in {repo} but sent no number: {}", reply.body))?;
        Ok(created)
    }

    async fn find(&self, draft: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
        let repo = destination(draft)?;
        let query = format!("repo:{repo} is:issue \"{}\" in:body", group_marker(&draft.group));
        // Url does the query encoding; only its path and query are sent.
        let url = reqwest::Url::parse_with_params("http://github.invalid/search/issues", &[("q", query.as_str())])
            .context("encoding the GitHub search query")?;
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let reply = self
            .send(
                &format!("search {repo} for group {}", draft.group),
                Method::GET,
                &path,
                None,
            )
            .await?;
        Ok(Self::ticket(repo, &reply.json()["items"][0]))
    }

    async fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let (repo, number) = parse_key(ticket)?;
        let tier_label = self.ensure_tier_label(repo, draft.tier).await?;
        let change = json!({
            "title": draft.title,
            "body": body(draft),
            "labels": Self::labels(draft, tier_label),
        });
        self.edit(repo, number, "update", &change).await?;
        self.note(repo, number, draft).await
    }

    async fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let (repo, number) = parse_key(ticket)?;
        let change = json!({ "state": "closed", "state_reason": "completed" });
        self.edit(repo, number, "close", &change).await?;
        self.note(repo, number, draft).await
    }

    async fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let (repo, number) = parse_key(ticket)?;
        let change = json!({ "state": "open", "state_reason": "reopened" });
        self.edit(repo, number, "reopen", &change).await?;
        self.note(repo, number, draft).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys_round_trip() {
        let ticket = TicketRef {
            tracker: TRACKER.into(),
            key: "acme/pay-ments.rs#12".into(),
            url: None,
        };
        assert_eq!(parse_key(&ticket).unwrap(), ("acme/pay-ments.rs", 12));
        for bad in ["acme#12", "acme/x/y#1", "acme/x#", "acme/x#one", "../x#1"] {
            let ticket = TicketRef {
                key: bad.into(),
                ..ticket.clone()
            };
            assert!(matches!(parse_key(&ticket), Err(SinkError::Rejected(_))), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", GitHubSettings::new("ghp_s3cr3t"));
        assert!(!shown.contains("ghp_s3cr3t"), "{shown}");
    }

    #[test]
    fn tier_labels_are_lower_case() {
        assert_eq!(tier_label(Tier::P1), "muster-p1");
        assert_eq!(tier_label(Tier::P4), "muster-p4");
    }
}
