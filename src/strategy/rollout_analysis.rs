//! What a Rollout does with AnalysisRuns, without I/O (upstream's `rollout/analysis.go` decisions and
//! `utils/analysis` factory and filter; argo-semantics §b.5): run names, labels and annotations, arguments taken
//! from the Rollout, when a new run is needed, what a run's phase means for the Rollout, and which old runs go.

use super::replicaset::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, pod_hash};
use crate::api::analysis::{AnalysisRun, AnalysisRunSpec};
use crate::api::common::{AnalysisPhase, AnalysisRunArgument, Argument, ValueFromPodTemplateHash};
use crate::api::rollout::{PauseReason, Rollout, RolloutAnalysis};
use k8s_openapi::api::apps::v1::ReplicaSet;
use std::collections::BTreeMap;

/// The label naming which of a Rollout's analyses a run is.
pub const ROLLOUT_TYPE_LABEL: &str = "rollout-type";
/// The label holding the step index of a step run.
pub const STEP_INDEX_LABEL: &str = "step-index";
/// The label selecting resources of one controller instance.
pub const INSTANCE_ID_LABEL: &str = "argo-rollouts.argoproj.io/controller-instance-id";

/// Which of a Rollout's analyses a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inline `analysis` canary step, with its index.
    Step(i32),
    /// `canary.analysis`.
    Background,
    PrePromotion,
    PostPromotion,
}

impl Kind {
    /// The `rollout-type` label value, also used in Events.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Step(_) => "Step",
            Kind::Background => "Background",
            Kind::PrePromotion => "PrePromotion",
            Kind::PostPromotion => "PostPromotion",
        }
    }

    fn infix(self) -> Option<String> {
        match self {
            Kind::Step(i) => Some(i.to_string()),
            Kind::Background => None,
            Kind::PrePromotion => Some("pre".into()),
            Kind::PostPromotion => Some("post".into()),
        }
    }

    /// The prefix of the abort message when such a run fails.
    pub fn failure_message(self) -> &'static str {
        match self {
            Kind::Step(_) => "Step-based analysis phase error/failed",
            Kind::Background => "Background analysis phase error/failed",
            Kind::PrePromotion => "Blue/green pre-promotion analysis phase error/failed",
            Kind::PostPromotion => "Blue/green post-promotion analysis phase error/failed",
        }
    }
}

/// `<rollout>-<hash>-<revision>[-<step index>|-pre|-post]`.
pub fn run_name(rollout: &str, pod_hash: &str, revision: &str, kind: Kind) -> String {
    let mut parts = vec![rollout.to_string(), pod_hash.to_string(), revision.to_string()];
    parts.extend(kind.infix());
    parts.join("-")
}

/// Labels and annotations of a run: the type labels, then the analysis' `analysisRunMetadata`, then the
/// Rollout selector's `matchLabels` (these win); the revision annotation, then the metadata's annotations.
pub fn run_metadata(
    rollout: &Rollout,
    analysis: &RolloutAnalysis,
    kind: Kind,
    pod_hash: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut labels = BTreeMap::from([
        (POD_TEMPLATE_HASH_LABEL.to_string(), pod_hash.to_string()),
        (ROLLOUT_TYPE_LABEL.to_string(), kind.label().to_string()),
    ]);
    if let Kind::Step(i) = kind {
        labels.insert(STEP_INDEX_LABEL.into(), i.to_string());
    }
    if let Some(id) =
        rollout.metadata.labels.as_ref().and_then(|l| l.get(INSTANCE_ID_LABEL)).filter(|v| !v.is_empty())
    {
        labels.insert(INSTANCE_ID_LABEL.into(), id.clone());
    }
    let meta = analysis.analysis_run_metadata.as_ref();
    labels.extend(meta.and_then(|m| m.labels.clone()).unwrap_or_default());
    labels.extend(rollout.spec.selector.as_ref().and_then(|s| s.match_labels.clone()).unwrap_or_default());
    let revision = rollout.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)).cloned();
    let mut annotations = BTreeMap::from([(REVISION_ANNOTATION.to_string(), revision.unwrap_or_default())]);
    annotations.extend(meta.and_then(|m| m.annotations.clone()).unwrap_or_default());
    (labels, annotations)
}

