//! Block Kit layouts for muster's Slack messages: one alert per group, and batched digests.
//!
//! Every builder keeps Slack's hard limits (50 blocks, 3000-character texts, 150-character
//! headers, 2000-character button values) by cutting at character boundaries, so a long
//! scanner title can never get a message refused with `invalid_blocks`. User text is escaped
//! for mrkdwn; nothing here talks to Slack.

use serde_json::{Value, json};

/// Slack refuses messages with more blocks than this.
pub const MAX_BLOCKS: usize = 50;
/// Longest text object (section text, context element).
pub const MAX_TEXT_CHARS: usize = 3000;
/// Longest header block text.
pub const MAX_HEADER_CHARS: usize = 150;
/// Longest button `value`.
pub const MAX_VALUE_CHARS: usize = 2000;
/// Evidence lines an alert shows; the ticket has the rest.
pub const MAX_EVIDENCE: usize = 3;
/// Longest single evidence line, so the three always fit one section.
const MAX_EVIDENCE_LINE_CHARS: usize = 900;

/// The buttons on an alert: `(action_id, label)`. Each button's value is the group key, so
/// the interactivity handler knows which group was clicked (see `parse_action`).
pub const ALERT_ACTIONS: [(&str, &str); 4] = [
    ("ack", "Acknowledge"),
    ("snooze", "Snooze"),
    ("accept_request", "Request risk acceptance"),
    ("not_mine", "Not mine"),
];

/// The buttons on a risk acceptance request to the security leads.
pub const DECISION_ACTIONS: [(&str, &str); 2] = [
    ("approve_acceptance", "Approve risk acceptance"),
    ("reject_acceptance", "Reject"),
];

/// The `block_id` of an alert's actions block.
pub const ALERT_ACTIONS_BLOCK: &str = "muster_alert";

/// What an alert about one group shows: the chat-neutral card the notify service builds.
pub use muster_core::ports::AlertCard as AlertView;

/// Header, details, evidence, group context and the four action buttons.
pub fn alert_blocks(view: &AlertView) -> Value {
    let mut details = format!(
        "*Fix:* {}\n*Due:* {}",
        escape(&view.fix),
        view.due.format("%Y-%m-%d %H:%M UTC")
    );
    let key = view.ticket_key.as_deref().map(escape);
    match (key, view.ticket_url.as_deref()) {
        (Some(key), Some(url)) => details.push_str(&format!("\n*Ticket:* <{}|{key}>", link_target(url))),
        (Some(key), None) => details.push_str(&format!("\n*Ticket:* {key}")),
        (None, Some(url)) => details.push_str(&format!("\n*Ticket:* <{}>", link_target(url))),
        (None, None) => {}
    }

    let mut blocks = vec![
        header(&format!("{} · {}", view.tier.as_str(), view.title)),
        section(&details),
    ];
    let evidence: Vec<String> = view
        .evidence
        .iter()
        .take(MAX_EVIDENCE)
        .map(|line| format!("• {}", truncate_mrkdwn(&escape(line), MAX_EVIDENCE_LINE_CHARS)))
        .collect();
    if !evidence.is_empty() {
        blocks.push(section(&format!("*Evidence*\n{}", evidence.join("\n"))));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate_mrkdwn(&format!("muster group `{}`", escape(view.group_key.as_str())), MAX_TEXT_CHARS)}],
    }));
    let value: String = view.group_key.as_str().chars().take(MAX_VALUE_CHARS).collect();
    let actions: &[(&str, &str)] = match view.actions {
        muster_core::ports::CardActions::Alert => &ALERT_ACTIONS,
        muster_core::ports::CardActions::AcceptanceDecision => &DECISION_ACTIONS,
    };
    let buttons: Vec<Value> = actions
        .iter()
        .map(|(action_id, label)| {
            let mut button = json!({
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": label},
                "value": value,
            });
            if matches!(*action_id, "ack" | "approve_acceptance") {
                button["style"] = json!("primary");
            }
            button
        })
        .collect();
    blocks.push(json!({"type": "actions", "block_id": ALERT_ACTIONS_BLOCK, "elements": buttons}));
    Value::Array(blocks)
}

