//! The HTTP API through the real router over the real embedded pipeline: a webhook answers the
//! same summary as the CLI, and bad input gets a 4xx JSON error and stores nothing.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use muster_core::ports::{FindingFilter, FindingStore};
use muster_http::{DEFAULT_BODY_LIMIT, HttpConfig, router};
use muster_tests::{TestPipeline, pipeline_at, sample, sarif_result_counts};
use tower::ServiceExt as _;

fn app(pipeline: &Arc<TestPipeline>, body_limit: usize) -> axum::Router {
    router(
        Arc::clone(pipeline),
        HttpConfig {
            config: Arc::clone(&pipeline.config),
            body_limit,
            secrets: Default::default(),
            tracker_secrets: Default::default(),
            slack_signing_secret: None,
            read_token: None,
            uploads: None,
        },
    )
}

async fn call(app: axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("body is JSON: {bytes:?}"));
    (status, json)
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

async fn stored(pipeline: &TestPipeline) -> usize {
    pipeline
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn webhook_accepts_a_report_with_the_ingest_summary() {
    let Some(bytes) = sample("sarif/semgrep_issue_10191.sarif.json") else {
        return;
    };
    let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
    let (total, suppressed) = sarif_result_counts(&bytes);

    let (status, body) = call(
        app(&pipeline, DEFAULT_BODY_LIMIT),
        post("/webhooks/local", bytes.clone()),
    )
    .await;

    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["received"], (total - suppressed) as u64);
    assert_eq!(
        body["new"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap(),
        total as u64
    );
    assert!(body["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(stored(&pipeline).await as u64, body["new"].as_u64().unwrap());

    // The same report again: nothing new, nothing resolved.
    let (status, body) = call(app(&pipeline, DEFAULT_BODY_LIMIT), post("/webhooks/local", bytes)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!((body["new"].as_u64(), body["resolved"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let Some(bytes) = sample("sarif/eslint_eslint.sarif") else {
        return;
    };
    let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&bytes).unwrap();
    let request = Request::post("/webhooks/local")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(encoder.finish().unwrap()))
        .unwrap();

    let (status, body) = call(app(&pipeline, DEFAULT_BODY_LIMIT), request).await;

    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["received"], 4);
}

/// Bad requests: each answers its status and error code, and leaves the store empty.
#[tokio::test]
async fn bad_requests_get_json_errors_and_store_nothing() {
    let truncated_gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(br#"{"version":"2.1.0","runs":[]}"#).unwrap();
        let mut bytes = encoder.finish().unwrap();
        bytes.truncate(bytes.len() / 2);
        bytes
    };
    let gzip_bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b' '; 1 << 20]).unwrap();
        encoder.finish().unwrap()
    };
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            post("/webhooks/local", "{\"runs\": [}"),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "empty body",
            post("/webhooks/local", ""),
            StatusCode::BAD_REQUEST,
            "empty_report",
        ),
        (
            "not a known format",
            post("/webhooks/local", "{\"hello\": 1}"),
            StatusCode::BAD_REQUEST,
            "unrecognized_report",
        ),
        (
            "result with wrong types",
            post(
                "/webhooks/local",
                r#"{"runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":5}]}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "tool without a name",
            post("/webhooks/local", r#"{"runs":[{"tool":{"driver":{}},"results":[]}]}"#),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "unknown source",
            post("/webhooks/nobody", "{}"),
            StatusCode::NOT_FOUND,
            "unknown_source",
        ),
        (
            "unknown path",
            post("/nothing-here", "{}"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            Request::get("/webhooks/local").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "truncated gzip",
            Request::post("/webhooks/local")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(truncated_gzip))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_encoding",
        ),
        (
            "unsupported encoding",
            Request::post("/webhooks/local")
                .header(header::CONTENT_ENCODING, "br")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
        ),
        (
            "oversized body",
            post("/webhooks/local", vec![b' '; 4096]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "gzip that inflates past the limit",
            Request::post("/webhooks/local")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(gzip_bomb))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "gzip header on a plain body",
            Request::post("/webhooks/local")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(r#"{"runs":[]}"#))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_encoding",
        ),
        (
            "XML content type",
            Request::post("/webhooks/local")
                .header(header::CONTENT_TYPE, "application/xml")
                .body(Body::from("<report/>"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "multipart form upload",
            Request::post("/webhooks/local")
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(Body::from("--x\r\n\r\n{}\r\n--x--"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "invalid UTF-8 in a string",
            post(
                "/webhooks/local",
                b"{\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"x\xff\"}},\"results\":[]}]}"
                    .to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "nesting deep enough to overflow a parser's stack",
            post(
                "/webhooks/local",
                format!(r#"{{"runs":{}{}}}"#, "[".repeat(500), "]".repeat(500)),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "trailing garbage after the report",
            post("/webhooks/local", r#"{"version":"2.1.0","runs":[]} trailing"#),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "whitespace only",
            post("/webhooks/local", " \n\t "),
            StatusCode::BAD_REQUEST,
            "empty_report",
        ),
        (
            "a JSON array of numbers",
            post("/webhooks/local", "[1, 2, 3]"),
            StatusCode::BAD_REQUEST,
            "unrecognized_report",
        ),
        (
            "runs is not an array",
            post("/webhooks/local", r#"{"version":"2.1.0","runs":{}}"#),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "Trivy vulnerability without an id",
            post(
                "/webhooks/local",
                r#"{"SchemaVersion":2,"ArtifactName":"a","Results":[{"Target":"t","Vulnerabilities":[{"PkgName":"p"}]}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "Trivy Results of the wrong type",
            post(
                "/webhooks/local",
                r#"{"SchemaVersion":2,"ArtifactName":"a","Results":"none"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "Grype match id of the wrong type",
            post(
                "/webhooks/local",
                r#"{"matches":[{"vulnerability":{"id":7},"artifact":{"name":"a"}}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "Grype match without a package",
            post(
                "/webhooks/local",
                r#"{"matches":[{"vulnerability":{"id":"CVE-1"},"artifact":{}}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "Snyk vulnerability without a package",
            post(
                "/webhooks/local",
                r#"{"vulnerabilities":[{"id":"SNYK-1","title":"t","severity":"high","packageName":null}],"projectName":"p"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "EventBridge event that carries no findings",
            post(
                "/webhooks/local",
                r#"{"detail-type":"Security Hub Insight Results","detail":{}}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "ASFF finding without an id",
            post("/webhooks/local", r#"{"Findings":[{"Title":"x"}]}"#),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "OCSF class of the wrong type",
            post("/webhooks/local", r#"{"class_uid":"x"}"#),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
        (
            "GitHub alert that names no alert kind",
            post("/webhooks/local", r#"{"action":"created","alert":{}}"#),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            "line number out of range",
            post(
                "/webhooks/local",
                r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a.c"},"region":{"startLine":99999999999999999999999}}}]}]}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "malformed_report",
        ),
    ];
    for (name, request, want_status, want_code) in cases {
        let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
        let (status, body) = call(app(&pipeline, 1024), request).await;
        assert_eq!(status, want_status, "{name}: {body}");
        assert_eq!(body["error"]["code"], want_code, "{name}: {body}");
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {body}"
        );
        assert_eq!(stored(&pipeline).await, 0, "{name} stored something");
        assert!(pipeline.queue.is_empty(), "{name} queued work");
    }
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, token);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn gate_answers_the_verdict_to_the_bearer_of_the_read_token() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
    muster_tests::ingest_from(&pipeline, "ci", None, None, &bytes).await;
    let groups = muster_core::services::ticket::open_groups(
        &pipeline.store.list_findings(&FindingFilter::default()).await.unwrap(),
    );
    assert!(!groups.is_empty());
    let gated = |token: Option<&str>| {
        let mut http = HttpConfig::from_env(Arc::clone(&pipeline.config), DEFAULT_BODY_LIMIT).unwrap();
        http.read_token = token.map(muster_http::Secret::new);
        router(Arc::clone(&pipeline), http)
    };
    let budget = "/gate?max_breached=P1%3D0%2CP2%3D0%2CP3%3D0%2CP4%3D0";

    // Off until a token is configured: the posture is not public.
    let (status, body) = call(gated(None), get(budget, Some("Bearer s3cret"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("read_api_not_configured"))
    );
    for (header, why) in [
        (None, "missing"),
        (Some("Bearer wrong"), "wrong"),
        (Some("Basic czNjcmV0"), "scheme"),
    ] {
        let (status, body) = call(gated(Some("s3cret")), get(budget, header)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["error"]["code"], "bad_token", "{why}");
    }

    // Nothing is past due the day of the scan: passed.
    let (status, body) = call(gated(Some("s3cret")), get(budget, Some("bearer s3cret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passed"], true, "{body}");
    assert_eq!(body["at"], "2026-11-01T10:00:00Z", "judged at the pipeline's clock");

    // A year later every group is past due: the verdict names them all.
    let later = format!("{budget}&now=2027-11-01T10:00:00Z");
    let (status, body) = call(gated(Some("s3cret")), get(&later, Some("Bearer s3cret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passed"], false);
    let named: usize = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["groups"].as_array().unwrap().len())
        .sum();
    assert_eq!(named, groups.len(), "{body}");

    // Mistakes in the query are 400s naming them.
    for (query, names) in [
        ("/gate?max_breached=P9%3D1", "max_breached"),
        ("/gate", "nothing to gate on"),
        ("/gate?max_breached=P1%3D0&colour=red", "colour"),
        ("/gate?max_new_tier=P1&since=3y", "since"),
    ] {
        let (status, body) = call(gated(Some("s3cret")), get(query, Some("Bearer s3cret"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_query");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
    let request = Request::get("/healthz").body(Body::empty()).unwrap();
    let (status, body) = call(app(&pipeline, DEFAULT_BODY_LIMIT), request).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
}

/// The router with one source, `name`, of `format`, protected by `secret`.
fn app_with_secret(pipeline: &Arc<TestPipeline>, name: &str, format: &str, secret: &str) -> axum::Router {
    let toml = format!("[[sources]]\nname = \"{name}\"\nformat = \"{format}\"\nsecret_env = \"UNUSED_IN_THIS_TEST\"\n");
    let config = muster_core::Config::from_toml(&toml, "test.toml").unwrap();
    router(
        Arc::clone(pipeline),
        HttpConfig {
            config: Arc::new(config),
            body_limit: DEFAULT_BODY_LIMIT,
            secrets: [(name.to_owned(), muster_http::Secret::new(secret))]
                .into_iter()
                .collect(),
            tracker_secrets: Default::default(),
            slack_signing_secret: None,
            read_token: None,
            uploads: None,
        },
    )
}

mod signed_sources {
    use super::*;
    use muster_core::Config;
    use muster_http::Secret;
    use muster_http::signature::sign;

    const SECRET: &str = "correct horse battery staple";

    fn signed_app(pipeline: &Arc<TestPipeline>) -> axum::Router {
        app_with_secret(pipeline, "ci", "auto", SECRET)
    }

    fn signed(body: Vec<u8>, secret: &str, timestamp: i64, gzip: bool) -> Request<Body> {
        let wire = if gzip {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&body).unwrap();
            encoder.finish().unwrap()
        } else {
            body
        };
        let mut request = Request::post("/webhooks/ci")
            .header("X-Muster-Signature", sign(&Secret::new(secret), timestamp, &wire))
            .header("X-Muster-Timestamp", timestamp.to_string());
        if gzip {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        request.body(Body::from(wire)).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[tokio::test]
    async fn a_correctly_signed_report_is_accepted_plain_or_gzipped() {
        let Some(bytes) = sample("sarif/eslint_eslint.sarif") else {
            return;
        };
        for gzip in [false, true] {
            let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
            let (status, body) = call(signed_app(&pipeline), signed(bytes.clone(), SECRET, now(), gzip)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "gzip={gzip}: {body}");
            assert_eq!(body["received"], 4);
        }
    }

    #[tokio::test]
    async fn unsigned_forged_and_stale_requests_are_refused_and_store_nothing() {
        let report = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a","message":{"text":"m"}}]}]}"#.to_vec();
        let cases = vec![
            ("unsigned", post("/webhooks/ci", report.clone()), "missing_signature"),
            (
                "wrong secret",
                signed(report.clone(), "guess", now(), false),
                "bad_signature",
            ),
            (
                "too old",
                signed(report.clone(), SECRET, now() - 600, false),
                "stale_timestamp",
            ),
            (
                "from the future",
                signed(report.clone(), SECRET, now() + 600, false),
                "stale_timestamp",
            ),
            (
                "body changed after signing",
                {
                    let mut request = signed(report.clone(), SECRET, now(), false);
                    let mut tampered = report.clone();
                    tampered.push(b' ');
                    *request.body_mut() = Body::from(tampered);
                    request
                },
                "bad_signature",
            ),
            (
                "not hex",
                Request::post("/webhooks/ci")
                    .header("X-Muster-Signature", "sha256=zz")
                    .header("X-Muster-Timestamp", now().to_string())
                    .body(Body::from(report.clone()))
                    .unwrap(),
                "malformed_signature",
            ),
        ];
        for (name, request, code) in cases {
            let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
            let (status, body) = call(signed_app(&pipeline), request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert_eq!(body["error"]["code"], code, "{name}: {body}");
            assert!(!body.to_string().contains(SECRET), "{name} leaked the secret");
            assert_eq!(stored(&pipeline).await, 0, "{name} stored something");
        }
    }

    #[test]
    fn a_source_whose_secret_variable_is_unset_refuses_to_start() {
        let config = Config::from_toml(
            "[[sources]]\nname = \"ci\"\nsecret_env = \"MUSTER_TEST_SECRET_THAT_IS_NEVER_SET\"\n",
            "test.toml",
        )
        .unwrap();
        let error = HttpConfig::from_env(Arc::new(config), DEFAULT_BODY_LIMIT).unwrap_err();
        assert!(
            error.to_string().contains("MUSTER_TEST_SECRET_THAT_IS_NEVER_SET"),
            "{error}"
        );
    }
}

mod github_sources {
    use super::*;
    use muster_http::Secret;
    use muster_http::signature::sign_github;

    const SECRET: &str = "webhook secret from the GitHub App settings";

    fn github_app(pipeline: &Arc<TestPipeline>) -> axum::Router {
        app_with_secret(pipeline, "github", "github", SECRET)
    }

    /// A delivery as GitHub sends it: event header, delivery id, signature over the body.
    fn delivery(event: &str, body: &[u8], secret: &str) -> Request<Body> {
        Request::post("/webhooks/github")
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("X-Hub-Signature-256", sign_github(&Secret::new(secret), body))
            .body(Body::from(body.to_vec()))
            .unwrap()
    }

    #[tokio::test]
    async fn signed_alert_deliveries_are_ingested_and_pings_answered() {
        let Some(created) = sample("github_webhooks/github_dependabot_alert_created.payload.json") else {
            return;
        };
        let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));

        let (status, body) = call(github_app(&pipeline), delivery("dependabot_alert", &created, SECRET)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!((body["received"].as_u64(), body["new"].as_u64()), (Some(1), Some(1)));
        assert_eq!(stored(&pipeline).await, 1);

        let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let (status, body) = call(github_app(&pipeline), delivery("ping", ping, SECRET)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["received"], 0);
    }

    #[tokio::test]
    async fn unsigned_forged_and_unsupported_deliveries_are_refused() {
        let Some(created) = sample("github_webhooks/github_dependabot_alert_created.payload.json") else {
            return;
        };
        let Some(issue) = sample("github_webhooks/github_issues_opened.payload.json") else {
            return;
        };
        let unsigned = Request::post("/webhooks/github")
            .header("X-GitHub-Event", "dependabot_alert")
            .body(Body::from(created.clone()))
            .unwrap();
        let generic_signature_only = {
            let now = chrono::Utc::now().timestamp();
            Request::post("/webhooks/github")
                .header("X-GitHub-Event", "dependabot_alert")
                .header("X-Muster-Timestamp", now.to_string())
                .header(
                    "X-Muster-Signature",
                    muster_http::signature::sign(&Secret::new(SECRET), now, &created),
                )
                .body(Body::from(created.clone()))
                .unwrap()
        };
        let cases = vec![
            ("unsigned", unsigned, StatusCode::UNAUTHORIZED, "missing_signature"),
            (
                "muster's scheme on a GitHub source",
                generic_signature_only,
                StatusCode::UNAUTHORIZED,
                "missing_signature",
            ),
            (
                "wrong secret",
                delivery("dependabot_alert", &created, "guess"),
                StatusCode::UNAUTHORIZED,
                "bad_signature",
            ),
            (
                "an issues event is not a security alert",
                delivery("issues", &issue, SECRET),
                StatusCode::BAD_REQUEST,
                "invalid_report",
            ),
            (
                "alert payload that is not JSON",
                delivery("code_scanning_alert", b"action=created", SECRET),
                StatusCode::BAD_REQUEST,
                "malformed_report",
            ),
        ];
        for (name, request, want_status, code) in cases {
            let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
            let (status, body) = call(github_app(&pipeline), request).await;
            assert_eq!(status, want_status, "{name}: {body}");
            assert_eq!(body["error"]["code"], code, "{name}: {body}");
            assert!(!body.to_string().contains(SECRET), "{name} leaked the secret");
            assert_eq!(stored(&pipeline).await, 0, "{name} stored something");
        }
    }
}

/// The OpenAPI description and the router list the same operations, and each documented
/// operation is really served (not answered by the 404/405 fallbacks).
#[tokio::test]
async fn openapi_description_matches_the_router() {
    let pipeline = Arc::new(pipeline_at("2026-11-01T10:00:00Z"));
    let (status, served) = call(
        app(&pipeline, DEFAULT_BODY_LIMIT),
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let file: serde_json::Value = serde_json::from_str(muster_http::OPENAPI).unwrap();
    assert_eq!(served, file, "GET /openapi.json serves the file in the repository");
    assert!(file["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut documented: Vec<(String, String)> = file["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = muster_http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);

    for (method, path) in routed {
        let uri = path.replace("{source}", "local");
        let request = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .body(Body::from("{}"))
            .unwrap();
        let (status, body) = call(app(&pipeline, DEFAULT_BODY_LIMIT), request).await;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code != "not_found" && code != "method_not_allowed",
            "{method} {uri} is not served: {status} {body}"
        );
    }
}
