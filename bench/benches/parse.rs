//! Parse + normalize + fingerprint throughput on generated reports: a CodeQL-like SARIF log
//! (200k results, 4 runs, 300 rules, 20 % duplicates, seed 7) and a Trivy image report (200k
//! vulnerabilities over 5 targets, 20 % repeated advisories, seed 7).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use muster_core::SourceName;
use muster_core::formats::{Format, ParseContext, parse_report};

/// The allocator `muster` itself runs with, so the figures are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RESULTS: usize = 200_000;
const RUNS: usize = 4;
const RULES: usize = 300;
const DUPLICATES: f64 = 0.2;
const SEED: u64 = 7;

fn parse(c: &mut Criterion) {
    let bytes = muster_bench::generate_sarif(RESULTS, RUNS, RULES, DUPLICATES, SEED);
    bench_format(
        c,
        Format::Sarif,
        "200k_results_4_runs_300_rules_20pct_dup",
        &bytes,
        RESULTS,
    );
}

const TRIVY_VULNERABILITIES: usize = 200_000;
const TRIVY_TARGETS: usize = 5;

fn parse_trivy(c: &mut Criterion) {
    let bytes = muster_bench::generate_trivy(TRIVY_VULNERABILITIES, TRIVY_TARGETS, DUPLICATES, SEED);
    bench_format(
        c,
        Format::Trivy,
        "200k_vulns_5_targets_20pct_repeated",
        &bytes,
        TRIVY_VULNERABILITIES,
    );
}

/// Times `parse_report` on `bytes` twice over, as `<format>_parse_bytes` and
/// `<format>_parse_results` groups, after checking it yields `results` detections.
fn bench_format(c: &mut Criterion, format: Format, id: &str, bytes: &[u8], results: usize) {
    let ctx = ParseContext::for_source(SourceName::parse("ci").expect("valid source name"));
    let check = parse_report(bytes, Some(format), &ctx).expect("generated report parses");
    assert_eq!(check.detection_count(), results);
    drop(check);
    eprintln!("{format} report: {} bytes, {results} results", bytes.len());

    let throughputs = [
        (format!("{format}_parse_bytes"), Throughput::Bytes(bytes.len() as u64)),
        (format!("{format}_parse_results"), Throughput::Elements(results as u64)),
    ];
    for (name, throughput) in throughputs {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(10))
            .throughput(throughput);
        // The report is dropped outside the timed region: this measures parsing, not freeing.
        group.bench_function(id, |b| {
            b.iter_with_large_drop(|| parse_report(black_box(bytes), Some(format), &ctx).expect("parses"))
        });
        group.finish();
    }
}

criterion_group!(benches, parse, parse_trivy);
criterion_main!(benches);
