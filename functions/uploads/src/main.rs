//! `muster-uploads`: S3 `ObjectCreated` events of the upload bucket (`uploads/{source}/…`, put
//! there through the presigned PUTs of `POST /uploads`): ingest each object as its source's
//! report, then delete it.
//!
//! Wiring only: the pipeline and the S3 object client are built once per cold start; each event runs
//! through `muster_aws::uploads::handle_s3_event`. A retryable failure fails the invocation, so
//! Lambda retries it and then hands the event to the on-failure queue.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use muster_aws::lambda::{deployment_from_env, outbox_sinks};
use muster_aws::uploads::{S3Objects, handle_s3_event};

#[tokio::main]
async fn main() -> ExitCode {
    muster_runtime::init(muster_runtime::LogStyle::detect(), "info");
    // Ingest only queues triage: the sinks are never called, so this function links no
    // tracker or Slack client.
    let deployment = match deployment_from_env(outbox_sinks).await {
        Ok(deployment) => deployment,
        Err(error) => return fail("cannot start", &error),
    };
    let s3 = match S3Objects::new(&deployment.sdk) {
        Ok(s3) => s3,
        Err(error) => return fail("cannot start", &error),
    };
    let pipeline = &deployment.pipeline;
    let config = &*pipeline.config;
    let handler = |event: LambdaEvent<S3Event>| {
        let s3 = &s3;
        async move {
            handle_s3_event(pipeline, config, s3, event.payload)
                .await
                .map(|outcomes| outcomes.len())
                .map_err(lambda_runtime::Error::from)
        }
    };
    // Boxed and type-erased: nested inline, the runtime's future overflows the compiler's
    // layout recursion limit.
    let run: Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + '_>> =
        Box::pin(lambda_runtime::run(service_fn(handler)));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail("runtime stopped", &*error),
    }
}

fn fail(what: &str, error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(error = %error, "muster-uploads {what}");
    ExitCode::FAILURE
}
