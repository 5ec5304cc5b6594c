//! Contract harness: an in-memory stateful stub per vendor behind the vendor's validating
//! Prism proxy. Prism refuses (422) any request that breaks the vendor's API description and
//! flags any stub response that does; the stub keeps state so create → find → close → reopen
//! means something. Started once per test binary; Prism dies with the test process.

pub mod github;
pub mod jira;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Where `prepare.sh` put Prism and the prepped specs; `None` (after saying so) when the
/// mocks are not prepared locally. In CI (`CI` set) a missing preparation fails the test.
pub fn mocks_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MUSTER_CONTRACT_MOCKS").map(PathBuf::from);
    match dir {
        Some(dir) if dir.join("node_modules/.bin/prism").exists() => Some(dir),
        _ if std::env::var_os("CI").is_some() => {
            panic!("MUSTER_CONTRACT_MOCKS must name a prepared contract-mocks directory in CI")
        }
        _ => {
            eprintln!("skipped: MUSTER_CONTRACT_MOCKS not prepared");
            None
        }
    }
}

/// One request as the stub saw it (so it passed Prism's request validation).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// JSON body, `Null` when empty.
    pub body: Value,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the stub answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Held back this long before answering (timeouts).
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![],
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self::json(status, Value::Null)
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A canned failure for the next request matching method, path and (optionally) a text found
/// in its query or body.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub contains: Option<String>,
    pub reply: Reply,
}

/// A vendor's in-memory behaviour.
pub trait Vendor: Send + 'static {
    fn handle(&mut self, request: &Recorded) -> Reply;
}

pub struct StubState<V> {
    pub vendor: V,
    pub requests: Vec<Recorded>,
    pub faults: VecDeque<Fault>,
}

/// A running stub; the state is shared with the test for assertions.
pub struct Stub<V> {
    pub url: String,
    pub state: Arc<Mutex<StubState<V>>>,
}

impl<V: Vendor> Stub<V> {
    /// Serves on 127.0.0.1:0 from its own thread and runtime, so it outlives each test's runtime.
    pub fn start(vendor: V) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(StubState {
            vendor,
            requests: Vec::new(),
            faults: VecDeque::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle::<V>).with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { url, state }
    }

    pub fn fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// Requests received so far whose path starts with `prefix`.
    pub fn requests(&self, method: &str, prefix: &str) -> Vec<Recorded> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut V) -> T) -> T {
        f(&mut self.state.lock().unwrap().vendor)
    }
}

async fn handle<V: Vendor>(
    State(state): State<Arc<Mutex<StubState<V>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = reqwest::Url::parse(&format!("http://stub{uri}")).unwrap();
    let request = Recorded {
        method: method.to_string(),
        path: full.path().to_owned(),
        query: full
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let reply = {
        let mut state = state.lock().unwrap();
        state.requests.push(request.clone());
        let text = format!("{:?} {}", request.query, request.body);
        let fault = state.faults.iter().position(|f| {
            f.method == request.method
                && f.path == request.path
                && f.contains.as_deref().is_none_or(|needle| text.contains(needle))
        });
        match fault {
            Some(n) => state.faults.remove(n).unwrap().reply,
            None => state.vendor.handle(&request),
        }
    };
    tokio::time::sleep(reply.delay).await;
    let mut headers = HeaderMap::new();
    for (name, value) in &reply.headers {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    // Jira's spec types even its 204s as application/json; Prism checks the header.
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if reply.body.is_null() {
        (status, headers).into_response()
    } else {
        (status, headers, reply.body.to_string()).into_response()
    }
}

/// `prism proxy SPEC STUB --errors` on a free port, its log kept for assertions.
pub struct Prism {
    pub url: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

/// Kills Prism when the test process exits: statics are never dropped, so `Drop` alone would
/// leave it running.
const WATCHDOG: &str = r#"
"$1" proxy "$2" "$3" -h 127.0.0.1 -p "$4" --errors & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$5" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done
kill $child 2>/dev/null
"#;

impl Prism {
    pub fn start(mocks: &Path, spec: &str, upstream: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let prism = mocks.join("node_modules/.bin/prism");
        let spec = mocks.join("specs").join(spec);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("prism-watchdog")
            .arg(&prism)
            .arg(&spec)
            .arg(upstream)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prism");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready, listening) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Prism is listening") {
                    let _ = ready.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        if listening.recv_timeout(Duration::from_secs(180)).is_err() {
            let _ = child.kill();
            panic!("prism for {} did not start: {:?}", spec.display(), log.lock().unwrap());
        }
        Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    /// Contract problems Prism logged so far: requests it refused, responses that broke the
    /// spec. A status the spec does not list (429/503 injected on purpose) is not a problem.
    pub fn problems(&self) -> Vec<String> {
        // Prism logs a response's verdict just after forwarding it.
        std::thread::sleep(Duration::from_millis(300));
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| {
                (line.contains("Violation") && !line.contains("Unable to match the returned status code"))
                    || line.contains("Request terminated with error")
                    || line.contains("UNPROCESSABLE_ENTITY")
            })
            .cloned()
            .collect()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        // TERM, not KILL: the watchdog shell traps it and stops Prism too.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A vendor stub with its Prism in front.
pub struct Harness<V> {
    pub stub: Stub<V>,
    pub prism: Prism,
}

impl<V: Vendor> Harness<V> {
    pub fn start(mocks: &Path, spec: &str, vendor: V) -> Self {
        let stub = Stub::start(vendor);
        let prism = Prism::start(mocks, spec, &stub.url);
        Self { stub, prism }
    }

    /// Fails the test if any request broke the contract (Prism refused it with 422 and an
    /// `sl-violations` header) or any stub reply broke it.
    pub fn assert_contract_kept(&self) {
        let problems = self.prism.problems();
        assert!(problems.is_empty(), "contract violations:\n{}", problems.join("\n"));
    }
}
