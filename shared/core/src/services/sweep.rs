//! The SLA sweep: once an hour (and on `muster sweep --now`) it reads the open findings due
//! within the reminder window or already breached — through the store's due-date index, never
//! the whole table — and climbs the escalation ladder, one batched message per recipient and
//! rung:
//!
//! | rung | when | who hears |
//! |---|---|---|
//! | due soon | due within `sweep.reminder_days` | the team's channel |
//! | breached | past due | the team lead (`escalation[1]`), else the team's channel |
//! | long breached | past due by `sweep.long_breach_days` | the security lead (`escalation[2]`), else `notify.security_channel` |
//!
//! A recipient hears each rung at most once per `nag_interval_hours`: the message's dedupe key
//! names the rung, the recipient and the interval, so two sweeps at the same instant (or a retry)
//! post it once. Messages wait while the owning team is in its quiet hours (P1 may break
//! through); an acknowledged group is silent until its acknowledgement ends.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

use super::ticket::open_groups;
use super::{PipelineError, open_members, stamp};
use crate::config::Config;
use crate::model::{Acknowledgement, GroupKey, RemediationGroup, TeamId, Ticket, Tier};
use crate::ownership::{QuietHours, Team};
use crate::ports::{ChatMessage, ChatSink, ContextStore, FindingStore, TicketStore};

/// A step of the escalation ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rung {
    DueSoon,
    Breached,
    LongBreached,
}

