//! Sync back: what people do to tickets in the tracker (GitHub `issues` events, Jira issue
//! webhooks) reaches muster's state.
//!
//! A ticket closed while the scanners still see its findings is either reopened with a comment
//! citing the last scan, or flagged for the digest (`trackers.on_closed_while_detected`). A ticket
//! closed as won't-fix becomes a risk acceptance request to the security leads: the findings
//! stay open (their SLA keeps running) until someone accepts the risk with `muster accept`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PipelineError, open_members, stamp};
use crate::config::{ClosedWhileDetected, Config};
use crate::messages::{Message, TicketEvent};
use crate::model::{GroupKey, Ticket, TicketState};
use crate::ports::{Clock, FindingStore, Queue, TicketStore, parse_group_marker};

/// What a person did to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackerAction {
    /// Closed as done (GitHub `completed`, a Jira "done" status).
    Closed,
    /// Closed as won't fix (GitHub `not_planned`, a configured Jira resolution).
    ClosedWontFix,
    Reopened,
}

/// One tracker webhook delivery, reduced to what muster acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerEvent {
    /// `github` or `jira`.
    pub tracker: String,
    /// `acme/payments#12`, `PAY-7`: must match the ticket muster recorded for the group.
    pub key: String,
    pub group: GroupKey,
    pub action: TrackerAction,
    /// Who did it, as the tracker names them.
    pub actor: Option<String>,
}

/// What muster did with a tracker event (the webhook's response body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackerOutcome {
    /// `reopening`, `flagged`, `acceptance_requested`, `recorded`, or `ignored`.
    pub outcome: &'static str,
    pub detail: String,
}

impl TrackerOutcome {
    fn new(outcome: &'static str, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            detail: detail.into(),
        }
    }
}

/// Why a webhook body is not a tracker event muster can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrackerEventError(pub String);

/// Reads a GitHub `issues` delivery. `Ok(None)` for actions muster ignores (edited, labeled…)
/// and for issues without muster's marker.
pub fn parse_github_issue_event(body: &[u8]) -> Result<Option<TrackerEvent>, TrackerEventError> {
    #[derive(Deserialize)]
    struct Delivery {
        action: String,
        issue: Issue,
        repository: Repository,
        #[serde(default)]
        sender: Option<Account>,
    }
    #[derive(Deserialize)]
    struct Issue {
        number: u64,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        state_reason: Option<String>,
    }
    #[derive(Deserialize)]
    struct Repository {
        full_name: String,
    }
    #[derive(Deserialize)]
    struct Account {
        login: String,
    }
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| {
        TrackerEventError(format!(
            "not a GitHub issues event: {e} (expects action, issue, repository)"
        ))
    })?;
    let action = match (delivery.action.as_str(), delivery.issue.state_reason.as_deref()) {
        ("closed", Some("not_planned")) => TrackerAction::ClosedWontFix,
        ("closed", _) => TrackerAction::Closed,
        ("reopened", _) => TrackerAction::Reopened,
        _ => return Ok(None),
    };
    let Some(group) = delivery.issue.body.as_deref().and_then(parse_group_marker) else {
        return Ok(None);
    };
    Ok(Some(TrackerEvent {
        tracker: "github".into(),
        key: format!("{}#{}", delivery.repository.full_name, delivery.issue.number),
        group,
        action,
        actor: delivery.sender.map(|s| s.login),
    }))
}

