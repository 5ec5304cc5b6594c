//! Renders a `Digest` as Markdown (chat, tickets, e-mail) and as one self-contained HTML page
//! with inline CSS and inline SVG charts (no scripts, fonts or other external assets, so it
//! opens offline and survives mail gateways). It formats numbers the digest already holds and
//! never computes new ones, so every rendering agrees with `--format json`.
//!
//! Scanner text (titles, assets) is untrusted: HTML output escapes `<>&"'`, Markdown output
//! neutralizes table pipes, newlines and angle brackets.

use std::fmt::Write as _;

use crate::model::Tier;
use crate::services::digest::{Digest, MTTR_WEEKS, TeamSection};

/// A team-table column: key (HTML `data-field`), Markdown/HTML header, cell text.
type Column = (&'static str, &'static str, fn(&TeamSection) -> String);

/// The team table's columns, shared by both renderers so they cannot drift apart.
const TEAM_COLUMNS: [Column; 12] = [
    ("open.total", "open", |s| s.open.total.to_string()),
    ("open.P1", "P1", |s| s.open.p1.to_string()),
    ("open.P2", "P2", |s| s.open.p2.to_string()),
    ("open.P3", "P3", |s| s.open.p3.to_string()),
    ("open.P4", "P4", |s| s.open.p4.to_string()),
    ("breached.total", "breached now", |s| s.breached.total.to_string()),
    ("fixed", "fixed", |s| s.fixed.to_string()),
    ("fixed_within_sla", "fixed in SLA", |s| s.fixed_within_sla.to_string()),
    ("sla_compliance_pct", "SLA compliance", |s| pct(s.sla_compliance_pct)),
    ("unowned", "unowned", |s| s.unowned.to_string()),
    ("risk_accepted", "risk accepted", |s| s.risk_accepted.to_string()),
    ("acceptances_expiring_soon", "expiring ≤ 14 d", |s| {
        s.acceptances_expiring_soon.to_string()
    }),
];

/// Trend columns: this period and the previous one.
const TREND_COLUMNS: [Column; 6] = [
    ("trend.new.current", "new", |s| s.trend.new.current.to_string()),
    ("trend.new.previous", "new (prev)", |s| s.trend.new.previous.to_string()),
    ("trend.fixed.current", "fixed", |s| s.trend.fixed.current.to_string()),
    ("trend.fixed.previous", "fixed (prev)", |s| {
        s.trend.fixed.previous.to_string()
    }),
    ("trend.breached.current", "breached", |s| {
        s.trend.breached.current.to_string()
    }),
    ("trend.breached.previous", "breached (prev)", |s| {
        s.trend.breached.previous.to_string()
    }),
];

const TIER_COLORS: [(Tier, &str); 4] = [
    (Tier::P1, "#b91c1c"),
    (Tier::P2, "#ea580c"),
    (Tier::P3, "#ca8a04"),
    (Tier::P4, "#2563eb"),
];

/// `75.0%`, or `n/a` when nothing was fixed.
fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}%"))
}

