//! Fingerprints of SARIF code findings (DESIGN §4): what identifies a problem survives the code
//! moving; a different rule or file is a different problem.

use muster_core::fingerprint::{self, normalize_anchor};
use muster_core::formats::{Format, ParseContext, parse_report};
use muster_core::{AssetKey, Detection, Fingerprint, SourceName};

/// One result as JSON, with optional region fields and extra result members.
struct Hit<'a> {
    rule: &'a str,
    path: &'a str,
    line: u32,
    columns: Option<(u32, u32)>,
    snippet: Option<&'a str>,
    message: &'a str,
    extra: &'a str,
}

impl Default for Hit<'_> {
    fn default() -> Self {
        Self {
            rule: "js/sql-injection",
            path: "src/db/query.js",
            line: 42,
            columns: Some((9, 31)),
            snippet: Some("    db.query(\"SELECT * FROM t WHERE id=\" + id);"),
            message: "This query depends on a user-provided value.",
            extra: "",
        }
    }
}

impl Hit<'_> {
    fn json(&self) -> String {
        let mut region = format!(r#""startLine": {}"#, self.line);
        if let Some((start, end)) = self.columns {
            region.push_str(&format!(r#", "startColumn": {start}, "endColumn": {end}"#));
        }
        if let Some(snippet) = self.snippet {
            region.push_str(&format!(r#", "snippet": {{ "text": {snippet:?} }}"#));
        }
        format!(
            r#"{{ "ruleId": "{rule}", "message": {{ "text": "{message}" }}, "locations": [ {{
                 "physicalLocation": {{ "artifactLocation": {{ "uri": "{path}" }}, "region": {{ {region} }} }}
               }} ]{extra} }}"#,
            rule = self.rule,
            message = self.message,
            path = self.path,
            extra = self.extra,
        )
    }
}

/// A CodeQL-like log with the given results, in one run.
fn log(hits: &[Hit<'_>]) -> String {
    let results: Vec<String> = hits.iter().map(Hit::json).collect();
    format!(
        r#"{{ "version": "2.1.0", "runs": [ {{
             "tool": {{ "driver": {{ "name": "CodeQL", "rules": [
               {{ "id": "js/sql-injection" }}, {{ "id": "js/xss" }} ] }} }},
             "versionControlProvenance": [ {{ "repositoryUri": "https://github.com/acme/shop" }} ],
             "results": [ {} ] }} ] }}"#,
        results.join(",\n")
    )
}

