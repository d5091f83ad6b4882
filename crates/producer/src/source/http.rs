//! The HTTP client every REST provider shares: timeouts, the rate limiter, and the retry
//! policy of [`super::retry`], so a provider module only says how to build its request and how
//! to read its answers.
//!
//! A request is retried inside [`HttpClient::fetch`] until the provider returns an answer worth
//! interpreting (a 2xx, or a 4xx other than 401/403/408/429, such as Yahoo's 404 for an unknown
//! symbol) or shutdown fires. The secret is loaded again before every attempt, so a rotated
//! Kubernetes Secret is picked up without a restart.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::ratelimit::{RateLimitConfig, RateLimiter};
use super::redact;
use super::retry::{Failure, RetryPolicy};
use super::{BackoffConfig, Emitter, SourceHealth, Stopped};
use stockfeed_record::Provider;
use stockfeed_spec::secret::{Secret, SecretSource};

/// Identifies StockFeed to providers that log or throttle by client.
pub const USER_AGENT: &str = concat!("stockfeed/", env!("CARGO_PKG_VERSION"));

/// Settings every REST provider has.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub request_timeout: Duration,
    pub unauthorized_retry: Duration,
    pub backoff: BackoffConfig,
    pub rate_limit: RateLimitConfig,
    pub user_agent: String,
}

/// A provider's answer, once it is one the caller must interpret.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// The secrets this request was sent with, so that text derived from the answer can be
    /// scrubbed of them (some providers echo the key).
    secrets: Vec<Secret>,
}

impl Fetched {
    /// An answer as [`HttpClient::fetch`] returns it, for feeding a provider's handler without a
    /// server (the fuzz targets in `crate::fuzzing`).
    pub fn new(status: StatusCode, body: Vec<u8>, secrets: Vec<Secret>) -> Self {
        Self {
            status,
            body,
            secrets,
        }
    }

    /// `text` without any of the secrets the request carried.
    pub fn scrub(&self, text: &str) -> String {
        let refs: Vec<&Secret> = self.secrets.iter().collect();
        redact::scrub(text, &refs)
    }
}

pub struct HttpClient {
    provider: Provider,
    client: reqwest::Client,
    limiter: RateLimiter,
    settings: HttpSettings,
    secrets: Vec<SecretSource>,
}

/// Building the client failed (TLS set-up); fatal for the source.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct BuildError(String);

