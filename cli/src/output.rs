//! How listings look: aligned tables for people, JSON (`--json`) for scripts. The JSON shapes
//! are a contract; add fields, never rename them.

use chrono::{DateTime, Utc};
use muster_core::model::{Finding, RemediationGroup, Ticket};
use muster_core::ports::{DeadLetter, OutboxEntry};
use muster_core::services::context::ImportSummary;
use serde::Serialize;

/// One finding as `muster findings --json` prints it.
#[derive(Debug, Serialize)]
struct FindingView<'a> {
    fingerprint: String,
    tool: &'a str,
    rule: Option<&'a str>,
    kind: &'a str,
    severity: &'a str,
    title: &'a str,
    asset: &'a str,
    location: String,
    status: &'a str,
    tier: Option<&'a str>,
    score: Option<u8>,
    owner: Option<&'a str>,
    group: Option<&'a str>,
    due_at: Option<DateTime<Utc>>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    evidence: Vec<String>,
    /// No ownership rule claimed it; the default team has it.
    unowned: bool,
    owner_rule: Option<&'a str>,
    /// BOD 26-04 timeline (`fix within 14 days`…).
    ssvc: Option<&'static str>,
}

impl<'a> FindingView<'a> {
    fn new(finding: &'a Finding) -> Self {
        let triage = finding.triage.as_ref();
        Self {
            fingerprint: finding.fingerprint().to_string(),
            tool: &finding.tool.name,
            rule: finding.detection.rule_id.as_deref(),
            kind: finding.detection.kind.as_str(),
            severity: finding.detection.severity.as_str(),
            title: &finding.detection.title,
            asset: finding.asset.as_str(),
            location: finding.detection.location.to_string(),
            status: finding.status.as_str(),
            tier: triage.map(|t| t.risk.tier.as_str()),
            score: triage.map(|t| t.risk.score),
            owner: triage.map(|t| t.owner.as_str()),
            group: triage.map(|t| t.group.as_str()),
            due_at: triage.map(|t| t.due_at),
            first_seen: finding.first_seen,
            last_seen: finding.last_seen,
            evidence: triage
                .map(|t| t.risk.evidence.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            unowned: triage.is_some_and(|t| t.is_unowned()),
            owner_rule: triage.and_then(|t| t.owner_rule.as_deref()),
            ssvc: triage.map(|t| t.risk.ssvc.remediation.as_str()),
        }
    }
}

/// Writes to stdout; a closed pipe (`muster findings | head`) ends output quietly.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// Prints rows as space-aligned columns, cutting cells longer than `max` characters.
fn print_table(header: &[&str], rows: &[Vec<String>], max: usize) -> anyhow::Result<()> {
    let cut = |cell: &str| -> String {
        let one_line = cell.replace('\n', " ");
        if one_line.chars().count() > max {
            let mut short: String = one_line.chars().take(max - 1).collect();
            short.push('…');
            short
        } else {
            one_line
        }
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cut(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(parts.join("  ").trim_end());
        text.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    emit(&text)
}

pub fn findings(findings: &[Finding], json: bool) -> anyhow::Result<()> {
    let views: Vec<FindingView<'_>> = findings.iter().map(FindingView::new).collect();
    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        return emit("no findings match\n");
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.tier.unwrap_or("-").to_owned(),
                v.severity.to_owned(),
                v.status.to_owned(),
                v.due_at
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "-".into()),
                v.owner.unwrap_or("-").to_owned(),
                v.fingerprint[..12].to_owned(),
                v.rule.unwrap_or("-").to_owned(),
                format!("{} {}", v.asset, v.location),
            ]
        })
        .collect();
    print_table(
        &[
            "TIER",
            "SEVERITY",
            "STATUS",
            "DUE",
            "OWNER",
            "FINGERPRINT",
            "RULE",
            "WHERE",
        ],
        &rows,
        60,
    )?;
    emit(&format!("{} findings\n", views.len()))
}

pub fn tickets(tickets: &[Ticket], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&tickets);
    }
    if tickets.is_empty() {
        return emit("no tickets yet\n");
    }
    let rows: Vec<Vec<String>> = tickets
        .iter()
        .map(|t| {
            vec![
                t.key.clone().unwrap_or_else(|| "(claimed)".into()),
                t.state.as_str().to_owned(),
                t.tracker.clone(),
                t.group.to_string(),
            ]
        })
        .collect();
    print_table(&["TICKET", "STATE", "TRACKER", "GROUP"], &rows, 100)
}

pub fn swept(report: &muster_core::services::sweep::SweepReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    emit(&format!(
        "swept: told {} new, {} due soon, {} breached, {} long breached; {} acknowledged, {} held for quiet hours; {} messages\n",
        report.new,
        report.due_soon,
        report.breached,
        report.long_breached,
        report.acknowledged,
        report.quiet,
        report.messages
    ))
}

pub fn dead_letters(letters: &[DeadLetter], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&letters);
    }
    if letters.is_empty() {
        return emit("no dead letters: every pipeline message was delivered\n");
    }
    let mut text = String::new();
    for letter in letters {
        text.push_str(&format!(
            "#{:<4} {:<7} {} attempts, failed {}: {}\n",
            letter.id,
            letter.message.kind(),
            letter.attempts,
            letter.failed_at.format("%Y-%m-%d %H:%M UTC"),
            letter.error.replace('\n', " ")
        ));
    }
    text.push_str(&format!(
        "{} dead letters; `muster retry` runs them again, `muster retry ID…` only some\n",
        letters.len()
    ));
    emit(&text)
}

