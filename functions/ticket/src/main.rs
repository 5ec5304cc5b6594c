//! `muster-ticket`: the SQS ticket queue's consumer — creates, updates, closes and reopens the group's ticket; queues notifications.
//!
//! Wiring only: `muster_aws::lambda::serve_ticket` builds its one stage once per cold start and
//! reports failed records of each batch as `batchItemFailures`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    muster_aws::lambda::serve_ticket().await
}
