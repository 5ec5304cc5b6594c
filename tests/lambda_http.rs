//! The HTTP Lambda functions (ingest, tracker-events, slack-actions) in-process against moto:
//! secrets from SSM Parameter Store (`muster_aws::secrets`), then API Gateway HTTP API (v2)
//! events run through the service the binaries run — `lambda_http::Adapter` over
//! `muster_aws::http::router` — down to DynamoDB and SQS.

use std::collections::HashMap;
use std::io::Write as _;

use aws_sdk_ssm::types::ParameterType;
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service as _};
use lambda_runtime::{Context, LambdaEvent};
use muster_aws::aws_config::SdkConfig;
use muster_aws::http::Routes;
use muster_aws::lambda::{AwsPipeline, EnvError, all_sinks, deployment};
use muster_aws::secrets::{Secrets, SecretsError};
use muster_aws::{DynamoStore, QueueUrls};
use muster_core::Config;
use muster_core::outbox::OutboxTickets;
use muster_core::ports::{FindingFilter, FindingStore};
use muster_http::Secret;
use muster_http::signature::{sign, sign_github};
use muster_slack::SlackOrOutbox;
use muster_tests::{TWO_FINDINGS_SARIF, moto};
use muster_trackers::TrackerRouter;
use serde_json::{Value, json};

/// The webhook secret stored in SSM; no response or error may contain it.
const WEBHOOK_SECRET: &str = "whsec-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const TRACKER_SECRET: &str = "trksec-77aa88bb99cc";
const SLACK_SIGNING: &str = "slksec-5e5e5e5e5e5e";

/// SDK settings for moto, as `aws_config::defaults` would load them in Lambda.
async fn sdk(endpoint: &str) -> SdkConfig {
    moto::sdk_config(endpoint).await
}

async fn put_secure(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    put(ssm, name, value, ParameterType::SecureString).await;
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot put {name} on moto: {e:?}"));
}

/// An environment made of a map, as `deployment` takes it.
fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    move |name| map.get(name).cloned()
}

fn config(toml: &str) -> Config {
    Config::from_toml(toml, "test.toml").expect("valid test config")
}

