//! muster's core: the finding model, report parsers, fingerprints, the risk policy, the ports
//! and the pipeline services. It never talks to a network, a cloud or a disk itself — adapters
//! behind the ports do.

pub mod assets;
pub mod config;
pub mod digest_render;
pub mod fingerprint;
pub mod formats;
pub mod import;
pub mod intel;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod ownership;
pub mod policy;
pub mod ports;
pub mod retry;
pub mod services;
pub mod ssvc;
pub mod strict_json;
pub mod timestamp;

pub use config::Config;
pub use formats::{Format, ParseContext, ParseError, Report, parse_report};
pub use messages::Message;
pub use model::*;
pub use services::PipelineError;
pub use services::ingest::{IngestRequest, IngestSummary};
