//! Canary `plugin` steps' bookkeeping in `status.canary.stepPluginStatuses` (upstream's `rollout/stepplugin.go`
//! and `rollout/steps/plugin`): which call a pass makes, how an answer changes the entries, and when a step
//! is done. Pure: the controller makes the calls.
//!
//! Entries are keyed by step index and operation, in the order they were first made. A step's `Run` entry is
//! called until it is no longer Running; Successful moves the Rollout on, Failed aborts it, Error is retried
//! after a backoff. When the Rollout is aborted, every plugin step that ran gets one `Abort`, newest entry first;
//! when it is promoted fully while a step still runs, that step gets one `Terminate`.

use crate::api::duration::parse_go_duration;
use crate::api::rollout::{
    CanaryStep, StepPluginOperation as Op, StepPluginPhase as Phase, StepPluginStatus,
};
use jiff::{SignedDuration, Timestamp};

/// A requeue asked for below this is raised to it.
pub const MIN_REQUEUE: SignedDuration = SignedDuration::from_secs(10);
/// The requeue of a running step that asked for none.
pub const DEFAULT_REQUEUE: SignedDuration = SignedDuration::from_secs(30);
/// How long an Error waits before the step runs again.
pub const ERROR_BACKOFF: SignedDuration = SignedDuration::from_secs(30);

/// What a plugin answered to a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub phase: Phase,
    pub message: String,
    /// When running: run again after this long.
    pub requeue_after: Option<SignedDuration>,
    /// The plugin's state for the step (`None`: keep the previous one).
    pub status: Option<serde_json::Value>,
}

/// The entry of step `index` for `op`.
pub fn entry<'a>(statuses: &'a [StepPluginStatus], index: i32, op: &Op) -> Option<&'a StepPluginStatus> {
    statuses.iter().find(|s| s.index == index && &s.operation == op)
}

/// Replaces the entry of the same step and operation in place, or appends it.
pub fn upsert(statuses: &mut Vec<StepPluginStatus>, new: StepPluginStatus) {
    match statuses.iter_mut().find(|s| s.index == new.index && s.operation == new.operation) {
        Some(s) => *s = new,
        None => statuses.push(new),
    }
}

fn is_plugin_step(steps: &[CanaryStep], index: i32) -> bool {
    usize::try_from(index).ok().and_then(|i| steps.get(i)).is_some_and(|s| s.plugin.is_some())
}

/// `isStepPluginCompleted`: the step's run is disabled, Successful or Failed, or still Running but already
/// terminated or aborted.
pub fn completed(statuses: &[StepPluginStatus], index: i32) -> bool {
    let Some(run) = entry(statuses, index, &Op::Run) else { return false };
    if run.disabled.unwrap_or(false) {
        return true;
    }
    match run.phase {
        Some(Phase::Successful | Phase::Failed) => true,
        Some(Phase::Running) => {
            entry(statuses, index, &Op::Terminate).is_some() || entry(statuses, index, &Op::Abort).is_some()
        }
        _ => false,
    }
}

/// `cleanStatusForRetry`: back at the first step of a Rollout that is not aborted (a retry, or a new update), the
/// entries of the previous attempt go, once the first step (when it is a plugin step) has completed again.
pub fn clean_for_retry(statuses: &mut Vec<StepPluginStatus>, steps: &[CanaryStep], index: Option<i32>) {
    if statuses.is_empty() || index != Some(0) || steps.is_empty() {
        return;
    }
    if !is_plugin_step(steps, 0) || completed(statuses, 0) {
        statuses.clear();
    }
}

/// The steps to abort, in the order to abort them: the plugin steps whose run is Running or Successful and
/// that have not been aborted yet, newest entry first. Each gets one `Abort`, never retried.
pub fn to_abort(statuses: &[StepPluginStatus], steps: &[CanaryStep]) -> Vec<(i32, String)> {
    statuses
        .iter()
        .rev()
        .filter(|s| s.operation == Op::Run && is_plugin_step(steps, s.index))
        .filter(|s| {
            !s.disabled.unwrap_or(false) && matches!(s.phase, Some(Phase::Running | Phase::Successful))
        })
        .filter(|s| entry(statuses, s.index, &Op::Abort).is_none())
        .map(|s| (s.index, s.name.clone()))
        .collect()
}

