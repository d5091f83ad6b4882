//! A per-provider token bucket, so a source stays inside its plan's request budget instead of
//! discovering it through 429s (or, for Alpha Vantage, through a day without data).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Stopped;
pub use stockfeed_spec::source::ratelimit::RateLimitConfig;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

/// A token bucket shared by every request one source makes.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    refill_per_sec: f64,
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        let capacity = f64::from(config.requests.max(1));
        let per = config.per.as_secs_f64().max(1e-3);
        Self {
            capacity,
            refill_per_sec: capacity / per,
            bucket: Mutex::new(Bucket {
                tokens: capacity,
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits for a token, or returns `Err` when `shutdown` fires first.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> Result<(), Stopped> {
        loop {
            let wait = {
                let mut b = self.bucket.lock().await;
                let now = Instant::now();
                match b.paused_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        b.paused_until = None;
                        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                        b.tokens = (b.tokens + elapsed * self.refill_per_sec).min(self.capacity);
                        b.last = now;
                        if b.tokens >= 1.0 {
                            b.tokens -= 1.0;
                            return Ok(());
                        }
                        Duration::from_secs_f64((1.0 - b.tokens) / self.refill_per_sec)
                    }
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return Err(Stopped),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Holds every request back until `for_how_long` has passed: the provider said so (a 429's
    /// `Retry-After`), and asking again sooner would only be refused again.
    pub async fn pause(&self, for_how_long: Duration) {
        let until = Instant::now() + for_how_long;
        let mut b = self.bucket.lock().await;
        if b.paused_until.is_none_or(|current| current < until) {
            b.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_requests_after_the_burst() {
        let limiter = RateLimiter::new(RateLimitConfig::new(2, Duration::from_millis(400)));
        let token = CancellationToken::new();
        let start = Instant::now();
        limiter.acquire(&token).await.unwrap();
        limiter.acquire(&token).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
        limiter.acquire(&token).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn pause_holds_everything_back_and_shutdown_interrupts() {
        let limiter = RateLimiter::new(RateLimitConfig::new(100, Duration::from_secs(1)));
        let token = CancellationToken::new();
        limiter.pause(Duration::from_millis(300)).await;
        let start = Instant::now();
        limiter.acquire(&token).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
        limiter.pause(Duration::from_secs(60)).await;
        token.cancel();
        assert_eq!(limiter.acquire(&token).await, Err(Stopped));
    }
}
