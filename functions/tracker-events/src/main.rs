//! `muster-tracker-events`: `POST /trackers/github`, `POST /trackers/jira` (HTTP API): a ticket
//! closed or reopened in the tracker syncs the finding and ticket state. Secrets: the webhook
//! secrets `github` and `jira` under `MUSTER_TRACKER_SECRETS_PATH`.
//!
//! Wiring only: the pipeline and the secrets this function's environment names are read once per
//! cold start (`muster_aws::http::serve_http`), then API Gateway HTTP API events run through the
//! shared router's `Routes::trackers` part (`muster-http`) under lambda_http: the function links
//! no handler it does not serve.

use std::process::ExitCode;

use muster_aws::http::Routes;

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::http::serve_http(
        "muster-tracker-events",
        muster_aws::lambda::outbox_sinks,
        Routes::trackers(),
    )
    .await
}
