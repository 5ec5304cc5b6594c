//! The SLA sweep: once an hour (and on `muster sweep --now`) it reads the open findings due
//! within the reminder window or already breached — through the store's due-date index, never
//! the whole findings table — plus the tickets opened since it last ran, and tells each
//! recipient, in one batched message, what is new, due soon and breached:
//!
//! | rung | when | who hears |
//! |---|---|---|
//! | new | a P3/P4 group was ticketed (P1/P2 were told at once) | the team's channel |
//! | due soon | due within `sweep.reminder_days` | the team's channel |
//! | breached | past due | the team lead (`escalation[1]`), else the team's channel |
//! | long breached | past due by `sweep.long_breach_days` | the security lead (`escalation[2]`), else `notify.security_channel` |
//!
//! Each ticket remembers the rung last told and when: a group is told again when it climbs the
//! ladder, or once `nag_interval_hours` have passed on the same rung ("new" is told once). Two
//! sweeps at the same instant (or a retry) post once: the second finds the groups told, and a
//! message posted but not yet remembered carries the same dedupe key. Messages wait while the
//! owning team is in its quiet hours (P1 may break through); an acknowledged group is silent
//! until its acknowledgement ends.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

use sha2::{Digest as _, Sha256};

use super::ticket::{open_groups, remediation_group};
use super::{PipelineError, open_members, stamp};
use crate::config::Config;
pub use crate::model::Rung;
use crate::model::{Acknowledgement, GroupKey, RemediationGroup, TeamId, Ticket, TicketState, Tier, Told};
use crate::ownership::{QuietHours, Team, team_channel};
use crate::ports::{ChatMessage, ChatSink, ContextStore, FindingStore, TicketStore};

/// A section's heading in a batched message.
fn heading(rung: Rung, count: usize) -> String {
    let groups = if count == 1 { "group" } else { "groups" };
    match rung {
        Rung::LongBreached => format!(":fire: {count} remediation {groups} long past their SLA (escalated)"),
        Rung::Breached => format!(":rotating_light: {count} remediation {groups} past their SLA"),
        Rung::DueSoon => format!(":hourglass: {count} remediation {groups} due soon"),
        Rung::New => format!(":new: {count} new remediation {groups} ticketed"),
    }
}

/// Lines listed per section; the rest are counted, and `muster groups` lists them all.
const SECTION_LINES: usize = 15;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Groups told this sweep, by rung.
    pub new: usize,
    pub due_soon: usize,
    pub breached: usize,
    pub long_breached: usize,
    /// Groups skipped because someone acknowledged them.
    pub acknowledged: usize,
    /// Groups held back by their team's quiet hours.
    pub quiet: usize,
    /// Batched messages handed to the chat sink (one per recipient).
    pub messages: usize,
}

/// A group the sweep may tell, with the rung it stands on.
struct Candidate {
    group: RemediationGroup,
    rung: Rung,
    ticket: Option<Ticket>,
}

