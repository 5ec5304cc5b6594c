//! Markdown → Atlassian Document Format, for Jira descriptions and comments.
//!
//! Covers the markdown muster itself writes (headings, paragraphs, bold, code spans, links,
//! lists, quotes, rules, fenced code, pipe tables). Every node it emits is valid against the ADF
//! v1 schema; anything it does not understand stays as plain text, never as invalid ADF.

use serde_json::{Value, json};

/// Jira Cloud refuses a description longer than this (characters of serialized ADF).
pub const DESCRIPTION_LIMIT: usize = 32_767;

/// Grey (Atlassian N200): the group marker is visible for search and webhooks, but quiet.
const MARKER_COLOR: &str = "#6b778c";

/// Room kept for the "cut" note so adding it cannot push a cut description over the limit.
const NOTE_RESERVE: usize = 300;

/// An ADF document (`{"type":"doc","version":1,...}`) for a comment or any markdown text.
pub fn document(markdown: &str) -> Value {
    doc(parse_blocks(markdown))
}

/// A Jira description: the markdown as ADF, the hidden `<!-- muster:group=… -->` comment
/// replaced by a visible final paragraph holding `marker`, and cut to [`DESCRIPTION_LIMIT`]
/// by dropping findings (table rows) from the end, with a note saying how many.
pub fn description(markdown: &str, marker: &str) -> Value {
    description_within(markdown, marker, DESCRIPTION_LIMIT)
}

pub(crate) fn description_within(markdown: &str, marker: &str, limit: usize) -> Value {
    let mut blocks = parse_blocks(markdown);
    let marker_block = json!({
        "type": "paragraph",
        "content": [{ "type": "text", "text": marker, "marks": [{ "type": "textColor", "attrs": { "color": MARKER_COLOR } }] }],
    });
    let full = doc(blocks.iter().cloned().chain([marker_block.clone()]).collect());
    if chars(&full) <= limit {
        return full;
    }

    // Too long: drop findings from the end of the last table, then whole blocks.
    let mut size = chars(&full);
    let mut dropped = take_more_count(&mut blocks, &mut size);
    while size + NOTE_RESERVE > limit {
        let table = blocks.iter_mut().rev().find_map(|b| {
            let rows = b.get_mut("content").and_then(Value::as_array_mut)?;
            (is_table_rows(rows) && rows.len() > 1).then_some(rows)
        });
        if let Some(rows) = table {
            if let Some(row) = rows.pop() {
                size = size.saturating_sub(chars(&row) + 1);
                dropped += 1;
            }
        } else if let Some(block) = blocks.pop() {
            size = size.saturating_sub(chars(&block) + 1);
            if block["type"] == "table" {
                dropped += block["content"]
                    .as_array()
                    .map_or(0, |rows| rows.len().saturating_sub(1));
            }
        } else {
            break;
        }
    }
    let plural = if dropped == 1 { "finding" } else { "findings" };
    let note = format!("…cut: {dropped} more {plural}, see `muster groups`");
    blocks.push(json!({ "type": "paragraph", "content": inline(&note) }));
    blocks.push(marker_block);
    doc(blocks)
}

fn is_table_rows(rows: &[Value]) -> bool {
    rows.first().is_some_and(|r| r["type"] == "tableRow")
}

