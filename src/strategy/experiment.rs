//! An Experiment's status as upstream computes it (`experiments/experiment.go`, `utils/experiment`): how many
//! pods each template wants, each template's state, whether the experiment is ending, and its phase and message
//! from the worst of its templates and analyses. Pure: the reconciler reads the ReplicaSets and AnalysisRuns and
//! writes what these decide.

use crate::api::common::AnalysisPhase;
use crate::api::duration::parse_go_duration;
use crate::api::experiment::{
    Experiment, ExperimentAnalysisRunStatus, TemplateSpec, TemplateStatus, TemplateStatusCode as Code,
};
use jiff::{SignedDuration, Timestamp};

/// Seconds a template may go without progress before it fails, when the spec says nothing.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Seconds a finished experiment's ReplicaSets stay up, when the spec says nothing.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// The message of an experiment ended early because its required analyses succeeded.
pub const REQUIRED_ANALYSIS_RUNS_COMPLETED: &str = "Required AnalysisRuns completed";

fn status(ex: &Experiment) -> crate::api::experiment::ExperimentStatus {
    ex.status.clone().unwrap_or_default()
}

/// A template state that never changes again.
pub fn template_completed(code: &Code) -> bool {
    matches!(code, Code::Successful | Code::Failed | Code::Error)
}

/// `HasFinished`: the experiment's phase is final.
pub fn finished(ex: &Experiment) -> bool {
    status(ex).phase.as_ref().is_some_and(AnalysisPhase::completed)
}

fn analysis_ended_badly(phase: &AnalysisPhase) -> bool {
    matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive)
}

/// `RequiredAnalysisRunsSuccessful`: at least one analysis is required, and every required one succeeded.
pub fn required_analyses_successful(ex: &Experiment, runs: &[ExperimentAnalysisRunStatus]) -> bool {
    let required: Vec<&str> = ex
        .spec
        .analyses
        .iter()
        .flatten()
        .filter(|a| a.required_for_completion.unwrap_or(false))
        .map(|a| a.name.as_str())
        .collect();
    !required.is_empty()
        && required
            .iter()
            .all(|name| runs.iter().any(|r| r.name == *name && r.phase == AnalysisPhase::Successful))
}

/// `IsTerminating`: asked to end, already ended, a template or analysis gone wrong, or every required analysis
/// done.
pub fn terminating(ex: &Experiment) -> bool {
    let s = status(ex);
    let runs = s.analysis_runs.clone().unwrap_or_default();
    ex.spec.terminate.unwrap_or(false)
        || finished(ex)
        || s.template_statuses.iter().flatten().any(|t| matches!(t.status, Some(Code::Failed | Code::Error)))
        || runs.iter().any(|r| analysis_ended_badly(&r.phase))
        || required_analyses_successful(ex, &runs)
}

/// The experiment's duration, when it has one that reads as a Go duration.
pub fn duration(ex: &Experiment) -> Option<SignedDuration> {
    ex.spec.duration.as_deref().and_then(|d| parse_go_duration(d).ok())
}

/// `PassedDurations`: all templates became available, and the duration has run out since.
pub fn passed_duration(ex: &Experiment, now: Timestamp) -> bool {
    let (Some(at), Some(d)) = (status(ex).available_at, duration(ex)) else { return false };
    at.0.checked_add(d).is_ok_and(|end| now > end)
}

/// The status upstream keeps for template `name`, if any.
pub fn template_status<'a>(statuses: &'a [TemplateStatus], name: &str) -> Option<&'a TemplateStatus> {
    statuses.iter().find(|t| t.name == name)
}

/// `CalculateTemplateReplicasCount`: nothing once the experiment (or this template) is done or ending, else its
/// replicas (1 by default).
pub fn desired_replicas(ex: &Experiment, template: &TemplateSpec) -> i32 {
    let s = status(ex);
    let done = template_status(s.template_statuses.as_deref().unwrap_or(&[]), &template.name)
        .and_then(|t| t.status.as_ref())
        .is_some_and(template_completed);
    if finished(ex) || terminating(ex) || done { 0 } else { template.replicas.unwrap_or(1) }
}