/// `getStepToTerminate`: on full promotion, the newest step still running, unless one was terminated already.
pub fn to_terminate(statuses: &[StepPluginStatus], steps: &[CanaryStep]) -> Option<(i32, String)> {
    for s in statuses.iter().rev() {
        if s.operation == Op::Terminate && s.phase == Some(Phase::Successful) {
            return None;
        }
        if s.operation == Op::Run && s.phase == Some(Phase::Running) && !s.disabled.unwrap_or(false) {
            let done = entry(statuses, s.index, &Op::Terminate).is_some();
            return (!done && is_plugin_step(steps, s.index)).then(|| (s.index, s.name.clone()));
        }
    }
    None
}

/// The steps a new revision leaves behind while they run: each running step that was neither terminated nor
/// aborted, to be terminated before the entries go.
pub fn superseded(statuses: &[StepPluginStatus]) -> Vec<(i32, String)> {
    statuses
        .iter()
        .filter(|s| s.operation == Op::Run && s.phase == Some(Phase::Running) && !s.disabled.unwrap_or(false))
        .filter(|s| !completed(statuses, s.index))
        .map(|s| (s.index, s.name.clone()))
        .collect()
}

/// What to do about the current step's run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunPlan {
    /// Finished (Successful or Failed): nothing to call.
    Finished,
    /// The plugin is disabled: the step is recorded as such and skipped.
    Disabled(StepPluginStatus),
    /// Not before this time (a backoff).
    Wait(Timestamp),
    /// Call `run`; the entry to update with the answer.
    Call(StepPluginStatus),
}

fn time(t: Timestamp) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    super::pause::meta_time(t)
}

fn backoff(entry: &StepPluginStatus) -> SignedDuration {
    // An unreadable backoff (written by hand) waits as an error would rather than stopping the step for good.
    entry.backoff.as_deref().map(parse_go_duration).and_then(Result::ok).unwrap_or(ERROR_BACKOFF)
}

/// When the step's run may next be called: its last update plus its backoff.
pub fn due(entry: &StepPluginStatus) -> Option<Timestamp> {
    if entry.executions.unwrap_or(0) == 0 {
        return None;
    }
    let updated = entry.updated_at.as_ref()?.0;
    updated.checked_add(backoff(entry)).ok()
}

/// Whether and how the current step `index` (plugin `name`) is run now.
pub fn plan_run(
    statuses: &[StepPluginStatus],
    index: i32,
    name: &str,
    disabled: bool,
    now: Timestamp,
) -> RunPlan {
    if disabled {
        let mut e = blank(index, name, Op::Run);
        e.disabled = Some(true);
        return RunPlan::Disabled(e);
    }
    let existing = entry(statuses, index, &Op::Run).filter(|e| !e.disabled.unwrap_or(false));
    let Some(e) = existing else {
        let mut e = blank(index, name, Op::Run);
        e.phase = Some(Phase::Running);
        e.started_at = Some(time(now));
        return RunPlan::Call(e);
    };
    if matches!(e.phase, Some(Phase::Successful | Phase::Failed)) {
        return RunPlan::Finished;
    }
    match due(e) {
        Some(at) if at > now => RunPlan::Wait(at),
        _ => RunPlan::Call(e.clone()),
    }
}

fn blank(index: i32, name: &str, operation: Op) -> StepPluginStatus {
    StepPluginStatus {
        index,
        name: name.to_string(),
        started_at: None,
        updated_at: None,
        finished_at: None,
        phase: None,
        message: None,
        backoff: None,
        executions: None,
        disabled: None,
        status: None,
        operation,
    }
}

/// How long a running step waits before its next run: what it asked for, at least [`MIN_REQUEUE`], or
/// [`DEFAULT_REQUEUE`] when it asked for nothing.
pub fn requeue(asked: Option<SignedDuration>) -> SignedDuration {
    match asked {
        Some(d) if d > SignedDuration::ZERO => d.max(MIN_REQUEUE),
        _ => DEFAULT_REQUEUE,
    }
}

