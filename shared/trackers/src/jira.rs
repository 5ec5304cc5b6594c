//! The Jira Cloud ticket sink (REST v3, descriptions in ADF).
//!
//! Owns the mapping from a `TicketDraft` to Jira fields, the search label that finds a group's
//! issue again, and workflow transitions by name. It never fails a close or reopen because a
//! workflow lacks the transition: it comments instead, so a queue does not retry forever.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::Context;
use muster_core::ownership::Tracker;
use muster_core::ports::{SinkError, TicketDraft, TicketRef, TicketSink, group_marker};
use muster_core::retry::RetryPolicy;
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::ConfigError;
use crate::adf;
use crate::http::{Reply, Transport, search_label, with_retries};

/// The name tickets record for this sink.
pub const TRACKER: &str = "jira";

/// Added when a close found no done transition, so people can still filter fixed tickets.
pub const FIXED_LABEL: &str = "muster-fixed";

/// How muster talks to one Jira Cloud site. Build it from config; `Debug` never shows the token.
#[derive(Clone)]
pub struct JiraSettings {
    /// `https://acme.atlassian.net` (no trailing `/rest/...`).
    pub base_url: String,
    /// The account the API token belongs to (Basic auth user).
    pub email: String,
    /// An Atlassian API token. Secret: never logged.
    pub token: String,
    /// Issue type name for new tickets, e.g. `Task`.
    pub issue_type: String,
    /// Priority names for P1..P4 (sites rename them).
    pub priorities: [String; 4],
    /// Transition name (case-insensitive) that closes a ticket, e.g. `Done`.
    pub done_transition: String,
    /// Transition name that reopens one; else any transition into a "new" or "indeterminate"
    /// status category is used.
    pub reopen_transition: String,
    /// Whether to set `duedate` from the SLA due date (some projects hide the field).
    pub set_due_date: bool,
    /// Extra fields set on create, e.g. `customfield_10010`. String values (nested too) are
    /// templates: `{tier}`, `{due}`, `{group}`, `{owner}`, `{title}`.
    pub fields: BTreeMap<String, Value>,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Attempts and backoff for 5xx and timeouts; rate limits longer than 5 s are not waited.
    pub retry: RetryPolicy,
}

