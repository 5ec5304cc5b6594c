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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn start() -> Option<Started> {
    if !on_path("moto_server") {
        return None;
    }
    // Port 0 lets the OS pick; the listener is closed just before moto binds it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#"moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & server=$!; read -r _; kill "$server""#,
            "moto-wrapper",
        ])
        .arg(port.to_string())
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
