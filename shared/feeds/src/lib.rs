//! Downloads the threat intel feeds — CISA's KEV catalog and FIRST's daily EPSS scores — for the
//! scheduled `feeds` function and `muster intel fetch`, and hands the bytes to the core parsers.
//! It stores nothing, and never logs or reports a query string (it may carry a token): URLs in
//! logs and errors are scheme, host and path only.

use std::io::Read as _;
use std::time::Duration;

use chrono::Utc;
use muster_core::import::ImportError;
use muster_core::intel::{EpssFile, KevCatalog, parse_epss, parse_kev};
use muster_core::retry::{RetryPolicy, retry_after};
use reqwest::{StatusCode, Url};

/// CISA's Known Exploited Vulnerabilities catalog, JSON.
pub const KEV_URL: &str = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";

/// FIRST's latest daily EPSS file, gzipped CSV. Served by Empirical Security since May 2025 (the
/// link on first.org/epss/data_stats); the old `epss.cyentia.com` host only redirects here.
pub const EPSS_URL: &str = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz";

/// The largest body accepted, before and after inflating. The KEV JSON is ~1.3 MB and the EPSS
/// CSV ~10 MB, so a body near this is not the feed, or is a gzip bomb.
pub const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How patient a [`FeedClient`] is.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Limit of one attempt, connection, headers and body included.
    pub timeout: Duration,
    /// Attempts and backoff; a server's `Retry-After` is honoured up to `max_backoff`.
    pub retry: RetryPolicy,
    pub user_agent: String,
}

