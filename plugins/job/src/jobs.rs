//! The `job` provider's decisions, without I/O: the Job's name and manifest, what a Job's status means for the
//! measurement, when to look again, and which Jobs garbage collection removes.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Measurement metadata key holding the Job's name (upstream's `JobNameKey`).
pub const JOB_NAME_KEY: &str = "job-name";
/// Job label holding the owning AnalysisRun's uid; garbage collection selects by it.
pub const RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";
/// Job annotation holding the owning AnalysisRun's name.
pub const RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
/// Job annotation holding the metric's name.
pub const METRIC_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";

/// Shortest and longest wait before the host resumes a running Job measurement.
pub const MIN_RESUME_SECONDS: f64 = 1.0;
pub const MAX_RESUME_SECONDS: f64 = 60.0;

/// Argo's `provider.job` block.
#[derive(Debug, Default, Deserialize)]
pub struct JobMetric {
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// A batch/v1 JobSpec, passed through unread: the API server validates it and says what is wrong.
    #[serde(default)]
    pub spec: Option<Value>,
}

/// `provider.job.metadata`.
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl JobMetric {
    pub fn parse(config: &str) -> Result<JobMetric, String> {
        serde_json::from_str(config).map_err(|e| format!("invalid job metric configuration: {e}"))
    }
}

/// The AnalysisRun a Job belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Upstream's name: `<run uid>.<metric>.<measurements so far, errors included, + 1>`. Upstream's comment promises
/// a name short enough for a 63-character label but its code does not shorten it, and neither does serin: a
/// Job needs the same name under both controllers so that a duplicate create is recognised.
pub fn job_name(run_uid: &str, metric: &str, count: u32) -> String {
    format!("{run_uid}.{metric}.{}", u64::from(count) + 1)
}

/// The Job to create, as upstream's `newMetricJob` builds it: the configured labels and annotations with the
/// provider's own keys set over them, and the AnalysisRun as its controlling owner.
pub fn manifest(cfg: &JobMetric, run: Run<'_>, metric: &str, name: &str) -> Value {
    let meta = cfg.metadata.as_ref();
    let mut labels = meta.and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.insert(RUN_UID_LABEL.into(), run.uid.into());
    let mut annotations = meta.and_then(|m| m.annotations.clone()).unwrap_or_default();
    annotations.insert(RUN_NAME_ANNOTATION.into(), run.name.into());
    annotations.insert(METRIC_NAME_ANNOTATION.into(), metric.into());

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    // An empty namespace (a run outside any cluster) leaves the choice to the namespace the host confines us to.
    if !run.namespace.is_empty() {
        metadata.insert("namespace".into(), json!(run.namespace));
    }
    metadata.insert("labels".into(), json!(labels));
    metadata.insert("annotations".into(), json!(annotations));
    // A run of `serin analyze` exists on no cluster: an owner reference to it would be dangling, and a cluster's
    // garbage collector deletes what only dangling references own. Its Jobs are known by the run-uid label.
    if !is_local(run.uid) {
        metadata.insert(
            "ownerReferences".into(),
            json!([{
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "name": run.name,
                "uid": run.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }]),
        );
    }
    let mut spec = match &cfg.spec {
        Some(Value::Null) | None => json!({}),
        Some(spec) => spec.clone(),
    };
    // Nothing collects a local run's Jobs with it: they go an hour after they finish, unless configured otherwise.
    if is_local(run.uid)
        && let Some(spec) = spec.as_object_mut()
    {
        spec.entry("ttlSecondsAfterFinished").or_insert(json!(LOCAL_JOB_TTL_SECONDS));
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec})
}

/// The uid prefix `serin analyze` gives the runs it makes up on the local machine (see `src/cli/analyze.rs`).
pub const LOCAL_UID_PREFIX: &str = "local-";

/// `ttlSecondsAfterFinished` of a local run's Jobs when the metric sets none.
pub const LOCAL_JOB_TTL_SECONDS: i64 = 3600;

/// Whether a run uid names a run that exists only in `serin analyze`, not on the cluster.
pub fn is_local(run_uid: &str) -> bool {
    run_uid.starts_with(LOCAL_UID_PREFIX)
}

/// Whether `job` belongs to the run with `run_uid`: the run controls it, or, for a local run, it carries the run's
/// uid label and no controller at all.
pub fn owned_by(job: &Value, run_uid: &str) -> bool {
    if is_local(run_uid) {
        let label =
            job.pointer("/metadata/labels").and_then(|l| l.get(RUN_UID_LABEL)).and_then(Value::as_str);
        return controller_uid(job).is_none() && label == Some(run_uid);
    }
    controller_uid(job) == Some(run_uid)
}

/// The uid of the object's controlling owner (Go's `metav1.GetControllerOf`).
pub fn controller_uid(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// Where a Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Successful,
    Failed,
}