/// Reads a Jira `jira:issue_updated` delivery. A status change into the "done" category is a
/// close (won't-fix when the resolution is one of `wont_fix_resolutions`); out of it, a reopen.
pub fn parse_jira_event(
    body: &[u8],
    wont_fix_resolutions: &[String],
) -> Result<Option<TrackerEvent>, TrackerEventError> {
    let delivery = crate::strict_json::from_slice(body)
        .map_err(|e| TrackerEventError(format!("not a Jira webhook delivery: {e}")))?;
    let Some(issue) = delivery.get("issue") else {
        return Err(TrackerEventError("not a Jira issue event: no \"issue\" object".into()));
    };
    let key = issue
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| TrackerEventError("Jira issue event without issue.key".into()))?;
    let fields = issue.get("fields").unwrap_or(&Value::Null);
    let status_changed = delivery
        .pointer("/changelog/items")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items
                .iter()
                .any(|i| i.get("field").and_then(Value::as_str) == Some("status"))
        });
    if !status_changed {
        return Ok(None);
    }
    let done = fields.pointer("/status/statusCategory/key").and_then(Value::as_str) == Some("done");
    let resolution = fields.pointer("/resolution/name").and_then(Value::as_str);
    let action = match (done, resolution) {
        (true, Some(name)) if wont_fix_resolutions.iter().any(|w| w.eq_ignore_ascii_case(name)) => {
            TrackerAction::ClosedWontFix
        }
        (true, _) => TrackerAction::Closed,
        (false, _) => TrackerAction::Reopened,
    };
    // The marker is a text node of the ADF description.
    let description = fields.get("description").map(Value::to_string).unwrap_or_default();
    let Some(group) = parse_group_marker(&description) else {
        return Ok(None);
    };
    let actor = delivery
        .pointer("/user/displayName")
        .or_else(|| delivery.pointer("/user/accountId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Some(TrackerEvent {
        tracker: "jira".into(),
        key: key.to_owned(),
        group,
        action,
        actor,
    }))
}

/// Applies a person's change to a ticket. Safe to apply twice.
pub async fn apply_tracker_event<S, Q, C>(
    store: &S,
    queue: &Q,
    clock: &C,
    config: &Config,
    event: &TrackerEvent,
) -> Result<TrackerOutcome, PipelineError>
where
    S: FindingStore + TicketStore,
    Q: Queue,
    C: Clock,
{
    let Some(mut ticket) = store.ticket(&event.group).await? else {
        return Ok(TrackerOutcome::new(
            "ignored",
            format!("muster has no ticket for group {}", event.group),
        ));
    };
    // The marker is text anyone can paste; only the recorded ticket speaks for its group.
    if ticket.tracker != event.tracker || ticket.key.as_deref() != Some(event.key.as_str()) {
        return Ok(TrackerOutcome::new(
            "ignored",
            format!("{} is not muster's ticket for group {}", event.key, event.group),
        ));
    }
    let now = clock.now();
    let who = event.actor.as_deref().unwrap_or("someone");
    let mut open = open_members(store, &event.group).await?;

    match event.action {
        TrackerAction::Reopened => {
            if ticket.state == TicketState::Open {
                return Ok(TrackerOutcome::new("recorded", "already open"));
            }
            set_state(store, &mut ticket, TicketState::Open, now).await?;
            // With nothing left open, the next ticket sync closes it again with the reason.
            queue
                .send(vec![Message::Ticket {
                    group: event.group.clone(),
                }])
                .await?;
            Ok(TrackerOutcome::new(
                "recorded",
                format!("{} reopened by {who}", event.key),
            ))
        }
        TrackerAction::Closed if open.is_empty() => {
            if ticket.state != TicketState::Closed {
                set_state(store, &mut ticket, TicketState::Closed, now).await?;
            }
            Ok(TrackerOutcome::new(
                "recorded",
                "closed; no finding of the group is open",
            ))
        }
        TrackerAction::Closed => {
            let last_scan = open.iter().map(|f| f.last_seen).max().unwrap_or(now);
            let detail = format!(
                "{} closed by {who} while {} finding(s) are still detected (last scan {})",
                event.key,
                open.len(),
                last_scan.format("%Y-%m-%d %H:%M UTC")
            );
            stamp(store, &mut open, now, "ticket_closed_while_detected", &detail).await?;
            match config.trackers.on_closed_while_detected {
                ClosedWhileDetected::Reopen => {
                    // Closed-with-open-findings is what the ticket sync reopens, with a note.
                    set_state(store, &mut ticket, TicketState::Closed, now).await?;
                    queue
                        .send(vec![Message::Ticket {
                            group: event.group.clone(),
                        }])
                        .await?;
                    Ok(TrackerOutcome::new("reopening", detail))
                }
                ClosedWhileDetected::Flag => {
                    set_state(store, &mut ticket, TicketState::ClosedInTracker, now).await?;
                    Ok(TrackerOutcome::new("flagged", detail))
                }
            }
        }
        TrackerAction::ClosedWontFix => {
            if ticket.state == TicketState::ClosedInTracker {
                return Ok(TrackerOutcome::new("recorded", "already closed as won't fix"));
            }
            let detail = format!(
                "{} closed as won't fix by {who}: risk acceptance requested for {} open finding(s)",
                event.key,
                open.len()
            );
            stamp(store, &mut open, now, "acceptance_requested", &detail).await?;
            set_state(store, &mut ticket, TicketState::ClosedInTracker, now).await?;
            queue
                .send(vec![Message::Notify {
                    group: event.group.clone(),
                    event: TicketEvent::AcceptanceRequested,
                    at: now,
                }])
                .await?;
            Ok(TrackerOutcome::new("acceptance_requested", detail))
        }
    }
}

