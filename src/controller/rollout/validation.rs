//! Whether a Rollout can be reconciled (upstream's `getRolloutValidationErrors`): its spec, what this version
//! of serin reconciles, and the objects it refers to (its Services and AnalysisTemplates). The first problem
//! becomes the `InvalidSpec` condition; nothing else is touched, so the stable version keeps serving.

use super::{Error, Pass, is_status};
use crate::analysis::template::{self, TemplateRef, TemplateSource};
use crate::api::analysis::{AnalysisTemplateSpec, ClusterAnalysisTemplate};
use crate::api::rollout::RolloutAnalysis;
use crate::api::validation::{Validate, go_quoted};
use crate::strategy::replicaset::POD_TEMPLATE_HASH_LABEL;
use kube::api::Api;

/// The annotation naming the Rollout that manages a Service's selector.
pub(super) const MANAGED_BY_ANNOTATION: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// `field.Invalid(...).Error()`: `<path>: Invalid value: "<value>": <detail>`.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quoted(value))
}

/// Features whose reconcilers are not in this version: the Rollout is refused rather than half-handled.
fn unsupported(pass: &Pass<'_>) -> Option<String> {
    const LATER: &str = "is not supported by this version of serin yet";
    let ro = &pass.rollout;
    let canary = ro.canary()?;
    if let Some(tr) = &canary.traffic_routing {
        // In-tree routers are served by built-in plugins of the same name; one without is refused.
        for router in crate::strategy::traffic::routers(tr) {
            if router.in_tree && crate::plugin::builtin::find(&router.plugin).is_none() {
                return Some(format!("{}: the {} traffic router {LATER}", router.field, router.plugin));
            }
        }
    }
    None
}

/// Templates as the controller reads them: AnalysisTemplates in the Rollout's namespace, cluster ones.
pub(super) struct Templates {
    pub client: kube::Client,
    pub namespace: String,
}

impl TemplateSource for Templates {
    async fn template(&self, r: &TemplateRef) -> Result<AnalysisTemplateSpec, String> {
        let kind = if r.cluster_scope { "ClusterAnalysisTemplate" } else { "AnalysisTemplate" };
        let missing = |e: kube::Error| {
            if is_status(&e, 404) {
                format!("{kind} '{}' not found", r.name)
            } else {
                format!("cannot read {kind} '{}': {e}", r.name)
            }
        };
        if r.cluster_scope {
            let api: Api<ClusterAnalysisTemplate> = Api::all(self.client.clone());
            api.get(&r.name).await.map(|t| t.spec.0).map_err(missing)
        } else {
            let api: Api<crate::api::analysis::AnalysisTemplate> =
                Api::namespaced(self.client.clone(), &self.namespace);
            api.get(&r.name).await.map(|t| t.spec).map_err(missing)
        }
    }
}

/// The template references of an analysis.
pub(super) fn template_refs(analysis: &RolloutAnalysis) -> Vec<TemplateRef> {
    analysis
        .templates
        .iter()
        .flatten()
        .map(|t| TemplateRef {
            name: t.template_name.clone().unwrap_or_default(),
            cluster_scope: t.cluster_scope.unwrap_or(false),
        })
        .collect()
}

