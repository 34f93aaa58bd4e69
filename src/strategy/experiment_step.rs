//! The canary `experiment` step (upstream's `rollout/experiment.go`): the Experiment a step starts, what the
//! current Experiment's phase does to the Rollout, the traffic its templates get, and which old Experiments go.
//! Pure: the Rollout reconciler reads the Experiments and writes what these decide.

use super::replicaset::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use super::rollout_analysis::{INSTANCE_ID_LABEL, build_args};
use crate::api::common::AnalysisPhase;
use crate::api::experiment::{Experiment, ExperimentAnalysisTemplateRef, ExperimentSpec, TemplateSpec};
use crate::api::rollout::{
    ReplicaSetSpecRef, Rollout, RolloutExperimentStep, TemplateService, WeightDestination,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// `GetCurrentExperimentStep`: the latest experiment step at or before the current step.
pub fn current_experiment_step(ro: &Rollout) -> Option<&RolloutExperimentStep> {
    let (_, Some(index)) = super::canary::current_step(ro) else { return None };
    let steps = ro.canary()?.steps.as_deref()?;
    let upto = usize::try_from(index).ok()?.min(steps.len().checked_sub(1)?);
    steps[..=upto].iter().rev().find_map(|s| s.experiment.as_ref())
}

/// The Experiment's name for the step at `index`: `<rollout>-<pod hash>-<revision>-<index>`.
pub fn experiment_name(ro: &Rollout, pod_hash: &str, index: i32) -> String {
    let revision = ro.annotations().get(REVISION_ANNOTATION).cloned().unwrap_or_default();
    format!("{}-{pod_hash}-{revision}-{index}", ro.name_any())
}

/// `GetExperimentFromTemplate`: the Experiment of the experiment step at the current index, its templates
/// copied from the stable or the canary ReplicaSet (with the step's replicas, selector and extra pod
/// metadata; a Service when the template has a weight or asks for one), its analyses' arguments resolved as
/// a Rollout's analysis arguments are, labelled with the Rollout's labels and the pod hash.
pub fn experiment_from_step(
    ro: &Rollout,
    step: &RolloutExperimentStep,
    pod_hash: &str,
    stable: &ReplicaSet,
    new: &ReplicaSet,
    owner: OwnerReference,
) -> Result<Experiment, String> {
    let index = ro.status.as_ref().and_then(|s| s.current_step_index).unwrap_or(0);
    let revision = ro.annotations().get(REVISION_ANNOTATION).cloned().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = ro.labels().clone();
    labels.insert(POD_TEMPLATE_HASH_LABEL.into(), pod_hash.into());
    if let Some(id) = ro.labels().get(INSTANCE_ID_LABEL) {
        labels.insert(INSTANCE_ID_LABEL.into(), id.clone());
    }
    let mut templates = Vec::new();
    for t in &step.templates {
        let rs = match &t.spec_ref {
            ReplicaSetSpecRef::Canary => new,
            ReplicaSetSpecRef::Stable => stable,
            ReplicaSetSpecRef::Other(_) => {
                return Err("Invalid template step SpecRef: must be canary or stable".into());
            }
        };
        let mut template = rs.spec.template.clone().unwrap_or_default();
        let mut selector = t.selector.clone().unwrap_or_else(|| rs.spec.selector.clone());
        if let Some(extra) = t.metadata.as_ref() {
            let meta = template.metadata.get_or_insert_with(Default::default);
            for (k, v) in extra.labels.iter().flatten() {
                meta.labels.get_or_insert_with(Default::default).insert(k.clone(), v.clone());
                selector.match_labels.get_or_insert_with(Default::default).insert(k.clone(), v.clone());
            }
            for (k, v) in extra.annotations.iter().flatten() {
                meta.annotations.get_or_insert_with(Default::default).insert(k.clone(), v.clone());
            }
        }
        let service = (t.weight.is_some() || t.service.is_some()).then(|| TemplateService {
            name: t.service.as_ref().and_then(|s| s.name.clone()).filter(|n| !n.is_empty()),
        });
        templates.push(TemplateSpec {
            name: t.name.clone(),
            replicas: t.replicas,
            min_ready_seconds: rs.spec.min_ready_seconds,
            selector: Some(selector),
            template,
            service,
        });
    }
    let mut analyses = Vec::new();
    for a in step.analyses.iter().flatten() {
        let args = build_args(a.args.as_deref().unwrap_or(&[]), Some(stable), Some(new), ro)?;
        analyses.push(ExperimentAnalysisTemplateRef {
            name: a.name.clone(),
            template_name: a.template_name.clone(),
            cluster_scope: a.cluster_scope,
            args: Some(args),
            required_for_completion: a.required_for_completion,
        });
    }
    let mut ex = Experiment::new(
        &experiment_name(ro, pod_hash, index),
        ExperimentSpec {
            templates,
            duration: step.duration.clone(),
            progress_deadline_seconds: ro.spec.progress_deadline_seconds,
            analyses: (!analyses.is_empty()).then_some(analyses),
            // Not copied by upstream; a step that sets it means it.
            scale_down_delay_seconds: step.scale_down_delay_seconds,
            dry_run: step.dry_run.clone(),
            analysis_run_metadata: step.analysis_run_metadata.clone(),
            ..Default::default()
        },
    );
    ex.metadata.namespace = ro.namespace();
    ex.metadata.labels = Some(labels);
    ex.metadata.annotations = Some(BTreeMap::from([(REVISION_ANNOTATION.to_string(), revision)]));
    ex.metadata.owner_references = Some(vec![owner]);
    Ok(ex)
}

/// What the current Experiment of an experiment step means for the Rollout this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum StepVerdict {
    /// None yet (or, after an Inconclusive one, the user resumed): start one.
    Create,
    /// Still going: it stays the current one.
    Continue,
    /// Inconclusive: pause until the user decides.
    Pause,
    /// Failed or Error: abort with its message.
    Abort(String),
    /// Successful: the step is done.
    Completed,
}

