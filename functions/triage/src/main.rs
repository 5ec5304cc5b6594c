//! `muster-triage`: the SQS triage queue's consumer — scores, routes and groups findings; queues ticket syncs.
//!
//! Wiring only: `muster_aws::lambda::serve_triage` builds its one stage once per cold start and
//! reports failed records of each batch as `batchItemFailures`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::lambda::serve_triage().await
}
