//! Parse throughput in thread CPU time, for a machine shared with other work: criterion's wall
//! clock counts the time this thread waits for a core, CPU time does not. Same input and call as
//! `benches/parse.rs`, with the same allocator as the `muster` binary.
//!
//! `cargo run --release -p muster-bench --example parse_cpu -- trivy 7` (format, runs)

use muster_core::SourceName;
use muster_core::formats::{Format, ParseContext, parse_report};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `CLOCK_THREAD_CPUTIME_ID` on Linux: user + system time of the calling thread.
fn thread_cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid, writable timespec for the duration of the call.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let format = args.next().unwrap_or_else(|| "trivy".into());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(7);
    let (format, bytes, results) = match format.as_str() {
        "sarif" => (
            Format::Sarif,
            muster_bench::generate_sarif(200_000, 4, 300, 0.2, 7),
            200_000,
        ),
        "trivy" => (Format::Trivy, muster_bench::generate_trivy(200_000, 5, 0.2, 7), 200_000),
        other => panic!("unknown format {other:?}: sarif or trivy"),
    };
    let ctx = ParseContext::for_source(SourceName::parse("ci").expect("valid source name"));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = thread_cpu_seconds();
        let report = parse_report(&bytes, Some(format), &ctx).expect("generated report parses");
        let seconds = thread_cpu_seconds() - started;
        assert_eq!(report.detection_count(), results);
        drop(report);
        times.push(seconds);
    }
    times.sort_by(f64::total_cmp);
    let rate = |seconds: f64| bytes.len() as f64 / seconds / 1e6;
    println!(
        "{format}: {} bytes, {results} results, {runs} runs: best {:.3} s ({:.0} MB/s), median {:.3} s ({:.0} MB/s) thread CPU",
        bytes.len(),
        times[0],
        rate(times[0]),
        times[runs / 2],
        rate(times[runs / 2]),
    );
}