/// `reconcileExperiments` for the current step's Experiment. Unlike upstream, which forgets an Inconclusive
/// Experiment at once and so starts another while the Rollout is still paused, the Inconclusive one stays
/// current until the user resumes; then a new one starts (as an Inconclusive step analysis runs again).
pub fn step_verdict(ro: &Rollout, current: Option<&Experiment>) -> StepVerdict {
    let Some(ex) = current else { return StepVerdict::Create };
    let status = ex.status.clone().unwrap_or_default();
    match status.phase.unwrap_or(AnalysisPhase::Other(String::new())) {
        AnalysisPhase::Inconclusive => {
            let ro_status = ro.status.clone().unwrap_or_default();
            let resumed = ro_status.controller_pause.unwrap_or(false)
                && ro_status.pause_conditions.as_ref().is_none_or(Vec::is_empty);
            if resumed { StepVerdict::Create } else { StepVerdict::Pause }
        }
        AnalysisPhase::Failed | AnalysisPhase::Error => {
            StepVerdict::Abort(status.message.unwrap_or_default())
        }
        AnalysisPhase::Successful => StepVerdict::Completed,
        _ => StepVerdict::Continue,
    }
}

/// The traffic the current experiment step gives its templates' Services while its Experiment runs: one
/// destination per template with a weight, once its Service exists.
pub fn experiment_destinations(ro: &Rollout, current: Option<&Experiment>) -> Vec<WeightDestination> {
    let Some(step) = current_experiment_step(ro) else { return Vec::new() };
    let Some(status) = current.and_then(|e| e.status.as_ref()) else { return Vec::new() };
    if status.phase != Some(AnalysisPhase::Running) {
        return Vec::new();
    }
    status
        .template_statuses
        .iter()
        .flatten()
        .filter_map(|t| {
            let weight = step.templates.iter().find(|s| s.name == t.name)?.weight?;
            Some(WeightDestination {
                weight,
                service_name: Some(t.service_name.clone().filter(|s| !s.is_empty())?),
                pod_template_hash: Some(t.pod_template_hash.clone().filter(|h| !h.is_empty())?),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "experiment_step/tests.rs"]
mod tests;