impl Pass<'_> {
    /// `Ok(Err(message))` for a Rollout that cannot be reconciled, `Err` when the check itself failed.
    pub(super) async fn validate(&self) -> Result<Result<(), String>, Error> {
        // The spec as the user wrote it: a template read from `workloadRef` is not theirs to get wrong.
        if let Some(e) = self.stored(&self.rollout).field_errors().into_iter().next() {
            return Ok(Err(e.to_string()));
        }
        if let Some(message) = unsupported(self) {
            return Ok(Err(message));
        }
        if let Some(message) = self.check_services().await? {
            return Ok(Err(message));
        }
        Ok(self.check_analyses().await)
    }

    async fn check_services(&self) -> Result<Option<String>, Error> {
        let services: Vec<(String, Option<String>)> = if let Some(c) = self.rollout.canary() {
            vec![
                ("spec.strategy.canary.stableService".into(), c.stable_service.clone()),
                ("spec.strategy.canary.canaryService".into(), c.canary_service.clone()),
            ]
        } else if let Some(b) = self.rollout.blue_green() {
            vec![
                ("spec.strategy.blueGreen.activeService".into(), Some(b.active_service.clone())),
                ("spec.strategy.blueGreen.previewService".into(), b.preview_service.clone()),
            ]
        } else {
            return Ok(None);
        };
        let template_labels = self
            .rollout
            .spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        for (path, name) in &services {
            let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else { continue };
            let svc = match self.service(name) {
                Some(s) => s,
                None => return Ok(Some(invalid(path, name, &format!("service \"{name}\" not found")))),
            };
            let selector = svc.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
            for (k, v) in &selector {
                if k == POD_TEMPLATE_HASH_LABEL {
                    continue;
                }
                if template_labels.get(k) != Some(v) {
                    let detail =
                        format!("Service {} has unmatch label {} in rollout", go_quoted(name), go_quoted(k));
                    return Ok(Some(invalid(path, name, &detail)));
                }
            }
            if let Some(manager) =
                svc.metadata.annotations.as_ref().and_then(|a| a.get(MANAGED_BY_ANNOTATION))
                && manager != &self.name()
            {
                let detail = format!("Service {} is managed by another Rollout", go_quoted(name));
                return Ok(Some(invalid(path, name, &detail)));
            }
        }
        Ok(None)
    }

    /// Every analysis' templates exist, merge, and (for steps) finish.
    async fn check_analyses(&self) -> Result<(), String> {
        let source = Templates { client: self.ctx.client.clone(), namespace: self.namespace() };
        let mut analyses: Vec<(String, RolloutAnalysis, bool)> = Vec::new();
        if let Some(canary) = self.rollout.canary() {
            analyses.extend(canary.steps.iter().flatten().enumerate().filter_map(|(i, s)| {
                s.analysis
                    .clone()
                    .map(|a| (format!("spec.strategy.canary.steps[{i}].analysis.templates"), a, true))
            }));
            if let Some(bg) = &canary.analysis {
                analyses.push(("spec.strategy.canary.analysis.templates".into(), bg.analysis(), false));
            }
        }
        if let Some(b) = self.rollout.blue_green() {
            for (field, analysis) in [
                ("prePromotionAnalysis", &b.pre_promotion_analysis),
                ("postPromotionAnalysis", &b.post_promotion_analysis),
            ] {
                if let Some(a) = analysis {
                    analyses.push((format!("spec.strategy.blueGreen.{field}.templates"), a.clone(), true));
                }
            }
        }
        for (path, analysis, inline) in analyses {
            let refs = template_refs(&analysis);
            let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
            let value = format!("templateNames: [{}]", names.join(" "));
            let flat = match template::flatten(&source, &refs).await {
                Ok(f) => f,
                Err(message) => {
                    let name = refs
                        .iter()
                        .find(|r| message.contains(&format!("'{}'", r.name)))
                        .map(|r| r.name.clone());
                    return Err(invalid(&path, &name.unwrap_or(value), &message));
                }
            };
            // Placeholder values for the Rollout's arguments: only their presence matters here.
            let supplied: Vec<crate::api::common::Argument> = analysis
                .args
                .iter()
                .flatten()
                .map(|a| crate::api::common::Argument {
                    name: a.name.clone(),
                    value: Some("dummy-value".into()),
                    value_from: None,
                })
                .collect();
            let merged = template::merge(&flat, &supplied).map_err(|e| invalid(&path, &value, &e))?;
            if inline {
                for metric in &merged.metrics {
                    if crate::api::defaults::effective_count(metric).is_none() {
                        let count = match &metric.count {
                            None => "<nil>".to_string(),
                            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => {
                                i.to_string()
                            }
                            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => {
                                s.clone()
                            }
                        };
                        let detail = format!(
                            "AnalysisTemplate {} has metric {} which runs indefinitely. Invalid value for count: {count}",
                            names.join(","),
                            metric.name
                        );
                        return Err(invalid(&path, &names.join(","), &detail));
                    }
                }
            }
        }
        Ok(())
    }
}