impl JiraSettings {
    /// Settings with Jira's usual names (Task, Highest..Low, Done, Reopen) for a site.
    pub fn new(base_url: impl Into<String>, email: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            email: email.into(),
            token: token.into(),
            issue_type: "Task".into(),
            priorities: ["Highest", "High", "Medium", "Low"].map(String::from),
            done_transition: "Done".into(),
            reopen_transition: "Reopen".into(),
            set_due_date: true,
            fields: BTreeMap::new(),
            timeout: Duration::from_secs(20),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for JiraSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraSettings")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("token", &"<redacted>")
            .field("issue_type", &self.issue_type)
            .field("priorities", &self.priorities)
            .field("done_transition", &self.done_transition)
            .field("reopen_transition", &self.reopen_transition)
            .field("set_due_date", &self.set_due_date)
            .field("fields", &self.fields)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A `TicketSink` for Jira Cloud. Cheap to share: one HTTP client, built once.
#[derive(Debug, Clone)]
pub struct JiraSink {
    settings: JiraSettings,
    base: Url,
    client: reqwest::Client,
}

impl JiraSink {
    /// Checks the settings and builds the client; fails fast at start-up, not per ticket.
    pub fn new(settings: JiraSettings) -> Result<Self, ConfigError> {
        let base = Url::parse(settings.base_url.trim_end_matches('/'))
            .map_err(|e| ConfigError::invalid("jira base_url", &settings.base_url, e))?;
        if settings.email.trim().is_empty() || settings.token.trim().is_empty() {
            return Err(ConfigError::invalid(
                "jira credentials",
                "",
                "email and token are required",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("muster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Client)?;
        Ok(Self { settings, base, client })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SinkError> {
        let base = self.base.as_str().trim_end_matches('/');
        let url = Url::parse_with_params(&format!("{base}{path}"), query)
            .with_context(|| format!("building the Jira URL for {path}"))?;
        Ok(url)
    }

    /// One call, retried per the policy; `call` names it in errors ("create issue in PAY").
    async fn send(&self, call: &str, method: Method, url: Url, body: Option<&Value>) -> Result<Reply, SinkError> {
        tracing::debug!(%method, %url, "jira request");
        let idempotent = method != Method::POST;
        with_retries(&self.settings.retry, call, idempotent, || {
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .basic_auth(&self.settings.email, Some(&self.settings.token))
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            async move {
                let response = request.send().await.map_err(|e| Transport(e.into()))?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.text().await.map_err(|e| Transport(e.into()))?;
                Ok(Reply { status, headers, body })
            }
        })
        .await
    }

    fn priority(&self, draft: &TicketDraft) -> &str {
        let index = muster_core::model::Tier::ALL
            .iter()
            .position(|t| *t == draft.tier)
            .unwrap_or(3);
        &self.settings.priorities[index]
    }

    fn labels(draft: &TicketDraft) -> Vec<String> {
        let mut labels: Vec<String> = draft.labels.iter().map(|l| l.replace(' ', "-")).collect();
        labels.push(search_label(&draft.group));
        labels.sort();
        labels.dedup();
        labels
    }

    /// The fields create and update both set.
    fn common_fields(&self, draft: &TicketDraft) -> serde_json::Map<String, Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("summary".into(), json!(draft.title));
        fields.insert(
            "description".into(),
            adf::description(&draft.body, &group_marker(&draft.group)),
        );
        fields.insert("labels".into(), json!(Self::labels(draft)));
        fields.insert("priority".into(), json!({ "name": self.priority(draft) }));
        if self.settings.set_due_date {
            fields.insert("duedate".into(), json!(draft.due_at.format("%Y-%m-%d").to_string()));
        }
        fields
    }

    fn template(&self, value: &Value, draft: &TicketDraft) -> Value {
        match value {
            Value::String(text) => Value::String(
                text.replace("{tier}", draft.tier.as_str())
                    .replace("{due}", &draft.due_at.format("%Y-%m-%d").to_string())
                    .replace("{group}", draft.group.as_str())
                    .replace("{owner}", draft.owner.as_str())
                    .replace("{title}", &draft.title),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.template(v, draft)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.template(v, draft))).collect())
            }
            other => other.clone(),
        }
    }

    fn browse(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.base.as_str().trim_end_matches('/'))
    }

    async fn comment(&self, key: &str, markdown: &str) -> Result<(), SinkError> {
        let url = self.url(&format!("/rest/api/3/issue/{key}/comment"), &[])?;
        let body = json!({ "body": adf::document(markdown) });
        self.send(&format!("comment on {key}"), Method::POST, url, Some(&body))
            .await?;
        Ok(())
    }

    async fn note(&self, key: &str, draft: &TicketDraft) -> Result<(), SinkError> {
        match &draft.note {
            Some(note) if !note.trim().is_empty() => self.comment(key, note).await,
            _ => Ok(()),
        }
    }

    async fn edit_labels(&self, key: &str, operation: &str, label: &str) -> Result<(), SinkError> {
        let url = self.url(&format!("/rest/api/3/issue/{key}"), &[])?;
        let body = json!({ "update": { "labels": [{ operation: label }] } });
        self.send(&format!("{operation} label on {key}"), Method::PUT, url, Some(&body))
            .await?;
        Ok(())
    }

    /// The issue's transitions as `(id, name, target status category key)`.
    async fn transitions(&self, key: &str) -> Result<Vec<(String, String, String)>, SinkError> {
        let url = self.url(&format!("/rest/api/3/issue/{key}/transitions"), &[])?;
        let reply = self
            .send(&format!("list transitions of {key}"), Method::GET, url, None)
            .await?;
        let json = reply.json();
        let transitions = json["transitions"].as_array().cloned().unwrap_or_default();
        Ok(transitions
            .iter()
            .filter_map(|t| {
                // Ids are strings in Jira; tolerate numbers from odd proxies.
                let id = match &t["id"] {
                    Value::String(id) => id.clone(),
                    Value::Number(id) => id.to_string(),
                    _ => return None,
                };
                let name = t["name"].as_str().unwrap_or_default().to_owned();
                let category = t
                    .pointer("/to/statusCategory/key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Some((id, name, category))
            })
            .collect())
    }

    async fn transition(&self, key: &str, id: &str, name: &str) -> Result<(), SinkError> {
        let url = self.url(&format!("/rest/api/3/issue/{key}/transitions"), &[])?;
        let body = json!({ "transition": { "id": id } });
        self.send(
            &format!("transition {key} via '{name}'"),
            Method::POST,
            url,
            Some(&body),
        )
        .await?;
        Ok(())
    }

    fn issue_key(ticket: &TicketRef) -> Result<&str, SinkError> {
        let key = ticket.key.as_str();
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(key)
        } else {
            Err(SinkError::Rejected(format!(
                "'{key}' is not a Jira issue key (expected e.g. PAY-12)"
            )))
        }
    }
}

fn project(draft: &TicketDraft) -> Result<&str, SinkError> {
    match &draft.destination {
        Some(Tracker::Jira { project }) => Ok(project),
        other => Err(SinkError::Rejected(format!(
            "group {} is routed to {other:?}, not to a Jira project",
            draft.group
        ))),
    }
}

impl TicketSink for JiraSink {
    fn tracker(&self, _: &TicketDraft) -> &str {
        TRACKER
    }

    async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
        let project = project(draft)?;
        let mut fields = self.common_fields(draft);
        fields.insert("project".into(), json!({ "key": project }));
        fields.insert("issuetype".into(), json!({ "name": self.settings.issue_type }));
        if let Some(assignee) = draft.assignees.first() {
            fields.insert("assignee".into(), json!({ "accountId": assignee }));
        }
        for (name, value) in &self.settings.fields {
            fields.insert(name.clone(), self.template(value, draft));
        }
        let url = self.url("/rest/api/3/issue", &[])?;
        let body = json!({ "fields": fields });
        let reply = self
            .send(&format!("create issue in {project}"), Method::POST, url, Some(&body))
            .await?;
        let key = reply.json()["key"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("Jira created an issue in {project} but sent no key: {}", reply.body))?;
        Ok(TicketRef {
            tracker: TRACKER.into(),
            url: Some(self.browse(&key)),
            key,
        })
    }

    async fn find(&self, draft: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
        let jql = format!("labels = \"{}\"", search_label(&draft.group));
        let url = self.url(
            "/rest/api/3/search/jql",
            &[("jql", &jql), ("fields", "key"), ("maxResults", "1")],
        )?;
        let reply = self
            .send(&format!("search for group {}", draft.group), Method::GET, url, None)
            .await?;
        let found = reply.json()["issues"][0]["key"].as_str().map(|key| TicketRef {
            tracker: TRACKER.into(),
            key: key.to_owned(),
            url: Some(self.browse(key)),
        });
        Ok(found)
    }

    async fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let key = Self::issue_key(ticket)?;
        let url = self.url(&format!("/rest/api/3/issue/{key}"), &[])?;
        let body = json!({ "fields": self.common_fields(draft) });
        self.send(&format!("update {key}"), Method::PUT, url, Some(&body))
            .await?;
        self.note(key, draft).await
    }

