//! What a source does after a failed call: which health to report and how long to wait.
//!
//! One policy for HTTP and WebSocket alike, so every provider treats a refused key, a rate
//! limit and a flaky network the same way: transient failures back off exponentially, a
//! rate limit waits as long as the provider asked, and refused credentials wait minutes
//! (a wrong key does not fix itself in a second, and hammering the provider with it can get
//! the account blocked).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, BackoffConfig};
use super::{Emitter, SourceHealth, Stopped};

/// Why a call failed, with a message that is already free of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Timeouts, connection errors, 5xx, unexpected disconnects.
    Transient(String),
    /// 429 or the provider's equivalent; `retry_after` when the provider said how long.
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 401/403 or the provider's equivalent, or a secret that cannot be read.
    Unauthorized(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Unauthorized(m) => m,
            Failure::RateLimited { message, .. } => message,
        }
    }
}

/// Retry state of one connection or poll loop.
#[derive(Debug)]
pub struct RetryPolicy {
    backoff: Backoff,
    unauthorized_retry: Duration,
}

impl RetryPolicy {
    pub fn new(backoff: BackoffConfig, unauthorized_retry: Duration) -> Self {
        Self {
            backoff: Backoff::new(backoff),
            unauthorized_retry,
        }
    }

    /// Call after a success: the next failure starts from the shortest delay again.
    pub fn succeeded(&mut self) {
        self.backoff.reset();
    }

    /// The delay this failure calls for, advancing the backoff where it applies.
    pub fn delay_for(&mut self, failure: &Failure) -> Duration {
        match failure {
            Failure::Transient(_) => self.backoff.next_delay(),
            Failure::RateLimited {
                retry_after: Some(d),
                ..
            } => *d,
            Failure::RateLimited {
                retry_after: None, ..
            } => self.backoff.next_delay(),
            Failure::Unauthorized(_) => self.unauthorized_retry,
        }
    }

    /// Reports the failure as the source's health, logs it, and sleeps for as long as it calls
    /// for. `Err` when shutdown fires during the wait.
    pub async fn wait(&mut self, out: &Emitter, failure: &Failure) -> Result<(), Stopped> {
        let delay = self.delay_for(failure);
        let message = failure.message().to_owned();
        match failure {
            Failure::Unauthorized(_) => {
                tracing::error!(retry_in = ?delay, "{message}; check the configured credentials");
                out.set_health(SourceHealth::Unauthorized(message));
            }
            Failure::RateLimited { .. } => {
                tracing::warn!(retry_in = ?delay, "rate limited: {message}");
                out.set_health(SourceHealth::Degraded(format!("rate limited: {message}")));
            }
            Failure::Transient(_) => {
                tracing::warn!(retry_in = ?delay, "{message}");
                out.set_health(SourceHealth::Degraded(message));
            }
        }
        sleep(delay, out.shutdown()).await
    }
}

/// Sleeps unless shutdown fires first.
pub async fn sleep(delay: Duration, shutdown: &CancellationToken) -> Result<(), Stopped> {
    tokio::select! {
        () = shutdown.cancelled() => Err(Stopped),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}