fn detections(hits: &[Hit<'_>]) -> Vec<Detection> {
    let ctx = ParseContext::for_source(SourceName::parse("ci").unwrap());
    let text = log(hits);
    let report = parse_report(text.as_bytes(), Some(Format::Sarif), &ctx).unwrap_or_else(|e| panic!("{e}\n{text}"));
    report.scans.into_iter().flat_map(|s| s.detections).collect()
}

fn fingerprint(hit: Hit<'_>) -> Fingerprint {
    let found = detections(&[hit]);
    assert_eq!(found.len(), 1);
    found[0].fingerprint
}

#[test]
fn result_moved_down_ten_lines_keeps_its_fingerprint() {
    let before = fingerprint(Hit::default());
    let after = fingerprint(Hit {
        line: 52,
        ..Hit::default()
    });
    assert_eq!(before, after);
}

#[test]
fn reindented_snippet_keeps_its_fingerprint() {
    let before = fingerprint(Hit::default());
    let after = fingerprint(Hit {
        line: 60,
        columns: Some((13, 35)),
        snippet: Some("\t\tdb.query(\"SELECT * FROM t WHERE id=\"   +   id);\n"),
        ..Hit::default()
    });
    assert_eq!(before, after);
}

#[test]
fn different_rule_changes_the_fingerprint() {
    let sql = fingerprint(Hit::default());
    let xss = fingerprint(Hit {
        rule: "js/xss",
        ..Hit::default()
    });
    assert_ne!(sql, xss);
}

#[test]
fn different_path_changes_the_fingerprint() {
    let here = fingerprint(Hit::default());
    let there = fingerprint(Hit {
        path: "src/db/other.js",
        ..Hit::default()
    });
    assert_ne!(here, there);
}

#[test]
fn different_snippet_changes_the_fingerprint() {
    let one = fingerprint(Hit::default());
    let other = fingerprint(Hit {
        snippet: Some("db.query(sql + name);"),
        ..Hit::default()
    });
    assert_ne!(one, other);
}

#[test]
fn partial_fingerprints_decide_when_present() {
    // GIVEN two results with the same partialFingerprints but different lines and snippets
    let extra = r#", "partialFingerprints": { "primaryLocationLineHash": "9cbc869fbfffeb60:1", "primaryLocationStartColumnFingerprint": "4" }"#;
    let found = detections(&[
        Hit {
            line: 10,
            extra,
            ..Hit::default()
        },
        Hit {
            line: 250,
            snippet: Some("something else entirely"),
            extra,
            ..Hit::default()
        },
    ]);
    // THEN they are one problem
    assert_eq!(found[0].fingerprint, found[1].fingerprint);
    // AND the fingerprint is not the snippet's
    assert_ne!(found[0].fingerprint, fingerprint(Hit::default()));
}

#[test]
fn partial_fingerprint_key_order_does_not_matter() {
    let ab = r#", "partialFingerprints": { "a": "1", "b": "2" }"#;
    let ba = r#", "partialFingerprints": { "b": "2", "a": "1" }"#;
    let found = detections(&[
        Hit {
            extra: ab,
            ..Hit::default()
        },
        Hit {
            extra: ba,
            ..Hit::default()
        },
    ]);
    assert_eq!(found[0].fingerprint, found[1].fingerprint);
}

#[test]
fn different_partial_fingerprints_are_different_problems() {
    let one = r#", "partialFingerprints": { "primaryLocationLineHash": "aaaa:1" }"#;
    let two = r#", "partialFingerprints": { "primaryLocationLineHash": "aaaa:2" }"#;
    let found = detections(&[
        Hit {
            extra: one,
            ..Hit::default()
        },
        Hit {
            extra: two,
            ..Hit::default()
        },
    ]);
    assert_ne!(found[0].fingerprint, found[1].fingerprint);
}

#[test]
fn fingerprints_win_over_partial_fingerprints() {
    let both = r#", "fingerprints": { "matchBasedId/v1": "abc" }, "partialFingerprints": { "primaryLocationLineHash": "1:1" }"#;
    let other_partial = r#", "fingerprints": { "matchBasedId/v1": "abc" }, "partialFingerprints": { "primaryLocationLineHash": "2:1" }"#;
    let found = detections(&[
        Hit {
            extra: both,
            ..Hit::default()
        },
        Hit {
            line: 99,
            extra: other_partial,
            ..Hit::default()
        },
    ]);
    assert_eq!(found[0].fingerprint, found[1].fingerprint);
}

#[test]
fn without_snippet_or_fingerprints_message_and_columns_survive_a_line_shift() {
    let before = fingerprint(Hit {
        snippet: None,
        ..Hit::default()
    });
    let after = fingerprint(Hit {
        snippet: None,
        line: 52,
        ..Hit::default()
    });
    assert_eq!(before, after);
}

#[test]
fn without_snippet_two_hits_on_one_line_differ_by_column() {
    let left = fingerprint(Hit {
        snippet: None,
        columns: Some((1, 5)),
        ..Hit::default()
    });
    let right = fingerprint(Hit {
        snippet: None,
        columns: Some((20, 25)),
        ..Hit::default()
    });
    assert_ne!(left, right);
}

#[test]
fn without_snippet_a_different_message_is_a_different_problem() {
    let one = fingerprint(Hit {
        snippet: None,
        ..Hit::default()
    });
    let other = fingerprint(Hit {
        snippet: None,
        message: "Another value.",
        ..Hit::default()
    });
    assert_ne!(one, other);
}

#[test]
fn without_region_columns_the_message_alone_survives_a_line_shift() {
    let before = fingerprint(Hit {
        snippet: None,
        columns: None,
        ..Hit::default()
    });
    let after = fingerprint(Hit {
        snippet: None,
        columns: None,
        line: 1000,
        ..Hit::default()
    });
    assert_eq!(before, after);
}

#[test]
fn fingerprint_ignores_the_case_of_the_tool_name() {
    let upper = detections(&[Hit::default()]);
    let lower_log = log(&[Hit::default()]).replace("\"CodeQL\"", "\"codeql\"");
    let ctx = ParseContext::for_source(SourceName::parse("ci").unwrap());
    let lower = parse_report(lower_log.as_bytes(), Some(Format::Sarif), &ctx).unwrap();
    assert_eq!(upper[0].fingerprint, lower.scans[0].detections[0].fingerprint);
}

/// The `code/v1` recipe as DESIGN §4 states it, spelled out: changing any of these anchors
/// re-creates every code finding, so a parser refactor must keep them byte for byte.
fn recipe(anchor: &str) -> Fingerprint {
    let asset = AssetKey::parse("github.com/acme/shop").unwrap();
    fingerprint::code("CodeQL", "js/sql-injection", &asset, "src/db/query.js", anchor)
}

#[test]
fn recipe_for_partial_fingerprints_is_sorted_key_value_pairs() {
    let extra = r#", "partialFingerprints": { "primaryLocationStartColumnFingerprint": "4", "primaryLocationLineHash": "9cbc869fbfffeb60:1" }"#;
    assert_eq!(
        fingerprint(Hit {
            extra,
            ..Hit::default()
        }),
        recipe("pfp:primaryLocationLineHash=9cbc869fbfffeb60:1;primaryLocationStartColumnFingerprint=4")
    );
}

#[test]
fn recipe_for_fingerprints_is_tagged_fp() {
    let extra = r#", "fingerprints": { "matchBasedId/v1": "abc" }"#;
    assert_eq!(
        fingerprint(Hit {
            extra,
            ..Hit::default()
        }),
        recipe("fp:matchBasedId/v1=abc")
    );
}

#[test]
fn recipe_for_snippets_is_the_normalized_code() {
    let snippet = Hit::default().snippet.unwrap();
    assert_eq!(
        fingerprint(Hit::default()),
        recipe(&format!("snippet:{}", normalize_anchor(snippet)))
    );
}

#[test]
fn recipe_without_snippet_is_message_and_columns() {
    let message = Hit::default().message;
    assert_eq!(
        fingerprint(Hit {
            snippet: None,
            ..Hit::default()
        }),
        recipe(&format!("message:{message}:Some(9):Some(31)"))
    );
    assert_eq!(
        fingerprint(Hit {
            snippet: None,
            columns: None,
            ..Hit::default()
        }),
        recipe(&format!("message:{message}:None:None"))
    );
}

#[test]
fn the_same_snippet_on_two_lines_is_two_findings_that_survive_a_shift() {
    let hits = |first: u32, second: u32| {
        detections(&[
            Hit {
                line: first,
                ..Hit::default()
            },
            Hit {
                line: second,
                ..Hit::default()
            },
            Hit {
                line: first,
                ..Hit::default()
            },
        ])
        .iter()
        .map(|d| d.fingerprint)
        .collect::<Vec<_>>()
    };
    let before = hits(42, 97);
    let after = hits(52, 107);

    assert_ne!(before[0], before[1], "two places, two findings");
    assert_eq!(before[0], before[2], "the same place twice is a duplicate");
    assert_eq!(before, after, "moving the code down keeps both fingerprints");
    assert_eq!(
        before[0],
        fingerprint(Hit::default()),
        "the first occurrence keeps the plain fingerprint"
    );
}
