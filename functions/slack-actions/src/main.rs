//! `muster-slack-actions`: `POST /slack/actions` (HTTP API): Slack button clicks (acknowledge, snooze,
//! request risk acceptance, not mine). Secrets: the signing secret and bot token named by
//! `MUSTER_SLACK_SIGNING_SECRET_PARAM` and `MUSTER_SLACK_BOT_TOKEN_PARAM`.
//!
//! Wiring only: the pipeline and the secrets this function's environment names are read once per
//! cold start (`muster_aws::http::serve_http`), then API Gateway HTTP API events run through the
//! shared router's `Routes::slack` part (`muster-http`) under lambda_http: the function links
//! no handler it does not serve.

use std::process::ExitCode;

use muster_aws::http::Routes;

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::http::serve_http("muster-slack-actions", muster_aws::lambda::chat_sinks, Routes::slack()).await
}