/// Removes the ticket's own "…and N more (`muster groups`)" line, returning N: a cut
/// description states one total instead of two notes.
fn take_more_count(blocks: &mut Vec<Value>, size: &mut usize) -> usize {
    let position = blocks.iter().position(|b| {
        b["type"] == "paragraph" && b["content"][0]["text"].as_str().is_some_and(|t| t.starts_with("…and "))
    });
    let Some(position) = position else { return 0 };
    let text = blocks[position]["content"][0]["text"].as_str().unwrap_or_default();
    let Some(count) = text
        .trim_start_matches("…and ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
    else {
        return 0;
    };
    let block = blocks.remove(position);
    *size = size.saturating_sub(chars(&block) + 1);
    count
}

fn doc(content: Vec<Value>) -> Value {
    json!({ "type": "doc", "version": 1, "content": content })
}

fn chars(value: &Value) -> usize {
    value.to_string().chars().count()
}

fn parse_blocks(markdown: &str) -> Vec<Value> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let starts_block = line.is_empty()
            || line.starts_with("<!--")
            || line.starts_with("```")
            || line.starts_with('|')
            || line.starts_with("> ")
            || heading_level(line).is_some()
            || is_rule(line)
            || bullet(line).is_some()
            || ordered(line).is_some();
        if !starts_block {
            paragraph.push(line);
            i += 1;
            continue;
        }
        flush_paragraph(&mut paragraph, &mut blocks);
        if line.is_empty() {
            i += 1;
        } else if line.starts_with("<!--") {
            // HTML comments are hidden in markdown; hidden they stay (the marker is re-added).
            while i < lines.len() && !lines[i].contains("-->") {
                i += 1;
            }
            i += 1;
        } else if let Some(fence) = line.strip_prefix("```") {
            let language = fence.trim();
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i]);
                i += 1;
            }
            i += 1;
            let mut block = json!({ "type": "codeBlock" });
            if !language.is_empty() {
                block["attrs"] = json!({ "language": language });
            }
            let text = code.join("\n");
            block["content"] = if text.is_empty() {
                json!([])
            } else {
                json!([{ "type": "text", "text": text }])
            };
            blocks.push(block);
        } else if line.starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].trim().starts_with('|') {
                i += 1;
            }
            blocks.push(table(&lines[start..i]));
        } else if line.starts_with("> ") {
            let mut quoted = Vec::new();
            while i < lines.len() && lines[i].trim().starts_with('>') {
                quoted.push(lines[i].trim().trim_start_matches('>').trim());
                i += 1;
            }
            blocks.push(json!({ "type": "blockquote", "content": [paragraph_of(&quoted)] }));
        } else if let Some(level) = heading_level(line) {
            let text = line[level..].trim();
            blocks.push(json!({ "type": "heading", "attrs": { "level": level }, "content": inline(text) }));
            i += 1;
        } else if is_rule(line) {
            blocks.push(json!({ "type": "rule" }));
            i += 1;
        } else {
            let (kind, item): (&str, fn(&str) -> Option<&str>) = if bullet(line).is_some() {
                ("bulletList", bullet)
            } else {
                ("orderedList", ordered)
            };
            let mut items = Vec::new();
            while let Some(text) = lines.get(i).and_then(|l| item(l.trim())) {
                items.push(json!({ "type": "listItem", "content": [paragraph_of(&[text])] }));
                i += 1;
            }
            blocks.push(json!({ "type": kind, "content": items }));
        }
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    blocks
}

fn flush_paragraph(lines: &mut Vec<&str>, blocks: &mut Vec<Value>) {
    if !lines.is_empty() {
        blocks.push(paragraph_of(lines));
        lines.clear();
    }
}

/// One paragraph; source lines stay lines (hard breaks), as GitHub shows them in issues.
fn paragraph_of(lines: &[&str]) -> Value {
    let mut content = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            content.push(json!({ "type": "hardBreak" }));
        }
        content.extend(inline(line));
    }
    json!({ "type": "paragraph", "content": content })
}

fn heading_level(line: &str) -> Option<usize> {
    let level = line.chars().take_while(|&c| c == '#').count();
    ((1..=6).contains(&level) && line[level..].starts_with(' ')).then_some(level)
}

fn is_rule(line: &str) -> bool {
    ["---", "***", "___"].contains(&line)
}

fn bullet(line: &str) -> Option<&str> {
    line.strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("+ "))
}

fn ordered(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line[digits..].strip_prefix(". ")
}

/// A pipe table; the row after the first is a `|---|` separator when the first is a header.
fn table(lines: &[&str]) -> Value {
    let separator = |line: &str| line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
    let has_header = lines.get(1).is_some_and(|l| separator(l.trim()));
    let rows: Vec<Value> = lines
        .iter()
        .enumerate()
        .filter(|(n, line)| !(has_header && *n == 1 && separator(line.trim())))
        .map(|(n, line)| {
            let cell_type = if has_header && n == 0 {
                "tableHeader"
            } else {
                "tableCell"
            };
            let inner = line.trim().trim_start_matches('|');
            let inner = inner.strip_suffix('|').unwrap_or(inner);
            let cells: Vec<Value> = inner
                .split('|')
                .map(|cell| json!({ "type": cell_type, "content": [paragraph_of(&[cell.trim()])] }))
                .collect();
            json!({ "type": "tableRow", "content": cells })
        })
        .collect();
    json!({ "type": "table", "content": rows })
}