impl HttpClient {
    /// `secrets` are loaded before every attempt and handed to the request builder in order.
    pub fn new(
        provider: Provider,
        settings: HttpSettings,
        secrets: Vec<SecretSource>,
    ) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|e| BuildError(e.without_url().to_string()))?;
        Ok(Self {
            provider,
            client,
            limiter: RateLimiter::new(settings.rate_limit),
            settings,
            secrets,
        })
    }

    /// Sends the request `build` makes until an answer comes back that the caller must read,
    /// reporting health and waiting between attempts as [`RetryPolicy`] says.
    ///
    /// `what` names the call in logs (e.g. `quote AAPL`); it must not contain secrets.
    /// `classify` reads an answer before the status-based default does (Alpha Vantage reports
    /// rate limits and refused keys with HTTP 200); `None` leaves it to the default.
    pub async fn fetch(
        &self,
        out: &Emitter,
        what: &str,
        build: impl Fn(&reqwest::Client, &[Secret]) -> reqwest::RequestBuilder,
        classify: impl Fn(StatusCode, &[u8]) -> Option<Failure>,
    ) -> Result<Fetched, Stopped> {
        let mut policy = RetryPolicy::new(self.settings.backoff, self.settings.unauthorized_retry);
        loop {
            let failure = match self.attempt(out, what, &build, &classify).await? {
                Ok(fetched) => {
                    out.set_health(SourceHealth::Ready);
                    return Ok(fetched);
                }
                Err(failure) => failure,
            };
            if let Failure::RateLimited {
                retry_after: Some(d),
                ..
            } = &failure
            {
                self.limiter.pause(*d).await;
            }
            policy.wait(out, &failure).await?;
        }
    }

    async fn attempt(
        &self,
        out: &Emitter,
        what: &str,
        build: &impl Fn(&reqwest::Client, &[Secret]) -> reqwest::RequestBuilder,
        classify: &impl Fn(StatusCode, &[u8]) -> Option<Failure>,
    ) -> Result<Result<Fetched, Failure>, Stopped> {
        let secrets = match self
            .secrets
            .iter()
            .map(SecretSource::load)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(s) => s,
            Err(e) => {
                return Ok(Err(Failure::Unauthorized(format!(
                    "cannot read the credentials: {e}"
                ))));
            }
        };
        let refs: Vec<&Secret> = secrets.iter().collect();
        self.limiter.acquire(out.shutdown()).await?;
        let request = match build(&self.client, &secrets).build() {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(Failure::Transient(format!(
                    "cannot build request for {what}: {}",
                    e.without_url()
                ))));
            }
        };
        let url = redact::without_query(request.url().as_str());
        let span =
            tracing::info_span!("http_request", provider = %self.provider, call = what, url = %url);
        let sent = {
            use tracing::Instrument;
            let client = self.client.clone();
            async move {
                let response = client.execute(request).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
            }
            .instrument(span.clone())
        };
        let started = std::time::Instant::now();
        let (status, headers, body) = tokio::select! {
            () = out.shutdown().cancelled() => return Err(Stopped),
            r = sent => match r {
                Ok(v) => v,
                Err(e) => {
                    out.observe_request(started.elapsed(), if e.is_timeout() { "timeout" } else { "network" });
                    return Ok(Err(Failure::Transient(describe(&e, what, self.settings.request_timeout))));
                }
            },
        };
        let outcome = match status.as_u16() {
            401 | 403 => "unauthorized",
            429 => "rate_limited",
            400..=499 => "client_error",
            500..=599 => "server_error",
            _ => "ok",
        };
        out.observe_request(started.elapsed(), outcome);
        span.in_scope(|| tracing::debug!(status = status.as_u16(), bytes = body.len(), "response"));
        if let Some(failure) = classify(status, &body) {
            return Ok(Err(scrubbed(failure, &refs)));
        }
        Ok(match default_verdict(status, &headers, &body, what) {
            Some(failure) => Err(scrubbed(failure, &refs)),
            None => Ok(Fetched {
                status,
                body,
                secrets: secrets.clone(),
            }),
        })
    }
}

/// The status-based reading shared by all providers; `None` means "give it to the caller".
fn default_verdict(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> Option<Failure> {
    let text = || String::from_utf8_lossy(body).trim().to_owned();
    match status.as_u16() {
        401 | 403 => Some(Failure::Unauthorized(format!(
            "{what}: HTTP {status}: {}",
            text()
        ))),
        429 => Some(Failure::RateLimited {
            retry_after: retry_after(headers),
            message: format!("{what}: HTTP 429: {}", text()),
        }),
        408 | 500..=599 => Some(Failure::Transient(format!("{what}: HTTP {status}"))),
        _ => None,
    }
}

fn scrubbed(failure: Failure, secrets: &[&Secret]) -> Failure {
    match failure {
        Failure::Transient(m) => Failure::Transient(redact::scrub(&m, secrets)),
        Failure::Unauthorized(m) => Failure::Unauthorized(redact::scrub(&m, secrets)),
        Failure::RateLimited {
            retry_after,
            message,
        } => Failure::RateLimited {
            retry_after,
            message: redact::scrub(&message, secrets),
        },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Describes a transport error without its URL (which may carry the key).
fn describe(err: &reqwest::Error, what: &str, timeout: Duration) -> String {
    if err.is_timeout() {
        format!(
            "{what}: no response within {}",
            humantime::format_duration(timeout)
        )
    } else if err.is_connect() {
        format!("{what}: cannot connect to the provider")
    } else if err.is_body() || err.is_decode() {
        format!("{what}: the connection broke while reading the response")
    } else {
        format!("{what}: request failed: {}", error_chain(err))
    }
}

fn error_chain(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = String::new();
    let mut current: Option<&dyn std::error::Error> = err.source();
    while let Some(e) = current {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&redact::without_query(&e.to_string()));
        current = e.source();
    }
    if text.is_empty() {
        "unknown error".into()
    } else {
        text
    }
}