/// The run entry after a call of `run` answered `answer` (an error: the call itself failed).
pub fn after_run(
    mut e: StepPluginStatus,
    answer: Result<Answer, String>,
    now: Timestamp,
) -> StepPluginStatus {
    e.updated_at = Some(time(now));
    e.executions = Some(e.executions.unwrap_or(0).saturating_add(1));
    match answer {
        Err(message) => {
            // An error keeps the last good status and is retried after the error backoff.
            e.phase = Some(Phase::Error);
            e.message = Some(message);
            e.backoff = Some(format_go_duration(ERROR_BACKOFF));
        }
        Ok(a) => {
            e.message = Some(a.message);
            e.phase = Some(a.phase.clone());
            match a.phase {
                Phase::Error => e.backoff = Some(format_go_duration(ERROR_BACKOFF)),
                phase => {
                    if a.status.is_some() {
                        e.status = a.status;
                    }
                    if phase == Phase::Running {
                        e.backoff = Some(format_go_duration(requeue(a.requeue_after)));
                    } else {
                        e.backoff = None;
                        e.finished_at = Some(time(now));
                    }
                }
            }
        }
    }
    e
}

/// The entry an `Abort` or `Terminate` call leaves: it runs once and is never retried, so an answer that
/// would have it go on running is recorded as Failed.
pub fn after_final(
    index: i32,
    name: &str,
    operation: Op,
    answer: Result<Answer, String>,
    now: Timestamp,
) -> StepPluginStatus {
    let mut e = blank(index, name, operation);
    e.started_at = Some(time(now));
    e.finished_at = Some(time(now));
    match answer {
        Err(message) => {
            e.phase = Some(Phase::Error);
            e.message = Some(message);
        }
        Ok(a) => {
            let running = a.phase == Phase::Running;
            e.phase = Some(if running { Phase::Failed } else { a.phase });
            e.message = Some(if running {
                let what = if e.operation == Op::Abort { "abort" } else { "terminate" };
                format!("{what} cannot run asynchronously: {}", a.message)
            } else {
                a.message
            });
        }
    }
    e
}