#[tokio::test]
async fn secrets_come_from_paths_and_params_and_the_environment_wins() {
    let Some(endpoint) = moto::moto_endpoint() else { return };
    let ssm = aws_sdk_ssm::Client::new(&sdk(&endpoint).await);
    let root = format!("/{}", moto::unique_name("muster"));
    // More than one GetParametersByPath page (moto, like SSM, returns 10 at most).
    for i in 0..12 {
        put_secure(&ssm, &format!("{root}/webhooks/source{i}"), &format!("secret-{i}")).await;
    }
    put_secure(&ssm, &format!("{root}/webhooks/ci"), WEBHOOK_SECRET).await;
    put_secure(&ssm, &format!("{root}/webhooks/nested/deeper"), "not read").await;
    put_secure(&ssm, &format!("{root}/trackers/github"), TRACKER_SECRET).await;
    put_secure(&ssm, &format!("{root}/jira/token"), "jira-token-from-ssm").await;
    put_secure(&ssm, &format!("{root}/github/token"), "github-token-from-ssm").await;
    put_secure(&ssm, &format!("{root}/slack/bot-token"), "xoxb-from-ssm").await;
    put_secure(&ssm, &format!("{root}/slack/signing-secret"), SLACK_SIGNING).await;
    put_secure(&ssm, &format!("{root}/read-token"), "read-token-from-ssm").await;
    let config = config(
        "[http]\nread_token_env = \"READ_TOKEN\"\n\
         [trackers.jira]\nurl = \"https://example.atlassian.net\"\nemail = \"bot@example.com\"\ntoken_env = \"JIRA_TOKEN\"\n\
         [trackers.github]\ntoken_env = \"GH_TOKEN\"\n\
         [slack]\ntoken_env = \"SLACK_TOKEN\"\n",
    );
    let env = vars(&[
        ("MUSTER_WEBHOOK_SECRETS_PATH", format!("{root}/webhooks/")),
        ("MUSTER_TRACKER_SECRETS_PATH", format!("{root}/trackers")),
        ("MUSTER_JIRA_TOKEN_PARAM", format!("{root}/jira/token")),
        ("MUSTER_GITHUB_TOKEN_PARAM", format!("{root}/github/token")),
        ("MUSTER_SLACK_BOT_TOKEN_PARAM", format!("{root}/slack/bot-token")),
        (
            "MUSTER_SLACK_SIGNING_SECRET_PARAM",
            format!("{root}/slack/signing-secret"),
        ),
        ("MUSTER_READ_TOKEN_PARAM", format!("{root}/read-token")),
        // The variable muster.toml names wins over the parameter.
        ("GH_TOKEN", "github-token-from-env".into()),
    ]);
    let secrets = Secrets::load(&ssm, &config, &env).await.expect("secrets resolve");
    assert_eq!(secrets.webhook("ci").as_deref(), Some(WEBHOOK_SECRET));
    assert_eq!(
        secrets.webhook("source11").as_deref(),
        Some("secret-11"),
        "second page read"
    );
    assert_eq!(secrets.webhook("deeper"), None, "only the path's own parameters");
    assert_eq!(secrets.tracker_webhook("github").as_deref(), Some(TRACKER_SECRET));
    assert_eq!(secrets.tracker_webhook("jira"), None);
    assert_eq!(secrets.variable("JIRA_TOKEN").as_deref(), Some("jira-token-from-ssm"));
    assert_eq!(secrets.variable("GH_TOKEN").as_deref(), Some("github-token-from-env"));
    assert_eq!(secrets.variable("SLACK_TOKEN").as_deref(), Some("xoxb-from-ssm"));
    assert_eq!(secrets.slack_signing_secret().as_deref(), Some(SLACK_SIGNING));
    assert_eq!(secrets.variable("READ_TOKEN").as_deref(), Some("read-token-from-ssm"));
    let shown = format!("{secrets:?}");
    assert!(
        !shown.contains(WEBHOOK_SECRET) && !shown.contains("jira-token-from-ssm"),
        "{shown}"
    );

    // No `_PARAM` for a configured tracker and no variable: nothing read, no error (the
    // function that needs the token has the parameter; the others leave the tracker out).
    let secrets = Secrets::load(&ssm, &config, &vars(&[])).await.expect("nothing to read");
    assert_eq!(secrets.variable("JIRA_TOKEN"), None);
    // An unconfigured integration's parameter is never read, even when it does not exist.
    let env = vars(&[("MUSTER_JIRA_TOKEN_PARAM", format!("{root}/missing"))]);
    Secrets::load(&ssm, &Config::default(), &env)
        .await
        .expect("jira is not configured, so its parameter is not read");
}

