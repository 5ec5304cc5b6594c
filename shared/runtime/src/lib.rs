//! Start-up shared by every muster binary; call `init` first thing in `main`.
//!
//! Crates in this tree pull rustls with both `ring` and `aws-lc-rs`; with two providers compiled
//! in, rustls cannot choose and some clients panic at their first handshake. `init` installs
//! aws-lc-rs explicitly so that never happens. It must never print secrets: log filters default
//! to muster's own crates at `info`.

pub mod emf;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where logs go and in what shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    /// JSON lines on stdout, for CloudWatch (chosen automatically inside Lambda); metric events
    /// become Embedded Metric Format lines ([`emf`]).
    Json,
    /// Human-readable lines on stderr, so command output on stdout stays clean.
    Human,
}

impl LogStyle {
    /// JSON inside AWS Lambda, human elsewhere.
    pub fn detect() -> Self {
        if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            Self::Json
        } else {
            Self::Human
        }
    }
}

/// Installs the TLS crypto provider and the log subscriber. Safe to call more than once.
///
/// `default_filter` applies when `RUST_LOG` is unset (e.g. `"warn"` for a CLI, `"info"` for a
/// server).
pub fn init(style: LogStyle, default_filter: &str) {
    install_crypto_provider();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // A second init (tests, or a binary that calls it twice) keeps the first subscriber.
    match style {
        LogStyle::Json => {
            let is_metric = |m: &tracing::Metadata<'_>| m.target() == emf::METRICS_TARGET;
            // Metric events go out as EMF only (not twice), whatever RUST_LOG says.
            let logs = tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_writer(BoxMakeWriter::new(|| NeverFails(std::io::stdout())))
                .with_filter(filter)
                .with_filter(tracing_subscriber::filter::filter_fn(move |m| !is_metric(m)));
            let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "muster".to_owned());
            let metrics = emf::EmfLayer::new(BoxMakeWriter::new(|| NeverFails(std::io::stdout())), function)
                .with_filter(tracing_subscriber::filter::filter_fn(is_metric));
            let _ = tracing_subscriber::registry().with(logs).with(metrics).try_init();
        }
        LogStyle::Human => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(BoxMakeWriter::new(|| NeverFails(std::io::stderr())))
                .try_init();
        }
    }
}

/// A log destination whose failures are swallowed: a closed or full stderr (a supervisor that
/// went away, `| head`) must never take a request or the process down with it.
struct NeverFails<W>(W);

impl<W: std::io::Write> std::io::Write for NeverFails<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// Makes aws-lc-rs the process-wide rustls provider; a no-op when one is already installed.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first, which is just as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn log_writes_to_a_broken_pipe_are_swallowed() {
        use std::io::Write as _;
        let mut writer = NeverFails(Broken);
        assert_eq!(writer.write(b"line\n").unwrap(), 5);
        assert!(writer.flush().is_ok());
    }

    #[test]
    fn init_installs_a_crypto_provider_and_is_repeatable() {
        init(LogStyle::Human, "warn");
        init(LogStyle::Json, "warn");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
