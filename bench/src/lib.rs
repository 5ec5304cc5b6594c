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

/// Packages of one ecosystem: the Trivy result they sit in and how they are named.
struct Ecosystem {
    /// `Class`, `Type` and `Target` of the result (`%IMAGE%` is the image reference).
    class: &'static str,
    kind: &'static str,
    target: &'static str,
    packages: &'static [&'static str],
    /// PURL type and namespace prefix.
    purl: &'static str,
    /// `DataSource` of the advisories: id, name, URL.
    source: (&'static str, &'static str, &'static str),
}

const OS_PACKAGES: Ecosystem = Ecosystem {
    class: "os-pkgs",
    kind: "debian",
    target: "%IMAGE% (debian 12.8)",
    packages: &[
        "libssl3",
        "openssl",
        "libcurl4",
        "curl",
        "libc6",
        "libc-bin",
        "zlib1g",
        "libxml2",
        "perl-base",
        "libsystemd0",
        "libudev1",
        "ncurses-base",
        "libtinfo6",
        "tar",
        "libgnutls30",
        "libkrb5-3",
        "libgssapi-krb5-2",
        "libexpat1",
        "libsqlite3-0",
        "util-linux",
        "bash",
        "coreutils",
        "apt",
        "dpkg",
        "libgcrypt20",
        "login",
        "passwd",
        "libpam-modules",
        "libcap2",
        "gpgv",
    ],
    purl: "deb/debian/",
    source: (
        "debian",
        "Debian Security Tracker",
        "https://salsa.debian.org/security-tracker-team/security-tracker",
    ),
};

const LANGUAGE_PACKAGES: [Ecosystem; 4] = [
    Ecosystem {
        class: "lang-pkgs",
        kind: "npm",
        target: "app/package-lock.json",
        packages: &[
            "lodash",
            "minimist",
            "express",
            "axios",
            "semver",
            "jsonwebtoken",
            "tough-cookie",
            "word-wrap",
            "json5",
            "follow-redirects",
            "qs",
            "path-to-regexp",
            "ws",
            "braces",
            "micromatch",
            "cookie",
            "body-parser",
            "undici",
            "ip",
            "tar",
        ],
        purl: "npm/",
        source: (
            "ghsa",
            "GitHub Security Advisory npm",
            "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Anpm",
        ),
    },
    Ecosystem {
        class: "lang-pkgs",
        kind: "gobinary",
        target: "usr/local/bin/server",
        packages: &[
            "golang.org/x/net",
            "google.golang.org/grpc",
            "stdlib",
            "golang.org/x/crypto",
            "github.com/docker/docker",
            "github.com/opencontainers/runc",
            "google.golang.org/protobuf",
            "github.com/golang-jwt/jwt/v4",
            "golang.org/x/text",
            "github.com/go-jose/go-jose/v3",
        ],
        purl: "golang/",
        source: ("govulndb", "The Go Vulnerability Database", "https://pkg.go.dev/vuln/"),
    },
    Ecosystem {
        class: "lang-pkgs",
        kind: "jar",
        target: "app/lib/service.jar",
        packages: &[
            "com.fasterxml.jackson.core:jackson-databind",
            "org.apache.logging.log4j:log4j-core",
            "org.springframework:spring-web",
            "org.yaml:snakeyaml",
            "io.netty:netty-codec-http",
            "org.apache.commons:commons-compress",
            "com.google.guava:guava",
            "ch.qos.logback:logback-core",
            "org.apache.tomcat.embed:tomcat-embed-core",
            "com.nimbusds:nimbus-jose-jwt",
        ],
        purl: "maven/",
        source: (
            "ghsa",
            "GitHub Security Advisory Maven",
            "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven",
        ),
    },
    Ecosystem {
        class: "lang-pkgs",
        kind: "python-pkg",
        target: "Python",
        packages: &[
            "requests",
            "urllib3",
            "jinja2",
            "certifi",
            "cryptography",
            "setuptools",
            "idna",
            "werkzeug",
            "pip",
            "aiohttp",
        ],
        purl: "pypi/",
        source: (
            "ghsa",
            "GitHub Security Advisory pip",
            "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip",
        ),
    },
];