/// A template's next state, from its previous one and its pods: Running once all its pods are available
/// (Successful when the duration has passed or the experiment ends), Failed once it has gone its progress
/// deadline without them, Progressing meanwhile. A completed state stays.
pub fn template_code(
    ex: &Experiment,
    previous: &TemplateStatus,
    desired: i32,
    now: Timestamp,
) -> (Code, Option<String>) {
    if let Some(code) = previous.status.as_ref().filter(|c| template_completed(c)) {
        return (code.clone(), previous.message.clone());
    }
    let ending = terminating(ex);
    if previous.available_replicas == desired {
        if passed_duration(ex, now) || ending {
            return (Code::Successful, None);
        }
        return (Code::Running, None);
    }
    let deadline = ex.spec.progress_deadline_seconds.unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    let since = previous.last_transition_time.as_ref().map(|t| t.0).unwrap_or(now);
    let deadline_at = since.checked_add(SignedDuration::from_secs(deadline.into())).unwrap_or(since);
    if now > deadline_at {
        let message =
            format!("Template '{}' exceeded its progressDeadlineSeconds ({deadline})", previous.name);
        return (Code::Failed, Some(message));
    }
    if ending {
        return (Code::Successful, None);
    }
    (Code::Progressing, None)
}

/// Template states from best to worst.
fn template_rank(code: &Code) -> u8 {
    match code {
        Code::Running => 1,
        Code::Progressing => 2,
        Code::Error => 3,
        Code::Failed => 4,
        _ => 0,
    }
}

/// `assessTemplates`: the worst template's state (one without a status is Progressing) and its message, as an
/// experiment phase.
pub fn assess_templates(ex: &Experiment, statuses: &[TemplateStatus]) -> (AnalysisPhase, String) {
    let mut worst = (Code::Successful, String::new());
    for t in &ex.spec.templates {
        let s = template_status(statuses, &t.name);
        let code = s.and_then(|s| s.status.clone()).unwrap_or(Code::Progressing);
        if template_rank(&code) > template_rank(&worst.0) {
            worst = (code, s.and_then(|s| s.message.clone()).unwrap_or_default());
        }
    }
    let phase = match worst.0 {
        Code::Progressing => AnalysisPhase::Pending,
        Code::Running => AnalysisPhase::Running,
        Code::Failed => AnalysisPhase::Failed,
        Code::Error => AnalysisPhase::Error,
        _ => AnalysisPhase::Successful,
    };
    (phase, worst.1)
}

/// Analysis phases from best to worst (an empty or unknown one counts as best).
fn analysis_rank(phase: &AnalysisPhase) -> u8 {
    match phase {
        AnalysisPhase::Running => 1,
        AnalysisPhase::Pending => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
        _ => 0,
    }
}

/// `assessAnalysisRuns`: the worst analysis' phase and message (Successful with [`REQUIRED_ANALYSIS_RUNS_COMPLETED`]
/// when every analysis succeeded and some were required); a Pending worst is reported as Running.
pub fn assess_analyses(ex: &Experiment, runs: &[ExperimentAnalysisRunStatus]) -> (AnalysisPhase, String) {
    let mut worst = (AnalysisPhase::Successful, String::new());
    for r in runs {
        if analysis_rank(&r.phase) > analysis_rank(&worst.0) {
            worst = (r.phase.clone(), r.message.clone().unwrap_or_default());
        }
    }
    if required_analyses_successful(ex, runs)
        && analysis_rank(&worst.0) < analysis_rank(&AnalysisPhase::Running)
    {
        return (AnalysisPhase::Successful, REQUIRED_ANALYSIS_RUNS_COMPLETED.into());
    }
    if worst.0 == AnalysisPhase::Pending {
        worst.0 = AnalysisPhase::Running;
    }
    worst
}

/// What `calculateStatus` decides for the new status: the phase, its message, and `availableAt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessed {
    pub phase: AnalysisPhase,
    pub message: String,
    /// Set once, when every template first runs.
    pub available_at: Option<Timestamp>,
}