/// Inline markdown: `**bold**`, `` `code` ``, `[text](url)`; the rest is text.
fn inline(text: &str) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let parsed = match c {
            '`' => rest[1..].find('`').filter(|&end| end > 0).map(|end| {
                let code = &rest[1..=end];
                (
                    vec![json!({ "type": "text", "text": code, "marks": [{ "type": "code" }] })],
                    end + 2,
                )
            }),
            '*' if rest.starts_with("**") => rest[2..].find("**").filter(|&end| end > 0).map(|end| {
                let mut inner = inline(&rest[2..2 + end]);
                for node in &mut inner {
                    add_mark(node, json!({ "type": "strong" }));
                }
                (inner, end + 4)
            }),
            '[' => link(rest),
            _ => None,
        };
        match parsed {
            Some((parsed, used)) => {
                flush_text(&mut plain, &mut nodes);
                nodes.extend(parsed);
                rest = &rest[used..];
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    flush_text(&mut plain, &mut nodes);
    nodes
}

fn link(rest: &str) -> Option<(Vec<Value>, usize)> {
    let close = rest.find("](")?;
    let end = close + 2 + rest[close + 2..].find(')')?;
    let href = &rest[close + 2..end];
    if close <= 1 || href.is_empty() || href.contains(char::is_whitespace) {
        return None;
    }
    let mut inner = inline(&rest[1..close]);
    for node in &mut inner {
        add_mark(node, json!({ "type": "link", "attrs": { "href": href } }));
    }
    Some((inner, end + 1))
}

/// Adds a mark unless the schema forbids the pair: code combines only with links.
fn add_mark(node: &mut Value, mark: Value) {
    if node["type"] != "text" {
        return;
    }
    let marks = node
        .as_object_mut()
        .map(|o| o.entry("marks").or_insert_with(|| json!([])));
    let Some(Value::Array(marks)) = marks else { return };
    let has_code = marks.iter().any(|m| m["type"] == "code");
    if has_code && mark["type"] != "link" {
        return;
    }
    marks.push(mark);
}

fn flush_text(plain: &mut String, nodes: &mut Vec<Value>) {
    if !plain.is_empty() {
        nodes.push(json!({ "type": "text", "text": std::mem::take(plain) }));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The ADF schema from the shared contracts; `None` (test skipped) when `shared/` is not
    /// laid out beside the repository.
    pub(crate) fn schema() -> Option<jsonschema::Validator> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/contracts/jira/adf-schema-v1-full.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} not found");
            return None;
        };
        let schema: Value = serde_json::from_str(&text).unwrap();
        let validator = jsonschema::draft4::new(&schema).unwrap();
        // The schema must be able to fail: an empty text node is not ADF.
        let bad = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]});
        assert!(!validator.is_valid(&bad), "the ADF schema accepted an empty text node");
        Some(validator)
    }

    fn assert_valid(validator: &jsonschema::Validator, document: &Value) {
        let errors: Vec<String> = validator
            .iter_errors(document)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .take(5)
            .collect();
        assert!(errors.is_empty(), "invalid ADF: {errors:?}\n{document:#}");
    }

    const TICKET: &str = "**P1** — due 2026-12-01\n\nAsset: `payments` · owner: `team-pay`\n\n\
        Fix: upgrade to ≥ 3.0.8 (fixes every finding below)\n\n\
        | severity | location | finding | why |\n|---|---|---|---|\n\
        | critical | `Dockerfile:3` | CVE-2024-1 in openssl | score 97: KEV; EPSS 0.9 |\n\
        | high | `go.sum` | CVE-2024-2 | |\n\n\
        See [the advisory](https://example.com/a?b=1) and **`code` in bold**.\n\n\
        ## Steps\n- one\n- two with `x`\n1. first\n2. second\n\n> quoted\n\n---\n\n\
        ```rust\nfn main() {}\n```\n\n<!-- muster:group=team-pay/payments/pkg:openssl -->";

    #[test]
    fn ticket_markdown_becomes_valid_adf_with_a_visible_marker() {
        let adf = description(TICKET, "muster:group=team-pay/payments/pkg:openssl");
        if let Some(validator) = schema() {
            assert_valid(&validator, &adf);
        }
        let content = adf["content"].as_array().unwrap();
        let kinds: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "paragraph",
                "paragraph",
                "paragraph",
                "table",
                "paragraph",
                "heading",
                "bulletList",
                "orderedList",
                "blockquote",
                "rule",
                "codeBlock",
                "paragraph"
            ]
        );
        assert_eq!(
            content.last().unwrap()["content"][0]["text"],
            "muster:group=team-pay/payments/pkg:openssl"
        );
        let text = adf.to_string();
        assert!(!text.contains("<!--"), "{text}");
        assert_eq!(content[3]["content"][0]["content"][0]["type"], "tableHeader");
        assert_eq!(content[3]["content"].as_array().unwrap().len(), 3);
        assert_eq!(content[0]["content"][0]["marks"][0]["type"], "strong");
        // Compared as values: key order in the serialized JSON depends on serde_json features
        // other crates of the workspace turn on.
        let link = content[4]["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| node["text"] == "the advisory")
            .expect("the link text is kept");
        assert_eq!(
            link["marks"][0],
            json!({ "type": "link", "attrs": { "href": "https://example.com/a?b=1" } })
        );
        assert_eq!(content[10]["attrs"]["language"], "rust");
    }

    #[test]
    fn code_inside_bold_keeps_only_the_code_mark() {
        let nodes = inline("**`x`**");
        assert_eq!(
            nodes,
            vec![json!({ "type": "text", "text": "x", "marks": [{ "type": "code" }] })]
        );
    }

    #[test]
    fn unclosed_markup_stays_text() {
        let nodes = inline("a ` b ** c [d](");
        assert_eq!(nodes, vec![json!({ "type": "text", "text": "a ` b ** c [d](" })]);
    }

    #[test]
    fn long_descriptions_are_cut_by_findings_with_a_note() {
        let mut markdown =
            String::from("**P2** — due 2026-12-01\n\n| severity | location | finding | why |\n|---|---|---|---|\n");
        for n in 0..2000 {
            markdown.push_str(&format!(
                "| high | `src/file{n}.rs:10` | finding number {n} | score 50 |\n"
            ));
        }
        markdown.push_str("\n…and 300 more (`muster groups`).\n\n<!-- muster:group=a/b/c -->");

        let adf = description(&markdown, "muster:group=a/b/c");

        let size = adf.to_string().chars().count();
        assert!(size <= DESCRIPTION_LIMIT, "{size}");
        assert!(size > DESCRIPTION_LIMIT - 2 * NOTE_RESERVE, "cut too much: {size}");
        let content = adf["content"].as_array().unwrap();
        let kept = content[1]["content"].as_array().unwrap().len() - 1;
        let note = &content[content.len() - 2]["content"];
        assert_eq!(
            note[0]["text"],
            format!("…cut: {} more findings, see ", 2000 - kept + 300)
        );
        assert_eq!(note[1]["text"], "muster groups");
        assert_eq!(content.last().unwrap()["content"][0]["text"], "muster:group=a/b/c");
        if let Some(validator) = schema() {
            assert_valid(&validator, &adf);
        }
    }

    #[test]
    fn short_descriptions_are_not_cut() {
        let adf = description_within("one\n\ntwo", "muster:group=a/b/c", 10_000);
        assert!(!adf.to_string().contains("cut:"));
    }

    #[test]
    fn comments_are_valid_adf() {
        let adf = document("muster reopened this: the finding is back in scan `s-42`.\nSee https://x.test");
        if let Some(validator) = schema() {
            assert_valid(&validator, &adf);
        }
        let kinds: Vec<&str> = adf["content"][0]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["text", "text", "text", "hardBreak", "text"]);
        assert_valid_opt(&document(""));
    }

    fn assert_valid_opt(adf: &Value) {
        if let Some(validator) = schema() {
            assert_valid(&validator, adf);
        }
    }
}