/// CVSS v3.1 base vectors (without the `CVSS:3.1/` prefix) with their scores, and a matching
/// v2 vector and score.
const CVSS_RATINGS: [(&str, &str, &str, &str); 8] = [
    (
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "9.8",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "7.5",
    ),
    (
        "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "7.5",
        "AV:N/AC:L/Au:N/C:N/I:N/A:P",
        "5",
    ),
    (
        "AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        "8.8",
        "AV:N/AC:M/Au:N/C:P/I:P/A:P",
        "6.8",
    ),
    (
        "AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
        "6.1",
        "AV:N/AC:M/Au:N/C:N/I:P/A:N",
        "4.3",
    ),
    (
        "AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        "7.8",
        "AV:L/AC:L/Au:N/C:C/I:C/A:C",
        "7.2",
    ),
    (
        "AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "5.9",
        "AV:N/AC:M/Au:N/C:P/I:N/A:N",
        "4.3",
    ),
    (
        "AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:N/A:H",
        "4.7",
        "AV:L/AC:M/Au:N/C:N/I:N/A:C",
        "4.7",
    ),
    (
        "AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
        "3.1",
        "AV:N/AC:H/Au:N/C:P/I:N/A:N",
        "2.6",
    ),
];

const WEAKNESSES: [(&str, &str, &str); 10] = [
    (
        "CWE-787",
        "out-of-bounds write",
        "a crafted input can write past the end of a heap buffer",
    ),
    (
        "CWE-125",
        "out-of-bounds read",
        "reading a malformed record can read past the end of a buffer",
    ),
    (
        "CWE-400",
        "uncontrolled resource consumption",
        "a small request can make the process allocate unbounded memory",
    ),
    (
        "CWE-79",
        "cross-site scripting",
        "user input is reflected into HTML without escaping",
    ),
    (
        "CWE-22",
        "path traversal",
        "an archive entry named \"../../etc/passwd\" is extracted outside the target directory",
    ),
    (
        "CWE-416",
        "use after free",
        "closing a handle twice frees memory that is still in use",
    ),
    (
        "CWE-190",
        "integer overflow",
        "a length field close to 2^32 wraps around before the allocation",
    ),
    (
        "CWE-295",
        "improper certificate validation",
        "the host name of a proxy certificate is not checked",
    ),
    (
        "CWE-1321",
        "prototype pollution",
        "merging an object with a \"__proto__\" key modifies Object.prototype",
    ),
    (
        "CWE-835",
        "infinite loop",
        "a certain sequence of bytes makes the parser loop forever",
    ),
];

const REFERENCE_HOSTS: [&str; 8] = [
    "https://access.redhat.com/security/cve/",
    "https://nvd.nist.gov/vuln/detail/",
    "https://security-tracker.debian.org/tracker/",
    "https://ubuntu.com/security/",
    "https://www.cve.org/CVERecord?id=",
    "https://security.netapp.com/advisory/ntap-20240201-0004/?cve=",
    "https://lists.debian.org/debian-lts-announce/2024/02/msg00005.html#",
    "https://github.com/advisories?query=",
];