/// `calculateStatus`: a new experiment is Pending; a Pending or Running one takes the worst of its templates
/// and analyses (ending early on an analysis gone wrong, or when its required analyses succeeded); a finished
/// one keeps its phase.
pub fn assess(
    ex: &Experiment,
    templates: &[TemplateStatus],
    runs: &[ExperimentAnalysisRunStatus],
    now: Timestamp,
) -> Assessed {
    let old = status(ex);
    let mut available_at = old.available_at.as_ref().map(|t| t.0);
    let (phase, message) = match old.phase.clone() {
        None => (AnalysisPhase::Pending, old.message.clone().unwrap_or_default()),
        Some(AnalysisPhase::Pending | AnalysisPhase::Running) => {
            let (t, t_message) = assess_templates(ex, templates);
            let (a, a_message) = assess_analyses(ex, runs);
            if t == AnalysisPhase::Running && available_at.is_none() {
                available_at = Some(now);
            }
            let any_required =
                ex.spec.analyses.iter().flatten().any(|a| a.required_for_completion.unwrap_or(false));
            if t.completed() {
                if t == AnalysisPhase::Successful && (a.completed() || any_required) {
                    (a, a_message)
                } else {
                    (t, t_message)
                }
            } else if (a.completed() && a != AnalysisPhase::Successful)
                || required_analyses_successful(ex, runs)
            {
                (a, a_message)
            } else {
                (t, t_message)
            }
        }
        Some(done) => (done, old.message.clone().unwrap_or_default()),
    };
    Assessed { phase, message, available_at }
}

/// The AnalysisRun name of analysis `analysis` (`<experiment>-<analysis>`; `.1`, `.2`, ... on collisions).
pub fn run_name(experiment: &str, analysis: &str) -> String {
    format!("{experiment}-{analysis}")
}

/// A template's ReplicaSet as the analyses' arguments see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateReplicaSet {
    pub template: String,
    pub name: String,
    pub pod_template_hash: String,
}

/// `ResolveExperimentArgsValue`: an argument value with `{{templates.<t>.podTemplateHash}}`,
/// `{{templates.<t>.replicaset.name}}`, `{{experiment.availableAt}}` and `{{experiment.finishedAt}}` filled in
/// (times in RFC 3339, seconds); any other placeholder is an error.
pub fn resolve_arg_value(value: &str, ex: &Experiment, rss: &[TemplateReplicaSet]) -> Result<String, String> {
    let mut known = std::collections::BTreeMap::new();
    if let Some(at) = status(ex).available_at {
        let rfc3339 = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        known.insert("experiment.availableAt".to_string(), rfc3339(at.0));
        if let Some(d) = ex.spec.duration.as_deref() {
            let d = parse_go_duration(d).map_err(|e| format!("spec.duration: {e}"))?;
            let end = at.0.checked_add(d).map_err(|e| format!("spec.duration: {e}"))?;
            known.insert("experiment.finishedAt".to_string(), rfc3339(end));
        }
    }
    for rs in rss {
        known.insert(format!("templates.{}.podTemplateHash", rs.template), rs.pod_template_hash.clone());
        known.insert(format!("templates.{}.replicaset.name", rs.template), rs.name.clone());
    }
    let mut unresolved = None;
    let out = crate::api::common::substitute_placeholders(value, |tag| {
        let v = known.get(tag).cloned();
        if v.is_none() {
            unresolved.get_or_insert_with(|| tag.to_string());
        }
        v
    });
    match unresolved {
        Some(tag) => Err(format!("failed to resolve {{{{{tag}}}}}")),
        None => Ok(out),
    }
}

/// What one analysis of the experiment needs this pass (`reconcileAnalysisRun`).
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisAction {
    /// The templates are not all available yet: only check that the AnalysisTemplate exists.
    Verify,
    /// Start the run.
    Create,
    /// Nothing to do: ending before the run was started, or the run's phase is already final.
    Keep,
    /// The run the status names is gone.
    Missing,
    /// Follow the run's phase; stop it first when the experiment is ending.
    Follow { terminate: bool },
}