/// Go's `Duration.String` for whole milliseconds and more: `30s`, `1m0s`, `1h0m0s`, `1.5s`, `500ms`.
pub fn format_go_duration(d: SignedDuration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::PluginStep;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn st(index: i32, op: Op, phase: Option<Phase>) -> StepPluginStatus {
        let mut e = blank(index, "org/p", op);
        e.phase = phase;
        e
    }

    fn steps(kinds: &str) -> Vec<CanaryStep> {
        kinds
            .chars()
            .map(|c| match c {
                'p' => CanaryStep {
                    plugin: Some(PluginStep { name: "org/p".into(), config: None }),
                    ..Default::default()
                },
                _ => CanaryStep { set_weight: Some(10), ..Default::default() },
            })
            .collect()
    }

    #[test]
    fn go_durations_print_as_go_prints_them() {
        for (ms, want) in [
            (0, "0s"),
            (500, "500ms"),
            (1_500, "1.5s"),
            (10_000, "10s"),
            (30_000, "30s"),
            (60_000, "1m0s"),
            (90_000, "1m30s"),
            (3_600_000, "1h0m0s"),
            (3_661_250, "1h1m1.25s"),
            (-2_000, "-2s"),
        ] {
            let d = SignedDuration::from_millis(ms);
            assert_eq!(format_go_duration(d), want);
            assert_eq!(parse_go_duration(want).unwrap(), d, "{want} reads back");
        }
    }

    #[test]
    fn requeues_have_a_floor_and_a_default() {
        // (asked, waits): serin raises a short requeue to the minimum; upstream turns it into the default.
        let s = SignedDuration::from_secs;
        for (asked, want) in [
            (None, s(30)),
            (Some(s(0)), s(30)),
            (Some(SignedDuration::from_millis(100)), s(10)),
            (Some(s(10)), s(10)),
            (Some(s(11)), s(11)),
            (Some(s(3600)), s(3600)),
        ] {
            assert_eq!(requeue(asked), want, "{asked:?}");
        }
    }

    #[test]
    fn a_step_is_complete_when_its_run_finished_or_was_cut_short() {
        use Op::*;
        use Phase::*;
        let cases: Vec<(Vec<StepPluginStatus>, bool)> = vec![
            (vec![], false),
            (vec![st(0, Run, Some(Running))], false),
            (vec![st(0, Run, Some(Error))], false),
            (vec![st(0, Run, Some(Successful))], true),
            (vec![st(0, Run, Some(Failed))], true),
            (vec![st(0, Run, Some(Running)), st(0, Terminate, Some(Successful))], true),
            (vec![st(0, Run, Some(Running)), st(0, Abort, Some(Error))], true),
            (vec![st(1, Run, Some(Successful))], false),
            (vec![StepPluginStatus { disabled: Some(true), ..st(0, Run, None) }], true),
        ];
        for (statuses, want) in cases {
            assert_eq!(completed(&statuses, 0), want, "{statuses:?}");
        }
    }

    #[test]
    fn a_retry_at_the_first_step_starts_afresh() {
        use Op::*;
        use Phase::*;
        let old =
            vec![st(0, Run, Some(Successful)), st(2, Run, Some(Failed)), st(0, Abort, Some(Successful))];
        // (steps, index, entries left)
        let cases: Vec<(&str, Option<i32>, usize)> = vec![
            ("wpp", Some(0), 0), // the first step is not a plugin: cleared
            ("pwp", Some(0), 0), // the first step's run is complete: cleared
            ("wpp", Some(1), 3), // past the first step: kept
            ("wpp", None, 3),    // no current step
            ("", Some(0), 3),    // no steps
        ];
        for (kinds, index, left) in cases {
            let mut s = old.clone();
            clean_for_retry(&mut s, &steps(kinds), index);
            assert_eq!(s.len(), left, "{kinds} at {index:?}");
        }
        // The first step is a plugin whose new run is still going: the old entries stay until it completes.
        let mut s = vec![st(0, Run, Some(Running)), st(2, Run, Some(Failed))];
        clean_for_retry(&mut s, &steps("pwp"), Some(0));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn aborts_go_newest_first_once_to_steps_that_ran() {
        use Op::*;
        use Phase::*;
        let s = vec![
            st(0, Run, Some(Successful)),
            st(2, Run, Some(Successful)),
            st(3, Run, Some(Failed)),
            st(4, Run, Some(Error)),
            st(5, Run, Some(Running)),
        ];
        let names = |v: Vec<(i32, String)>| v.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(
            names(to_abort(&s, &steps("ppppppp"))),
            [5, 2, 0],
            "failed and errored runs are not aborted"
        );
        assert_eq!(
            names(to_abort(&s, &steps("pwpppwp"))),
            [2, 0],
            "a step that is no longer a plugin is not"
        );
        let mut done = s.clone();
        done.push(st(5, Abort, Some(Error)));
        assert_eq!(names(to_abort(&done, &steps("ppppppp"))), [2, 0], "an abort is never retried");
    }

    #[test]
    fn full_promotion_terminates_the_newest_running_step_once() {
        use Op::*;
        use Phase::*;
        let s = vec![st(0, Run, Some(Successful)), st(1, Run, Some(Running))];
        assert_eq!(to_terminate(&s, &steps("pp")), Some((1, "org/p".into())));
        assert_eq!(to_terminate(&s, &steps("pw")), None, "no longer a plugin step");
        let mut done = s.clone();
        done.push(st(1, Terminate, Some(Error)));
        assert_eq!(to_terminate(&done, &steps("pp")), None, "a terminate is never retried");
        assert_eq!(to_terminate(&[st(0, Run, Some(Successful))], &steps("p")), None);
    }

    #[test]
    fn a_new_revision_terminates_the_steps_still_running() {
        use Op::*;
        use Phase::*;
        let s = vec![
            st(0, Run, Some(Successful)),
            st(1, Run, Some(Running)),
            st(2, Run, Some(Running)),
            st(2, Abort, Some(Successful)),
            st(3, Run, Some(Error)),
            StepPluginStatus { disabled: Some(true), ..st(4, Run, None) },
        ];
        assert_eq!(superseded(&s), [(1, "org/p".to_string())], "only the step running and not yet cut short");
        assert!(superseded(&[]).is_empty());
    }

    #[test]
    fn a_run_is_called_when_due() {
        use Op::*;
        use Phase::*;
        // A first run.
        let RunPlan::Call(e) = plan_run(&[], 1, "org/p", false, at(0)) else {
            panic!("a first run is called")
        };
        assert_eq!(
            (e.phase.clone(), e.started_at.clone(), e.executions),
            (Some(Running), Some(time(at(0))), None)
        );
        // Disabled: recorded, not called.
        let RunPlan::Disabled(d) = plan_run(&[], 1, "org/p", true, at(0)) else { panic!("disabled") };
        assert_eq!((d.disabled, d.phase), (Some(true), None));
        // A running step waits for its backoff.
        let running = StepPluginStatus {
            executions: Some(1),
            updated_at: Some(time(at(0))),
            backoff: Some("30s".into()),
            ..st(1, Run, Some(Running))
        };
        let statuses = vec![running.clone()];
        assert_eq!(plan_run(&statuses, 1, "org/p", false, at(10)), RunPlan::Wait(at(30)));
        assert_eq!(plan_run(&statuses, 1, "org/p", false, at(30)), RunPlan::Call(running.clone()));
        // Finished runs are not called again.
        for phase in [Successful, Failed] {
            assert_eq!(plan_run(&[st(1, Run, Some(phase))], 1, "org/p", false, at(0)), RunPlan::Finished);
        }
        // A disabled entry whose plugin is enabled again starts afresh.
        let was = StepPluginStatus { disabled: Some(true), ..st(1, Run, None) };
        let RunPlan::Call(e) = plan_run(&[was], 1, "org/p", false, at(5)) else { panic!("called") };
        assert_eq!((e.phase, e.disabled), (Some(Running), None));
    }

    #[test]
    fn answers_update_the_run_entry() {
        use Phase::*;
        let first = match plan_run(&[], 0, "org/p", false, at(0)) {
            RunPlan::Call(e) => e,
            other => panic!("{other:?}"),
        };
        let answer = |phase: Phase, requeue: Option<i64>, status: Option<serde_json::Value>| Answer {
            phase,
            message: "m".into(),
            requeue_after: requeue.map(SignedDuration::from_secs),
            status,
        };
        let running =
            after_run(first.clone(), Ok(answer(Running, Some(5), Some(serde_json::json!({"n": 1})))), at(1));
        assert_eq!(running.phase, Some(Running));
        assert_eq!((running.executions, running.backoff.as_deref()), (Some(1), Some("10s")));
        assert_eq!(running.status, Some(serde_json::json!({"n": 1})));
        assert_eq!(running.finished_at, None);
        // An error keeps the status and waits the error backoff; so does an Error the plugin answers itself.
        for errored in [
            after_run(running.clone(), Err("boom".into()), at(20)),
            after_run(running.clone(), Ok(answer(Error, None, Some(serde_json::json!({"n": 9})))), at(20)),
        ] {
            assert_eq!(errored.phase, Some(Error));
            assert_eq!((errored.executions, errored.backoff.as_deref()), (Some(2), Some("30s")));
            assert_eq!(errored.status, Some(serde_json::json!({"n": 1})));
            assert_eq!(due(&errored), Some(at(50)));
        }
        let done = after_run(running.clone(), Ok(answer(Successful, None, None)), at(30));
        assert_eq!(
            (done.phase, done.backoff, done.finished_at),
            (Some(Successful), None, Some(time(at(30))))
        );
        assert_eq!(done.status, Some(serde_json::json!({"n": 1})), "no new status keeps the old one");
        assert_eq!(done.started_at, Some(time(at(0))));
    }

    #[test]
    fn aborts_and_terminations_run_once_to_an_end() {
        use Phase::*;
        let a = |phase| Answer { phase, message: "m".into(), requeue_after: None, status: None };
        let e = after_final(2, "org/p", Op::Abort, Ok(a(Running)), at(0));
        assert_eq!(
            (e.phase, e.message.as_deref()),
            (Some(Failed), Some("abort cannot run asynchronously: m"))
        );
        let e = after_final(2, "org/p", Op::Terminate, Ok(a(Successful)), at(0));
        assert_eq!(
            (e.phase, e.operation, e.finished_at),
            (Some(Successful), Op::Terminate, Some(time(at(0))))
        );
        let e = after_final(2, "org/p", Op::Abort, Err("trap".into()), at(0));
        assert_eq!((e.phase, e.message.as_deref()), (Some(Error), Some("trap")));
    }
}
