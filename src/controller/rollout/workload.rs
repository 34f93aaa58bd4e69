//! `workloadRef` (upstream's `rollout/templateref.go` and `scale_utils.go`): the pod template (and, when the
//! Rollout has none, the selector) is read from a Deployment, ReplicaSet or PodTemplate at the start of every pass
//! and kept in memory only: what the controller writes back never carries it. The workload's generation is
//! recorded in the `rollout.argoproj.io/workload-generation` annotation and `status.workloadObservedGeneration`;
//! a Deployment can be scaled down as the Rollout takes over (`scaleDown: onsuccess | progressively`).

use super::{Error, Pass, is_status, kube_err};
use crate::api::rollout::{ObjectRef, Rollout, RolloutPhase, WorkloadScaleDown};
use crate::strategy::replicaset as rsutil;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};

/// The annotation recording the generation of the workload the template was read from.
pub(crate) const WORKLOAD_GENERATION_ANNOTATION: &str = "rollout.argoproj.io/workload-generation";

/// What a pass read from the Rollout's workload, and what the stored Rollout holds in its place.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub template: PodTemplateSpec,
    /// The workload's selector, when the Rollout has none of its own.
    pub selector: Option<LabelSelector>,
    pub generation: String,
    stored_template: Option<PodTemplateSpec>,
    stored_selector: Option<LabelSelector>,
}

impl Resolved {
    /// The Rollout as the pass works on it: the workload's template (and selector) in place.
    pub fn apply(&self, ro: &mut Rollout) {
        ro.spec.template = Some(self.template.clone());
        if let Some(s) = &self.selector {
            ro.spec.selector = Some(s.clone());
        }
    }

    /// The Rollout as it is stored: what the user wrote, not the workload's template.
    pub fn strip(&self, ro: &mut Rollout) {
        ro.spec.template = self.stored_template.clone();
        if self.selector.is_some() {
            ro.spec.selector = self.stored_selector.clone();
        }
    }
}

/// Go's `%#v` of the reference, as upstream's `field.Invalid` prints it.
fn go_value(r: &ObjectRef) -> String {
    format!(
        "&v1alpha1.ObjectRef{{APIVersion:{:?}, Kind:{:?}, Name:{:?}, ScaleDown:{:?}}}",
        r.api_version.as_deref().unwrap_or(""),
        r.kind.as_deref().unwrap_or(""),
        r.name.as_deref().unwrap_or(""),
        r.scale_down.as_ref().map(|s| s.to_string()).unwrap_or_default()
    )
}

/// A template "empty" as upstream's `EmptyTemplate` decides: no labels and no annotations (a pod spec without
/// them is replaced by the workload's, as upstream does; docs/api-compat.md).
fn empty_template(t: Option<&PodTemplateSpec>) -> bool {
    t.and_then(|t| t.metadata.as_ref()).is_none_or(|m| {
        m.labels.as_ref().is_none_or(|l| l.is_empty()) && m.annotations.as_ref().is_none_or(|a| a.is_empty())
    })
}

/// Where a supported kind keeps its template and selector.
fn paths(group: &str, kind: &str) -> Option<(&'static [&'static str], Option<&'static [&'static str]>)> {
    match (group, kind) {
        ("", "PodTemplate") => Some((&["template"], None)),
        ("apps", "Deployment") | ("apps", "ReplicaSet") => {
            Some((&["spec", "template"], Some(&["spec", "selector"])))
        }
        _ => None,
    }
}

fn at<'v>(v: &'v serde_json::Value, path: &[&str]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

