//! `muster-ingest`: `POST /webhooks/{source}` (HTTP API): verify the source's HMAC signature,
//! parse, dedupe and diff the report, queue triage. Secrets: every SecureString under
//! `MUSTER_WEBHOOK_SECRETS_PATH`, one per source.
//!
//! Wiring only: the pipeline and the secrets this function's environment names are read once per
//! cold start (`muster_aws::http::serve_http`), then API Gateway HTTP API events run through the
//! shared router's `Routes::reports` part (`muster-http`) under lambda_http: the function links
//! no handler it does not serve.

use std::process::ExitCode;

use muster_aws::http::Routes;

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::http::serve_http("muster-ingest", muster_aws::lambda::outbox_sinks, Routes::reports()).await
}