/// Decides [`AnalysisAction`] from the experiment as read, the analysis' status and its run. Unlike upstream,
/// whose status stops following a run once the experiment ends (an experiment with required analyses would
/// then stay Running), a stopped run is still followed to its final phase.
pub fn analysis_action(
    ex: &Experiment,
    previous: &ExperimentAnalysisRunStatus,
    run: Option<&crate::api::analysis::AnalysisRun>,
) -> AnalysisAction {
    if status(ex).available_at.is_none() {
        return AnalysisAction::Verify;
    }
    if previous.analysis_run.is_empty() {
        return if terminating(ex) { AnalysisAction::Keep } else { AnalysisAction::Create };
    }
    if previous.phase.completed() {
        return AnalysisAction::Keep;
    }
    let Some(run) = run else { return AnalysisAction::Missing };
    let run_done = run.status.as_ref().and_then(|s| s.phase.as_ref()).is_some_and(AnalysisPhase::completed);
    AnalysisAction::Follow { terminate: terminating(ex) && !run_done && !run.spec.terminate.unwrap_or(false) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::experiment::{ExperimentAnalysisTemplateRef, ExperimentSpec, ExperimentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn experiment(
        templates: &[&str],
        change: impl FnOnce(&mut ExperimentSpec, &mut ExperimentStatus),
    ) -> Experiment {
        let mut spec = ExperimentSpec {
            templates: templates
                .iter()
                .map(|n| TemplateSpec { name: n.to_string(), replicas: Some(2), ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let mut status = ExperimentStatus { phase: Some(AnalysisPhase::Running), ..Default::default() };
        change(&mut spec, &mut status);
        let mut ex = Experiment::new("ex", spec);
        ex.status = Some(status);
        ex
    }

    fn tstatus(name: &str, code: Option<Code>, available: i32) -> TemplateStatus {
        TemplateStatus {
            name: name.into(),
            available_replicas: available,
            status: code,
            last_transition_time: Some(Time(at(0))),
            ..Default::default()
        }
    }

    fn run(name: &str, phase: AnalysisPhase) -> ExperimentAnalysisRunStatus {
        ExperimentAnalysisRunStatus {
            name: name.into(),
            analysis_run: format!("ex-{name}"),
            phase,
            message: Some(format!("{name} says so")),
        }
    }

    fn analyses(names: &[(&str, bool)]) -> Option<Vec<ExperimentAnalysisTemplateRef>> {
        Some(
            names
                .iter()
                .map(|(n, required)| ExperimentAnalysisTemplateRef {
                    name: n.to_string(),
                    template_name: "t".into(),
                    required_for_completion: Some(*required),
                    ..Default::default()
                })
                .collect(),
        )
    }

    #[test]
    fn templates_run_once_their_pods_are_available_and_fail_past_their_deadline() {
        use Code::*;
        // (duration passed, terminate, previous code, available of 2, seconds since the last change, want)
        let cases: Vec<(bool, bool, Option<Code>, i32, i64, Code)> = vec![
            (false, false, None, 0, 10, Progressing),
            (false, false, Some(Progressing), 2, 10, Running),
            (true, false, Some(Running), 2, 10, Successful),
            (false, true, Some(Running), 2, 10, Successful),
            (false, false, Some(Progressing), 1, 601, Failed),
            (false, false, Some(Progressing), 1, 600, Progressing),
            (false, true, Some(Progressing), 1, 10, Successful),
            (false, false, Some(Failed), 2, 10, Failed),
            (false, false, Some(Error), 2, 10, Error),
        ];
        for (passed, terminate, code, available, since, want) in cases {
            let ex = experiment(&["a"], |spec, status| {
                spec.terminate = Some(terminate);
                spec.duration = Some("60s".into());
                status.available_at = Some(Time(at(if passed { -100 } else { 0 })));
            });
            let previous = tstatus("a", code.clone(), available);
            let (got, message) = template_code(&ex, &previous, 2, at(since));
            assert_eq!(got, want, "passed {passed}, terminate {terminate}, {code:?}, {available}, {since}s");
            if got == Failed && code != Some(Failed) {
                assert_eq!(
                    message.as_deref(),
                    Some("Template 'a' exceeded its progressDeadlineSeconds (600)")
                );
            }
        }
    }

    #[test]
    fn templates_want_their_replicas_until_the_experiment_ends() {
        let ex = experiment(&["a", "b"], |spec, status| {
            spec.templates[1].replicas = None;
            status.template_statuses = Some(vec![tstatus("a", Some(Code::Running), 2)]);
        });
        assert_eq!(
            (desired_replicas(&ex, &ex.spec.templates[0]), desired_replicas(&ex, &ex.spec.templates[1])),
            (2, 1)
        );
        for end in [
            experiment(&["a"], |spec, _| spec.terminate = Some(true)),
            experiment(&["a"], |_, status| status.phase = Some(AnalysisPhase::Successful)),
            experiment(&["a"], |_, status| {
                status.template_statuses = Some(vec![tstatus("a", Some(Code::Successful), 2)])
            }),
            experiment(&["a"], |_, status| {
                status.analysis_runs = Some(vec![run("x", AnalysisPhase::Inconclusive)])
            }),
            experiment(&["a"], |spec, status| {
                spec.analyses = analyses(&[("x", true)]);
                status.analysis_runs = Some(vec![run("x", AnalysisPhase::Successful)]);
            }),
        ] {
            assert_eq!(desired_replicas(&end, &end.spec.templates[0]), 0, "{:?}", end.status);
        }
    }

    #[test]
    fn the_worst_template_and_analysis_decide_the_phase() {
        use AnalysisPhase as P;
        // (template codes, analysis phases, required?, want phase, want message)
        type Case = (Vec<Option<Code>>, Vec<P>, bool, P, &'static str);
        let cases: Vec<Case> = vec![
            (vec![None, Some(Code::Running)], vec![], false, P::Pending, ""),
            (vec![Some(Code::Running), Some(Code::Running)], vec![], false, P::Running, ""),
            (vec![Some(Code::Successful), Some(Code::Successful)], vec![], false, P::Successful, ""),
            (vec![Some(Code::Running), Some(Code::Failed)], vec![], false, P::Failed, "t1 failed"),
            (vec![Some(Code::Error), Some(Code::Failed)], vec![], false, P::Failed, "t1 failed"),
            // An analysis gone wrong ends a running experiment early.
            (vec![Some(Code::Running)], vec![P::Failed], false, P::Failed, "a0 says so"),
            (vec![Some(Code::Running)], vec![P::Inconclusive], false, P::Inconclusive, "a0 says so"),
            (vec![Some(Code::Running)], vec![P::Pending], false, P::Running, ""),
            // Templates done, analyses still running: the analyses decide.
            (vec![Some(Code::Successful)], vec![P::Running], false, P::Successful, ""),
            (vec![Some(Code::Successful)], vec![P::Running], true, P::Running, "a0 says so"),
            (vec![Some(Code::Successful)], vec![P::Error], false, P::Error, "a0 says so"),
            // Required analyses done end the experiment, templates running or not.
            (
                vec![Some(Code::Running)],
                vec![P::Successful],
                true,
                P::Successful,
                REQUIRED_ANALYSIS_RUNS_COMPLETED,
            ),
        ];
        for (codes, phases, required, want, message) in cases {
            let names: Vec<String> = (0..codes.len()).map(|i| format!("t{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let statuses: Vec<TemplateStatus> = codes
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    c.clone().map(|c| TemplateStatus {
                        message: (c == Code::Failed).then(|| format!("t{i} failed")),
                        ..tstatus(&format!("t{i}"), Some(c), 2)
                    })
                })
                .collect();
            let runs: Vec<_> =
                phases.iter().enumerate().map(|(i, p)| run(&format!("a{i}"), p.clone())).collect();
            let ex = experiment(&refs, |spec, _| {
                let names: Vec<(String, bool)> =
                    (0..runs.len()).map(|i| (format!("a{i}"), required)).collect();
                let refs: Vec<(&str, bool)> = names.iter().map(|(n, r)| (n.as_str(), *r)).collect();
                spec.analyses = analyses(&refs);
            });
            let got = assess(&ex, &statuses, &runs, at(0));
            assert_eq!(
                (got.phase.clone(), got.message.as_str()),
                (want.clone(), message),
                "{codes:?} {phases:?} {required}"
            );
        }
    }

    #[test]
    fn required_analyses_done_end_the_experiment_unless_another_went_wrong() {
        let ex = experiment(&["a"], |spec, _| spec.analyses = analyses(&[("req", true), ("opt", false)]));
        let running = [tstatus("a", Some(Code::Running), 2)];
        use AnalysisPhase as P;
        // (required's phase, optional's phase, want phase, want message)
        let cases = [
            (P::Successful, P::Successful, P::Successful, REQUIRED_ANALYSIS_RUNS_COMPLETED),
            (P::Successful, P::Failed, P::Failed, "opt says so"),
            (P::Successful, P::Inconclusive, P::Inconclusive, "opt says so"),
            // The optional one still measuring: the experiment ends once it is stopped and done.
            (P::Successful, P::Running, P::Running, "opt says so"),
            (P::Running, P::Failed, P::Failed, "opt says so"),
            (P::Running, P::Successful, P::Running, ""),
        ];
        for (req, opt, want, message) in cases {
            let runs = [run("req", req.clone()), run("opt", opt.clone())];
            let got = assess(&ex, &running, &runs, at(0));
            assert_eq!((got.phase, got.message.as_str()), (want, message), "{req:?} {opt:?}");
        }
    }

    #[test]
    fn a_new_experiment_is_pending_and_a_finished_one_keeps_its_phase() {
        let fresh = experiment(&["a"], |_, status| status.phase = None);
        assert_eq!(assess(&fresh, &[], &[], at(0)).phase, AnalysisPhase::Pending);
        let done = experiment(&["a"], |_, status| {
            status.phase = Some(AnalysisPhase::Failed);
            status.message = Some("it failed".into());
        });
        let got = assess(&done, &[tstatus("a", Some(Code::Running), 2)], &[], at(0));
        assert_eq!((got.phase, got.message.as_str()), (AnalysisPhase::Failed, "it failed"));
    }

    #[test]
    fn the_duration_counts_from_when_every_template_first_runs() {
        let ex = experiment(&["a", "b"], |spec, _| spec.duration = Some("30s".into()));
        let running = [tstatus("a", Some(Code::Running), 2), tstatus("b", Some(Code::Running), 2)];
        assert_eq!(
            assess(&ex, &running[..1], &[], at(5)).available_at,
            None,
            "one template still progressing"
        );
        assert_eq!(assess(&ex, &running, &[], at(5)).available_at, Some(at(5)));
        let since = experiment(&["a", "b"], |spec, status| {
            spec.duration = Some("30s".into());
            status.available_at = Some(Time(at(5)));
        });
        assert_eq!(assess(&since, &running, &[], at(50)).available_at, Some(at(5)), "set once");
        assert!(!passed_duration(&since, at(35)));
        assert!(passed_duration(&since, at(36)));
        let unreadable = experiment(&["a"], |spec, status| {
            spec.duration = Some("60".into());
            status.available_at = Some(Time(at(0)));
        });
        assert!(!passed_duration(&unreadable, at(1000)), "a bare number is no Go duration: it never passes");
    }

    #[test]
    fn analysis_arguments_take_the_templates_replica_sets_and_times() {
        let ex = experiment(&["baseline", "canary"], |spec, status| {
            spec.duration = Some("5m".into());
            status.available_at = Some(Time(at(0)));
        });
        let rss = [
            TemplateReplicaSet {
                template: "baseline".into(),
                name: "ex-baseline".into(),
                pod_template_hash: "abc".into(),
            },
            TemplateReplicaSet {
                template: "canary".into(),
                name: "ex-canary".into(),
                pod_template_hash: "def".into(),
            },
        ];
        let cases: Vec<(&str, Result<&str, &str>)> = vec![
            ("plain", Ok("plain")),
            ("{{templates.baseline.podTemplateHash}}", Ok("abc")),
            ("app={{ templates.canary.replicaset.name }}", Ok("app=ex-canary")),
            ("{{experiment.availableAt}}", Ok("2023-11-14T22:13:20Z")),
            ("{{experiment.finishedAt}}", Ok("2023-11-14T22:18:20Z")),
            (
                "{{templates.other.podTemplateHash}}",
                Err("failed to resolve {{templates.other.podTemplateHash}}"),
            ),
            ("{{args.x}}", Err("failed to resolve {{args.x}}")),
        ];
        for (value, want) in cases {
            let got = resolve_arg_value(value, &ex, &rss);
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{value}");
        }
        let unavailable = experiment(&["baseline"], |_, _| {});
        assert_eq!(
            resolve_arg_value("{{experiment.availableAt}}", &unavailable, &rss),
            Err("failed to resolve {{experiment.availableAt}}".to_string()),
            "no time before every template runs"
        );
        let no_duration = experiment(&["baseline"], |_, status| status.available_at = Some(Time(at(0))));
        assert!(resolve_arg_value("{{experiment.finishedAt}}", &no_duration, &rss).is_err());
    }

    #[test]
    fn each_analysis_starts_once_the_templates_run_and_follows_its_run() {
        use crate::api::analysis::{AnalysisRun, AnalysisRunSpec, AnalysisRunStatus};
        fn ar(phase: Option<AnalysisPhase>, terminate: bool) -> AnalysisRun {
            let mut run = AnalysisRun::new(
                "ex-a",
                AnalysisRunSpec { terminate: Some(terminate), ..Default::default() },
            );
            run.status = Some(AnalysisRunStatus { phase, ..Default::default() });
            run
        }
        let entry = |run: &str, phase: AnalysisPhase| ExperimentAnalysisRunStatus {
            name: "a".into(),
            analysis_run: run.into(),
            phase,
            message: None,
        };
        let none = entry("", AnalysisPhase::Other(String::new()));
        let running = entry("ex-a", AnalysisPhase::Running);
        // (available, terminate, previous, run, want)
        type Case = (bool, bool, ExperimentAnalysisRunStatus, Option<AnalysisRun>, AnalysisAction);
        let cases: Vec<Case> = vec![
            (false, false, none.clone(), None, AnalysisAction::Verify),
            (true, false, none.clone(), None, AnalysisAction::Create),
            (true, true, none.clone(), None, AnalysisAction::Keep),
            (true, false, running.clone(), None, AnalysisAction::Missing),
            (
                true,
                false,
                running.clone(),
                Some(ar(Some(AnalysisPhase::Running), false)),
                AnalysisAction::Follow { terminate: false },
            ),
            (
                true,
                true,
                running.clone(),
                Some(ar(Some(AnalysisPhase::Running), false)),
                AnalysisAction::Follow { terminate: true },
            ),
            (
                true,
                true,
                running.clone(),
                Some(ar(Some(AnalysisPhase::Running), true)),
                AnalysisAction::Follow { terminate: false },
            ),
            (
                true,
                true,
                running.clone(),
                Some(ar(Some(AnalysisPhase::Successful), false)),
                AnalysisAction::Follow { terminate: false },
            ),
            (
                true,
                false,
                entry("ex-a", AnalysisPhase::Failed),
                Some(ar(Some(AnalysisPhase::Failed), false)),
                AnalysisAction::Keep,
            ),
        ];
        for (available, terminate, previous, run, want) in cases {
            let ex = experiment(&["t"], |spec, status| {
                spec.terminate = Some(terminate);
                status.available_at = available.then(|| Time(at(0)));
            });
            assert_eq!(
                analysis_action(&ex, &previous, run.as_ref()),
                want,
                "{available} {terminate} {previous:?}"
            );
        }
    }
}