impl Pass<'_> {
    /// `Resolve`: reads the workload into the Rollout the pass works on. `Ok(Err(message))` is an invalid
    /// reference (the InvalidSpec message), `Err` a failure to read it.
    pub(super) async fn resolve_workload(&mut self) -> Result<Result<(), String>, Error> {
        let Some(reference) = self.rollout.spec.workload_ref.clone() else { return Ok(Ok(())) };
        let invalid = |detail: String| {
            Ok(Err(format!("spec.workloadRef: Invalid value: {}: {detail}", go_value(&reference))))
        };
        if !empty_template(self.rollout.spec.template.as_ref()) {
            return invalid("template must be empty for workload reference rollout".into());
        }
        let api_version = reference.api_version.clone().unwrap_or_default();
        let kind = reference.kind.clone().unwrap_or_default();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let Some((template_path, selector_path)) = paths(&group, &kind) else {
            return invalid(format!("workload of type {group}/{kind} is not supported"));
        };
        let name = reference.name.clone().unwrap_or_default();
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let plural = format!("{}s", kind.to_ascii_lowercase());
        let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.ctx.client.clone(), &self.namespace(), &resource);
        let object = match api.get_opt(&name).await.map_err(kube_err(format!("reading {kind} {name}")))? {
            Some(o) => o,
            None => {
                let what = if group.is_empty() { plural.clone() } else { format!("{plural}.{group}") };
                return invalid(format!("{what} {name:?} not found"));
            }
        };
        let generation = object.metadata.generation.unwrap_or(0).to_string();
        let value = serde_json::to_value(&object.data).map_err(|e| Error::Other(e.to_string()))?;
        let template = match at(&value, template_path) {
            Some(t) => match serde_json::from_value::<PodTemplateSpec>(t.clone()) {
                Ok(t) => t,
                Err(e) => return invalid(format!("the {kind}'s pod template cannot be read: {e}")),
            },
            None => PodTemplateSpec::default(),
        };
        let selector = match (&self.rollout.spec.selector, selector_path.and_then(|p| at(&value, p))) {
            (None, Some(s)) => serde_json::from_value::<LabelSelector>(s.clone()).ok(),
            _ => None,
        };
        let resolved = Resolved {
            template,
            selector,
            generation: generation.clone(),
            stored_template: self.rollout.spec.template.clone(),
            stored_selector: self.rollout.spec.selector.clone(),
        };
        resolved.apply(&mut self.rollout);
        self.workload = Some(resolved);
        // Upstream's workload informer records the generation on the Rollout whenever the workload changes.
        let recorded =
            self.rollout.metadata.annotations.as_ref().and_then(|a| a.get(WORKLOAD_GENERATION_ANNOTATION));
        if recorded != Some(&generation) {
            let patch = serde_json::json!({"metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: generation}}});
            let updated =
                self.api.patch(&self.name(), &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(
                    kube_err(format!("recording the workload generation on Rollout {}", self.name())),
                )?;
            self.adopt(updated);
        }
        Ok(Ok(()))
    }

    /// Takes `updated` as the Rollout of this pass, with the workload's template in place again.
    pub(super) fn adopt(&mut self, updated: Rollout) {
        self.wrote(&self.rollout.metadata, &updated.metadata);
        self.rollout = updated;
        if let Some(w) = &self.workload {
            w.apply(&mut self.rollout);
        }
    }

    /// The Rollout to send for a write: without the workload's template.
    pub(super) fn stored(&self, ro: &Rollout) -> Rollout {
        let mut ro = ro.clone();
        if let Some(w) = &self.workload {
            w.strip(&mut ro);
        }
        ro
    }

    /// `status.workloadObservedGeneration`: the workload generation this pass worked from.
    pub(super) fn workload_observed_generation(&self) -> Option<String> {
        self.workload.as_ref().map(|w| w.generation.clone())
    }

    fn scale_down_mode(&self) -> Option<WorkloadScaleDown> {
        let r = self.rollout.spec.workload_ref.as_ref()?;
        if r.kind.as_deref() != Some("Deployment") {
            return None;
        }
        r.scale_down.clone()
    }

    /// `scaleDeployment`: the referenced Deployment to `replicas` (at least zero).
    async fn scale_deployment(&mut self, replicas: i32) -> Result<(), Error> {
        let Some(name) = self.rollout.spec.workload_ref.as_ref().and_then(|r| r.name.clone()) else {
            return Ok(());
        };
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let mut deployment = match api.get(&name).await {
            Ok(d) => d,
            Err(e) if is_status(&e, 404) => {
                tracing::warn!(rollout = %self.name(), "Failed to fetch deployment {name}: {e}");
                return Ok(());
            }
            Err(e) => return Err(Error::Kube { what: format!("reading Deployment {name}"), source: e }),
        };
        let replicas = replicas.max(0);
        let spec = &mut deployment.spec;
        if spec.replicas.unwrap_or(1) == replicas {
            return Ok(());
        }
        tracing::info!(rollout = %self.name(), "Scaling deployment {name} to {replicas} replicas");
        spec.replicas = Some(replicas);
        api.replace(&name, &PostParams::default(), &deployment)
            .await
            .map_err(kube_err(format!("scaling Deployment {name}")))?;
        Ok(())
    }

    /// `scaleDown: onsuccess`: once the first revision is Healthy, the Deployment goes to zero.
    pub(super) async fn scale_down_workload_on_success(&mut self) -> Result<(), Error> {
        if self.scale_down_mode() != Some(WorkloadScaleDown::OnSuccess) {
            return Ok(());
        }
        let revision = rsutil::revision(self.rollout.metadata.annotations.as_ref()).unwrap_or(0);
        if revision == 1 && self.status().phase == Some(RolloutPhase::Healthy) {
            self.scale_deployment(0).await?;
        }
        Ok(())
    }

    /// `scaleDown: progressively`: while the first revision comes up, the Deployment gives up one pod for each
    /// of the Rollout's that is ready, and goes to zero once the Rollout is Healthy.
    pub(super) async fn scale_down_workload_progressively(
        &mut self,
        old_scale: i32,
        new_count: i32,
    ) -> Result<(), Error> {
        if self.scale_down_mode() != Some(WorkloadScaleDown::Progressively) {
            return Ok(());
        }
        let Some(new) = self.rss.new_rs() else { return Ok(()) };
        if rsutil::rs_revision(new) != 1 {
            return Ok(());
        }
        let status = self.status();
        if status.phase == Some(RolloutPhase::Healthy) {
            return self.scale_deployment(0).await;
        }
        let ready = status.ready_replicas.unwrap_or(0);
        if let Some(replicas) = self.rollout.spec.replicas
            && (ready > 0 || old_scale > new_count)
        {
            return self.scale_deployment(replicas - ready).await;
        }
        Ok(())
    }
}