/// `BuildArgumentsForRolloutAnalysisRun`: every argument becomes a literal value: as given, the stable or
/// latest pod-template hash, or a field of the Rollout (`metadata.*` by downward-API rules, other paths read
/// from its JSON).
pub fn build_args(
    args: &[AnalysisRunArgument],
    stable: Option<&ReplicaSet>,
    new: Option<&ReplicaSet>,
    rollout: &Rollout,
) -> Result<Vec<Argument>, String> {
    let mut out = Vec::with_capacity(args.len());
    let mut deferred = None;
    for arg in args {
        let mut value = arg.value.clone().unwrap_or_default();
        if let Some(from) = &arg.value_from {
            if let Some(which) = &from.pod_template_hash_value {
                value = match which {
                    ValueFromPodTemplateHash::Latest => new.map(pod_hash).unwrap_or("").to_string(),
                    ValueFromPodTemplateHash::Stable => stable.map(pod_hash).unwrap_or("").to_string(),
                    ValueFromPodTemplateHash::Other(_) => value,
                };
            } else if let Some(field) = &from.field_ref {
                if field.field_path.starts_with("metadata") {
                    value = metadata_field(rollout, &field.field_path)?;
                } else {
                    match rollout_field(rollout, &field.field_path) {
                        Ok(v) => value = v,
                        // Upstream records the error and fails once every argument is built.
                        Err(e) => {
                            value = String::new();
                            deferred.get_or_insert(e);
                        }
                    }
                }
            }
        }
        out.push(Argument { name: arg.name.clone(), value: Some(value), value_from: None });
    }
    match deferred {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `fieldpath.ExtractFieldPathAsString` for the metadata paths the downward API supports.
pub fn metadata_field(rollout: &Rollout, path: &str) -> Result<String, String> {
    let m = &rollout.metadata;
    let map_key =
        |prefix: &str| path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']").map(str::to_string);
    let format_map = |map: Option<&BTreeMap<String, String>>| {
        map.into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                m.labels.as_ref().and_then(|l| l.get(&k)).cloned().unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations") {
                m.annotations.as_ref().and_then(|a| a.get(&k)).cloned().unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    })
}

/// `extractValueFromRollout`: a primitive found by walking the Rollout's JSON along `path` (`.` and `[]`
/// separate the sections).
pub fn rollout_field(rollout: &Rollout, path: &str) -> Result<String, String> {
    let mut v = serde_json::to_value(rollout).map_err(|e| e.to_string())?;
    let invalid = || format!("invalid path {path} in rollout");
    for section in path.split(['.', '[', ']']).filter(|s| !s.is_empty()) {
        v = match v {
            serde_json::Value::Array(items) => {
                let i: usize = section.parse().map_err(|_| format!("invalid index '{section}'"))?;
                items.into_iter().nth(i).ok_or_else(|| format!("index {i} out of range"))?
            }
            serde_json::Value::Object(mut m) => m.remove(section).unwrap_or(serde_json::Value::Null),
            _ => return Err(invalid()),
        };
    }
    match v {
        serde_json::Value::Null => Err(invalid()),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            Err(format!("path {path} in rollout must terminate in a primitive value"))
        }
        serde_json::Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

/// `needsNewAnalysisRun`: no run yet; or the Rollout paused for an Inconclusive run and the user resumed
/// (controllerPause without a pause step or blue-green pause); or a retry after an abort.
pub fn needs_new_run(current: Option<&AnalysisRun>, rollout: &Rollout) -> bool {
    let Some(current) = current else { return true };
    let status = rollout.status.clone().unwrap_or_default();
    let has = |reason: PauseReason| status.pause_conditions.iter().flatten().any(|c| c.reason == reason);
    if status.controller_pause.unwrap_or(false)
        && !has(PauseReason::CanaryPauseStep)
        && !has(PauseReason::BlueGreenPause)
    {
        return phase(current) == AnalysisPhase::Inconclusive;
    }
    status.aborted_at.is_some()
}

/// A run's phase (Pending when unset).
pub fn phase(run: &AnalysisRun) -> AnalysisPhase {
    run.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or(AnalysisPhase::Pending)
}

/// What a current run's phase means for the Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Pause with `InconclusiveAnalysisRun`.
    Pause,
    /// Abort with this message.
    Abort(String),
}

pub fn verdict(run: &AnalysisRun, kind: Kind) -> Verdict {
    match phase(run) {
        AnalysisPhase::Inconclusive => Verdict::Pause,
        AnalysisPhase::Error | AnalysisPhase::Failed => {
            let mut message = kind.failure_message().to_string();
            if let Some(m) = run.status.as_ref().and_then(|s| s.message.as_deref()).filter(|m| !m.is_empty())
            {
                message = format!("{message}: {m}");
            }
            Verdict::Abort(message)
        }
        _ => Verdict::Continue,
    }
}

/// `IsSemanticallyEqual`: the same metrics, dry-run and retention rules and arguments.
pub fn semantically_equal(a: &AnalysisRunSpec, b: &AnalysisRunSpec) -> bool {
    a.metrics == b.metrics
        && a.dry_run == b.dry_run
        && a.measurement_retention == b.measurement_retention
        && a.args == b.args
}

/// `FilterAnalysisRunsToDelete`: newest first, keep `keep_successful` Successful and `keep_unsuccessful`
/// Failed/Error/Inconclusive runs; runs of ReplicaSets that are gone (or going) go regardless. Running runs stay.
pub fn runs_to_delete<'a>(
    others: &[&'a AnalysisRun],
    all_rss: &[ReplicaSet],
    keep_successful: i32,
    keep_unsuccessful: i32,
) -> Vec<&'a AnalysisRun> {
    history_to_delete(others, all_rss, (keep_successful, keep_unsuccessful), |r| &r.metadata, phase)
}

