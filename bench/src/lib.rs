//! Seeded, realistic scanner reports for benchmarks and load tests.
//!
//! Output depends only on the arguments: the same seed gives the same bytes on every platform
//! (ChaCha8, fixed-width integer sampling). Reports are written straight into a byte buffer,
//! never through a JSON tree, so generating a few hundred megabytes takes about a second.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LANGUAGES: [(&str, &str); 5] = [("js", "js"), ("py", "py"), ("java", "java"), ("go", "go"), ("cs", "cs")];

const PROBLEMS: [(&str, &str, &str, &str); 12] = [
    (
        "sql-injection",
        "Database query built from user-controlled sources",
        "089",
        "8.8",
    ),
    ("xss", "Client-side cross-site scripting", "079", "6.1"),
    (
        "path-injection",
        "Uncontrolled data used in path expression",
        "022",
        "7.5",
    ),
    ("command-line-injection", "Uncontrolled command line", "078", "9.8"),
    (
        "weak-cryptographic-algorithm",
        "Use of a broken or weak cryptographic algorithm",
        "327",
        "7.5",
    ),
    (
        "clear-text-logging",
        "Clear-text logging of sensitive information",
        "312",
        "7.5",
    ),
    ("insecure-randomness", "Insecure randomness", "338", "7.8"),
    ("request-forgery", "Server-side request forgery", "918", "9.1"),
    (
        "unsafe-deserialization",
        "Deserialization of user-controlled data",
        "502",
        "9.8",
    ),
    ("regex-injection", "Regular expression injection", "730", "7.5"),
    (
        "unused-local-variable",
        "Unused variable, import, function or class",
        "",
        "",
    ),
    ("redundant-condition", "Redundant condition in expression", "", ""),
];

const DIRECTORIES: [&str; 10] = [
    "src/api",
    "src/db",
    "src/auth",
    "src/handlers",
    "lib/util",
    "lib/net",
    "services/billing",
    "services/search",
    "internal/store",
    "web/static/js",
];

const FILES: [&str; 16] = [
    "query", "users", "session", "router", "render", "upload", "payment", "client", "config", "crypto", "logger",
    "cache", "index", "search", "export", "admin",
];

const IDENTIFIERS: [&str; 12] = [
    "userId",
    "name",
    "path",
    "token",
    "req.query.q",
    "params[\"id\"]",
    "input",
    "body.url",
    "filename",
    "cmd",
    "pattern",
    "payload",
];

/// Lines of code around a hit; `%ID%` is replaced by an identifier.
const SNIPPETS: [&str; 8] = [
    "    const rows = await db.query(\"SELECT * FROM users WHERE id = '\" + %ID% + \"'\");",
    "    res.send(`<div class=\"result\">${%ID%}</div>`);",
    "        with open(os.path.join(BASE_DIR, %ID%), \"rb\") as fh:",
    "\texec.Command(\"sh\", \"-c\", %ID%).Run()",
    "        MessageDigest md = MessageDigest.getInstance(\"MD5\"); md.update(%ID%);",
    "    logger.info(\"login ok for %s token=%s\", user, %ID%)",
    "    var client = new HttpClient(); await client.GetAsync(%ID%);",
    "  return pickle.loads(%ID%)  # noqa",
];

