//! `muster-sweep`: the hourly SLA sweep (EventBridge Scheduler, input `{"job":"sweep"}`).
//!
//! Wiring only: the pipeline is built once per cold start; each invocation runs
//! `muster_fn_sweep::run_sweep`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use muster_aws::lambda::{chat_sinks, deployment_from_env};
use muster_fn_sweep::run_sweep;

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    // The sweep and the digests post to chat and never file tickets (the ticket stage does), so
    // this function builds Slack only and links no tracker client.
    let pipeline = match deployment_from_env(chat_sinks).await {
        Ok(deployment) => deployment.pipeline,
        Err(error) => return fail("cannot start", &error),
    };
    // Boxed and type-erased: nested inline, the runtime's future overflows the compiler's
    // layout recursion limit.
    let run: Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + '_>> =
        Box::pin(lambda_runtime::run(lambda_runtime::service_fn(|event| {
            run_sweep(&pipeline, event)
        })));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail("runtime stopped", &*error),
    }
}

fn fail(what: &str, error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(error = %error, "muster-sweep {what}");
    ExitCode::FAILURE
}