/// A batched summary: a header, then per heading a section of bulleted lines. Long sections
/// continue in further sections (no text over `MAX_TEXT_CHARS`); past `MAX_BLOCKS` the last
/// block says how many lines were left out.
pub fn digest_blocks(title: &str, sections: &[(String, Vec<String>)]) -> Value {
    struct Chunk {
        text: String,
        chars: usize,
        lines: usize,
    }
    let mut chunks: Vec<Chunk> = Vec::new();
    for (heading, lines) in sections {
        let head = truncate_mrkdwn(&format!("*{}*", escape(heading)), 200);
        let continued = format!("{head} (continued)");
        // Room for one bullet after the longest heading and its newline.
        let line_room = MAX_TEXT_CHARS - continued.chars().count() - 1;
        let mut chunk = Chunk {
            chars: head.chars().count(),
            text: head,
            lines: 0,
        };
        for line in lines {
            let bullet = truncate_mrkdwn(&format!("• {}", escape(line)), line_room);
            let bullet_chars = bullet.chars().count();
            if chunk.lines > 0 && chunk.chars + 1 + bullet_chars > MAX_TEXT_CHARS {
                let next = Chunk {
                    chars: continued.chars().count(),
                    text: continued.clone(),
                    lines: 0,
                };
                chunks.push(std::mem::replace(&mut chunk, next));
            }
            chunk.text.push('\n');
            chunk.text.push_str(&bullet);
            chunk.chars += 1 + bullet_chars;
            chunk.lines += 1;
        }
        chunks.push(chunk);
    }

    let mut blocks = vec![header(title)];
    let room = MAX_BLOCKS - blocks.len();
    if chunks.len() <= room {
        blocks.extend(chunks.iter().map(|c| section(&c.text)));
    } else {
        // Keep one block for the note saying what was left out.
        let shown = room - 1;
        blocks.extend(chunks[..shown].iter().map(|c| section(&c.text)));
        let omitted: usize = chunks[shown..].iter().map(|c| c.lines).sum();
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("…and {omitted} more lines not shown: run `muster` for the full list")}],
        }));
    }
    Value::Array(blocks)
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_CHARS), "emoji": true}})
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_mrkdwn(mrkdwn, MAX_TEXT_CHARS)}})
}

/// Slack's mrkdwn control characters, escaped as Slack asks, so scanner text cannot inject
/// links or mentions.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A URL inside `<url|label>`: `|` and `>` would end the link early.
fn link_target(url: &str) -> String {
    escape(url).replace('|', "%7C")
}