/// Generates a Trivy schema-2 JSON report of one container image, indented as Trivy writes it.
///
/// `vulnerabilities` entries are spread over `targets` results: about half in the image's OS
/// packages (`os-pkgs`, Debian), the rest over language targets (npm, Go binary, jar, Python).
/// Each entry has Trivy's full field set: package ids and PURL, layer, data source, title,
/// a description with JSON escapes, vendor severities, CVSS by NVD and Red Hat (GHSA for some
/// language advisories), references and dates; a third of OS advisories carry a Debian
/// `VendorIDs` entry. A `duplicate_ratio` share of entries repeats an advisory already reported
/// in the same result, for a sibling package (`libssl3`/`openssl`) or the same one again.
pub fn generate_trivy(vulnerabilities: usize, targets: usize, duplicate_ratio: f64, seed: u64) -> Vec<u8> {
    let targets = targets.clamp(1, 1 + LANGUAGE_PACKAGES.len());
    let duplicate_ratio = duplicate_ratio.clamp(0.0, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut json = Pretty::new(vulnerabilities * 3000 + 8192);
    let image = format!(
        "registry.example.com/acme/api:1.{}.{}",
        seed % 50,
        rng.random_range(0..20u32)
    );

    json.open('{');
    json.key("SchemaVersion");
    json.raw("2");
    json.key("Trivy");
    json.open('{');
    json.key("Version");
    json.string("0.58.1");
    json.close('}');
    json.key("ReportID");
    json.string(&format!("0193f1a2-{:04x}-7000-8000-{:012x}", seed % 0x10000, seed));
    json.key("CreatedAt");
    json.string("2025-01-14T09:21:07.512833104Z");
    json.key("ArtifactName");
    json.string(&image);
    json.key("ArtifactType");
    json.string("container_image");
    write_image_metadata(&mut json, &mut rng, &image);
    json.key("Results");
    json.open('[');
    // Half the entries go to the OS packages, the rest split over the language targets.
    let os_count = if targets == 1 {
        vulnerabilities
    } else {
        vulnerabilities / 2
    };
    for target in 0..targets {
        let (ecosystem, count) = if target == 0 {
            (&OS_PACKAGES, os_count)
        } else {
            let rest = vulnerabilities - os_count;
            let languages = targets - 1;
            let index = target - 1;
            (
                &LANGUAGE_PACKAGES[index],
                rest / languages + usize::from(index < rest % languages),
            )
        };
        json.element();
        write_trivy_result(&mut json, &mut rng, ecosystem, &image, count, duplicate_ratio, seed);
    }
    json.close(']');
    json.close('}');
    json.out.raw("\n");
    json.out.0
}

fn write_image_metadata(json: &mut Pretty, rng: &mut ChaCha8Rng, image: &str) {
    let (repository, _) = image.rsplit_once(':').unwrap_or((image, ""));
    json.key("Metadata");
    json.open('{');
    json.key("Size");
    json.raw(&rng.random_range(50_000_000..400_000_000u64).to_string());
    json.key("OS");
    json.open('{');
    json.key("Family");
    json.string("debian");
    json.key("Name");
    json.string("12.8");
    json.close('}');
    json.key("ImageID");
    json.string(&format!("sha256:{}", hex64(rng)));
    json.key("DiffIDs");
    json.open('[');
    for _ in 0..4 {
        json.element();
        json.string(&format!("sha256:{}", hex64(rng)));
    }
    json.close(']');
    json.key("RepoTags");
    json.open('[');
    json.element();
    json.string(image);
    json.close(']');
    json.key("RepoDigests");
    json.open('[');
    json.element();
    json.string(&format!("{repository}@sha256:{}", hex64(rng)));
    json.close(']');
    json.key("ImageConfig");
    json.open('{');
    json.key("architecture");
    json.string("amd64");
    json.key("created");
    json.string("2025-01-10T17:02:44.118207421Z");
    json.key("os");
    json.string("linux");
    json.key("config");
    json.open('{');
    json.key("Cmd");
    json.open('[');
    json.element();
    json.string("/usr/local/bin/server");
    json.close(']');
    json.key("Env");
    json.open('[');
    json.element();
    json.string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    json.close(']');
    json.close('}');
    json.close('}');
    json.close('}');
}

fn write_trivy_result(
    json: &mut Pretty,
    rng: &mut ChaCha8Rng,
    ecosystem: &Ecosystem,
    image: &str,
    count: usize,
    duplicate_ratio: f64,
    seed: u64,
) {
    json.open('{');
    json.key("Target");
    json.string(&ecosystem.target.replace("%IMAGE%", image));
    json.key("Class");
    json.string(ecosystem.class);
    json.key("Type");
    json.string(ecosystem.kind);
    json.key("Vulnerabilities");
    json.open('[');
    // (advisory number, package index) of every entry so far.
    let mut seen: Vec<(u64, usize)> = Vec::with_capacity(count);
    for _ in 0..count {
        let (advisory, package) = if !seen.is_empty() && rng.random_bool(duplicate_ratio) {
            let (advisory, package) = seen[rng.random_range(0..seen.len() as u64) as usize];
            if rng.random_bool(0.6) {
                // A sibling binary package built from the same source.
                (advisory, (package + 1) % ecosystem.packages.len())
            } else {
                (advisory, package)
            }
        } else {
            (
                rng.random_range(0..4_000_000u64),
                rng.random_range(0..ecosystem.packages.len() as u32) as usize,
            )
        };
        seen.push((advisory, package));
        json.element();
        write_trivy_vulnerability(json, ecosystem, advisory, package, seed);
    }
    json.close(']');
    json.close('}');
}

/// One vulnerability entry; everything about it follows from (advisory, package) so a repeated
/// advisory repeats its text exactly, as Trivy's database does.
fn write_trivy_vulnerability(json: &mut Pretty, ecosystem: &Ecosystem, advisory: u64, package: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ advisory.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let name = ecosystem.packages[package];
    let os = ecosystem.class == "os-pkgs";
    let year = 2018 + advisory % 7;
    let number = 1000 + advisory / 7 % 50_000;
    // One language advisory in five has no CVE: Trivy then reports the GHSA id.
    let ghsa = !os && ecosystem.source.0 == "ghsa" && rng.random_bool(0.2);
    let id = if ghsa {
        let mut id = String::from("GHSA");
        for _ in 0..3 {
            id.push('-');
            for _ in 0..4 {
                id.push(char::from(b"23456789cfghjmpqrvwx"[rng.random_range(0..20u32) as usize]));
            }
        }
        id
    } else {
        format!("CVE-{year}-{number}")
    };
    let (vector, score, v2_vector, v2_score) = CVSS_RATINGS[rng.random_range(0..CVSS_RATINGS.len() as u32) as usize];
    let (cwe, weakness, detail) = WEAKNESSES[rng.random_range(0..WEAKNESSES.len() as u32) as usize];
    let severity = match score.parse::<f32>().unwrap_or(0.0) {
        s if s >= 9.0 => "CRITICAL",
        s if s >= 7.0 => "HIGH",
        s if s >= 4.0 => "MEDIUM",
        _ => "LOW",
    };
    let major = rng.random_range(0..4u32);
    let minor = rng.random_range(0..30u32);
    let patch = rng.random_range(0..20u32);
    let installed = if os {
        format!(
            "{major}.{minor}.{patch}-{}+deb12u{}",
            rng.random_range(1..4u32),
            rng.random_range(1..6u32)
        )
    } else {
        format!("{major}.{minor}.{patch}")
    };
    let fixed = rng.random_bool(0.8).then(|| {
        if os {
            format!(
                "{major}.{minor}.{patch}-{}+deb12u{}",
                rng.random_range(4..6u32),
                rng.random_range(6..9u32)
            )
        } else {
            format!("{major}.{minor}.{}", patch + 1)
        }
    });
    let ratings_by_redhat = rng.random_bool(0.5);
    let ratings_by_nvd = ghsa || rng.random_bool(0.85);
    let vendor_id = (os && rng.random_bool(0.33)).then(|| format!("DLA-{}-1", 3000 + advisory % 1000));

    json.open('{');
    json.key("VulnerabilityID");
    json.string(&id);
    if let Some(vendor_id) = &vendor_id {
        json.key("VendorIDs");
        json.open('[');
        json.element();
        json.string(vendor_id);
        json.close(']');
    }
    json.key("PkgID");
    json.string(&format!("{name}@{installed}"));
    json.key("PkgName");
    json.string(name);
    json.key("PkgIdentifier");
    json.open('{');
    json.key("PURL");
    json.string(&format!(
        "pkg:{}{}@{installed}{}",
        ecosystem.purl,
        name.replace(':', "/"),
        if os { "?arch=amd64&distro=debian-12.8" } else { "" }
    ));
    json.key("UID");
    json.string(&format!("{:016x}", rng.random::<u64>()));
    json.close('}');
    json.key("InstalledVersion");
    json.string(&installed);
    if let Some(fixed) = &fixed {
        json.key("FixedVersion");
        json.string(fixed);
    }
    json.key("Status");
    json.string(if fixed.is_some() { "fixed" } else { "affected" });
    json.key("Layer");
    json.open('{');
    json.key("Digest");
    json.string(&format!("sha256:{}", hex64(&mut rng)));
    json.key("DiffID");
    json.string(&format!("sha256:{}", hex64(&mut rng)));
    json.close('}');
    json.key("SeveritySource");
    json.string(if os { "debian" } else { "ghsa" });
    json.key("PrimaryURL");
    json.string(&format!("https://avd.aquasec.com/nvd/{}", id.to_ascii_lowercase()));
    json.key("DataSource");
    json.open('{');
    json.key("ID");
    json.string(ecosystem.source.0);
    json.key("Name");
    json.string(ecosystem.source.1);
    json.key("URL");
    json.string(ecosystem.source.2);
    json.close('}');
    json.key("Title");
    json.string(&format!(
        "{name}: {weakness} in {}",
        ["parser", "decoder", "request handler", "archive reader"][(advisory % 4) as usize]
    ));
    json.key("Description");
    json.string(&format!(
        "A flaw was found in {name}. In versions before {major}.{minor}.{} {detail}. \
         An attacker who can send \"specially crafted\" data to an application using {name} \
         could cause a denial of service or, in some configurations, execute code.\n\n\
         Note: versions <{major}.{minor} & configurations with `strict` mode enabled are affected too.",
        patch + 1
    ));
    json.key("Severity");
    json.string(severity);
    json.key("CweIDs");
    json.open('[');
    json.element();
    json.string(cwe);
    json.close(']');
    json.key("VendorSeverity");
    json.open('{');
    let level = match severity {
        "CRITICAL" => "4",
        "HIGH" => "3",
        "MEDIUM" => "2",
        _ => "1",
    };
    for vendor in ["amazon", "debian", "nvd", "redhat", "ubuntu"] {
        json.key(vendor);
        json.raw(level);
    }
    json.close('}');
    json.key("CVSS");
    json.open('{');
    if ghsa {
        json.key("ghsa");
        json.open('{');
        json.key("V3Vector");
        json.string(&format!("CVSS:3.1/{vector}"));
        json.key("V3Score");
        json.raw(score);
        json.close('}');
    }
    if ratings_by_nvd {
        json.key("nvd");
        json.open('{');
        json.key("V2Vector");
        json.string(v2_vector);
        json.key("V3Vector");
        json.string(&format!("CVSS:3.1/{vector}"));
        json.key("V2Score");
        json.raw(v2_score);
        json.key("V3Score");
        json.raw(score);
        json.close('}');
    }
    if ratings_by_redhat {
        json.key("redhat");
        json.open('{');
        json.key("V3Vector");
        json.string(&format!("CVSS:3.1/{vector}"));
        json.key("V3Score");
        json.raw(score);
        json.close('}');
    }
    json.close('}');
    json.key("References");
    json.open('[');
    for host in REFERENCE_HOSTS
        .iter()
        .take(rng.random_range(4..=REFERENCE_HOSTS.len() as u32) as usize)
    {
        json.element();
        json.string(&format!("{host}{id}"));
    }
    json.close(']');
    json.key("PublishedDate");
    json.string(&format!(
        "{year}-{:02}-{:02}T15:15:{:02}.113Z",
        1 + advisory % 12,
        1 + advisory % 28,
        advisory % 60
    ));
    json.key("LastModifiedDate");
    json.string(&format!(
        "{}-{:02}-{:02}T20:35:{:02}.827Z",
        year + 1,
        1 + advisory % 12,
        1 + advisory % 28,
        advisory % 60
    ));
    json.close('}');
}

fn hex64(rng: &mut ChaCha8Rng) -> String {
    let mut out = Out(Vec::with_capacity(64));
    for _ in 0..4 {
        out.hex(rng.random::<u64>());
    }
    String::from_utf8(out.0).unwrap_or_default()
}

/// JSON indented by two spaces per level, the way Go's `json.MarshalIndent(v, "", "  ")`
/// (and so Trivy) writes it, including Go's `\u003c`/`\u003e`/`\u0026` escapes.
struct Pretty {
    out: Out,
    /// Per open container: has it an element yet?
    filled: Vec<bool>,
}

impl Pretty {
    fn new(capacity: usize) -> Self {
        Self {
            out: Out(Vec::with_capacity(capacity)),
            filled: Vec::new(),
        }
    }

    fn open(&mut self, bracket: char) {
        self.out.0.push(bracket as u8);
        self.filled.push(false);
    }

    fn close(&mut self, bracket: char) {
        if self.filled.pop() == Some(true) {
            self.newline();
        }
        self.out.0.push(bracket as u8);
    }

    /// Starts the next element of the innermost container.
    fn element(&mut self) {
        if let Some(filled) = self.filled.last_mut() {
            if *filled {
                self.out.0.push(b',');
            }
            *filled = true;
        }
        self.newline();
    }

    fn key(&mut self, key: &str) {
        self.element();
        self.string(key);
        self.out.raw(": ");
    }

    fn newline(&mut self) {
        self.out.0.push(b'\n');
        self.out.0.resize(self.out.0.len() + 2 * self.filled.len(), b' ');
    }

    fn raw(&mut self, text: &str) {
        self.out.raw(text);
    }

    fn string(&mut self, text: &str) {
        self.out.0.push(b'"');
        let mut rest = text;
        while let Some(at) = rest.find(['<', '>', '&']) {
            self.out.string_body(&rest[..at]);
            self.out.raw(match rest.as_bytes()[at] {
                b'<' => "\\u003c",
                b'>' => "\\u003e",
                _ => "\\u0026",
            });
            rest = &rest[at + 1..];
        }
        self.out.string_body(rest);
        self.out.0.push(b'"');
    }
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
    fn same_seed_same_trivy_report() {
        assert_eq!(generate_trivy(300, 5, 0.2, 7), generate_trivy(300, 5, 0.2, 7));
        assert_ne!(generate_trivy(300, 5, 0.2, 7), generate_trivy(300, 5, 0.2, 8));
    }

    #[test]
    fn pretty_writer_indents_like_go() {
        let mut json = Pretty::new(64);
        json.open('{');
        json.key("a");
        json.open('[');
        json.element();
        json.string("x<y");
        json.close(']');
        json.key("b");
        json.open('{');
        json.close('}');
        json.close('}');
        assert_eq!(
            String::from_utf8(json.out.0).unwrap(),
            "{\n  \"a\": [\n    \"x\\u003cy\"\n  ],\n  \"b\": {}\n}"
        );
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
