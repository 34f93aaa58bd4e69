//! Fault injection for reliability tests: request delay and a seeded fraction of failing writes.

use std::sync::Mutex;
use std::time::Duration;

use super::object::Rng;
use super::registry::GroupResource;
use super::status::{ApiError, MODIFIED_MESSAGE};

/// An error a faulty write can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// 409 Conflict, as if the object had been modified meanwhile.
    Conflict,
    /// 500 InternalError.
    Internal,
    /// 429 TooManyRequests with `Retry-After`.
    TooManyRequests,
}

/// Faults to inject; `Faults::default()` injects none.
///
/// Decisions are drawn from a generator seeded with `seed`, so the same sequence of writes fails the same way on
/// every run. Only requests from HTTP clients are affected, never the simulated kubelet/controllers.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every request before it is served.
    pub delay: Duration,
    /// Fraction (0.0–1.0) of writes (POST/PUT/PATCH/DELETE) that fail.
    pub write_error_rate: f64,
    /// Errors to pick from (cycled through in order) when a write fails; empty means `Internal`.
    pub write_errors: Vec<InjectedError>,
    /// Seed for the decision sequence.
    pub seed: u64,
    /// `Retry-After` seconds for 429 answers.
    pub retry_after_seconds: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            delay: Duration::ZERO,
            write_error_rate: 0.0,
            write_errors: vec![],
            seed: 1,
            retry_after_seconds: 1,
        }
    }
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Delay every request.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Fail `rate` of writes with the given errors (cycled).
    pub fn failing_writes(mut self, rate: f64, errors: &[InjectedError]) -> Self {
        self.write_error_rate = rate.clamp(0.0, 1.0);
        self.write_errors = errors.to_vec();
        self
    }

    /// Seed for the decisions.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// `Retry-After` for 429s.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = seconds;
        self
    }
}

struct Inner {
    faults: Faults,
    rng: Rng,
    picks: usize,
}

/// Live fault state shared by the server's handlers.
pub struct FaultInjector {
    inner: Mutex<Inner>,
}

impl FaultInjector {
    /// Starts with the given faults.
    pub fn new(faults: Faults) -> Self {
        let rng = Rng::seeded(faults.seed);
        FaultInjector { inner: Mutex::new(Inner { faults, rng, picks: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the faults and restarts the seeded sequence.
    pub fn set(&self, faults: Faults) {
        let mut g = self.lock();
        g.rng = Rng::seeded(faults.seed);
        g.picks = 0;
        g.faults = faults;
    }

    /// The current faults.
    pub fn get(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Delay to add to a request.
    pub fn delay(&self) -> Duration {
        self.lock().faults.delay
    }

    /// Whether this write should fail, and how.
    pub fn write_error(&self, gr: &GroupResource, name: &str) -> Option<ApiError> {
        let mut g = self.lock();
        if g.faults.write_error_rate <= 0.0 || g.rng.next_f64() >= g.faults.write_error_rate {
            return None;
        }
        let kinds = if g.faults.write_errors.is_empty() {
            vec![InjectedError::Internal]
        } else {
            g.faults.write_errors.clone()
        };
        let kind = kinds[g.picks % kinds.len()];
        g.picks += 1;
        Some(match kind {
            InjectedError::Conflict => ApiError::conflict(gr, name, MODIFIED_MESSAGE),
            InjectedError::Internal => ApiError::internal("injected fault"),
            InjectedError::TooManyRequests => ApiError::too_many_requests(g.faults.retry_after_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_fails_the_same_writes() {
        let gr = GroupResource::new("", "configmaps");
        let run = || {
            let f = FaultInjector::new(
                Faults::none().failing_writes(0.5, &[InjectedError::Conflict]).with_seed(9),
            );
            (0..32).map(|_| f.write_error(&gr, "x").map(|e| e.code)).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
        assert!(a.iter().flatten().all(|c| *c == 409));
    }
}
