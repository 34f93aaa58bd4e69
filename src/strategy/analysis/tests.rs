//! Tables pinning upstream's per-metric and per-run decision rules.

use super::*;
use crate::api::fixtures::prometheus_metric;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("timestamp")
}

/// A metric with the limits a case names.
#[derive(Default, Clone, Copy)]
struct Limits {
    count: Option<i32>,
    interval: Option<&'static str>,
    failure: Option<i32>,
    inconclusive: Option<i32>,
    errors: Option<i32>,
    successes: Option<i32>,
}

fn metric(name: &str, l: Limits) -> Metric {
    let mut m = prometheus_metric(name);
    m.count = l.count.map(IntOrString::Int);
    m.interval = l.interval.map(str::to_string);
    m.failure_limit = l.failure.map(IntOrString::Int);
    m.inconclusive_limit = l.inconclusive.map(IntOrString::Int);
    m.consecutive_error_limit = l.errors.map(IntOrString::Int);
    m.consecutive_success_limit = l.successes.map(IntOrString::Int);
    m
}

/// Counters of a result: (count, successful, failed, inconclusive, error, consecutiveError, consecutiveSuccess).
type Counters = (i32, i32, i32, i32, i32, i32, i32);

/// (case, limits, counters, last measurement, terminating, expected phase, expected reason).
type MetricCase =
    (&'static str, Limits, Counters, Option<Measurement>, bool, AnalysisPhase, Option<&'static str>);

fn measured(phase: AnalysisPhase, finished: Option<i64>) -> Measurement {
    Measurement {
        phase,
        started_at: Some(Time(t(0))),
        finished_at: finished.map(|s| Time(t(s))),
        ..Measurement::default()
    }
}

fn result_with(name: &str, c: Counters, last: Option<Measurement>) -> MetricResult {
    MetricResult {
        name: name.into(),
        phase: AnalysisPhase::Running,
        count: Some(c.0),
        successful: Some(c.1),
        failed: Some(c.2),
        inconclusive: Some(c.3),
        error: Some(c.4),
        consecutive_error: Some(c.5),
        consecutive_success: Some(c.6),
        measurements: last.map(|m| vec![m]),
        ..MetricResult::default()
    }
}