    async fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let key = Self::issue_key(ticket)?;
        let wanted = &self.settings.done_transition;
        let transitions = self.transitions(key).await?;
        match transitions
            .iter()
            .find(|(_, name, _)| name.eq_ignore_ascii_case(wanted))
        {
            Some((id, name, _)) => self.transition(key, id, name).await?,
            None => {
                tracing::warn!(key, transition = %wanted, "no done transition; commenting instead");
                self.comment(
                    key,
                    &format!("muster: all findings fixed; no '{wanted}' transition in this workflow"),
                )
                .await?;
                self.edit_labels(key, "add", FIXED_LABEL).await?;
            }
        }
        self.note(key, draft).await
    }

    async fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        let key = Self::issue_key(ticket)?;
        let wanted = &self.settings.reopen_transition;
        let transitions = self.transitions(key).await?;
        let by_name = transitions
            .iter()
            .find(|(_, name, _)| name.eq_ignore_ascii_case(wanted));
        let by_category = || {
            ["new", "indeterminate"]
                .iter()
                .find_map(|category| transitions.iter().find(|(_, _, c)| c == category))
        };
        match by_name.or_else(by_category) {
            Some((id, name, _)) => self.transition(key, id, name).await?,
            None => {
                tracing::warn!(key, transition = %wanted, "no reopen transition; commenting instead");
                self.comment(
                    key,
                    &format!("muster: findings are open again; no '{wanted}' transition in this workflow"),
                )
                .await?;
            }
        }
        self.edit_labels(key, "remove", FIXED_LABEL).await?;
        self.note(key, draft).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let settings = JiraSettings::new("https://acme.atlassian.net", "bot@acme.test", "s3cr3t-t0ken");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t-t0ken"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn a_bad_base_url_fails_at_start_up() {
        let settings = JiraSettings::new("not a url", "bot@acme.test", "t");
        assert!(matches!(JiraSink::new(settings), Err(ConfigError::Invalid { .. })));
    }
}
