//! The stored form's JSON codec: encoding findings as the stores save them and decoding them as
//! the ticket stage's group reads do. 16,000 findings shaped like a triaged CodeQL result
//! (~1.5 KB each, five instants, evidence and an SSVC decision), as a 20k-result SARIF ingest
//! stores them.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use muster_core::model::Finding;

/// The allocator `muster` itself runs with, so the figures are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FINDINGS: usize = 16_000;

/// One stored body; `{fp}`, `{line}`, `{nanos}` vary per finding.
const TEMPLATE: &str = r#"{"detection":{"fingerprint":"{fp}","kind":"code","rule_id":"java/xss-2","title":"Client-side cross-site scripting depends on a [user-provided value](1) read from `token`.","description":"Client-side cross-site scripting","severity":"medium","location":{"type":"source","path":"src/handlers/cache_9.java","line":{line}},"help_uri":"https://codeql.github.com/codeql-query-help/java/java/xss-2/"},"tool":{"name":"CodeQL","version":"2.20.1"},"asset":"github.com/acme/service-0","seen_by":["local|CodeQL|github.com/acme/service-0"],"status":"open","first_seen":"2026-11-29T05:31:46.{nanos}Z","last_seen":"2026-11-29T05:31:46.{nanos}Z","triage":{"risk":{"score":32,"tier":"P3","evidence":[{"factor":"severity","value":"medium","contribution":32,"source":"CodeQL"},{"factor":"criticality","value":"asset not in the assets file","contribution":0,"source":"assets"}],"ssvc":{"exposed":true,"kev":false,"automatable":true,"total_impact":true,"assumed":["publicly exposed (asset not in the assets file)","automatable and total impact (no CVSS vector)"],"remediation":"days14"}},"owner":"security-triage","group":"security-triage/github.com/acme/service-0/rule:java/xss-2","clock_start":"2026-11-29T05:31:46.{nanos}Z","due_at":"2027-02-27T05:31:46.{nanos}Z"},"timeline":[{"at":"2026-11-29T05:31:46.{nanos}Z","event":"sla_started","detail":"P3 (score 32), due 2027-02-27, owner security-triage (default team: no rule matched)"}]}"#;

fn bodies() -> Vec<String> {
    (0..FINDINGS)
        .map(|i| {
            TEMPLATE
                .replace(
                    "{fp}",
                    &format!(
                        "{:032x}",
                        (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
                    ),
                )
                .replace("{line}", &(i % 5_000 + 1).to_string())
                .replace("{nanos}", &format!("{:09}", (i as u64 * 7_919_993) % 1_000_000_000))
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let bodies = bodies();
    let findings: Vec<Finding> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).expect("a valid body"))
        .collect();
    let mut group = c.benchmark_group("store_codec");
    group.throughput(Throughput::Elements(FINDINGS as u64));
    group.bench_function("decode_16k_findings", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(serde_json::from_str::<Finding>(body).expect("a valid body"));
            }
        })
    });
    group.bench_function("encode_16k_findings", |b| {
        b.iter(|| {
            for finding in &findings {
                black_box(serde_json::to_string(finding).expect("encodable"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
