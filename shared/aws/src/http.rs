//! Glue shared by the HTTP functions (ingest, tracker-events, slack-actions): the shared axum
//! router (`muster-http`) over the AWS pipeline, served under lambda_http (API Gateway HTTP API,
//! payload v2). The three binaries differ in the part of the API they serve ([`Routes`], as
//! template.yaml routes it), the secrets their environment names and the sinks they link (Slack
//! for slack-actions' message updates, the outbox for the others). A route whose secret a
//! function lacks answers 404 (or, for a webhook source, accepts unsigned reports only where
//! muster.toml asks for no secret).

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use muster_core::ports::{ChatSink, TicketSink};
pub use muster_http::Routes;
use muster_http::{HttpConfig, SecretSlot};

use crate::lambda::{AwsPipeline, Base, Deployment, EnvError, deployment_from_env};
use crate::secrets::{ENV_SLACK_SIGNING_SECRET_PARAM, ENV_TRACKER_SECRETS_PATH, ENV_WEBHOOK_SECRETS_PATH, Secrets};

/// Lambda's request payload cap: API Gateway refuses larger bodies before the function runs,
/// so reports above it go through uploads. The router's own limit (`http.body_limit_mib`) still
/// bounds what a gzip body may inflate to.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// The router one HTTP function serves: its part of the API over the deployment's pipeline, the
/// request secrets resolved once (environment first, then SSM), validated as `muster serve`
/// validates them.
pub fn router<T, N>(deployment: Deployment<T, N>, routes: Routes<AwsPipeline<T, N>>) -> Result<axum::Router, EnvError>
where
    T: TicketSink + 'static,
    N: ChatSink + 'static,
{
    let Deployment {
        pipeline,
        secrets,
        sdk,
        upload_bucket,
    } = deployment;
    let config = Arc::clone(&pipeline.config);
    let body_limit = config.http.body_limit_bytes();
    let http = HttpConfig::with_secrets(config, body_limit, |slot, variable| {
        let from_variable = variable.and_then(|v| secrets.variable(v));
        from_variable.or_else(|| match slot {
            SecretSlot::Source(name) => secrets.webhook(name),
            SecretSlot::Tracker(tracker) => secrets.tracker_webhook(tracker),
            SecretSlot::SlackSigning => secrets.slack_signing_secret(),
            // The read token comes from the environment only (MUSTER_CONFIG_TOML names it).
            SecretSlot::ReadToken => None,
        })
    })
    .map_err(|missing| {
        // Say where else the secret could have been, so the fix is obvious.
        let elsewhere = match &missing.slot {
            SecretSlot::SlackSigning => format!("or the SSM parameter {ENV_SLACK_SIGNING_SECRET_PARAM} names"),
            SecretSlot::ReadToken => "which the function's environment must set".to_owned(),
            SecretSlot::Tracker(tracker) => secrets.tracker_parameter(tracker).map_or_else(
                || format!("or SSM under {ENV_TRACKER_SECRETS_PATH} (not set)"),
                |p| format!("or the SSM SecureString {p} (not found)"),
            ),
            SecretSlot::Source(name) => secrets.webhook_parameter(name).map_or_else(
                || format!("or SSM under {ENV_WEBHOOK_SECRETS_PATH} (not set)"),
                |p| format!("or the SSM SecureString {p} (not found)"),
            ),
        };
        EnvError::MissingSecret(format!("{missing}, {elsewhere}"))
    })?;
    // Only the ingest function signs uploads (feature `presign`) and names the bucket.
    #[cfg(feature = "presign")]
    let http = match upload_bucket {
        Some(bucket) => {
            let puts =
                crate::presign::PresignedPuts::new(&sdk, &bucket).map_err(|e| EnvError::AwsSettings(e.to_string()))?;
            http.with_uploads(Arc::new(puts))
        }
        None => http,
    };
    #[cfg(not(feature = "presign"))]
    let _ = (sdk, upload_bucket);
    Ok(routes.serve(Arc::new(pipeline), http))
}

/// The whole life of an HTTP function after `muster_runtime::init`: pipeline (with the sinks
/// `sinks` picks, see `crate::lambda::outbox_sinks`) and secrets once per cold start, then every
/// API Gateway event through [`router`] with the function's `routes`. A configuration error is
/// logged and ends the process with a failure code instead of a panic.
pub async fn serve_http<T, N>(
    function: &str,
    sinks: impl FnOnce(&Base, &Secrets) -> Result<(T, N), EnvError>,
    routes: Routes<AwsPipeline<T, N>>,
) -> ExitCode
where
    T: TicketSink + 'static,
    N: ChatSink + 'static,
{
    let app = match deployment_from_env(sinks).await.and_then(|d| router(d, routes)) {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%function, error = %error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    // Boxed and type-erased, like the SQS functions' runtime future (layout recursion limit).
    let run: Pin<Box<dyn Future<Output = Result<(), lambda_http::Error>>>> = Box::pin(lambda_http::run(app));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%function, error = %error, "runtime stopped");
            ExitCode::FAILURE
        }
    }
}