/// Records the ticket's new state as of `now`.
async fn set_state<S: TicketStore>(
    store: &S,
    ticket: &mut Ticket,
    state: TicketState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), PipelineError> {
    ticket.state = state;
    ticket.updated_at = now;
    store.save_ticket(ticket).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(action: &str, reason: Option<&str>, body: &str) -> Vec<u8> {
        serde_json::json!({
            "action": action,
            "issue": { "number": 12, "body": body, "state": "closed", "state_reason": reason },
            "repository": { "full_name": "acme/payments" },
            "sender": { "login": "alice" }
        })
        .to_string()
        .into_bytes()
    }

    const BODY: &str = "Fix it\n\n<!-- muster:group=payments/img/pkg:openssl -->";

    #[test]
    fn github_closes_reopens_and_wont_fix_are_told_apart() {
        let closed = parse_github_issue_event(&github("closed", Some("completed"), BODY))
            .unwrap()
            .unwrap();
        assert_eq!(closed.action, TrackerAction::Closed);
        assert_eq!(closed.key, "acme/payments#12");
        assert_eq!(closed.group.as_str(), "payments/img/pkg:openssl");
        assert_eq!(closed.actor.as_deref(), Some("alice"));
        let wont = parse_github_issue_event(&github("closed", Some("not_planned"), BODY))
            .unwrap()
            .unwrap();
        assert_eq!(wont.action, TrackerAction::ClosedWontFix);
        let reopened = parse_github_issue_event(&github("reopened", None, BODY))
            .unwrap()
            .unwrap();
        assert_eq!(reopened.action, TrackerAction::Reopened);
        assert_eq!(parse_github_issue_event(&github("labeled", None, BODY)).unwrap(), None);
        assert_eq!(
            parse_github_issue_event(&github("closed", None, "no marker")).unwrap(),
            None
        );
        let err = parse_github_issue_event(b"{\"zen\":\"hi\"}").unwrap_err();
        assert!(err.0.contains("not a GitHub issues event"), "{err}");
    }

    fn jira(category: &str, resolution: Option<&str>, changelog_field: &str) -> Vec<u8> {
        serde_json::json!({
            "webhookEvent": "jira:issue_updated",
            "user": { "accountId": "5b10", "displayName": "Bob" },
            "issue": {
                "key": "PAY-7",
                "fields": {
                    "status": { "name": "Whatever", "statusCategory": { "key": category } },
                    "resolution": resolution.map(|name| serde_json::json!({ "name": name })),
                    "description": { "type": "doc", "version": 1, "content": [
                        { "type": "paragraph", "content": [ { "type": "text", "text": "muster:group=payments/img/pkg:openssl" } ] }
                    ] }
                }
            },
            "changelog": { "items": [ { "field": changelog_field, "fromString": "A", "toString": "B" } ] }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn jira_status_changes_are_read_from_category_and_resolution() {
        let wont_fix = vec!["Won't Do".to_owned()];
        let closed = parse_jira_event(&jira("done", Some("Done"), "status"), &wont_fix)
            .unwrap()
            .unwrap();
        assert_eq!((closed.action, closed.key.as_str()), (TrackerAction::Closed, "PAY-7"));
        assert_eq!(closed.group.as_str(), "payments/img/pkg:openssl");
        assert_eq!(closed.actor.as_deref(), Some("Bob"));
        let wont = parse_jira_event(&jira("done", Some("won't do"), "status"), &wont_fix)
            .unwrap()
            .unwrap();
        assert_eq!(wont.action, TrackerAction::ClosedWontFix);
        let reopened = parse_jira_event(&jira("new", None, "status"), &wont_fix)
            .unwrap()
            .unwrap();
        assert_eq!(reopened.action, TrackerAction::Reopened);
        assert_eq!(
            parse_jira_event(&jira("done", None, "summary"), &wont_fix).unwrap(),
            None
        );
        assert!(parse_jira_event(b"[]", &wont_fix).is_err());
    }
}