/// A Job's outcome from its conditions: `Complete` is Successful, `Failed` is Failed. Upstream walks every
/// condition and the last of the two wins; so does this. Only conditions that hold count (Kubernetes adds these
/// two only with status True, but newer ones such as `SuccessCriteriaMet` come first and must not end it early).
pub fn outcome(job: &Value) -> Outcome {
    let conditions = job.pointer("/status/conditions").and_then(Value::as_array);
    let mut outcome = Outcome::Running;
    for c in conditions.into_iter().flatten() {
        if c.get("status").and_then(Value::as_str) != Some("True") {
            continue;
        }
        match c.get("type").and_then(Value::as_str) {
            Some("Complete") => outcome = Outcome::Successful,
            Some("Failed") => outcome = Outcome::Failed,
            _ => {}
        }
    }
    outcome
}

/// Seconds until the next look at a running Job: sqrt(2 · elapsed), so early checks are frequent and a long Job
/// is not polled needlessly, between [`MIN_RESUME_SECONDS`] and [`MAX_RESUME_SECONDS`].
pub fn resume_delay(elapsed_seconds: f64) -> f64 {
    // A started-at in the future (clock skew) counts as just started.
    let elapsed = if elapsed_seconds.is_finite() { elapsed_seconds.max(0.0) } else { 0.0 };
    (2.0 * elapsed).sqrt().clamp(MIN_RESUME_SECONDS, MAX_RESUME_SECONDS)
}

