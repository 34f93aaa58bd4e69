//! Client-side rate limiting of the controller's API requests (upstream's `--qps` and `--burst`): a token bucket
//! filled at `qps` tokens a second up to `burst`; a request takes one token, and when none is left it waits its
//! turn. Turns are reserved in arrival order, as client-go's limiter does, so no request waits behind later ones.
//! The controller's client applies it (`metrics::counting_client`).
//!
//! Without an explicit `--qps` the bucket follows the API server: SIG API Machinery recommends relying on the
//! server's API Priority and Fairness (APF, on by default since Kubernetes 1.20) rather than a client-side limit,
//! and controller-runtime dropped its default limit for that reason. A server with APF says so in every answer
//! (the `X-Kubernetes-PF-FlowSchema-UID` and `X-Kubernetes-PF-PriorityLevel-UID` headers); once one answer
//! carries them the bucket stops limiting, and until then (or against a server without APF) it limits at serin's
//! default rate. The server then protects itself by queueing, or by answering 429 with a `Retry-After`, which
//! kube's client waits out before it retries, as client-go does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The response headers by which an API server with priority and fairness names the flow schema and priority
/// level a request was classified into.
pub const FLOW_CONTROL_HEADERS: [&str; 2] =
    ["x-kubernetes-pf-flowschema-uid", "x-kubernetes-pf-prioritylevel-uid"];

/// A token bucket. `qps` ≤ 0 means no limit.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens left (negative: reserved by requests that are waiting) as of the instant beside it.
    state: Mutex<(f64, Instant)>,
    /// Whether the bucket stops limiting once the server shows it has flow control of its own.
    follows_server: bool,
    server_flow_control: AtomicBool,
}

impl TokenBucket {
    pub fn new(qps: f32, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            qps: f64::from(qps),
            burst,
            state: Mutex::new((burst, now)),
            follows_server: false,
            server_flow_control: AtomicBool::new(false),
        }
    }

    /// A bucket that limits at `qps` until an answer of the API server shows it has priority and fairness.
    pub fn following_server(qps: f32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket { follows_server: true, ..TokenBucket::new(qps, burst, now) }
    }

    /// Looks at the headers of an answer of the API server; true when they are the first to show that the server
    /// has priority and fairness and the bucket, following it, stops limiting.
    pub fn server_answered(&self, headers: &http::HeaderMap) -> bool {
        self.follows_server
            && !self.server_flow_control.load(Ordering::Relaxed)
            && FLOW_CONTROL_HEADERS.iter().any(|h| headers.contains_key(*h))
            && !self.server_flow_control.swap(true, Ordering::Relaxed)
    }

    /// Whether the bucket limits requests now.
    pub fn limits(&self) -> bool {
        self.qps > 0.0 && !self.server_flow_control.load(Ordering::Relaxed)
    }

    /// Takes a token at `now` and says how long to wait before using it.
    pub fn reserve(&self, now: Instant) -> Duration {
        if !self.limits() {
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

/// The bucket for `qps` requests a second with bursts of `burst`; none when `qps` ≤ 0 (no limit). Without a
/// `qps`, the bucket follows the server, limiting at `default_qps` until it shows it has flow control.
pub fn bucket(qps: Option<f32>, default_qps: f32, burst: u32) -> Option<Arc<TokenBucket>> {
    let now = Instant::now();
    match qps {
        None => Some(Arc::new(TokenBucket::following_server(default_qps, burst, now))),
        Some(qps) => (qps > 0.0).then(|| Arc::new(TokenBucket::new(qps, burst, now))),
    }
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn a_bucket_following_the_server_stops_limiting_once_an_answer_shows_flow_control() {
        let t0 = Instant::now();
        let bucket = TokenBucket::following_server(10.0, 1, t0);
        assert_eq!(ms(bucket.reserve(t0)), 0);
        assert_eq!(ms(bucket.reserve(t0)), 100, "limits at its rate before the server has answered");
        assert!(!bucket.server_answered(&headers(&[("content-type", "application/json")])));
        assert!(bucket.limits(), "an answer without the headers changes nothing");
        let apf =
            headers(&[("x-kubernetes-pf-flowschema-uid", "1"), ("x-kubernetes-pf-prioritylevel-uid", "2")]);
        assert!(bucket.server_answered(&apf), "the first answer with the headers switches");
        assert!(!bucket.server_answered(&apf), "and only the first says so");
        assert!(!bucket.limits());
        assert!((0..1000).all(|_| bucket.reserve(t0).is_zero()));
    }

    #[test]
    fn an_explicit_rate_is_kept_whatever_the_server_says() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(10.0, 1, t0);
        assert!(!bucket.server_answered(&headers(&[("x-kubernetes-pf-flowschema-uid", "1")])));
        assert!(bucket.limits());
        assert_eq!(ms(bucket.reserve(t0)), 0);
        assert_eq!(ms(bucket.reserve(t0)), 100);
    }

    #[test]
    fn the_flags_choose_the_bucket() {
        let following = bucket(None, 200.0, 400).expect("a bucket");
        assert!(following.follows_server && following.limits());
        let fixed = bucket(Some(40.0), 200.0, 80).expect("a bucket");
        assert!(!fixed.follows_server && fixed.qps == 40.0 && fixed.burst == 80.0);
        assert!(bucket(Some(0.0), 200.0, 400).is_none());
        assert!(bucket(Some(-1.0), 200.0, 400).is_none());
    }

    #[test]
    fn no_rate_means_no_limit() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(0.0, 1, t0);
        assert!((0..1000).all(|_| bucket.reserve(t0).is_zero()));
    }
}
