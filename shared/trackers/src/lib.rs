//! Ticket sinks for real trackers: Jira Cloud and GitHub Issues, and a router that sends each
//! ticket to its team's tracker or to the outbox.
//!
//! Adapters only: what a ticket says is decided in `muster-core`; these modules turn a
//! `TicketDraft` into vendor calls and vendor errors into `SinkError`. They never log tokens
//! and never sleep long inside a call (long rate limits go back to the queue).

pub mod adf;
pub mod github;
mod http;
pub mod jira;
pub mod router;

pub use github::{GitHubSettings, GitHubSink};
pub use http::search_label;
pub use jira::{JiraSettings, JiraSink};
pub use router::{TrackerRouter, from_config};

/// A sink could not be built from its settings; raised at start-up, before any ticket.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {what} '{value}': {why}")]
    Invalid { what: String, value: String, why: String },
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A configured tracker's token variable is unset: refuse to start rather than silently
    /// send that tracker's tickets to the outbox.
    #[error("trackers.{tracker} takes its token from ${variable}, which is not set")]
    MissingToken { tracker: &'static str, variable: String },
}

impl ConfigError {
    pub(crate) fn invalid(what: &str, value: &str, why: impl std::fmt::Display) -> Self {
        Self::Invalid {
            what: what.to_owned(),
            value: value.to_owned(),
            why: why.to_string(),
        }
    }
}
