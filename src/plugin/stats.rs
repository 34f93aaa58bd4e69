//! What the plugins did, for the controller's `/metrics`: calls by outcome (the error's stable label, or `ok`),
//! call durations, and load failures by reason. Counted where every call and every load passes, for the whole
//! process; the controller exposes them with the plugins it has registered.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use std::sync::LazyLock;
use std::time::Duration;

/// Call durations, in seconds: from a fraction of a millisecond (a condition) to the longest deadlines.
const DURATION_BUCKETS: &[f64] = &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// The process' plugin counters.
pub struct Stats {
    pub calls: IntCounterVec,
    pub duration: HistogramVec,
    pub load_failures: IntCounterVec,
}

static STATS: LazyLock<Stats> = LazyLock::new(|| Stats {
    calls: IntCounterVec::new(
        Opts::new(
            "serin_plugin_calls_total",
            "Plugin calls by plugin and outcome (ok, or the error's kind).",
        ),
        &["plugin", "result"],
    )
    .expect("a valid counter"),
    duration: HistogramVec::new(
        HistogramOpts::new(
            "serin_plugin_call_duration_seconds",
            "Plugin call duration, whatever its outcome.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["plugin"],
    )
    .expect("a valid histogram"),
    load_failures: IntCounterVec::new(
        Opts::new(
            "serin_plugin_load_failures_total",
            "Plugins that could not be loaded, by plugin and reason.",
        ),
        &["plugin", "reason"],
    )
    .expect("a valid counter"),
});

/// The process' plugin counters.
pub fn stats() -> &'static Stats {
    &STATS
}

/// Counts one call of `plugin` that took `took` and ended with `result` (`ok` or an error's label).
pub(crate) fn called(plugin: &str, took: Duration, result: &str) {
    let s = stats();
    s.calls.with_label_values(&[plugin, result]).inc();
    s.duration.with_label_values(&[plugin]).observe(took.as_secs_f64());
}

/// Counts a failed load of `plugin`.
pub(crate) fn load_failed(plugin: &str, reason: &str) {
    stats().load_failures.with_label_values(&[plugin, reason]).inc();
}