/// Names of the Jobs to delete so that only the newest `keep` of this metric's remain, oldest first.
///
/// `list` is the JobList of the run (selected by [`RUN_UID_LABEL`]). Upstream trims that whole list against one
/// metric's limit, so a run with two job metrics can lose the other metric's Jobs, even one still being
/// measured; serin counts only the Jobs of the metric being collected (by [`METRIC_NAME_ANNOTATION`]).
/// Creation timestamps have a resolution of one second, so ties are broken by the measurement number that ends
/// the name, which is what "newest" means for a metric.
pub fn to_collect(list: &Value, metric: &str, keep: u32) -> Vec<String> {
    let items = list.get("items").and_then(Value::as_array);
    let mut jobs: Vec<(&str, u64, &str)> = items
        .into_iter()
        .flatten()
        .filter(|job| {
            job.pointer("/metadata/annotations")
                .and_then(|a| a.get(METRIC_NAME_ANNOTATION))
                .and_then(Value::as_str)
                == Some(metric)
        })
        .filter_map(|job| {
            let name = job.pointer("/metadata/name")?.as_str()?;
            // Kubernetes writes creation timestamps in one form (RFC 3339, UTC, whole seconds), so they sort as text.
            let created = job.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("");
            let number = name.rsplit_once('.').and_then(|(_, n)| n.parse().ok()).unwrap_or(0);
            Some((created, number, name))
        })
        .collect();
    jobs.sort_unstable();
    let excess = jobs.len().saturating_sub(keep as usize);
    jobs.into_iter().take(excess).map(|(_, _, name)| name.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: Run<'static> = Run { namespace: "team", name: "canary-run", uid: "a1b2" };

    #[test]
    fn names_count_every_measurement_so_far() {
        assert_eq!(job_name("a1b2", "smoke", 0), "a1b2.smoke.1");
        assert_eq!(job_name("a1b2", "smoke", 4), "a1b2.smoke.5");
        assert_eq!(job_name("a1b2", "smoke", u32::MAX), "a1b2.smoke.4294967296");
    }

    #[test]
    fn manifest_is_upstreams_with_provider_keys_over_configured_ones() {
        let cfg = JobMetric::parse(
            r#"{"metadata": {"labels": {"team": "a", "analysisrun.argoproj.io/uid": "spoofed"},
                "annotations": {"note": "x", "analysisrun.argoproj.io/metric-name": "other"}},
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}}"#,
        )
        .unwrap();
        let job = manifest(&cfg, RUN, "smoke", "a1b2.smoke.1");
        assert_eq!(
            job,
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": "a1b2.smoke.1",
                    "namespace": "team",
                    "labels": {"team": "a", "analysisrun.argoproj.io/uid": "a1b2"},
                    "annotations": {
                        "note": "x",
                        "analysisrun.argoproj.io/name": "canary-run",
                        "analysisrun.argoproj.io/metric-name": "smoke",
                    },
                    "ownerReferences": [{
                        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "name": "canary-run",
                        "uid": "a1b2", "controller": true, "blockOwnerDeletion": true,
                    }],
                },
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}]}}},
            })
        );
    }

    #[test]
    fn configuration_without_metadata_or_spec_still_builds_a_job() {
        for config in ["{}", r#"{"metadata": null, "spec": null}"#, r#"{"metadata": {"labels": null}}"#] {
            let job = manifest(&JobMetric::parse(config).unwrap(), RUN, "m", "n");
            assert_eq!(job["metadata"]["labels"], json!({RUN_UID_LABEL: "a1b2"}), "{config}");
            assert_eq!(job["spec"], json!({}), "{config}");
        }
        let no_namespace = Run { namespace: "", ..RUN };
        assert!(
            manifest(&JobMetric::default(), no_namespace, "m", "n")["metadata"].get("namespace").is_none()
        );
    }

    #[test]
    fn malformed_configuration_is_an_error_that_says_so() {
        for config in ["", "null", "42", r#"{"metadata": {"labels": {"a": 1}}}"#] {
            let e = JobMetric::parse(config).unwrap_err();
            assert!(e.starts_with("invalid job metric configuration: "), "{e}");
        }
    }

    #[test]
    fn a_local_run_owns_its_jobs_by_label_not_by_reference() {
        let cfg = JobMetric::parse(r#"{"spec": {"template": {"spec": {}}}}"#).expect("config");
        let local = "local-18f2a-3c1";
        let job = manifest(&cfg, Run { namespace: "ns", name: "r", uid: local }, "m", "n");
        assert!(job.pointer("/metadata/ownerReferences").is_none(), "{job}");
        assert_eq!(job["spec"]["ttlSecondsAfterFinished"], json!(LOCAL_JOB_TTL_SECONDS));
        assert!(owned_by(&job, local));
        assert!(!owned_by(&job, "local-other"));
        let owned = manifest(&cfg, Run { namespace: "ns", name: "r", uid: "a1b2" }, "m", "n");
        assert!(
            owned["spec"].get("ttlSecondsAfterFinished").is_none(),
            "a cluster run's Jobs go with the run"
        );
        assert!(owned_by(&owned, "a1b2"));
        assert!(!owned_by(&owned, "b2c3"));
        // A cluster Job someone labelled with a local uid is still not the local run's: it has a controller.
        let mut squatter = owned.clone();
        squatter["metadata"]["labels"][RUN_UID_LABEL] = json!(local);
        assert!(!owned_by(&squatter, local));
    }

    #[test]
    fn controller_owner_is_the_one_marked_controller() {
        let job = json!({"metadata": {"ownerReferences": [
            {"uid": "plain"}, {"uid": "ctrl", "controller": true}]}});
        assert_eq!(controller_uid(&job), Some("ctrl"));
        assert_eq!(controller_uid(&json!({"metadata": {"ownerReferences": [{"uid": "plain"}]}})), None);
        assert_eq!(controller_uid(&json!({"metadata": {}})), None);
    }

    #[test]
    fn outcome_follows_the_conditions_that_hold() {
        let with = |conds: Value| json!({"status": {"conditions": conds}});
        let cases = [
            (json!({}), Outcome::Running),
            (with(json!([])), Outcome::Running),
            (with(json!([{"type": "SuccessCriteriaMet", "status": "True"}])), Outcome::Running),
            (with(json!([{"type": "FailureTarget", "status": "True"}])), Outcome::Running),
            (with(json!([{"type": "Complete", "status": "False"}])), Outcome::Running),
            (with(json!([{"type": "Suspended", "status": "True"}])), Outcome::Running),
            (
                with(
                    json!([{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]),
                ),
                Outcome::Successful,
            ),
            (
                with(
                    json!([{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]),
                ),
                Outcome::Failed,
            ),
            // Upstream: the last one wins.
            (
                with(json!([{"type": "Failed", "status": "True"}, {"type": "Complete", "status": "True"}])),
                Outcome::Successful,
            ),
            (with(json!("garbage")), Outcome::Running),
        ];
        for (job, want) in cases {
            assert_eq!(outcome(&job), want, "{job}");
        }
    }

    #[test]
    fn resume_backs_off_with_the_square_root_of_elapsed_time() {
        let cases = [
            (-5.0, 1.0),
            (0.0, 1.0),
            (0.4, 1.0),
            (2.0, 2.0),
            (50.0, 10.0),
            (1800.0, 60.0),
            (1e9, 60.0),
            (f64::NAN, 1.0),
        ];
        for (elapsed, want) in cases {
            assert_eq!(resume_delay(elapsed), want, "elapsed {elapsed}");
        }
    }

    #[test]
    fn collection_keeps_the_newest_of_this_metric_only() {
        let job = |name: &str, metric: &str, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created,
                "annotations": {METRIC_NAME_ANNOTATION: metric}}})
        };
        let list = json!({"items": [
            job("u.m.10", "m", "2024-05-01T10:00:01Z"),
            job("u.m.2", "m", "2024-05-01T10:00:00Z"),
            job("u.m.9", "m", "2024-05-01T10:00:01Z"),
            job("u.m.1", "m", "2024-05-01T10:00:00Z"),
            job("u.other.1", "other", "2024-05-01T09:00:00Z"),
            {"metadata": {"name": "u.unannotated.1", "creationTimestamp": "2024-05-01T09:00:00Z"}},
        ]});
        assert_eq!(to_collect(&list, "m", 2), ["u.m.1", "u.m.2"]);
        assert_eq!(to_collect(&list, "m", 0), ["u.m.1", "u.m.2", "u.m.9", "u.m.10"]);
        assert!(to_collect(&list, "m", 4).is_empty());
        assert!(to_collect(&list, "m", 100).is_empty());
        assert!(to_collect(&list, "other", 1).is_empty());
        assert_eq!(to_collect(&list, "other", 0), ["u.other.1"]);
        assert!(to_collect(&json!({}), "m", 0).is_empty());
    }
}
