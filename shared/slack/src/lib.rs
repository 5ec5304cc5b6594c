//! Slack adapter: the Web API chat sink, interactivity request verification and action
//! parsing, and the Block Kit layouts muster posts.
//!
//! Owns everything Slack-specific on the wire; it never logs the bot token or signing secret,
//! and never waits long inside a call (longer waits go back to the queue as `RateLimited`).

pub mod action;
pub mod blocks;
pub mod chat;
pub mod router;
pub mod verify;

pub use action::{SlackAction, SlackActionError, parse_action};
pub use blocks::{AlertView, alert_blocks, digest_blocks};
pub use chat::{PostedMessage, SLACK_API_URL, SlackChat, SlackSettings, SlackSetupError};
pub use router::{SlackOrOutbox, from_config};
pub use verify::{SlackSignatureError, sign_request, verify_request};