impl Rung {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DueSoon => "due_soon",
            Self::Breached => "breached",
            Self::LongBreached => "long_breached",
        }
    }

    fn heading(self, count: usize) -> String {
        let groups = if count == 1 { "group" } else { "groups" };
        match self {
            Self::DueSoon => format!(":hourglass: {count} remediation {groups} due soon"),
            Self::Breached => format!(":rotating_light: {count} remediation {groups} past their SLA"),
            Self::LongBreached => format!(":fire: {count} remediation {groups} long past their SLA (escalated)"),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Open groups due within the window or breached, by rung.
    pub due_soon: usize,
    pub breached: usize,
    pub long_breached: usize,
    /// Groups skipped because someone acknowledged them.
    pub acknowledged: usize,
    /// Groups held back by their team's quiet hours.
    pub quiet: usize,
    /// Batched messages handed to the chat sink (a sink drops repeats within the interval).
    pub messages: usize,
}

/// Runs one sweep at `now`. Safe to run twice at the same instant.
pub async fn sweep<S, N>(store: &S, chat: &N, config: &Config, now: DateTime<Utc>) -> Result<SweepReport, PipelineError>
where
    S: FindingStore + TicketStore + ContextStore,
    N: ChatSink,
{
    let settings = &config.sweep;
    let horizon = now + Duration::days(i64::from(settings.reminder_days));
    let due = store.due_by(horizon).await?;
    let groups = open_groups(&due);
    let context = store.org_context().await?;
    let teams: HashMap<&TeamId, &Team> = context.ownership.teams.iter().map(|t| (&t.id, t)).collect();

    let mut report = SweepReport::default();
    let mut batches: BTreeMap<(Rung, String), Vec<String>> = BTreeMap::new();
    for group in &groups {
        let rung = if group.due_at > now {
            Rung::DueSoon
        } else if now - group.due_at >= Duration::days(i64::from(settings.long_breach_days)) {
            Rung::LongBreached
        } else {
            Rung::Breached
        };
        let ticket = store.ticket(&group.key).await?;
        if ticket
            .as_ref()
            .and_then(|t| t.acknowledged.as_ref())
            .is_some_and(|a| a.until > now)
        {
            report.acknowledged += 1;
            continue;
        }
        let team = teams.get(&group.owner).copied();
        let breaks_through = group.tier == Tier::P1 && settings.p1_breaks_quiet_hours;
        if !breaks_through && team.is_some_and(|t| in_quiet_hours(t, now)) {
            report.quiet += 1;
            continue;
        }
        match rung {
            Rung::DueSoon => report.due_soon += 1,
            Rung::Breached => report.breached += 1,
            Rung::LongBreached => report.long_breached += 1,
        }
        let ticket_name = ticket.as_ref().and_then(|t| match (&t.key, &t.url) {
            (Some(key), Some(url)) => Some(format!("<{url}|{key}>")),
            (Some(key), None) => Some(key.clone()),
            _ => None,
        });
        let recipient = recipient(rung, &group.owner, team, config);
        batches
            .entry((rung, recipient))
            .or_default()
            .push(line(group, ticket_name.as_deref(), now));
    }

    let interval = i64::from(settings.nag_interval_hours) * 3600;
    let bucket = now.timestamp().div_euclid(interval);
    for ((rung, recipient), lines) in batches {
        let mut text = rung.heading(lines.len());
        for line in &lines {
            let _ = write!(text, "\n• {line}");
        }
        chat.post(&ChatMessage {
            channel: recipient.clone(),
            dedupe_key: format!("sweep:{}:{recipient}:{bucket}", rung.as_str()),
            text,
            blocks: None,
            card: None,
            digest: None,
        })
        .await?;
        report.messages += 1;
    }
    Ok(report)
}

/// Someone is on it: the group's ladder is silent for `sweep.ack_days`, then re-arms if the
/// group is still open. Recorded on the ticket and on every open member's timeline.
pub async fn acknowledge<S>(
    store: &S,
    config: &Config,
    group: &GroupKey,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, PipelineError>
where
    S: FindingStore + TicketStore,
{
    let until = now + Duration::days(i64::from(config.sweep.ack_days));
    silence(store, group, by, now, until, "acknowledged").await
}

/// The Snooze button: like an acknowledgement, for `sweep.snooze_hours` (bounded to a week).
pub async fn snooze<S>(
    store: &S,
    config: &Config,
    group: &GroupKey,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, PipelineError>
where
    S: FindingStore + TicketStore,
{
    let until = now + Duration::hours(i64::from(config.sweep.snooze_hours.min(168)));
    silence(store, group, by, now, until, "snoozed").await
}

async fn silence<S>(
    store: &S,
    group: &GroupKey,
    by: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    event: &str,
) -> Result<Ticket, PipelineError>
where
    S: FindingStore + TicketStore,
{
    let mut ticket = store
        .ticket(group)
        .await?
        .ok_or_else(|| PipelineError::Rejected(format!("group {group} has no ticket; `muster groups` lists them")))?;
    ticket.acknowledged = Some(Acknowledgement {
        by: by.to_owned(),
        at: now,
        until,
    });
    store.save_ticket(&ticket).await?;
    let mut members = open_members(store, group).await?;
    let detail = format!(
        "{event} by {by}; reminders paused until {}",
        until.format("%Y-%m-%d %H:%M UTC")
    );
    stamp(store, &mut members, now, event, &detail).await?;
    Ok(ticket)
}

/// Who hears a rung for a team: see the module's table.
fn recipient(rung: Rung, owner: &TeamId, team: Option<&Team>, config: &Config) -> String {
    let channel = team
        .and_then(|t| t.slack_channel.clone())
        .unwrap_or_else(|| format!("#{owner}"));
    let ladder = team.map(|t| t.escalation.as_slice()).unwrap_or_default();
    match rung {
        Rung::DueSoon => channel,
        Rung::Breached => ladder.get(1).cloned().unwrap_or(channel),
        Rung::LongBreached => ladder
            .get(2)
            .cloned()
            .unwrap_or_else(|| config.notify.security_channel.clone()),
    }
}

fn line(group: &RemediationGroup, ticket: Option<&str>, now: DateTime<Utc>) -> String {
    let when = if group.due_at > now {
        let hours = (group.due_at - now).num_hours();
        if hours < 24 {
            format!("due in {hours} h")
        } else {
            format!("due in {} days", (hours + 23) / 24)
        }
    } else {
        format!("{} days overdue", (now - group.due_at).num_days())
    };
    let ticket = ticket.map(|t| format!(" · {t}")).unwrap_or_default();
    format!(
        "[{}] {} — {when} ({}){ticket} · {} open",
        group.tier,
        group.title,
        group.due_at.format("%Y-%m-%d"),
        group.open.len()
    )
}

/// Whether `now` falls in the team's quiet hours, in the team's timezone.
pub fn in_quiet_hours(team: &Team, now: DateTime<Utc>) -> bool {
    let Some(quiet) = team.quiet_hours else {
        return false;
    };
    let zone: chrono_tz::Tz = team
        .timezone
        .as_deref()
        .and_then(|name| name.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    within(quiet, now.with_timezone(&zone).time())
}

/// `start..end` in local time; a window that wraps midnight (20:00–08:00) covers both sides.
fn within(quiet: QuietHours, time: NaiveTime) -> bool {
    if quiet.start <= quiet.end {
        quiet.start <= time && time < quiet.end
    } else {
        time >= quiet.start || time < quiet.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(timezone: &str, start: &str, end: &str) -> Team {
        let hhmm = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        Team {
            id: TeamId::parse("payments").unwrap(),
            name: "Payments".into(),
            tracker: None,
            slack_channel: Some("#payments".into()),
            escalation: vec!["U0OWNER".into(), "U0LEAD".into(), "U0SECLEAD".into()],
            timezone: Some(timezone.into()),
            quiet_hours: Some(QuietHours {
                start: hhmm(start),
                end: hhmm(end),
            }),
            codeowners: vec![],
            assignees: vec![],
        }
    }

    #[test]
    fn quiet_hours_are_read_in_the_teams_timezone_and_may_wrap_midnight() {
        let berlin = team("Europe/Berlin", "20:00", "08:00");
        // 19:30 UTC in November is 20:30 in Berlin: quiet.
        assert!(in_quiet_hours(&berlin, "2026-11-27T19:30:00Z".parse().unwrap()));
        // 06:59 UTC is 07:59 in Berlin: still quiet; 07:00 UTC is 08:00: open.
        assert!(in_quiet_hours(&berlin, "2026-11-27T06:59:00Z".parse().unwrap()));
        assert!(!in_quiet_hours(&berlin, "2026-11-27T07:00:00Z".parse().unwrap()));
        // Summer time moves the window: 18:30 UTC in July is 20:30 in Berlin.
        assert!(in_quiet_hours(&berlin, "2026-07-01T18:30:00Z".parse().unwrap()));
        let lunch = team("UTC", "12:00", "13:00");
        assert!(in_quiet_hours(&lunch, "2026-11-27T12:30:00Z".parse().unwrap()));
        assert!(!in_quiet_hours(&lunch, "2026-11-27T13:00:00Z".parse().unwrap()));
    }

    #[test]
    fn each_rung_climbs_the_ladder_with_fallbacks() {
        let config = Config::default();
        let full = team("UTC", "00:00", "00:01");
        let owner = full.id.clone();
        assert_eq!(recipient(Rung::DueSoon, &owner, Some(&full), &config), "#payments");
        assert_eq!(recipient(Rung::Breached, &owner, Some(&full), &config), "U0LEAD");
        assert_eq!(recipient(Rung::LongBreached, &owner, Some(&full), &config), "U0SECLEAD");
        let bare = Team {
            escalation: vec![],
            slack_channel: None,
            ..full
        };
        assert_eq!(recipient(Rung::Breached, &owner, Some(&bare), &config), "#payments");
        assert_eq!(recipient(Rung::LongBreached, &owner, Some(&bare), &config), "#security");
        assert_eq!(recipient(Rung::DueSoon, &owner, None, &config), "#payments");
    }
}