/// Hours with one decimal (the digest already rounded them), or `n/a`.
fn hours(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

fn scope(digest: &Digest) -> String {
    digest
        .team
        .as_ref()
        .map_or_else(|| "all teams".to_owned(), |t| format!("team {t}"))
}

fn period_name(digest: &Digest) -> String {
    match digest.period_hours {
        24 => "day".to_owned(),
        168 => "week".to_owned(),
        h => format!("{h} h"),
    }
}

fn sections(digest: &Digest) -> impl Iterator<Item = &TeamSection> {
    digest.teams.iter().chain(std::iter::once(&digest.totals))
}

/// Markdown text that cannot break a table or inject HTML.
fn md(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The digest as Markdown: the same tables and numbers as the HTML page, without charts.
pub fn to_markdown(digest: &Digest) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Security digest — {}\n", scope(digest));
    let _ = writeln!(
        out,
        "Generated {} · period: {} ({} → {})\n",
        digest.generated_at.format("%Y-%m-%d %H:%M UTC"),
        period_name(digest),
        digest.period_start.format("%Y-%m-%d %H:%M"),
        digest.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    if digest.untriaged > 0 {
        let _ = writeln!(
            out,
            "{} findings are not triaged yet and not counted.\n",
            digest.untriaged
        );
    }

    let table = |out: &mut String, columns: &[Column]| {
        let headers: Vec<&str> = columns.iter().map(|c| c.1).collect();
        let _ = writeln!(out, "| team | {} |", headers.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
        for section in sections(digest) {
            let cells: Vec<String> = columns.iter().map(|c| (c.2)(section)).collect();
            let _ = writeln!(out, "| {} | {} |", md(&section.team), cells.join(" | "));
        }
        out.push('\n');
    };
    out.push_str("## Teams\n\n");
    table(&mut out, &TEAM_COLUMNS);
    let _ = writeln!(out, "## Trend (this {} vs the previous)\n", period_name(digest));
    table(&mut out, &TREND_COLUMNS);

    out.push_str("## Time to remediate (hours)\n\n| team | tier | fixed | mean | p90 |\n|---|---|---:|---:|---:|\n");
    for section in sections(digest) {
        for mttr in section.mttr.iter().filter(|m| m.fixed > 0) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&section.team),
                mttr.tier,
                mttr.fixed,
                hours(mttr.mean_hours),
                hours(mttr.p90_hours)
            );
        }
    }

    out.push_str("\n## Open findings by age\n\n| age | P1 | P2 | P3 | P4 | total |\n|---|---:|---:|---:|---:|---:|\n");
    for bucket in &digest.age_buckets {
        let c = bucket.counts;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            bucket.label, c.p1, c.p2, c.p3, c.p4, c.total
        );
    }

    let _ = writeln!(
        out,
        "\n## Mean time to remediate by week (hours, last {MTTR_WEEKS} weeks)\n\n| week ending | fixed | P1 | P2 | P3 | P4 |\n|---|---:|---:|---:|---:|---:|"
    );
    for week in &digest.mttr_trend {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            week.end.format("%Y-%m-%d"),
            week.fixed,
            hours(week.p1_hours),
            hours(week.p2_hours),
            hours(week.p3_hours),
            hours(week.p4_hours)
        );
    }

    let _ = writeln!(out, "\n## Top {} open risks\n", digest.top_risks.len());
    if digest.top_risks.is_empty() {
        out.push_str("Nothing open.\n");
    }
    for (rank, risk) in digest.top_risks.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{} · score {}** {} — `{}` · owner {} · due {} · `{}`",
            rank + 1,
            risk.tier,
            risk.score,
            md(&risk.title),
            risk.asset.replace('`', "'"),
            md(&risk.owner),
            risk.due_at.format("%Y-%m-%d"),
            &risk.fingerprint[..8.min(risk.fingerprint.len())]
        );
        for line in &risk.evidence {
            let _ = writeln!(out, "   - {}", md(line));
        }
    }
    out
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2937}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}tr.total td{font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}figcaption{font-weight:600;margin-bottom:.25rem}
svg{background:#fafafa;border:1px solid #e5e7eb}svg text{font-size:11px;fill:#374151}
ol li{margin-bottom:.5rem}.ev{color:#4b5563;font-size:.9em}.muted{color:#6b7280}";

/// The digest as one self-contained HTML page with three inline SVG charts (`chart-sla`,
/// `chart-age`, `chart-mttr`) and the same tables as the Markdown.
pub fn to_html(digest: &Digest) -> String {
    let mut out = String::new();
    let title = format!("Security digest — {}", scope(digest));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape_html(&title),
        escape_html(&title)
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">Generated {} · period: {} ({} → {})</p>",
        digest.generated_at.format("%Y-%m-%d %H:%M UTC"),
        period_name(digest),
        digest.period_start.format("%Y-%m-%d %H:%M"),
        digest.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    if digest.untriaged > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} findings are not triaged yet and not counted.</p>",
            digest.untriaged
        );
    }

    out.push_str("<div class=\"charts\">\n");
    out.push_str(&sla_chart(digest));
    out.push_str(&age_chart(digest));
    out.push_str(&mttr_chart(digest));
    out.push_str("</div>\n");

    let table = |out: &mut String, id: &str, columns: &[Column]| {
        let _ = write!(out, "<table id=\"{id}\">\n<thead><tr><th>team</th>");
        for column in columns {
            let _ = write!(out, "<th>{}</th>", escape_html(column.1));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for section in sections(digest) {
            let class = if std::ptr::eq(section, &digest.totals) {
                " class=\"total\""
            } else {
                ""
            };
            let team = escape_html(&section.team);
            let _ = write!(out, "<tr data-team=\"{team}\"{class}><td>{team}</td>");
            for column in columns {
                let _ = write!(
                    out,
                    "<td data-field=\"{}\">{}</td>",
                    column.0,
                    escape_html(&(column.2)(section))
                );
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    };
    out.push_str("<h2>Teams</h2>\n");
    table(&mut out, "teams", &TEAM_COLUMNS);
    let _ = writeln!(out, "<h2>Trend (this {} vs the previous)</h2>", period_name(digest));
    table(&mut out, "trend", &TREND_COLUMNS);

    out.push_str("<h2>Time to remediate (hours)</h2>\n<table id=\"mttr\">\n<thead><tr><th>team</th><th>tier</th><th>fixed</th><th>mean</th><th>p90</th></tr></thead>\n<tbody>\n");
    for section in sections(digest) {
        for mttr in section.mttr.iter().filter(|m| m.fixed > 0) {
            let _ = writeln!(
                out,
                "<tr data-team=\"{}\" data-tier=\"{}\"><td>{}</td><td>{}</td><td data-field=\"fixed\">{}</td><td data-field=\"mean_hours\">{}</td><td data-field=\"p90_hours\">{}</td></tr>",
                escape_html(&section.team),
                mttr.tier,
                escape_html(&section.team),
                mttr.tier,
                mttr.fixed,
                hours(mttr.mean_hours),
                hours(mttr.p90_hours)
            );
        }
    }
    out.push_str("</tbody>\n</table>\n");

    let _ = writeln!(out, "<h2>Top {} open risks</h2>", digest.top_risks.len());
    if digest.top_risks.is_empty() {
        out.push_str("<p>Nothing open.</p>\n");
    } else {
        out.push_str("<ol id=\"top-risks\">\n");
        for risk in &digest.top_risks {
            let _ = write!(
                out,
                "<li data-fingerprint=\"{}\"><strong>{} · score <span data-field=\"score\">{}</span></strong> {} — <code>{}</code> · owner {} · due {}",
                escape_html(&risk.fingerprint),
                risk.tier,
                risk.score,
                escape_html(&risk.title),
                escape_html(&risk.asset),
                escape_html(&risk.owner),
                risk.due_at.format("%Y-%m-%d")
            );
            if !risk.evidence.is_empty() {
                out.push_str("<ul class=\"ev\">");
                for line in &risk.evidence {
                    let _ = write!(out, "<li>{}</li>", escape_html(line));
                }
                out.push_str("</ul>");
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn figure(id: &str, caption: &str, width: u32, height: u32, body: &str) -> String {
    format!(
        "<figure><figcaption>{caption}</figcaption>\n<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{caption}\">\n{body}</svg></figure>\n",
        caption = escape_html(caption)
    )
}

/// Horizontal bars: SLA compliance per team (0–100 %).
fn sla_chart(digest: &Digest) -> String {
    const LABEL: f64 = 150.0;
    const SCALE: f64 = 3.6;
    let mut body = String::new();
    let mut y = 12.0;
    for section in &digest.teams {
        let team = escape_html(&section.team);
        let _ = writeln!(body, "<text x=\"4\" y=\"{:.1}\">{team}</text>", y + 13.0);
        match section.sla_compliance_pct {
            Some(pct) => {
                let _ = writeln!(
                    body,
                    "<rect class=\"datum\" data-team=\"{team}\" data-value=\"{pct:.1}\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" fill=\"{}\"><title>{team}: {pct:.1}% ({} of {} fixed within SLA)</title></rect>\n<text x=\"{:.1}\" y=\"{:.1}\">{pct:.1}%</text>",
                    pct * SCALE,
                    if pct >= 90.0 {
                        "#15803d"
                    } else if pct >= 70.0 {
                        "#ca8a04"
                    } else {
                        "#b91c1c"
                    },
                    section.fixed_within_sla,
                    section.fixed,
                    LABEL + pct * SCALE + 4.0,
                    y + 13.0
                );
            }
            None => {
                let _ = writeln!(
                    body,
                    "<text class=\"na\" data-team=\"{team}\" x=\"{LABEL}\" y=\"{:.1}\">n/a (nothing fixed yet)</text>",
                    y + 13.0
                );
            }
        }
        y += 26.0;
    }
    if digest.teams.is_empty() {
        body.push_str("<text x=\"10\" y=\"24\">No findings</text>\n");
        y += 26.0;
    }
    let _ = writeln!(
        body,
        "<line x1=\"{LABEL}\" y1=\"4\" x2=\"{LABEL}\" y2=\"{:.1}\" stroke=\"#9ca3af\"/><line x1=\"{:.1}\" y1=\"4\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d1d5db\" stroke-dasharray=\"3 3\"><title>100%</title></line>",
        y,
        LABEL + 100.0 * SCALE,
        LABEL + 100.0 * SCALE,
        y
    );
    figure(
        "chart-sla",
        "SLA compliance per team (fixed within SLA / fixed)",
        600,
        (y + 8.0) as u32,
        &body,
    )
}

fn legend(body: &mut String, x: f64) {
    for (index, (tier, color)) in TIER_COLORS.iter().enumerate() {
        let lx = x + index as f64 * 44.0;
        let _ = writeln!(
            body,
            "<rect class=\"legend\" x=\"{lx:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"15\">{tier}</text>",
            lx + 14.0
        );
    }
}

/// Stacked columns: open findings per age bucket, split by tier.
fn age_chart(digest: &Digest) -> String {
    const BOTTOM: f64 = 210.0;
    const PLOT: f64 = 180.0;
    let max = digest
        .age_buckets
        .iter()
        .map(|b| b.counts.total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut body = String::new();
    legend(&mut body, 360.0);
    for (index, bucket) in digest.age_buckets.iter().enumerate() {
        let x = 50.0 + index as f64 * 130.0;
        let mut top = BOTTOM;
        for (tier, color) in TIER_COLORS {
            let count = bucket.counts.get(tier);
            if count == 0 {
                continue;
            }
            let height = count as f64 / max * PLOT;
            top -= height;
            let _ = writeln!(
                body,
                "<rect class=\"datum\" data-bucket=\"{}\" data-tier=\"{tier}\" data-value=\"{count}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"80\" height=\"{height:.1}\" fill=\"{color}\"><title>{}: {count} open {tier}</title></rect>",
                escape_html(bucket.label),
                escape_html(bucket.label)
            );
        }
        let _ = writeln!(
            body,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 4.0,
            BOTTOM + 16.0,
            escape_html(bucket.label),
            x + 30.0,
            top - 4.0,
            bucket.counts.total
        );
    }
    let _ = writeln!(
        body,
        "<line x1=\"40\" y1=\"{BOTTOM}\" x2=\"580\" y2=\"{BOTTOM}\" stroke=\"#9ca3af\"/>"
    );
    figure("chart-age", "Open findings by age and tier", 600, 236, &body)
}

/// Lines: mean time to remediate per tier, week by week.
fn mttr_chart(digest: &Digest) -> String {
    const BOTTOM: f64 = 210.0;
    const PLOT: f64 = 170.0;
    const LEFT: f64 = 60.0;
    const STEP: f64 = 70.0;
    let max = digest
        .mttr_trend
        .iter()
        .flat_map(|w| Tier::ALL.map(|t| w.hours(t)))
        .flatten()
        .fold(0.0_f64, f64::max);
    let mut body = String::new();
    legend(&mut body, 400.0);
    let y_of = |hours: f64| BOTTOM - hours / max.max(1.0) * PLOT;
    for (index, week) in digest.mttr_trend.iter().enumerate() {
        let _ = writeln!(
            body,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + index as f64 * STEP - 14.0,
            BOTTOM + 16.0,
            week.end.format("%m-%d")
        );
    }
    let _ = writeln!(
        body,
        "<text x=\"4\" y=\"{:.1}\">{max:.0} h</text><text x=\"4\" y=\"{BOTTOM}\">0 h</text>",
        BOTTOM - PLOT + 4.0
    );
    if digest.mttr_trend.iter().all(|w| w.fixed == 0) {
        let _ = writeln!(
            body,
            "<text x=\"{LEFT}\" y=\"110\">No fixes in the last {MTTR_WEEKS} weeks</text>"
        );
    }
    for (tier, color) in TIER_COLORS {
        let coords: Vec<String> = digest
            .mttr_trend
            .iter()
            .enumerate()
            .filter_map(|(index, week)| {
                week.hours(tier)
                    .map(|h| format!("{:.1},{:.1}", LEFT + index as f64 * STEP, y_of(h)))
            })
            .collect();
        if coords.is_empty() {
            continue;
        }
        let _ = writeln!(
            body,
            "<polyline class=\"datum\" data-tier=\"{tier}\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{tier} mean time to remediate</title></polyline>",
            coords.join(" ")
        );
        for (index, week) in digest.mttr_trend.iter().enumerate() {
            if let Some(h) = week.hours(tier) {
                let _ = writeln!(
                    body,
                    "<circle class=\"datum\" data-tier=\"{tier}\" data-week=\"{}\" data-value=\"{h:.1}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{tier}, week ending {}: {h:.1} h mean to remediate</title></circle>",
                    week.end.format("%Y-%m-%d"),
                    LEFT + index as f64 * STEP,
                    y_of(h),
                    week.end.format("%Y-%m-%d")
                );
            }
        }
    }
    let _ = writeln!(
        body,
        "<line x1=\"{:.1}\" y1=\"{BOTTOM}\" x2=\"590\" y2=\"{BOTTOM}\" stroke=\"#9ca3af\"/>",
        LEFT - 20.0
    );
    figure(
        "chart-mttr",
        &format!("Mean time to remediate per week (hours, last {MTTR_WEEKS} weeks)"),
        600,
        236,
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::digest::digest;

    #[test]
    fn html_escapes_every_special_character() {
        assert_eq!(
            escape_html(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn an_empty_digest_renders_three_charts_and_says_na() {
        let empty = digest(
            &[],
            "2026-11-30T00:00:00Z".parse().unwrap(),
            chrono::Duration::days(1),
            None,
        );
        let html = to_html(&empty);
        for id in ["chart-sla", "chart-age", "chart-mttr"] {
            assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
        }
        assert!(!html.contains("<script"));
        assert!(!html.contains("src=") && !html.contains("href="), "no external assets");
        let markdown = to_markdown(&empty);
        assert!(markdown.contains("| all | 0 |"), "{markdown}");
        assert!(markdown.contains("n/a"));
    }
}