/// At most `max` characters, ending in `…` when cut; never splits a character.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `truncate` for escaped mrkdwn: also never leaves half an `&amp;` entity or an unclosed
/// `<link|label>` at the cut.
fn truncate_mrkdwn(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut.truncate(amp);
    }
    if let Some(open) = cut.rfind('<')
        && !cut[open..].contains('>')
    {
        cut.truncate(open);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use muster_core::{GroupKey, Tier};

    use super::*;

    fn view() -> AlertView {
        AlertView {
            tier: Tier::P1,
            title: "openssl 3.0.7 in payments-api: 4 critical CVEs".into(),
            fix: "Upgrade openssl to 3.0.13".into(),
            due: Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap(),
            ticket_url: Some("https://acme.atlassian.net/browse/PAY-12".into()),
            ticket_key: Some("PAY-12".into()),
            evidence: vec![
                "CVE-2023-0286 (KEV)".into(),
                "CVE-2023-0215".into(),
                "CVE-2022-4450".into(),
                "CVE-2023-0216".into(),
            ],
            group_key: GroupKey::parse("payments/img:1/pkg:openssl").unwrap(),
            actions: Default::default(),
        }
    }

    /// Every `text` string anywhere in the blocks, with the block type it sits in.
    fn texts(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match inner {
                        Value::String(s) if key == "text" => out.push(s.clone()),
                        _ => texts(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
            _ => {}
        }
    }

    fn assert_within_limits(blocks: &Value) {
        let blocks = blocks.as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        let mut all = Vec::new();
        texts(&Value::Array(blocks.clone()), &mut all);
        for text in all {
            assert!(text.chars().count() <= MAX_TEXT_CHARS, "{} chars", text.chars().count());
        }
        for block in blocks {
            if block["type"] == "header" {
                assert!(block["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_CHARS);
            }
            if block["type"] == "actions" {
                for button in block["elements"].as_array().unwrap() {
                    assert!(button["value"].as_str().unwrap().chars().count() <= MAX_VALUE_CHARS);
                }
            }
        }
    }

    #[test]
    fn alert_has_header_details_evidence_context_and_actions() {
        let blocks = alert_blocks(&view());
        let types: Vec<&str> = blocks
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["header", "section", "section", "context", "actions"]);
        assert_eq!(
            blocks[0]["text"]["text"],
            "P1 · openssl 3.0.7 in payments-api: 4 critical CVEs"
        );
        let details = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(details.contains("*Fix:* Upgrade openssl to 3.0.13"), "{details}");
        assert!(details.contains("*Due:* 2026-12-01 09:30 UTC"), "{details}");
        assert!(
            details.contains("<https://acme.atlassian.net/browse/PAY-12|PAY-12>"),
            "{details}"
        );
        assert!(
            blocks[3]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("payments/img:1/pkg:openssl")
        );
    }

    #[test]
    fn alert_shows_only_the_top_three_evidence_lines() {
        let blocks = alert_blocks(&view());
        let evidence = blocks[2]["text"]["text"].as_str().unwrap();
        assert_eq!(
            evidence,
            "*Evidence*\n• CVE-2023-0286 (KEV)\n• CVE-2023-0215\n• CVE-2022-4450"
        );
    }

    #[test]
    fn alert_buttons_carry_action_ids_and_the_group_key() {
        let blocks = alert_blocks(&view());
        let actions = &blocks[4];
        assert_eq!(actions["block_id"], ALERT_ACTIONS_BLOCK);
        let buttons = actions["elements"].as_array().unwrap();
        let ids: Vec<&str> = buttons.iter().map(|b| b["action_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["ack", "snooze", "accept_request", "not_mine"]);
        let labels: Vec<&str> = buttons.iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
        assert_eq!(labels, ["Acknowledge", "Snooze", "Request risk acceptance", "Not mine"]);
        for button in buttons {
            assert_eq!(button["type"], "button");
            assert_eq!(button["value"], "payments/img:1/pkg:openssl");
        }
    }

    #[test]
    fn alert_without_ticket_or_evidence_drops_those_parts() {
        let mut view = view();
        view.ticket_key = None;
        view.ticket_url = None;
        view.evidence.clear();
        let blocks = alert_blocks(&view);
        let types: Vec<&str> = blocks
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["header", "section", "context", "actions"]);
        assert!(!blocks[1]["text"]["text"].as_str().unwrap().contains("Ticket"));
    }

    #[test]
    fn huge_alert_texts_are_cut_to_slacks_limits() {
        let mut view = view();
        view.title = "é".repeat(10_000);
        view.fix = "🔥".repeat(10_000);
        view.evidence = vec!["x".repeat(5_000); 5];
        view.group_key = GroupKey::parse(&"k".repeat(2048)).unwrap();
        let blocks = alert_blocks(&view);
        assert_within_limits(&blocks);
        let header = blocks[0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), MAX_HEADER_CHARS);
        assert!(header.ends_with('…'));
        assert_eq!(
            blocks[4]["elements"][0]["value"].as_str().unwrap().len(),
            MAX_VALUE_CHARS
        );
    }

    #[test]
    fn scanner_text_cannot_inject_links_or_mentions() {
        let mut view = view();
        view.fix = "<!channel> upgrade & <https://evil.example|click>".into();
        let blocks = alert_blocks(&view);
        let details = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(
            details.contains("&lt;!channel&gt; upgrade &amp; &lt;https://evil.example|click&gt;"),
            "{details}"
        );
    }

    #[test]
    fn truncation_never_leaves_half_an_entity_or_link() {
        assert_eq!(truncate_mrkdwn("abc&amp;def", 6), "abc…");
        assert_eq!(truncate_mrkdwn("ab<https://x|y> tail", 8), "ab…");
        assert_eq!(truncate_mrkdwn("short", 10), "short");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }

    #[test]
    fn digest_lists_each_heading_with_bulleted_lines() {
        let sections = vec![
            (
                "P1 — overdue".to_owned(),
                vec!["PAY-12 openssl".to_owned(), "PAY-13 glibc".to_owned()],
            ),
            ("P2".to_owned(), vec!["PAY-20 <lodash>".to_owned()]),
        ];
        let blocks = digest_blocks("Weekly digest: payments", &sections);
        assert_within_limits(&blocks);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[1]["text"]["text"],
            "*P1 — overdue*\n• PAY-12 openssl\n• PAY-13 glibc"
        );
        assert_eq!(blocks[2]["text"]["text"], "*P2*\n• PAY-20 &lt;lodash&gt;");
        assert_eq!(blocks.as_array().unwrap().len(), 3);
    }

    #[test]
    fn long_digest_sections_continue_without_losing_lines() {
        let lines: Vec<String> = (0..200).map(|i| format!("PAY-{i} {}", "x".repeat(80))).collect();
        let blocks = digest_blocks("Digest", &[("P3".to_owned(), lines)]);
        assert_within_limits(&blocks);
        let blocks = blocks.as_array().unwrap();
        assert!(blocks.len() > 3, "{} blocks", blocks.len());
        assert!(
            blocks[2]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("*P3* (continued)\n")
        );
        let bullets: usize = blocks[1..]
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap().matches("• PAY-").count())
            .sum();
        assert_eq!(bullets, 200);
    }

    #[test]
    fn digest_past_fifty_blocks_says_how_many_lines_were_left_out() {
        let sections: Vec<(String, Vec<String>)> = (0..80)
            .map(|i| (format!("team {i}"), vec![format!("line {i}")]))
            .collect();
        let blocks = digest_blocks("Digest", &sections);
        assert_within_limits(&blocks);
        let blocks = blocks.as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        // Header + 48 sections shown, so 32 one-line sections are left out.
        let note = blocks[MAX_BLOCKS - 1]["elements"][0]["text"].as_str().unwrap();
        assert!(note.contains("32 more lines"), "{note}");
    }

    #[test]
    fn a_single_giant_digest_line_is_cut_to_fit() {
        let blocks = digest_blocks(&"t".repeat(500), &[("h".to_owned(), vec!["ü".repeat(10_000)])]);
        assert_within_limits(&blocks);
        assert_eq!(blocks.as_array().unwrap().len(), 2);
    }
}