/// The history rule of [`runs_to_delete`] for anything with a phase and a pod-template hash label (upstream's
/// `FilterExperimentsToDelete` is the same rule for Experiments).
pub fn history_to_delete<'a, T>(
    others: &[&'a T],
    all_rss: &[ReplicaSet],
    (keep_successful, keep_unsuccessful): (i32, i32),
    meta: impl Fn(&T) -> &kube::api::ObjectMeta,
    phase: impl Fn(&T) -> AnalysisPhase,
) -> Vec<&'a T> {
    let hashes: BTreeMap<&str, bool> =
        all_rss.iter().map(|rs| (pod_hash(rs), rs.metadata.deletion_timestamp.is_some())).collect();
    let mut sorted: Vec<&T> = others.to_vec();
    sorted.sort_by(|a, b| {
        let created = |r: &T| meta(r).creation_timestamp.as_ref().map(|t| t.0);
        created(b).cmp(&created(a))
    });
    let (mut ok, mut bad) = (0, 0);
    let mut out = Vec::new();
    for item in sorted {
        let hash = meta(item).labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL));
        match hash.and_then(|h| hashes.get(h.as_str())) {
            None | Some(true) => {
                out.push(item);
                continue;
            }
            Some(false) => {}
        }
        match phase(item) {
            AnalysisPhase::Successful => {
                if ok < keep_successful {
                    ok += 1
                } else {
                    out.push(item)
                }
            }
            AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive => {
                if bad < keep_unsuccessful { bad += 1 } else { out.push(item) }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "rollout_analysis/tests.rs"]
mod tests;