#[test]
fn metric_phase_follows_upstream_rules() {
    use AnalysisPhase::*;
    let done = Some(measured(Successful, Some(1)));
    let none = Limits::default();
    #[rustfmt::skip]
    let cases: Vec<MetricCase> = vec![
        ("no measurement yet", none, (0, 0, 0, 0, 0, 0, 0), None, false, Pending, None),
        ("no measurement, terminating", none, (0, 0, 0, 0, 0, 0, 0), None, true, Successful, None),
        ("in flight", none, (0, 0, 0, 0, 0, 0, 0), Some(measured(Running, None)), false, Running, None),
        ("one failure breaks failureLimit 0", none, (1, 0, 1, 0, 0, 0, 0), done.clone(), false, Failed, Some("failed (1) > failureLimit (0)")),
        ("failures within failureLimit are tolerated at count", Limits { count: Some(5), interval: Some("1s"), failure: Some(2), ..none }, (5, 3, 2, 0, 0, 0, 1), done.clone(), false, Successful, None),
        ("failureLimit -1 disables the failure rule", Limits { count: Some(10), interval: Some("1s"), failure: Some(-1), successes: Some(3), ..none }, (4, 1, 3, 0, 0, 0, 1), done.clone(), false, Running, None),
        ("inconclusive beyond its limit", none, (1, 0, 0, 1, 0, 0, 0), done.clone(), false, Inconclusive, Some("inconclusive (1) > inconclusiveLimit (0)")),
        ("consecutive errors beyond the default limit 4", Limits { interval: Some("1s"), ..none }, (0, 0, 0, 0, 5, 5, 0), Some(measured(Error, Some(1))), false, Error, Some("consecutiveErrors (5) > consecutiveErrorLimit (4)")),
        ("errors within the limit keep running", Limits { interval: Some("1s"), ..none }, (0, 0, 0, 0, 4, 4, 0), Some(measured(Error, Some(1))), false, Running, None),
        ("Error outranks Inconclusive outranks Failed", none, (2, 0, 1, 1, 5, 5, 0), Some(measured(Error, Some(1))), false, Error, Some("consecutiveErrors (5) > consecutiveErrorLimit (4)")),
        ("Inconclusive outranks Failed", none, (2, 0, 1, 1, 0, 0, 0), done.clone(), false, Inconclusive, Some("inconclusive (1) > inconclusiveLimit (0)")),
        ("consecutiveSuccessLimit reached ends early", Limits { count: Some(10), interval: Some("1s"), successes: Some(2), ..none }, (2, 2, 0, 0, 0, 0, 2), done.clone(), false, Successful, None),
        ("count reached before consecutiveSuccessLimit with failureLimit: Inconclusive (quirk 8)", Limits { count: Some(3), interval: Some("1s"), failure: Some(3), successes: Some(3), ..none }, (3, 2, 1, 0, 0, 0, 2), done.clone(), false, Inconclusive, Some("count (3) reached before consecutiveSuccessLimit (3)")),
        ("count reached before consecutiveSuccessLimit without failureLimit: Failed", Limits { count: Some(3), interval: Some("1s"), failure: Some(-1), successes: Some(3), ..none }, (3, 2, 1, 0, 0, 0, 2), done.clone(), false, Failed, Some("count (3) reached before consecutiveSuccessLimit (3)")),
        ("count reached", Limits { count: Some(3), interval: Some("1s"), ..none }, (3, 3, 0, 0, 0, 0, 3), done.clone(), false, Successful, None),
        ("no count and no interval means one measurement", none, (1, 1, 0, 0, 0, 0, 1), done.clone(), false, Successful, None),
        ("unbounded keeps running", Limits { interval: Some("1s"), ..none }, (7, 7, 0, 0, 0, 0, 7), done.clone(), false, Running, None),
        ("unbounded ends Successful when terminated", Limits { interval: Some("1s"), ..none }, (7, 7, 0, 0, 0, 0, 7), done.clone(), true, Successful, None),
        ("only errors, terminated: Error, not Successful (upstream #4479)", Limits { interval: Some("1s"), ..none }, (0, 0, 0, 0, 3, 3, 0), Some(measured(Error, Some(1))), true, Error, Some("no measurement succeeded: all 3 measurement(s) errored")),
        ("failures beyond the default failureLimit of 0 at count", Limits { count: Some(3), interval: Some("1s"), ..none }, (3, 1, 2, 0, 0, 0, 1), done.clone(), false, Failed, Some("failed (2) > failureLimit (0)")),
    ];
    for (name, limits, counters, last, terminating, want, why) in cases {
        let m = metric("m", limits);
        let r = result_with("m", counters, last);
        let (phase, reason) = assess_metric(&m, &r, terminating);
        assert_eq!(phase, want, "{name}");
        assert_eq!(reason.as_deref(), why, "{name}");
    }

    // A completed phase is sticky; a string limit reads as Go's IntValue.
    let mut r = result_with("m", (1, 0, 1, 0, 0, 0, 0), done);
    r.phase = Successful;
    assert_eq!(assess_metric(&metric("m", none), &r, false).0, Successful);
    let mut m = metric("m", none);
    m.failure_limit = Some(IntOrString::String("1".into()));
    r.phase = Running;
    assert_eq!(assess_metric(&m, &r, false).0, Successful);
}

#[test]
fn measurements_move_counters_by_phase() {
    use AnalysisPhase::*;
    let cases: Vec<(AnalysisPhase, Counters)> = vec![
        (Successful, (1, 1, 0, 0, 0, 0, 1)),
        (Failed, (1, 0, 1, 0, 0, 0, 0)),
        (Inconclusive, (1, 0, 0, 1, 0, 0, 0)),
        (Error, (0, 0, 0, 0, 1, 1, 0)),
        (Running, (0, 0, 0, 0, 0, 0, 0)),
    ];
    for (phase, want) in cases {
        let mut r = result_with("m", (0, 0, 0, 0, 0, 0, 0), None);
        record(&mut r, measured(phase.clone(), None), false, t(5));
        let got = (
            n(r.count),
            n(r.successful),
            n(r.failed),
            n(r.inconclusive),
            n(r.error),
            n(r.consecutive_error),
            n(r.consecutive_success),
        );
        assert_eq!(got, want, "{phase}");
        let m = &r.measurements.as_ref().expect("recorded")[0];
        assert_eq!(m.finished_at.is_some(), phase.completed(), "{phase}: finishedAt set on completion only");
    }
    // A success after errors resets the consecutive error count; resuming replaces the in-flight measurement.
    let mut r = result_with("m", (0, 0, 0, 0, 2, 2, 0), Some(measured(Running, None)));
    record(&mut r, measured(Successful, Some(3)), true, t(5));
    assert_eq!((n(r.consecutive_error), n(r.consecutive_success)), (0, 1));
    assert_eq!(r.measurements.as_ref().map(Vec::len), Some(1));
}

fn spec(metrics: Vec<Metric>) -> AnalysisRunSpec {
    AnalysisRunSpec { metrics, ..AnalysisRunSpec::default() }
}