/// Generates a CodeQL-like SARIF 2.1.0 log.
///
/// `results` are spread over `runs` runs (each a different repository); each run's driver
/// declares `rules` rules and every result points at one of them by `ruleId` and `ruleIndex`.
/// About half of the results carry `partialFingerprints`; a `duplicate_ratio` share of them
/// are byte-for-byte copies of an earlier result of the same run.
pub fn generate_sarif(results: usize, runs: usize, rules: usize, duplicate_ratio: f64, seed: u64) -> Vec<u8> {
    let runs = runs.max(1);
    let rules = rules.max(1);
    let duplicate_ratio = duplicate_ratio.clamp(0.0, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Out(Vec::with_capacity(results * 720 + rules * runs * 900 + 4096));

    out.raw("{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[\n");
    for run in 0..runs {
        if run > 0 {
            out.raw(",\n");
        }
        let count = results / runs + usize::from(run < results % runs);
        write_run(&mut out, &mut rng, run, count, rules, duplicate_ratio);
    }
    out.raw("\n]}\n");
    out.0
}

fn write_run(out: &mut Out, rng: &mut ChaCha8Rng, run: usize, results: usize, rules: usize, duplicate_ratio: f64) {
    out.raw("{\"tool\":{\"driver\":{\"name\":\"CodeQL\",\"organization\":\"GitHub\",\"semanticVersion\":\"2.20.1\",\"informationUri\":\"https://codeql.github.com\",\"rules\":[\n");
    for rule in 0..rules {
        if rule > 0 {
            out.raw(",\n");
        }
        write_rule(out, rule);
    }
    out.raw("\n]}},\"versionControlProvenance\":[{\"repositoryUri\":\"https://github.com/acme/service-");
    out.uint(run as u64);
    out.raw("\",\"revisionId\":\"");
    out.hex(rng.random::<u64>());
    out.hex(rng.random::<u64>());
    out.raw("\",\"branch\":\"refs/heads/main\"}],\"columnKind\":\"utf16CodeUnits\",\"results\":[\n");

    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(results);
    for index in 0..results {
        if index > 0 {
            out.raw(",\n");
        }
        let start = out.0.len();
        if index > 0 && rng.random_bool(duplicate_ratio) {
            let (from, to) = spans[rng.random_range(0..index as u64) as usize];
            out.0.extend_from_within(from..to);
        } else {
            write_result(out, rng, rules);
        }
        spans.push((start, out.0.len()));
    }
    out.raw("\n]}");
}

/// Rule `n`: the problem, language and variant follow from `n` so every run declares the same
/// rules in the same order, as one CodeQL version does.
fn write_rule(out: &mut Out, n: usize) {
    let (lang, _) = LANGUAGES[n % LANGUAGES.len()];
    let (_, title, cwe, severity) = PROBLEMS[(n / LANGUAGES.len()) % PROBLEMS.len()];
    let variant = n / (LANGUAGES.len() * PROBLEMS.len());
    let security = !severity.is_empty();

    out.raw("{\"id\":\"");
    rule_id(out, n);
    out.raw("\",\"name\":\"");
    rule_id(out, n);
    out.raw("\",\"shortDescription\":{\"text\":\"");
    out.raw(title);
    out.raw("\"},\"fullDescription\":{\"text\":\"");
    out.raw(title);
    out.raw(" may allow an attacker to change the behaviour of the program. Variant ");
    out.uint(variant as u64);
    out.raw(" of the ");
    out.raw(lang);
    out.raw(" query checks data flow from remote sources to sinks that interpret the value.\"},");
    out.raw("\"defaultConfiguration\":{\"enabled\":true,\"level\":\"");
    out.raw(if security { "error" } else { "note" });
    out.raw("\"},\"helpUri\":\"https://codeql.github.com/codeql-query-help/");
    out.raw(lang);
    out.raw("/");
    rule_id(out, n);
    out.raw("/\",\"help\":{\"text\":\"# ");
    out.raw(title);
    out.raw("\\n\\nValidate or escape the value before use.\",\"markdown\":\"# ");
    out.raw(title);
    out.raw("\\n\\nValidate or escape the value before use.\"},\"properties\":{\"tags\":[");
    if security {
        out.raw("\"security\",\"external/cwe/cwe-");
        out.raw(cwe);
        out.raw("\"");
    } else {
        out.raw("\"maintainability\",\"useless-code\"");
    }
    out.raw("],\"description\":\"");
    out.raw(title);
    out.raw("\",\"id\":\"");
    rule_id(out, n);
    out.raw("\",\"kind\":\"path-problem\",\"precision\":\"high\",\"problem.severity\":\"");
    out.raw(if security { "error" } else { "recommendation" });
    if security {
        out.raw("\",\"security-severity\":\"");
        out.raw(severity);
    }
    out.raw("\"}}");
}

fn rule_id(out: &mut Out, n: usize) {
    let (lang, _) = LANGUAGES[n % LANGUAGES.len()];
    let (problem, ..) = PROBLEMS[(n / LANGUAGES.len()) % PROBLEMS.len()];
    let variant = n / (LANGUAGES.len() * PROBLEMS.len());
    out.raw(lang);
    out.raw("/");
    out.raw(problem);
    if variant > 0 {
        out.raw("-");
        out.uint(variant as u64);
    }
}

fn write_result(out: &mut Out, rng: &mut ChaCha8Rng, rules: usize) {
    let rule = rng.random_range(0..rules as u64) as usize;
    let (_, ext) = LANGUAGES[rule % LANGUAGES.len()];
    let (_, title, _, severity) = PROBLEMS[(rule / LANGUAGES.len()) % PROBLEMS.len()];
    let dir = DIRECTORIES[rng.random_range(0..DIRECTORIES.len() as u32) as usize];
    let file = FILES[rng.random_range(0..FILES.len() as u32) as usize];
    let copy = rng.random_range(0..40u32);
    let identifier = IDENTIFIERS[rng.random_range(0..IDENTIFIERS.len() as u32) as usize];
    let snippet = SNIPPETS[rng.random_range(0..SNIPPETS.len() as u32) as usize];
    let line = rng.random_range(1..4000u32);
    let start_column = rng.random_range(1..60u32);
    let end_column = start_column + rng.random_range(3..80u32);

    out.raw("{\"ruleId\":\"");
    rule_id(out, rule);
    out.raw("\",\"ruleIndex\":");
    out.uint(rule as u64);
    out.raw(",\"level\":\"");
    out.raw(if severity.is_empty() { "note" } else { "error" });
    out.raw("\",\"message\":{\"text\":\"");
    out.raw(title);
    out.raw(" depends on a [user-provided value](1) read from `");
    out.string_body(identifier);
    out.raw("`.\"},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":\"");
    out.raw(dir);
    out.raw("/");
    out.raw(file);
    if copy > 0 {
        out.raw("_");
        out.uint(u64::from(copy));
    }
    out.raw(".");
    out.raw(ext);
    out.raw("\",\"uriBaseId\":\"%SRCROOT%\"},\"region\":{\"startLine\":");
    out.uint(u64::from(line));
    out.raw(",\"startColumn\":");
    out.uint(u64::from(start_column));
    out.raw(",\"endColumn\":");
    out.uint(u64::from(end_column));
    out.raw(",\"snippet\":{\"text\":\"");
    let (before, after) = snippet.split_once("%ID%").unwrap_or((snippet, ""));
    out.string_body(before);
    out.string_body(identifier);
    out.string_body(after);
    out.raw("\\n\"}}}}]");
    if rng.random_bool(0.5) {
        out.raw(",\"partialFingerprints\":{\"primaryLocationLineHash\":\"");
        out.hex(rng.random::<u64>());
        out.raw(":");
        out.uint(u64::from(rng.random_range(1..4u32)));
        out.raw("\",\"primaryLocationStartColumnFingerprint\":\"");
        out.uint(u64::from(start_column.saturating_sub(1)));
        out.raw("\"}");
    }
    out.raw("}");
}

/// A byte buffer with the few writers JSON generation needs.
struct Out(Vec<u8>);

impl Out {
    /// Appends text that is already valid inside JSON (no quotes, backslashes or controls).
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn uint(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&digits[at..]);
    }

    /// Sixteen lowercase hex digits.
    fn hex(&mut self, value: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for shift in (0..16).rev() {
            self.0.push(HEX[((value >> (shift * 4)) & 0xf) as usize]);
        }
    }

    /// Appends `text` escaped as the inside of a JSON string.
    fn string_body(&mut self, text: &str) {
        for &byte in text.as_bytes() {
            match byte {
                b'"' => self.0.extend_from_slice(b"\\\""),
                b'\\' => self.0.extend_from_slice(b"\\\\"),
                b'\n' => self.0.extend_from_slice(b"\\n"),
                b'\t' => self.0.extend_from_slice(b"\\t"),
                0..=0x1f => {
                    self.0.extend_from_slice(b"\\u00");
                    self.hex_byte(byte);
                }
                _ => self.0.push(byte),
            }
        }
    }

    fn hex_byte(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.push(HEX[usize::from(byte >> 4)]);
        self.0.push(HEX[usize::from(byte & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(generate_sarif(500, 2, 30, 0.2, 7), generate_sarif(500, 2, 30, 0.2, 7));
        assert_ne!(generate_sarif(500, 2, 30, 0.2, 7), generate_sarif(500, 2, 30, 0.2, 8));
    }

    #[test]
    fn integers_and_hex_are_written_in_full() {
        let mut out = Out(Vec::new());
        out.uint(0);
        out.raw(" ");
        out.uint(u64::MAX);
        out.raw(" ");
        out.hex(0xab);
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "0 18446744073709551615 00000000000000ab"
        );
    }
}
