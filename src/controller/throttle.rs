//! Client-side rate limiting of the controller's API requests (upstream's `--qps` and `--burst`): a token bucket
//! filled at `qps` tokens a second up to `burst`; a request takes one token, and when none is left it waits its
//! turn. Turns are reserved in arrival order, as client-go's limiter does, so no request waits behind later ones.
//! The controller's client applies it (`metrics::counting_client`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket. `qps` ≤ 0 means no limit.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens left (negative: reserved by requests that are waiting) as of the instant beside it.
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(qps: f32, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket { qps: f64::from(qps), burst, state: Mutex::new((burst, now)) }
    }

    /// Takes a token at `now` and says how long to wait before using it.
    pub fn reserve(&self, now: Instant) -> Duration {
        if self.qps <= 0.0 {
            return Duration::ZERO;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, since) = *state;
        let elapsed = now.saturating_duration_since(since).as_secs_f64();
        let tokens = (tokens + elapsed * self.qps).min(self.burst) - 1.0;
        *state = (tokens, now.max(since));
        if tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-tokens / self.qps) }
    }
}

/// The bucket for `qps` requests a second with bursts of `burst`; none when `qps` ≤ 0 (no limit).
pub fn bucket(qps: f32, burst: u32) -> Option<Arc<TokenBucket>> {
    (qps > 0.0).then(|| Arc::new(TokenBucket::new(qps, burst, Instant::now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn a_burst_goes_at_once_then_requests_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(10.0, 3, t0);
        let waits: Vec<u128> = (0..6).map(|_| ms(bucket.reserve(t0))).collect();
        // Three tokens, then one every 100 ms, each waiter after the one before it.
        assert_eq!(waits, [0, 0, 0, 100, 200, 300]);
    }

    #[test]
    fn the_bucket_refills_over_time_up_to_the_burst() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(10.0, 2, t0);
        assert_eq!(ms(bucket.reserve(t0)), 0);
        assert_eq!(ms(bucket.reserve(t0)), 0);
        // 50 ms later half a token has come back: wait the other 50.
        assert_eq!(ms(bucket.reserve(t0 + Duration::from_millis(50))), 50);
        // A long idle time refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        let waits: Vec<u128> = (0..3).map(|_| ms(bucket.reserve(later))).collect();
        assert_eq!(waits, [0, 0, 100]);
    }

    #[test]
    fn no_rate_means_no_limit() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(0.0, 1, t0);
        assert!((0..1000).all(|_| bucket.reserve(t0).is_zero()));
    }
}
