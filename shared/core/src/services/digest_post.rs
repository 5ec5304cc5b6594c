//! Digests told in chat: the security leads' digest (every team) to `notify.security_channel`,
//! and each team's own to its channel — once a day (`muster serve` after `notify.digest_hour`,
//! the AWS `{"job":"digest"}` schedule, or `muster digest --post`). The dedupe key names the
//! day, so a repeated run posts nothing twice.

use chrono::{DateTime, Duration, Utc};

use super::PipelineError;
use super::digest::{Digest, TeamSection, digest};
use crate::config::Config;
use crate::model::Tier;
use crate::ports::{ChatDigest, ChatMessage, ChatSink, ContextStore, FindingFilter, FindingStore};

/// Lines of the top risks a chat digest lists.
const TOP_RISKS_IN_CHAT: usize = 10;

/// Posts the security leads' digest and every team's; returns how many messages were posted.
pub async fn post_digests<S, N>(
    store: &S,
    chat: &N,
    config: &Config,
    now: DateTime<Utc>,
    period: Duration,
) -> Result<usize, PipelineError>
where
    S: FindingStore + ContextStore,
    N: ChatSink,
{
    let findings = store.list_findings(&FindingFilter::default()).await?;
    let day = now.format("%Y-%m-%d");
    let mut posted = 0;
    let all = digest(&findings, now, period, None);
    chat.post(&message(
        &all,
        config.notify.security_channel.clone(),
        format!("digest:all:{day}"),
        "SLA digest — all teams",
    ))
    .await?;
    posted += 1;
    let context = store.org_context().await?;
    for team in &context.ownership.teams {
        let Some(channel) = &team.slack_channel else {
            continue;
        };
        let scoped = digest(&findings, now, period, Some(&team.id));
        if scoped.totals.open.total == 0 && scoped.totals.fixed == 0 {
            continue;
        }
        let title = format!("SLA digest — {}", team.name);
        chat.post(&message(
            &scoped,
            channel.clone(),
            format!("digest:{}:{day}", team.id),
            &title,
        ))
        .await?;
        posted += 1;
    }
    crate::metric!(kind = "digest", messages_sent = posted as u64);
    Ok(posted)
}

fn message(digest: &Digest, channel: String, dedupe_key: String, title: &str) -> ChatMessage {
    let sections = chat_sections(digest);
    let mut text = format!("{title}\n");
    for (heading, lines) in &sections {
        text.push_str(&format!("\n{heading}\n"));
        for line in lines {
            text.push_str(&format!("• {line}\n"));
        }
    }
    ChatMessage {
        channel,
        dedupe_key,
        text,
        blocks: None,
        card: None,
        digest: Some(ChatDigest {
            title: title.to_owned(),
            sections,
        }),
    }
}

/// The digest as chat sections: the posture per team, then the top risks with why.
pub fn chat_sections(digest: &Digest) -> Vec<(String, Vec<String>)> {
    let mut teams: Vec<String> = vec![posture(&digest.totals)];
    teams.extend(digest.teams.iter().map(posture));
    let risks = digest
        .top_risks
        .iter()
        .take(TOP_RISKS_IN_CHAT)
        .map(|r| {
            format!(
                "[{}] {} — {} · {} · due {} · {}",
                r.tier,
                r.title,
                r.asset,
                r.owner,
                r.due_at.format("%Y-%m-%d"),
                r.evidence.join("; ")
            )
        })
        .collect();
    vec![
        ("SLA posture by team".to_owned(), teams),
        ("Top risks".to_owned(), risks),
    ]
}

fn posture(section: &TeamSection) -> String {
    let open: Vec<String> = Tier::ALL
        .iter()
        .map(|t| format!("{t} {}", section.open.get(*t)))
        .collect();
    let compliance = section
        .sla_compliance_pct
        .map_or_else(|| "n/a".to_owned(), |pct| format!("{pct}%"));
    format!(
        "{}: open {} · breached {} · SLA compliance {compliance} ({} fixed) · unowned {} · accepted {} ({} expiring) · new {} (was {})",
        section.team,
        open.join(" / "),
        section.breached.total,
        section.fixed,
        section.unowned,
        section.risk_accepted,
        section.acceptances_expiring_soon,
        section.trend.new.current,
        section.trend.new.previous
    )
}
