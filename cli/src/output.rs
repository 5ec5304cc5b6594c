//! How listings look: aligned tables for people, JSON (`--json`) for scripts. The JSON shapes
//! are a contract; add fields, never rename them.

use chrono::{DateTime, Utc};
use muster_core::model::{Finding, Ticket};
use muster_core::ports::OutboxEntry;
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
    evidence: Vec<&'a str>,
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
                .map(|t| t.risk.evidence.iter().map(String::as_str).collect())
                .unwrap_or_default(),
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