#[test]
fn run_phase_is_the_worst_completed_metric_and_ignores_dry_runs() {
    use AnalysisPhase::*;
    let one = Limits::default();
    let ok = |name: &str| result_with(name, (1, 1, 0, 0, 0, 0, 1), Some(measured(Successful, Some(1))));
    let failed = |name: &str| {
        let mut r = result_with(name, (1, 0, 1, 0, 0, 0, 0), Some(measured(Failed, Some(1))));
        r.measurements.as_mut().expect("m")[0].message = Some("boom".into());
        r
    };
    let s = spec(vec![metric("a", one), metric("b", one)]);

    let mut status =
        AnalysisRunStatus { metric_results: Some(vec![ok("a"), failed("b")]), ..Default::default() };
    let (phase, message) = assess_run(&s, &mut status, &DryRunSet::new(), t(9));
    assert_eq!(phase, Failed);
    assert_eq!(
        message,
        "Metric \"b\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: boom\""
    );
    let summary = status.run_summary.clone().expect("summary");
    assert_eq!((summary.count, summary.successful, summary.failed), (Some(2), Some(1), Some(1)));
    assert!(status.started_at.is_some());

    // The same failure in a dry-run metric does not count; its own message says what it would have done.
    let dry = DryRunSet::from(["b".to_string()]);
    let mut status =
        AnalysisRunStatus { metric_results: Some(vec![ok("a"), failed("b")]), ..Default::default() };
    let (phase, message) = assess_run(&s, &mut status, &dry, t(9));
    assert_eq!((phase, message.as_str()), (Successful, ""));
    let b = result(&status, "b").expect("b");
    assert_eq!(b.message.as_deref(), Some("Metric assessed Failed due to failed (1) > failureLimit (0)"));
    assert_eq!(status.dry_run_summary.expect("dry summary").failed, Some(1));

    // A metric that has not started keeps the run Running.
    let mut status = AnalysisRunStatus { metric_results: Some(vec![ok("a")]), ..Default::default() };
    assert_eq!(assess_run(&s, &mut status, &DryRunSet::new(), t(9)), (Running, String::new()));

    // Terminated: never-measured metrics count as Successful and the message says so.
    let mut terminated = s.clone();
    terminated.terminate = Some(true);
    let mut status = AnalysisRunStatus { metric_results: Some(vec![ok("a")]), ..Default::default() };
    assert_eq!(
        assess_run(&terminated, &mut status, &DryRunSet::new(), t(9)),
        (Successful, "Run Terminated".into())
    );

    // A failed metric terminates the run: once its phase is recorded, the other metric's in-flight measurement
    // is not waited for (it is terminated on that same reconcile).
    let mut status = AnalysisRunStatus {
        metric_results: Some(vec![
            result_with("a", (0, 0, 0, 0, 0, 0, 0), Some(measured(Running, None))),
            failed("b"),
        ]),
        ..Default::default()
    };
    assert_eq!(assess_run(&s, &mut status, &DryRunSet::new(), t(9)).0, Running);
    assert!(is_terminating(&s, &status, &DryRunSet::new()));
    assert_eq!(tasks(&s, &status, &DryRunSet::new(), t(10)), vec![(0, Task::Terminate)]);
    assert_eq!(assess_run(&s, &mut status, &DryRunSet::new(), t(10)).0, Failed);

    // A rule serin decides on beyond the limits is still named on the passes after the metric completed.
    let strict =
        Limits { count: Some(3), interval: Some("1s"), failure: Some(-1), successes: Some(3), ..one };
    let s = spec(vec![metric("a", one), metric("b", strict)]);
    let mut status = AnalysisRunStatus {
        metric_results: Some(vec![
            result_with("a", (0, 0, 0, 0, 0, 0, 0), Some(measured(Running, None))),
            result_with("b", (3, 2, 1, 0, 0, 0, 2), Some(measured(Successful, Some(3)))),
        ]),
        ..Default::default()
    };
    let want = "Metric \"b\" assessed Failed due to count (3) reached before consecutiveSuccessLimit (3)";
    assert_eq!(assess_run(&s, &mut status, &DryRunSet::new(), t(9)), (Running, String::new()));
    let a = status.metric_results.as_mut().and_then(|rs| rs.iter_mut().find(|r| r.name == "a")).expect("a");
    a.measurements = Some(vec![measured(Successful, Some(10))]);
    a.count = Some(1);
    a.successful = Some(1);
    a.consecutive_success = Some(1);
    assert_eq!(assess_run(&s, &mut status, &DryRunSet::new(), t(10)), (Failed, want.to_string()));
}

