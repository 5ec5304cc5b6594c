//! `moto_server` for the AWS adapter tests: DynamoDB and SQS on 127.0.0.1, through the real SDK.
//!
//! CI starts one server and sets `MUSTER_MOTO_ENDPOINT`; otherwise the first test that asks
//! starts `moto_server` from PATH on a free port, once per test process, and the server stops
//! when the process ends. Without either, AWS tests print why and skip.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use muster_aws::{DynamoStore, QueueUrls};

/// A server this process started. Its shell wrapper holds our end of a pipe: when this process
/// exits, for whatever reason, the pipe closes and the wrapper kills the server, so no test run
/// leaves a server behind.
struct Started {
    endpoint: String,
    _child: Child,
    _stdin: ChildStdin,
}

static SERVER: OnceLock<Option<Started>> = OnceLock::new();
static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();

/// The moto endpoint (`http://127.0.0.1:PORT`), or `None` after saying why the test skips.
pub fn moto_endpoint() -> Option<String> {
    ENDPOINT
        .get_or_init(|| match std::env::var("MUSTER_MOTO_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
            _ => SERVER.get_or_init(start).as_ref().map(|s| s.endpoint.clone()),
        })
        .clone()
        .or_else(|| {
            eprintln!("skipped: moto_server not found (pip install 'moto[server]')");
            None
        })
}

/// The `moto_server` program: `MUSTER_MOTO_SERVER` (CI sets it), else the one on PATH.
fn moto_program() -> Option<std::path::PathBuf> {
    if let Some(program) = std::env::var_os("MUSTER_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return Some(program.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|program| program.is_file())
}

/// The first moto whose signature check keeps the request path as sent; 5.2.1 decodes it, so it
/// refuses correct signatures (boto3's too) of keys with reserved characters such as `+`.
const SIGNATURE_CHECKS_FROM: (u32, u32, u32) = (5, 2, 5);

/// The version of the moto that `program` runs, asked of the Python its `#!` line names; `None`
/// when that cannot be told (then the test runs and shows what moto says).
fn moto_version(program: &std::path::Path) -> Option<(u32, u32, u32)> {
    let script = std::fs::read(program).ok()?;
    let first_line = script.split(|b| *b == b'\n').next()?;
    let python = std::str::from_utf8(first_line.strip_prefix(b"#!")?).ok()?.trim();
    let output = Command::new(python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let mut parts = text.trim().split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

fn start() -> Option<Started> {
    spawn(&[])
}

/// Starts a `moto_server` of this process's own with `env` on a free port.
fn spawn(env: &[(&str, &str)]) -> Option<Started> {
    let program = moto_program()?;
    // Port 0 lets the OS pick; the listener is closed just before moto binds it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#""$2" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & server=$!; read -r _; kill "$server""#,
            "moto-wrapper",
        ])
        .arg(port.to_string())
        .arg(program)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh starts moto_server");
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            let _ = stdin.write_all(b"stop\n");
            panic!("moto_server did not listen on {address} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Started {
        endpoint: format!("http://{address}"),
        _child: child,
        _stdin: stdin,
    })
}

/// A `moto_server` that checks SigV4 signatures, as S3 does, for every request after the first
/// `3 + setup`: three create an IAM user with an access key allowed everything, and the next
/// `setup` are the caller's set-up (buckets, objects) with the S3 client, so that only the
/// requests under test are checked. Its SDK settings with that user's credentials, and the
/// credentials, or `None` after saying why the test skips. One server per test process: the
/// first caller's `setup` counts.
pub async fn signature_checking_moto(setup: usize) -> Option<(muster_aws::aws_config::SdkConfig, Credentials)> {
    static SERVER: OnceLock<Option<Started>> = OnceLock::new();
    if let Some(version) = moto_program().and_then(|program| moto_version(&program))
        && version < SIGNATURE_CHECKS_FROM
    {
        // .ci/run installs a newer one: there an old moto is a set-up error, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "moto {version:?} refuses correct S3 signatures; CI needs moto >= {SIGNATURE_CHECKS_FROM:?}"
        );
        let (major, minor, patch) = SIGNATURE_CHECKS_FROM;
        eprintln!(
            "skipped: moto {version:?} decodes request paths before checking S3 signatures: \
             pip install -U 'moto[server]>={major}.{minor}.{patch}', or set MUSTER_MOTO_SERVER"
        );
        return None;
    }
    let unchecked = (3 + setup).to_string();
    let Some(server) = SERVER.get_or_init(|| spawn(&[("INITIAL_NO_AUTH_ACTION_COUNT", &unchecked)])) else {
        eprintln!("skipped: moto_server not found (pip install 'moto[server]', or set MUSTER_MOTO_SERVER)");
        return None;
    };
    let endpoint = server.endpoint.clone();
    let user = unique_name("muster-signer");
    let iam = |form: String| {
        let endpoint = endpoint.clone();
        async move {
            // The first three requests are not checked; this header only names the service.
            let response = reqwest::Client::new()
                .post(&endpoint)
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("{form}&Version=2010-05-08"))
                .send()
                .await
                .expect("moto answers IAM");
            let status = response.status();
            let text = response.text().await.expect("IAM answer");
            assert!(status.is_success(), "{form}: {status} {text}");
            text
        }
    };
    let element = |xml: &str, name: &str| -> String {
        let start = xml.find(&format!("<{name}>")).expect(name) + name.len() + 2;
        let end = start + xml[start..].find(&format!("</{name}>")).expect(name);
        xml[start..end].to_owned()
    };
    iam(format!("Action=CreateUser&UserName={user}")).await;
    let key = iam(format!("Action=CreateAccessKey&UserName={user}")).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let encoded: String = policy
        .bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect();
    iam(format!(
        "Action=PutUserPolicy&UserName={user}&PolicyName=all&PolicyDocument={encoded}"
    ))
    .await;
    let credentials = Credentials::new(
        element(&key, "AccessKeyId"),
        element(&key, "SecretAccessKey"),
        None,
        None,
        "moto-iam",
    );
    let sdk = muster_aws::aws_config::SdkConfig::builder()
        .behavior_version(muster_aws::aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials.clone(),
        ))
        .build();
    Some((sdk, credentials))
}

