//! Writes a seeded synthetic scanner report for load tests and benchmarks.
//!
//! ```text
//! gen-report sarif --results 200000 --runs 4 --rules 300 --dup 0.2 --seed 7 --out big.sarif
//! gen-report trivy --results 200000 --targets 5 --dup 0.2 --seed 7 --out big.trivy.json
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Generate seeded synthetic scanner reports", version)]
struct Cli {
    #[command(subcommand)]
    format: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A CodeQL-like SARIF 2.1.0 log.
    Sarif {
        /// Results over all runs.
        #[arg(long, default_value_t = 200_000)]
        results: usize,
        /// Runs (one repository each).
        #[arg(long, default_value_t = 4)]
        runs: usize,
        /// Rules declared by each run's driver.
        #[arg(long, default_value_t = 300)]
        rules: usize,
        /// Share of results that repeat an earlier result byte for byte (0.0–1.0).
        #[arg(long, default_value_t = 0.2)]
        dup: f64,
        /// Seed: the same arguments always give the same bytes.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A Trivy schema-2 JSON report of one container image (`trivy image --format json`).
    Trivy {
        /// Vulnerability entries over all results (targets).
        #[arg(long, default_value_t = 200_000)]
        results: usize,
        /// Results: the image's OS packages plus up to four language targets (1–5).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
        targets: u8,
        /// Share of entries that repeat an advisory of the same result (0.0–1.0).
        #[arg(long, default_value_t = 0.2)]
        dup: f64,
        /// Seed: the same arguments always give the same bytes.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let (bytes, results, out) = match Cli::parse().format {
        Command::Sarif {
            results,
            runs,
            rules,
            dup,
            seed,
            out,
        } => {
            if !valid_dup(dup) {
                return ExitCode::from(2);
            }
            (
                muster_bench::generate_sarif(results, runs, rules, dup, seed),
                results,
                out,
            )
        }
        Command::Trivy {
            results,
            targets,
            dup,
            seed,
            out,
        } => {
            if !valid_dup(dup) {
                return ExitCode::from(2);
            }
            (
                muster_bench::generate_trivy(results, usize::from(targets), dup, seed),
                results,
                out,
            )
        }
    };
    let written = match &out {
        Some(path) => std::fs::write(path, &bytes),
        None => std::io::stdout().lock().write_all(&bytes),
    };
    match written {
        Ok(()) => {
            if let Some(path) = out {
                eprintln!("wrote {} bytes ({results} results) to {}", bytes.len(), path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let target = out.map_or("standard output".to_owned(), |p| p.display().to_string());
            eprintln!("gen-report: cannot write {target}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn valid_dup(dup: f64) -> bool {
    let valid = (0.0..=1.0).contains(&dup);
    if !valid {
        eprintln!("gen-report: --dup must be between 0.0 and 1.0, got {dup}");
    }
    valid
}