#[test]
fn due_measurements_follow_intervals_delays_counts_and_errors() {
    let every_10s = Limits { interval: Some("10s"), count: Some(3), ..Limits::default() };
    let delayed = metric("d", Limits { interval: Some("10s"), ..Limits::default() });
    let mut delayed = delayed;
    delayed.initial_delay = Some("30s".into());
    let s = spec(vec![metric("a", every_10s), delayed]);
    let dry = DryRunSet::new();
    let started = AnalysisRunStatus { started_at: Some(Time(t(0))), ..Default::default() };

    // First reconcile: `a` measures, `d` waits for its initial delay.
    assert_eq!(tasks(&s, &started, &dry, t(1)), vec![(0, Task::Measure)]);
    assert_eq!(next_reconcile(&s, &started, t(1)), Some(t(30)));
    assert_eq!(tasks(&s, &started, &dry, t(31)), vec![(0, Task::Measure), (1, Task::Measure)]);

    // After a measurement, the next is due strictly after finishedAt + interval.
    let mut status = started.clone();
    let r = result_mut(&mut status, "a", false);
    record(r, measured(AnalysisPhase::Successful, Some(5)), false, t(5));
    assert_eq!(tasks(&s, &status, &dry, t(15)), vec![]);
    assert_eq!(tasks(&s, &status, &dry, t(16)), vec![(0, Task::Measure)]);

    // After an Error the retry comes 10 s later, whatever the interval.
    let slow = spec(vec![metric("a", Limits { interval: Some("5m"), ..Limits::default() })]);
    let mut status = started.clone();
    record(result_mut(&mut status, "a", false), measured(AnalysisPhase::Error, Some(5)), false, t(5));
    assert_eq!(tasks(&slow, &status, &dry, t(16)), vec![(0, Task::Measure)]);
    assert_eq!(next_reconcile(&slow, &status, t(6)), Some(t(15)));

    // Count reached: nothing more.
    let mut status = started.clone();
    let r = result_mut(&mut status, "a", false);
    for i in 0..3 {
        record(r, measured(AnalysisPhase::Successful, Some(i)), false, t(i));
    }
    assert!(tasks(&s, &status, &dry, t(100)).iter().all(|(i, _)| *i != 0));

    // In flight: resumed when resumeAt has passed; terminated at once when the run terminates.
    let mut status = started.clone();
    let mut m = measured(AnalysisPhase::Running, None);
    m.resume_at = Some(Time(t(20)));
    record(result_mut(&mut status, "a", false), m, false, t(5));
    assert_eq!(tasks(&s, &status, &dry, t(10)), vec![]);
    assert_eq!(tasks(&s, &status, &dry, t(20)), vec![(0, Task::Resume)]);
    let mut terminating = s.clone();
    terminating.terminate = Some(true);
    assert_eq!(tasks(&terminating, &status, &dry, t(10)), vec![(0, Task::Terminate)]);
}

#[test]
fn dry_run_and_retention_rules_are_unanchored_regular_expressions() {
    let metrics = vec![metric("error-rate", Limits::default()), metric("latency", Limits::default())];
    let rule = |p: &str| DryRun { metric_name: p.into() };
    assert_eq!(dry_run_metrics(&[rule(".*")], &metrics).expect("ok").len(), 2);
    assert_eq!(
        dry_run_metrics(&[rule("rate")], &metrics).expect("ok"),
        DryRunSet::from(["error-rate".into()])
    );
    assert_eq!(
        dry_run_metrics(&[rule("nothing")], &metrics).unwrap_err(),
        "dryRun[0]: Rule didn't match any metric name(s)"
    );
    // The CRD comment suggests `*`, which is not a regular expression (upstream quirk 3).
    assert_eq!(
        dry_run_metrics(&[rule("*")], &metrics).unwrap_err(),
        "dryRun[0]: Rule didn't match any metric name(s)"
    );

    let limits = retention_limits(&[MeasurementRetention { metric_name: "lat".into(), limit: 2 }], &metrics)
        .expect("ok");
    let mut status = AnalysisRunStatus::default();
    for name in ["error-rate", "latency"] {
        let r = result_mut(&mut status, name, false);
        for i in 0..11 {
            record(r, measured(AnalysisPhase::Successful, Some(i)), false, t(i));
        }
    }
    let over = over_retention(&status, &limits);
    assert_eq!(over, vec![("error-rate".to_string(), 10), ("latency".to_string(), 2)]);
    trim(&mut status, "latency", 2);
    let kept = result(&status, "latency").and_then(|r| r.measurements.clone()).expect("kept");
    assert_eq!(
        kept.iter().map(|m| m.finished_at.clone().map(|f| f.0)).collect::<Vec<_>>(),
        vec![Some(t(9)), Some(t(10))]
    );
}