#[tokio::test]
async fn secret_errors_name_the_parameter_and_never_the_value() {
    let Some(endpoint) = moto::moto_endpoint() else { return };
    let ssm = aws_sdk_ssm::Client::new(&sdk(&endpoint).await);
    let root = format!("/{}", moto::unique_name("muster"));
    let jira = config(
        "[trackers.jira]\nurl = \"https://example.atlassian.net\"\nemail = \"bot@example.com\"\ntoken_env = \"JIRA_TOKEN\"\n",
    );

    let missing = format!("{root}/jira/token");
    let error = Secrets::load(&ssm, &jira, &vars(&[("MUSTER_JIRA_TOKEN_PARAM", missing.clone())]))
        .await
        .unwrap_err();
    assert!(matches!(error, SecretsError::NotFound { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(
        shown.contains(&missing) && shown.contains("MUSTER_JIRA_TOKEN_PARAM"),
        "{shown}"
    );

    // A plain String where a secret belongs is refused, without echoing it.
    put(&ssm, &missing, "jira-token-in-clear", ParameterType::String).await;
    let error = Secrets::load(&ssm, &jira, &vars(&[("MUSTER_JIRA_TOKEN_PARAM", missing.clone())]))
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("SecureString") && shown.contains(&missing), "{shown}");
    assert!(!shown.contains("jira-token-in-clear"), "{shown}");

    let error = Secrets::load(
        &ssm,
        &jira,
        &vars(&[("MUSTER_JIRA_TOKEN_PARAM", "muster/jira/token".into())]),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("starting with \"/\""), "{error}");

    // A source muster.toml protects with a secret that is neither in the environment nor in
    // SSM stops the function at start-up, saying where it looked.
    let Some((table, urls)) = table_and_queues(&endpoint).await else {
        return;
    };
    put_secure(&ssm, &format!("{root}/webhooks/other"), WEBHOOK_SECRET).await;
    let env = vars(&[
        ("MUSTER_TABLE", table),
        ("MUSTER_TRIAGE_QUEUE_URL", urls.triage),
        ("MUSTER_TICKET_QUEUE_URL", urls.ticket),
        ("MUSTER_NOTIFY_QUEUE_URL", urls.notify),
        (
            "MUSTER_CONFIG_TOML",
            "[[sources]]\nname = \"ci\"\nsecret_env = \"MUSTER_SECRET_CI\"\n".into(),
        ),
        ("MUSTER_WEBHOOK_SECRETS_PATH", format!("{root}/webhooks")),
    ]);
    let deployed = deployment(&env, &sdk(&endpoint).await, all_sinks)
        .await
        .expect("pipeline builds");
    let Err(error) = muster_aws::http::router(deployed, Routes::all()) else {
        panic!("a protected source without its secret must not start")
    };
    assert!(matches!(error, EnvError::MissingSecret(_)), "{error:?}");
    let shown = error.to_string();
    assert!(
        shown.contains("MUSTER_SECRET_CI") && shown.contains(&format!("{root}/webhooks/ci")),
        "{shown}"
    );
    assert!(!shown.contains(WEBHOOK_SECRET), "{shown}");
}

/// A fresh table and three fresh queues on moto.
async fn table_and_queues(endpoint: &str) -> Option<(String, QueueUrls)> {
    let table = moto::unique_name("muster");
    DynamoStore::create_table(&moto::dynamo_client(endpoint), &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table} on moto: {e}"));
    let (_, urls) = moto::sqs_queues().await?;
    Some((table, urls))
}

/// The three functions' service over one deployment on moto: source `ci` (secret in SSM, not
/// named in muster.toml: stored secrets are always enforced), the GitHub tracker webhook, Slack.
struct Function {
    service: Adapter<'static, axum::response::Response, axum::Router>,
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    urls: QueueUrls,
    /// The environment and SDK settings, for the other functions of the same deployment.
    env: Vec<(&'static str, String)>,
    sdk: SdkConfig,
    /// The upload bucket (`MUSTER_UPLOAD_BUCKET`).
    bucket: String,
}

/// The pipeline the tests' deployment builds (`all_sinks`).
type Served = AwsPipeline<TrackerRouter<OutboxTickets<DynamoStore>>, SlackOrOutbox<DynamoStore>>;

/// A deployment serving the whole API, so one service answers every route.
async fn function() -> Option<Function> {
    function_serving(Routes::all()).await
}

/// A deployment serving `routes`, as one of the three function binaries does.
async fn function_serving(routes: Routes<Served>) -> Option<Function> {
    let endpoint = moto::moto_endpoint()?;
    let sdk = sdk(&endpoint).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let root = format!("/{}", moto::unique_name("muster"));
    put_secure(&ssm, &format!("{root}/webhooks/ci"), WEBHOOK_SECRET).await;
    put_secure(&ssm, &format!("{root}/trackers/github"), TRACKER_SECRET).await;
    put_secure(&ssm, &format!("{root}/slack/bot-token"), "xoxb-test").await;
    put_secure(&ssm, &format!("{root}/slack/signing-secret"), SLACK_SIGNING).await;
    let (table, urls) = table_and_queues(&endpoint).await?;
    let bucket = moto::unique_name("muster-uploads");
    moto::s3_client(&sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {bucket} on moto: {e:?}"));
    let env = vec![
        ("MUSTER_UPLOAD_BUCKET", bucket.clone()),
        ("MUSTER_TABLE", table.clone()),
        ("MUSTER_TRIAGE_QUEUE_URL", urls.triage.clone()),
        ("MUSTER_TICKET_QUEUE_URL", urls.ticket.clone()),
        ("MUSTER_NOTIFY_QUEUE_URL", urls.notify.clone()),
        (
            "MUSTER_CONFIG_TOML",
            "[[sources]]\nname = \"ci\"\nformat = \"sarif\"\n\n[slack]\ntoken_env = \"SLACK_BOT_TOKEN\"\napi_url = \"http://127.0.0.1:9/api\"\n"
                .into(),
        ),
        ("MUSTER_WEBHOOK_SECRETS_PATH", format!("{root}/webhooks")),
        ("MUSTER_TRACKER_SECRETS_PATH", format!("{root}/trackers")),
        ("MUSTER_SLACK_BOT_TOKEN_PARAM", format!("{root}/slack/bot-token")),
        ("MUSTER_SLACK_SIGNING_SECRET_PARAM", format!("{root}/slack/signing-secret")),
    ];
    let deployed = deployment(&vars(&env), &sdk, all_sinks)
        .await
        .expect("the deployment builds");
    let router = muster_aws::http::router(deployed, routes).expect("the router starts");
    Some(Function {
        service: Adapter::from(router),
        store: DynamoStore::new(moto::dynamo_client(&endpoint), table),
        sqs: moto::sqs_client(&endpoint),
        urls,
        env,
        sdk,
        bucket,
    })
}

/// The fixture event with this path, headers and body (base64 when `binary`).
fn event(path: &str, headers: &[(&str, String)], body: &[u8], binary: bool) -> LambdaEvent<LambdaRequest> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/apigw_http_v2_webhook.json"
    ))
    .expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let route = match path.rsplit_once('/') {
        Some(("/webhooks", source)) => {
            event["pathParameters"] = json!({ "source": source });
            "POST /webhooks/{source}".to_owned()
        }
        _ => {
            event["pathParameters"] = json!({});
            format!("POST {path}")
        }
    };
    event["rawPath"] = json!(path);
    event["routeKey"] = json!(route);
    event["requestContext"]["routeKey"] = json!(route);
    event["requestContext"]["http"]["path"] = json!(path);
    for (name, value) in headers {
        event["headers"][name.to_ascii_lowercase()] = json!(value);
    }
    if binary {
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        event["isBase64Encoded"] = json!(true);
    } else {
        event["body"] = json!(std::str::from_utf8(body).expect("text body"));
    }
    let request: LambdaRequest = serde_json::from_value(event).expect("an API Gateway HTTP API v2 event");
    assert!(matches!(request, LambdaRequest::ApiGatewayV2(_)));
    LambdaEvent::new(request, Context::default())
}

/// Runs one event through the function; the response as API Gateway receives it, with the body
/// parsed as JSON.
async fn invoke(function: &mut Function, event: LambdaEvent<LambdaRequest>) -> (u16, Value, Value) {
    let response = function.service.call(event).await.expect("the service answers");
    let response = serde_json::to_value(&response).expect("the response serializes");
    let status = u16::try_from(response["statusCode"].as_u64().expect("statusCode")).expect("status");
    assert_eq!(response["isBase64Encoded"], false, "{response}");
    let body = serde_json::from_str(response["body"].as_str().unwrap_or("null")).expect("a JSON body");
    (status, body, response)
}

fn signed_headers(wire: &[u8]) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    vec![
        ("X-Muster-Timestamp", now.to_string()),
        ("X-Muster-Signature", sign(&Secret::new(WEBHOOK_SECRET), now, wire)),
    ]
}

