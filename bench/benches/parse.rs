//! Parse + normalize + fingerprint throughput on generated reports: a CodeQL-like SARIF log
//! (200k results, 4 runs, 300 rules, 20 % duplicates, seed 7) and a Trivy image report (200k
//! vulnerabilities over 5 targets, 20 % repeated advisories, seed 7).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use muster_core::SourceName;
use muster_core::formats::{Format, ParseContext, parse_report};

const RESULTS: usize = 200_000;
const RUNS: usize = 4;
const RULES: usize = 300;
const DUPLICATES: f64 = 0.2;
const SEED: u64 = 7;

fn parse(c: &mut Criterion) {
    let bytes = muster_bench::generate_sarif(RESULTS, RUNS, RULES, DUPLICATES, SEED);
    let ctx = ParseContext::for_source(SourceName::parse("ci").expect("valid source name"));
    let check = parse_report(&bytes, Some(Format::Sarif), &ctx).expect("generated SARIF parses");
    assert_eq!(check.detection_count(), RESULTS);
    drop(check);
    eprintln!("report: {} bytes, {RESULTS} results", bytes.len());

    let throughputs = [
        ("sarif_parse_bytes", Throughput::Bytes(bytes.len() as u64)),
        ("sarif_parse_results", Throughput::Elements(RESULTS as u64)),
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
        group.bench_function("200k_results_4_runs_300_rules_20pct_dup", |b| {
            b.iter_with_large_drop(|| parse_report(black_box(&bytes), Some(Format::Sarif), &ctx).expect("parses"))
        });
        group.finish();
    }
}

const TRIVY_VULNERABILITIES: usize = 200_000;
const TRIVY_TARGETS: usize = 5;

fn parse_trivy(c: &mut Criterion) {
    let bytes = muster_bench::generate_trivy(TRIVY_VULNERABILITIES, TRIVY_TARGETS, DUPLICATES, SEED);
    let ctx = ParseContext::for_source(SourceName::parse("ci").expect("valid source name"));
    let check = parse_report(&bytes, Some(Format::Trivy), &ctx).expect("generated Trivy report parses");
    assert_eq!(check.detection_count(), TRIVY_VULNERABILITIES);
    drop(check);
    eprintln!("report: {} bytes, {TRIVY_VULNERABILITIES} vulnerabilities", bytes.len());

    let throughputs = [
        ("trivy_parse_bytes", Throughput::Bytes(bytes.len() as u64)),
        (
            "trivy_parse_results",
            Throughput::Elements(TRIVY_VULNERABILITIES as u64),
        ),
    ];
    for (name, throughput) in throughputs {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(10))
            .throughput(throughput);
        group.bench_function("200k_vulns_5_targets_20pct_repeated", |b| {
            b.iter_with_large_drop(|| parse_report(black_box(&bytes), Some(Format::Trivy), &ctx).expect("parses"))
        });
        group.finish();
    }
}

criterion_group!(benches, parse, parse_trivy);
criterion_main!(benches);
