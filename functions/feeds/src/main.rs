//! `muster-feeds`: the daily threat-intel job (EventBridge Scheduler, input `{"job":"feeds"}`).
//!
//! Wiring only: the store, queue and HTTP client are built once per cold start; each
//! invocation runs `muster_fn_feeds::run_feeds`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use muster_aws::lambda::base_from_env;
use muster_feeds::{FeedClient, FeedSettings};
use muster_fn_feeds::{FeedUrls, run_feeds};

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    let (base, client) = match (base_from_env(), FeedClient::new(FeedSettings::default())) {
        (Ok(base), Ok(client)) => (base, client),
        (Err(error), _) => return fail("cannot start", &error),
        (_, Err(error)) => return fail("cannot build the HTTP client", &error),
    };
    let urls = FeedUrls::from_env();
    // Boxed and type-erased: nested inline, the runtime's future overflows the compiler's
    // layout recursion limit.
    let run: Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + '_>> =
        Box::pin(lambda_runtime::run(lambda_runtime::service_fn(|event| {
            run_feeds(&base.store, &base.queue, &client, &urls, event)
        })));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail("runtime stopped", &*error),
    }
}

fn fail(what: &str, error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(error = %error, "muster-feeds {what}");
    ExitCode::FAILURE
}