async fn queued(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes from moto");
    attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_signed_webhook_event_lands_in_dynamodb_and_queues_triage() {
    let Some(mut function) = function().await else { return };
    let (status, body, response) = invoke(
        &mut function,
        event(
            "/webhooks/ci",
            &signed_headers(TWO_FINDINGS_SARIF.as_bytes()),
            TWO_FINDINGS_SARIF.as_bytes(),
            false,
        ),
    )
    .await;
    assert_eq!(status, 202, "{response}");
    assert_eq!(body["received"], 2, "{body}");
    assert_eq!(body["new"], 2, "{body}");
    assert!(
        response["headers"]["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/json")),
        "{response}"
    );
    let findings = function
        .store
        .list_findings(&FindingFilter::default())
        .await
        .expect("findings from moto");
    assert_eq!(findings.len(), 2);
    assert!(queued(&function.sqs, &function.urls.triage).await > 0, "triage queued");
}

#[tokio::test]
async fn a_gzip_body_base64_encoded_by_api_gateway_is_ingested() {
    let Some(mut function) = function().await else { return };
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(TWO_FINDINGS_SARIF.as_bytes()).expect("gzip");
    let wire = gzip.finish().expect("gzip");
    let mut headers = signed_headers(&wire);
    headers.push(("Content-Encoding", "gzip".into()));
    let (status, body, response) = invoke(&mut function, event("/webhooks/ci", &headers, &wire, true)).await;
    assert_eq!(status, 202, "{response}");
    assert_eq!(body["new"], 2, "{body}");
    let findings = function
        .store
        .list_findings(&FindingFilter::default())
        .await
        .expect("findings from moto");
    assert_eq!(findings.len(), 2);
}