/// Runs one sweep at `now`. Safe to run twice at the same instant: the second finds every
/// group already told (and a message that was posted but not yet recorded is deduped by the
/// sink, its key naming the recipient, the interval and the groups).
pub async fn sweep<S, N>(store: &S, chat: &N, config: &Config, now: DateTime<Utc>) -> Result<SweepReport, PipelineError>
where
    S: FindingStore + TicketStore + ContextStore,
    N: ChatSink,
{
    let started = std::time::Instant::now();
    let settings = &config.sweep;
    let interval = Duration::hours(i64::from(settings.nag_interval_hours));
    let context = store.org_context().await?;
    let teams: HashMap<&TeamId, &Team> = context.ownership.teams.iter().map(|t| (&t.id, t)).collect();

    let mut report = SweepReport::default();
    let mut batches: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for candidate in candidates(store, config, now).await? {
        let Candidate { group, rung, ticket } = &candidate;
        if let Some(told) = ticket.as_ref().and_then(|t| t.told) {
            let climbed = *rung > told.rung;
            let again = *rung != Rung::New && now - told.at >= interval;
            if !climbed && !again {
                continue;
            }
        }
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
            Rung::New => report.new += 1,
            Rung::DueSoon => report.due_soon += 1,
            Rung::Breached => report.breached += 1,
            Rung::LongBreached => report.long_breached += 1,
        }
        let recipient = recipient(*rung, &group.owner, team, config);
        batches.entry(recipient).or_default().push(candidate);
    }

    let bucket = now.timestamp().div_euclid(interval.num_seconds());
    for (recipient, mut told) in batches {
        // Most urgent first; within a rung, the earliest due first.
        told.sort_by(|a, b| b.rung.cmp(&a.rung).then(a.group.due_at.cmp(&b.group.due_at)));
        let mut hasher = Sha256::new();
        let mut text = String::new();
        for rung in [Rung::LongBreached, Rung::Breached, Rung::DueSoon, Rung::New] {
            let section: Vec<&Candidate> = told.iter().filter(|c| c.rung == rung).collect();
            if section.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&heading(rung, section.len()));
            for candidate in &section {
                hasher.update(format!("{}={}\n", candidate.group.key, rung.as_str()));
            }
            for candidate in section.iter().take(SECTION_LINES) {
                let _ = write!(text, "\n• {}", line(&candidate.group, candidate.ticket.as_ref(), now));
            }
            if section.len() > SECTION_LINES {
                let _ = write!(
                    text,
                    "\n• … and {} more (`muster groups`)",
                    section.len() - SECTION_LINES
                );
            }
        }
        let digest = hasher.finalize();
        chat.post(&ChatMessage {
            channel: recipient.clone(),
            dedupe_key: format!("sweep:{recipient}:{bucket}:{}", hex16(&digest)),
            text,
            blocks: None,
            card: None,
            digest: None,
        })
        .await?;
        report.messages += 1;
        // Remembered after the post: a crash in between posts again, and the sink's dedupe
        // drops the repeat.
        for Candidate { rung, ticket, .. } in told {
            if let Some(mut ticket) = ticket {
                ticket.told = Some(Told { rung, at: now });
                store.save_ticket(&ticket).await?;
            }
        }
    }
    crate::metric!(
        kind = "sweep",
        messages_sent = report.messages as u64,
        groups_due_soon = report.due_soon as u64,
        groups_breached = (report.breached + report.long_breached) as u64,
        sweep_duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    Ok(report)
}

/// Every group the sweep could speak of: open groups due within the reminder window or
/// breached (read through the due-date index), and groups ticketed since the last sweep that
/// were never told (P1/P2 were told at once by notify; they are only marked).
async fn candidates<S>(store: &S, config: &Config, now: DateTime<Utc>) -> Result<Vec<Candidate>, PipelineError>
where
    S: FindingStore + TicketStore,
{
    let settings = &config.sweep;
    let horizon = now + Duration::days(i64::from(settings.reminder_days));
    let due = store.due_by(horizon).await?;
    // Every ticket in one read: the due groups' tickets come from it too, rather than one
    // read per group. Ordered by group, so a message lists its groups in a stable order.
    let mut tickets: BTreeMap<GroupKey, Ticket> = store
        .tickets()
        .await?
        .into_iter()
        .map(|t| (t.group.clone(), t))
        .collect();
    let mut candidates = Vec::new();
    for group in open_groups(&due) {
        let rung = if group.due_at > now {
            Rung::DueSoon
        } else if now - group.due_at >= Duration::days(i64::from(settings.long_breach_days)) {
            Rung::LongBreached
        } else {
            Rung::Breached
        };
        let ticket = tickets.remove(&group.key);
        candidates.push(Candidate { group, rung, ticket });
    }
    // What is left are the tickets of groups not due: the untold ones are new.
    for mut ticket in tickets.into_values() {
        if ticket.told.is_some() || ticket.state != TicketState::Open {
            continue;
        }
        let findings = store.group_findings(&ticket.group).await?;
        let Some(group) = remediation_group(&ticket.group, &findings).filter(|g| !g.open.is_empty()) else {
            continue;
        };
        if group.tier <= Tier::P2 {
            ticket.told = Some(Told {
                rung: Rung::New,
                at: now,
            });
            store.save_ticket(&ticket).await?;
            continue;
        }
        candidates.push(Candidate {
            group,
            rung: Rung::New,
            ticket: Some(ticket),
        });
    }
    Ok(candidates)
}

fn hex16(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
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
    let channel = team_channel(team, owner);
    let ladder = team.map(|t| t.escalation.as_slice()).unwrap_or_default();
    match rung {
        Rung::New | Rung::DueSoon => channel,
        Rung::Breached => ladder.get(1).cloned().unwrap_or(channel),
        Rung::LongBreached => ladder
            .get(2)
            .cloned()
            .unwrap_or_else(|| config.notify.security_channel.clone()),
    }
}

fn line(group: &RemediationGroup, ticket: Option<&Ticket>, now: DateTime<Utc>) -> String {
    let ticket = ticket.and_then(Ticket::link);
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
