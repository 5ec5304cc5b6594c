//! Writes a seeded synthetic scanner report for load tests and benchmarks.
//!
//! ```text
//! gen-report sarif --results 200000 --runs 4 --rules 300 --dup 0.2 --seed 7 --out big.sarif
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
}

fn main() -> ExitCode {
    let Command::Sarif {
        results,
        runs,
        rules,
        dup,
        seed,
        out,
    } = Cli::parse().format;
    if !(0.0..=1.0).contains(&dup) {
        eprintln!("gen-report: --dup must be between 0.0 and 1.0, got {dup}");
        return ExitCode::from(2);
    }
    let bytes = muster_bench::generate_sarif(results, runs, rules, dup, seed);
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