impl Default for FeedSettings {
    /// Two minutes an attempt (the EPSS file is a few MB), five attempts: a scheduled run that
    /// still fails is better retried by the next schedule than by waiting longer now.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            user_agent: concat!("muster-feeds/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why a feed could not be fetched. `url` is always scheme, host and path: never the query.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The server answered with an error status: at once for a 4xx other than 429, after
    /// `attempts` tries for 429 and 5xx.
    #[error("GET {url} answered {status} (attempt {attempts})")]
    Http {
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    /// No answer: connection refused or reset, DNS, TLS, or the timeout (`source.is_timeout()`).
    #[error("GET {url}: {} (attempt {attempts})", transport_summary(.source))]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
        attempts: u32,
    },
    /// The body is not the feed (or not valid gzip); the error names the URL and the line.
    #[error(transparent)]
    Parse(#[from] ImportError),
    /// The body, or what it inflates to, exceeds [`MAX_BODY_BYTES`].
    #[error("GET {url}: body larger than {} MiB: not the feed", MAX_BODY_BYTES >> 20)]
    TooLarge { url: String },
    /// The URL is not an absolute http(s) URL.
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The HTTP client could not be built (TLS set-up, or a user agent that is not a header value).
    #[error("cannot build the feeds HTTP client")]
    Setup(#[source] reqwest::Error),
}

fn transport_summary(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}

/// Downloads feeds with a timeout on every attempt and bounded retries: connection errors,
/// timeouts, 429 and 5xx are retried with exponential backoff (or the server's `Retry-After`,
/// capped by the policy's `max_backoff`); any other 4xx fails at once. Build one and reuse it.
#[derive(Debug, Clone)]
pub struct FeedClient {
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl FeedClient {
    pub fn new(settings: FeedSettings) -> Result<Self, FeedError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(settings.user_agent)
            .build()
            .map_err(FeedError::Setup)?;
        Ok(Self {
            http,
            retry: settings.retry,
        })
    }

    /// The KEV catalog at `url` (usually [`KEV_URL`]): JSON or CSV, gzipped or not.
    pub async fn fetch_kev(&self, url: &str) -> Result<KevCatalog, FeedError> {
        self.fetch(url, parse_kev).await
    }

    /// The EPSS file at `url` (usually [`EPSS_URL`]): CSV, gzipped or not.
    pub async fn fetch_epss(&self, url: &str) -> Result<EpssFile, FeedError> {
        self.fetch(url, parse_epss).await
    }

    async fn fetch<T: Send + 'static>(
        &self,
        url: &str,
        parse: fn(&[u8], &str) -> Result<T, ImportError>,
    ) -> Result<T, FeedError> {
        let (url, shown) = feed_url(url)?;
        let body = self.download(&url, &shown).await?;
        // Inflating and parsing ~10 MB takes a CPU-bound tenth of a second: off the async workers.
        let task = tokio::task::spawn_blocking(move || -> Result<T, FeedError> {
            let bytes = inflate_if_gzipped(body, &shown, MAX_BODY_BYTES)?;
            Ok(parse(&bytes, &shown)?)
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // A blocking task is only cancelled when the runtime shuts down, which drops this
            // future before it could observe the cancellation.
            Err(error) => unreachable!("feed parse cancelled: {error}"),
        }
    }

    /// The body at `url`, after as many attempts as the policy allows.
    async fn download(&self, url: &Url, shown: &str) -> Result<Vec<u8>, FeedError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(url, shown, attempt).await {
                Ok(body) => {
                    tracing::info!(url = %shown, bytes = body.len(), attempt, "feed downloaded");
                    return Ok(body);
                }
                Err(failure) => failure,
            };
            if !failure.retryable || attempt >= self.retry.max_attempts {
                return Err(failure.error);
            }
            let delay = failure
                .retry_after
                .unwrap_or_else(|| self.retry.backoff(attempt))
                .min(self.retry.max_backoff);
            tracing::warn!(
                url = %shown,
                attempt,
                max_attempts = self.retry.max_attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "feed download failed; retrying",
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, url: &Url, shown: &str, attempt: u32) -> Result<Vec<u8>, Failure> {
        let transport = |source: reqwest::Error| Failure {
            // Builder and redirect-loop errors would fail the same way again.
            retryable: !(source.is_builder() || source.is_redirect()),
            retry_after: None,
            error: FeedError::Transport {
                url: shown.to_owned(),
                source: source.without_url(),
                attempts: attempt,
            },
        };
        let too_large = || Failure {
            retryable: false,
            retry_after: None,
            error: FeedError::TooLarge { url: shown.to_owned() },
        };

        let mut response = self.http.get(url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| retry_after(value, Utc::now()));
            return Err(Failure {
                retryable,
                retry_after,
                error: FeedError::Http {
                    url: shown.to_owned(),
                    status,
                    attempts: attempt,
                },
            });
        }
        let announced = response.content_length().unwrap_or(0);
        if announced > MAX_BODY_BYTES {
            return Err(too_large());
        }
        // `announced` <= MAX_BODY_BYTES, which fits in usize on every target muster builds for.
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if (body.len() + chunk.len()) as u64 > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// One failed attempt and whether another may succeed.
struct Failure {
    error: FeedError,
    retryable: bool,
    retry_after: Option<Duration>,
}

/// The parsed URL and how it is shown in logs and errors.
fn feed_url(raw: &str) -> Result<(Url, String), FeedError> {
    let invalid = |reason: String| FeedError::InvalidUrl {
        // Unparsed, so cut by hand: the query may carry a token.
        url: raw.split(['?', '#']).next().unwrap_or_default().to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("expected an http:// or https:// URL".to_owned()));
    }
    let shown = shown_url(&url);
    Ok((url, shown))
}

/// Scheme, host, port and path: no credentials, query or fragment.
fn shown_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// `body` inflated when it starts with the gzip magic bytes (the EPSS file is served as
/// `.csv.gz`), else as is; refused when the result would exceed `limit`.
fn inflate_if_gzipped(body: Vec<u8>, shown: &str, limit: u64) -> Result<Vec<u8>, FeedError> {
    if !body.starts_with(&GZIP_MAGIC) {
        return Ok(body);
    }
    // The EPSS CSV compresses about 5:1.
    let guess = body
        .len()
        .saturating_mul(5)
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut inflated = Vec::with_capacity(guess);
    flate2::read::MultiGzDecoder::new(body.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut inflated)
        .map_err(|e| ImportError::new(shown, format!("the body starts like gzip but does not inflate: {e}")))?;
    if inflated.len() as u64 > limit {
        return Err(FeedError::TooLarge { url: shown.to_owned() });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn shown_urls_drop_credentials_query_and_fragment() {
        let (_, shown) = feed_url("https://user:pw@feeds.example.com:8443/kev.json?token=s3cret#top").unwrap();

        assert_eq!(shown, "https://feeds.example.com:8443/kev.json");
    }

    #[test]
    fn invalid_urls_are_refused_without_their_query() {
        let error = feed_url("feeds.example.com/kev.json?token=s3cret")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid feed URL \"feeds.example.com/kev.json\""),
            "{error}"
        );
        assert!(!error.contains("s3cret"));

        assert!(matches!(
            feed_url("file:///etc/passwd"),
            Err(FeedError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn gzipped_bodies_are_inflated_and_others_kept() {
        let text = b"cve,epss,percentile\nCVE-2021-44228,0.94358,0.99955\n".to_vec();

        assert_eq!(inflate_if_gzipped(gzip(&text), "u", 1024).unwrap(), text);
        assert_eq!(inflate_if_gzipped(text.clone(), "u", 1024).unwrap(), text);
    }

    #[test]
    fn inflating_beyond_the_limit_is_refused() {
        let limit = 64 * 1024;
        let bomb = gzip(&vec![b'0'; 1 << 20]);
        assert!((bomb.len() as u64) < limit, "the body itself is within the limit");

        let error = inflate_if_gzipped(bomb, "https://feeds.example.com/x.gz", limit).unwrap_err();

        assert!(matches!(error, FeedError::TooLarge { url } if url == "https://feeds.example.com/x.gz"));
    }

    #[test]
    fn corrupt_gzip_is_a_parse_error_naming_the_url() {
        let mut body = gzip(b"cve,epss,percentile\n");
        body.truncate(body.len() / 2);

        let error = inflate_if_gzipped(body, "https://feeds.example.com/x.gz", 1024).unwrap_err();

        assert!(matches!(&error, FeedError::Parse(import) if import.origin == "https://feeds.example.com/x.gz"));
        assert!(error.to_string().contains("does not inflate"), "{error}");
    }
}
