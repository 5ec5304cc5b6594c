//! `muster-notify`: the SQS notify queue's consumer — tells the owner what happened to the group's ticket.
//!
//! Wiring only: `muster_aws::lambda::serve_notify` builds its one stage once per cold start and
//! reports failed records of each batch as `batchItemFailures`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::lambda::serve_notify().await
}