#[tokio::test]
async fn a_bad_signature_is_a_401_json_error_and_stores_nothing() {
    let Some(mut function) = function().await else { return };
    let now = chrono::Utc::now().timestamp();
    let headers = [
        ("X-Muster-Timestamp", now.to_string()),
        (
            "X-Muster-Signature",
            sign(&Secret::new("not the secret"), now, TWO_FINDINGS_SARIF.as_bytes()),
        ),
    ];
    let (status, body, response) = invoke(
        &mut function,
        event("/webhooks/ci", &headers, TWO_FINDINGS_SARIF.as_bytes(), false),
    )
    .await;
    assert_eq!(status, 401, "{response}");
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    assert!(!response.to_string().contains(WEBHOOK_SECRET));
    // Unsigned: the secret stored in SSM is enforced though muster.toml names none.
    let (status, body, _) = invoke(
        &mut function,
        event("/webhooks/ci", &[], TWO_FINDINGS_SARIF.as_bytes(), false),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "missing_signature", "{body}");
    let findings = function
        .store
        .list_findings(&FindingFilter::default())
        .await
        .expect("findings from moto");
    assert!(findings.is_empty());
    assert_eq!(queued(&function.sqs, &function.urls.triage).await, 0);
}

#[tokio::test]
async fn tracker_and_slack_routes_verify_with_their_ssm_secrets() {
    let Some(mut function) = function().await else { return };
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let headers = [
        ("X-GitHub-Event", "ping".to_owned()),
        ("X-Hub-Signature-256", sign_github(&Secret::new(TRACKER_SECRET), ping)),
    ];
    let (status, body, _) = invoke(&mut function, event("/trackers/github", &headers, ping, false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ignored", "{body}");
    let headers = [
        ("X-GitHub-Event", "ping".to_owned()),
        ("X-Hub-Signature-256", sign_github(&Secret::new("wrong"), ping)),
    ];
    let (status, body, _) = invoke(&mut function, event("/trackers/github", &headers, ping, false)).await;
    assert_eq!(status, 401, "{body}");
    // No Jira secret stored: that endpoint is off.
    let (status, body, _) = invoke(&mut function, event("/trackers/jira", &[], b"{}", false)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "tracker_not_configured", "{body}");

    // Slack: the signing secret from its parameter is loaded, so an unsigned click is refused
    // (without it the route would answer 404 slack_not_configured).
    let form = b"payload=%7B%7D";
    let headers = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let (status, body, _) = invoke(&mut function, event("/slack/actions", &headers, form, false)).await;
    assert_eq!(status, 401, "{body}");
    let now = chrono::Utc::now().timestamp();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ("X-Slack-Request-Timestamp", now.to_string()),
        (
            "X-Slack-Signature",
            muster_slack::verify::sign_request(SLACK_SIGNING.as_bytes(), now, form),
        ),
    ];
    let (status, body, _) = invoke(&mut function, event("/slack/actions", &headers, form, false)).await;
    assert_eq!(status, 400, "signed, so past verification to parsing: {body}");
}

/// Each HTTP function serves only the paths template.yaml routes to it (and `GET /healthz`), so
/// it links only their handlers: the others answer the JSON 404 of an unknown path.
#[tokio::test]
async fn each_http_function_serves_only_its_own_routes() {
    let parts: [(&str, Routes<Served>, &[&str]); 3] = [
        (
            "ingest",
            Routes::reports(),
            &["/openapi.json", "/webhooks/{source}", "/uploads", "/gate"],
        ),
        ("tracker-events", Routes::trackers(), &["/trackers/{tracker}"]),
        ("slack-actions", Routes::slack(), &["/slack/actions"]),
    ];
    let mut served_somewhere = vec!["/healthz"];
    for (name, routes, own) in parts {
        let Some(mut function) = function_serving(routes).await else {
            return;
        };
        for (_, path) in muster_http::ROUTES {
            let uri = path.replace("{source}", "ci").replace("{tracker}", "github");
            // POST everywhere: a served GET route answers 405, an unserved path 404 not_found.
            let (status, body, _) = invoke(&mut function, event(&uri, &[], b"{}", false)).await;
            let unknown = status == 404 && body["error"]["code"] == "not_found";
            let expected = *path == "/healthz" || own.contains(path);
            assert_eq!(!unknown, expected, "{name}: POST {uri} answered {status} {body}");
        }
        served_somewhere.extend(own);
    }
    // Together the three functions serve the whole API.
    let mut all: Vec<&str> = muster_http::ROUTES.iter().map(|(_, path)| *path).collect();
    all.sort_unstable();
    served_somewhere.sort_unstable();
    assert_eq!(served_somewhere, all);
}

/// The ingest function signs upload URLs itself, without the S3 client in its binary: each URL
/// must be the one the S3 client's own presigner makes for the same request and instant — on AWS
/// (virtual-hosted; path style for a bucket with dots; the China partition's domain) and on a
/// custom endpoint (path style), with and without a session token, gzip or not.
#[tokio::test]
async fn presigned_puts_are_the_urls_the_s3_client_presigns() {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    use aws_sdk_s3::presigning::PresigningConfig;
    use muster_aws::presign::{PRESIGN_EXPIRY, PresignedPuts};
    use muster_http::uploads::ContentEncoding;

    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_850_100);
    let key = "uploads/ci-main/20261128T091500Z-00000000deadbeef.gz";
    let mut compared = 0;
    for (region, endpoint, bucket) in [
        ("eu-west-1", None, "muster-uploads-1a2b"),
        ("us-east-1", None, "muster.uploads.example"),
        ("cn-north-1", None, "muster-uploads"),
        ("us-east-1", Some("http://127.0.0.1:45999"), "muster-uploads-1a2b"),
    ] {
        for token in [None, Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=")] {
            let credentials = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                token.map(str::to_owned),
                None,
                "test",
            );
            let mut sdk = muster_aws::aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(SharedCredentialsProvider::new(credentials));
            if let Some(endpoint) = endpoint {
                sdk = sdk.endpoint_url(endpoint);
            }
            let sdk = sdk.build();
            let puts = PresignedPuts::new(&sdk, bucket).expect("region and credentials are set");
            for encoding in [ContentEncoding::Identity, ContentEncoding::Gzip] {
                let ours = puts.presign_at(key, encoding, at).await.expect("signed");
                let mut put = moto::s3_client(&sdk)
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json");
                if encoding == ContentEncoding::Gzip {
                    put = put.content_encoding("gzip");
                }
                let presigning = PresigningConfig::builder()
                    .start_time(at)
                    .expires_in(PRESIGN_EXPIRY)
                    .build()
                    .expect("presigning config");
                let theirs = put.presigned(presigning).await.expect("the S3 client presigns");
                let case = format!("{region} {endpoint:?} {bucket} token={} {encoding:?}", token.is_some());
                assert_eq!(ours.url, theirs.uri(), "{case}");
                assert_eq!(ours.method, theirs.method(), "{case}");
                let headers: std::collections::BTreeMap<String, String> =
                    theirs.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                assert_eq!(ours.headers, headers, "{case}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 16);
}

/// The S3 `ObjectCreated:Put` event the upload bucket sends the uploads function, for `key` (as
/// S3 sends it: URL-encoded).
fn s3_event(bucket: &str, key: &str, size: usize) -> aws_lambda_events::event::s3::S3Event {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/s3_object_created.json"))
        .expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let s3 = &mut event["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(bucket);
    s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
    s3["object"]["key"] = json!(key.replace(':', "%3A"));
    s3["object"]["size"] = json!(size);
    serde_json::from_value(event).expect("an S3 event")
}

/// `POST /uploads` for `bytes` gzip bytes of source `source`, signed with `secret`.
async fn ask_upload(function: &mut Function, source: &str, bytes: usize, secret: &str) -> (u16, Value) {
    let request = json!({ "source": source, "bytes": bytes, "content_encoding": "gzip" }).to_string();
    let now = chrono::Utc::now().timestamp();
    let headers = [
        ("X-Muster-Timestamp", now.to_string()),
        (
            "X-Muster-Signature",
            sign(&Secret::new(secret), now, request.as_bytes()),
        ),
        ("Content-Type", "application/json".into()),
    ];
    let (status, body, _) = invoke(function, event("/uploads", &headers, request.as_bytes(), false)).await;
    (status, body)
}

/// PUTs `body` where an upload target says, with its headers.
async fn put_upload(target: &Value, body: Vec<u8>) -> reqwest::StatusCode {
    let mut put = reqwest::Client::new().put(target["url"].as_str().expect("url"));
    for (name, value) in target["headers"].as_object().expect("headers") {
        put = put.header(name.as_str(), value.as_str().expect("header value"));
    }
    put.body(body).send().await.expect("moto answers the PUT").status()
}

async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.expect("listing");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_report_uploaded_through_a_presigned_put_is_ingested_from_its_s3_event_and_deleted() {
    use muster_aws::uploads::{S3Objects, UploadOutcome, handle_s3_event};
    let Some(mut function) = function().await else { return };
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(TWO_FINDINGS_SARIF.as_bytes()).expect("gzip");
    let wire = gzip.finish().expect("gzip");

    // Refusals first: unsigned, wrong secret, unknown source, too large, not the contract.
    let (status, body) = ask_upload(&mut function, "ci", wire.len(), "not the secret").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = ask_upload(&mut function, "nope", wire.len(), WEBHOOK_SECRET).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_source")),
        "{body}"
    );
    let (status, body) = ask_upload(&mut function, "ci", 64 << 20, WEBHOOK_SECRET).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );
    let (status, body, _) = invoke(&mut function, event("/uploads", &[], b"{\"source\":\"ci\"}", false)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_upload_request")),
        "{body}"
    );

    // WHEN the client asks for an upload, signed like a report, and PUTs the gzip report there
    let (status, target) = ask_upload(&mut function, "ci", wire.len(), WEBHOOK_SECRET).await;
    assert_eq!(status, 201, "{target}");
    let key = target["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("uploads/ci/") && key.ends_with(".gz"), "{key}");
    assert_eq!(target["method"], "PUT", "{target}");
    assert_eq!(target["headers"]["content-encoding"], "gzip", "{target}");
    assert!(!target.to_string().contains(WEBHOOK_SECRET));
    assert!(put_upload(&target, wire.clone()).await.is_success());
    let s3 = moto::s3_client(&function.sdk);
    assert_eq!(objects(&s3, &function.bucket).await, std::slice::from_ref(&key));
    assert!(
        function
            .store
            .list_findings(&FindingFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // AND S3 reports the object to the uploads function
    let uploads = deployment(&vars(&function.env), &function.sdk, all_sinks)
        .await
        .expect("deployment");
    let config = std::sync::Arc::clone(&uploads.pipeline.config);
    let objects_client = S3Objects::new(&function.sdk).expect("region and credentials");
    let event = s3_event(&function.bucket, &key, wire.len());
    let outcomes = handle_s3_event(&uploads.pipeline, &config, &objects_client, event.clone())
        .await
        .expect("ingested");

    // THEN the report is ingested like a webhook's, triage is queued and the object is gone
    let [UploadOutcome::Ingested(summary)] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert_eq!((summary.received, summary.new), (2, 2), "{summary:?}");
    let findings = function.store.list_findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(findings.len(), 2);
    assert!(queued(&function.sqs, &function.urls.triage).await > 0, "triage queued");
    assert!(objects(&s3, &function.bucket).await.is_empty(), "the upload is deleted");

    // AND a repeated delivery of the same event (S3 delivers at least once) does nothing
    let again = handle_s3_event(&uploads.pipeline, &config, &objects_client, event)
        .await
        .expect("repeat");
    assert_eq!(again, [UploadOutcome::AlreadyIngested]);

    // AND an upload that is not a report is rejected without a retry, stores nothing and is
    // left for the lifecycle rule
    let (_, target) = ask_upload(&mut function, "ci", 20, WEBHOOK_SECRET).await;
    let junk_key = target["key"].as_str().expect("key").to_owned();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(b"<html>not a report</html>").expect("gzip");
    assert!(put_upload(&target, gzip.finish().unwrap()).await.is_success());
    let outcomes = handle_s3_event(
        &uploads.pipeline,
        &config,
        &objects_client,
        s3_event(&function.bucket, &junk_key, 20),
    )
    .await
    .expect("a bad report is not a retryable failure");
    assert!(
        matches!(outcomes.as_slice(), [UploadOutcome::Rejected(why)] if why.contains("does not parse")),
        "{outcomes:?}"
    );
    assert_eq!(
        function
            .store
            .list_findings(&FindingFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(objects(&s3, &function.bucket).await, [junk_key]);
}