pub fn retried(sent: usize, failed_again: u64, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({ "retried": sent, "failed_again": failed_again }));
    }
    emit(&format!(
        "retried {sent} messages: {} delivered, {failed_again} failed again\n",
        sent as u64 - failed_again.min(sent as u64)
    ))
}

pub fn outbox(entries: &[OutboxEntry], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        return emit("the outbox is empty\n");
    }
    let mut text = String::new();
    for entry in entries {
        let summary = entry
            .payload
            .get("title")
            .or_else(|| entry.payload.get("text"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        text.push_str(&format!(
            "#{:<4} {:<6} {:<7} → {:<24} {}\n",
            entry.id,
            entry.kind,
            entry.action,
            entry.target,
            summary.replace('\n', " ")
        ));
    }
    text.push_str(&format!(
        "{} entries (muster records here what it would send until a tracker or Slack is configured)\n",
        entries.len()
    ));
    emit(&text)
}

/// `muster explain`: everything behind one finding's tier, owner and due date.
pub fn explain(finding: &Finding, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(finding);
    }
    let detection = &finding.detection;
    let mut text = format!(
        "{}  {}\n{} {} in {} at {}\nstatus {} · first seen {} · last seen {}\n",
        finding.fingerprint(),
        detection.title,
        finding.tool.name,
        detection
            .rule_id
            .as_deref()
            .or(detection.vuln_ids.first().map(String::as_str))
            .unwrap_or("-"),
        finding.asset,
        detection.location,
        finding.status,
        finding.first_seen.format("%Y-%m-%d %H:%M"),
        finding.last_seen.format("%Y-%m-%d %H:%M"),
    );
    match &finding.triage {
        None => text.push_str("\nnot triaged yet\n"),
        Some(triage) => {
            let risk = &triage.risk;
            text.push_str(&format!("\nscore {} → {}\n", risk.score, risk.tier));
            let rows: Vec<[String; 4]> = risk
                .evidence
                .iter()
                .map(|e| {
                    let points = if e.contribution == 0 {
                        "·".to_owned()
                    } else {
                        format!("{:+}", e.contribution)
                    };
                    [e.factor.as_str().to_owned(), points, e.value.clone(), e.source.clone()]
                })
                .collect();
            let width = rows.iter().map(|r| r[2].chars().count()).max().unwrap_or(0).min(70);
            for [factor, points, value, source] in rows {
                text.push_str(&format!("  {factor:<12} {points:>4}  {value:<width$}  [{source}]\n"));
            }
            let ssvc = &risk.ssvc;
            let yes = |b: bool| if b { "yes" } else { "no" };
            text.push_str(&format!(
                "\nBOD 26-04 / SSVC: {} (exposed {}, KEV {}, automatable {}, total impact {})\n",
                ssvc.remediation.as_str(),
                yes(ssvc.exposed),
                yes(ssvc.kev),
                yes(ssvc.automatable),
                yes(ssvc.total_impact)
            ));
            for assumption in &ssvc.assumed {
                text.push_str(&format!("  assumed: {assumption}\n"));
            }
            let rule = match &triage.owner_rule {
                Some(rule) => format!("rule {rule}"),
                None => "unowned: no rule matched, default team".to_owned(),
            };
            text.push_str(&format!(
                "\nowner {} ({rule})\ngroup {}\nSLA clock from {} · due {}\n",
                triage.owner,
                triage.group,
                triage.clock_start.format("%Y-%m-%d"),
                triage.due_at.format("%Y-%m-%d")
            ));
        }
    }
    if let Some(acceptance) = &finding.acceptance {
        text.push_str(&format!(
            "risk accepted until {}: {}\n",
            acceptance.until.format("%Y-%m-%d"),
            acceptance.reason
        ));
    }
    text.push_str(&format!(
        "\ntimeline\n  {}  {:<18} reported by {}\n",
        finding.first_seen.format("%Y-%m-%d %H:%M"),
        "first_seen",
        finding.tool.name
    ));
    {
        for entry in &finding.timeline {
            text.push_str(&format!(
                "  {}  {:<18} {}\n",
                entry.at.format("%Y-%m-%d %H:%M"),
                entry.event,
                entry.detail
            ));
        }
    }
    emit(&text)
}

/// One remediation group as `muster groups --json` prints it.
#[derive(Debug, Serialize)]
struct GroupView<'a> {
    #[serde(flatten)]
    group: &'a RemediationGroup,
    open_count: usize,
}

pub fn groups(groups: &[RemediationGroup], json: bool) -> anyhow::Result<()> {
    if json {
        let views: Vec<GroupView<'_>> = groups
            .iter()
            .map(|group| GroupView {
                group,
                open_count: group.open.len(),
            })
            .collect();
        return print_json(&views);
    }
    if groups.is_empty() {
        return emit("no open remediation groups\n");
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.tier.to_string(),
                g.due_at.format("%Y-%m-%d").to_string(),
                g.owner.to_string(),
                g.open.len().to_string(),
                g.title.clone(),
            ]
        })
        .collect();
    print_table(&["TIER", "DUE", "OWNER", "OPEN", "FIX"], &rows, 100)?;
    let members: usize = groups.iter().map(|g| g.open.len()).sum();
    emit(&format!("{} groups for {members} open findings\n", groups.len()))
}

pub fn imported(what: &str, summary: &ImportSummary, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(summary);
    }
    let intel = if summary.changed_cves > 0 {
        format!(", {} CVEs changed", summary.changed_cves)
    } else {
        String::new()
    };
    emit(&format!(
        "imported {what}: {} entries{intel}; {} open findings re-scored\n",
        summary.entries, summary.rescored
    ))
}