/// The S3 client, for setting up and inspecting buckets around the code under test (which signs
/// its own S3 requests); path-style addressing for a custom endpoint.
pub fn s3_client(sdk: &muster_aws::aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A name no other test (in this process or another run against the same server) uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "muster-tests")
}

/// SDK settings for moto, as `aws_config::defaults` would load them in Lambda.
pub async fn sdk_config(endpoint: &str) -> muster_aws::aws_config::SdkConfig {
    muster_aws::aws_config::defaults(muster_aws::aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .load()
        .await
}

/// A DynamoDB client for moto: endpoint, us-east-1, dummy static credentials.
pub fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An SQS client for moto.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A store over a fresh table of its own, or `None` when moto is unavailable.
pub async fn dynamo_store() -> Option<DynamoStore> {
    let client = dynamo_client(&moto_endpoint()?);
    let table = unique_name("muster");
    DynamoStore::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table} on moto: {e}"));
    Some(DynamoStore::new(client, table))
}

/// Three fresh queues (triage, ticket, notify) and a client to read them, or `None` when moto
/// is unavailable.
pub async fn sqs_queues() -> Option<(aws_sdk_sqs::Client, QueueUrls)> {
    let client = sqs_client(&moto_endpoint()?);
    let mut urls = Vec::new();
    for stage in ["triage", "ticket", "notify"] {
        urls.push(create_queue(&client, unique_name(&format!("muster-{stage}")), None).await);
    }
    Some((client, stage_urls(urls)))
}

/// Three fresh queues (triage, ticket, notify), each with a fresh dead-letter queue that takes
/// a message after `max_receives` receives, as the template sets them up; the client, the
/// queues and the DLQs, or `None` when moto is unavailable.
pub async fn sqs_queues_with_dlqs(
    prefix: &str,
    max_receives: u32,
) -> Option<(aws_sdk_sqs::Client, QueueUrls, QueueUrls)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = sqs_client(&moto_endpoint()?);
    let mut urls = Vec::new();
    let mut dlqs = Vec::new();
    for stage in ["triage", "ticket", "notify"] {
        let dlq = create_queue(&client, unique_name(&format!("{prefix}-{stage}-dlq")), None).await;
        let arn = client
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("moto answers GetQueueAttributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("moto names the DLQ's ARN");
        let redrive = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{max_receives}"}}"#);
        let name = unique_name(&format!("{prefix}-{stage}"));
        urls.push(create_queue(&client, name, Some(redrive)).await);
        dlqs.push(dlq);
    }
    Some((client, stage_urls(urls), stage_urls(dlqs)))
}

/// Creates one queue on moto, with a redrive policy when given; its URL.
async fn create_queue(client: &aws_sdk_sqs::Client, name: String, redrive: Option<String>) -> String {
    let mut request = client.create_queue().queue_name(&name);
    if let Some(redrive) = redrive {
        request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive);
    }
    let created = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create queue {name} on moto: {e:?}"));
    created.queue_url().expect("moto returns the queue URL").to_owned()
}

/// Triage, ticket and notify URLs, in that order.
fn stage_urls(urls: Vec<String>) -> QueueUrls {
    let [triage, ticket, notify] = <[String; 3]>::try_from(urls).expect("three queues");
    QueueUrls { triage, ticket, notify }
}
