//! `antiAffinity`: new pods prefer (or require) nodes without the stable ReplicaSet's pods
//! (`GenerateReplicaSetAffinity`, `HasInjectedAntiAffinityRule`, `IfInjectedAntiAffinityRuleNeedsUpdate`).

use super::replicaset::POD_TEMPLATE_HASH_LABEL;
use crate::api::rollout::{AntiAffinity, Rollout};
use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// The strategy's anti-affinity, when it asks for one.
fn configured(rollout: &Rollout) -> Option<&AntiAffinity> {
    let anti = rollout
        .canary()
        .and_then(|c| c.anti_affinity.as_ref())
        .or_else(|| rollout.blue_green().and_then(|b| b.anti_affinity.as_ref()))?;
    (anti.preferred_during_scheduling_ignored_during_execution.is_some()
        || anti.required_during_scheduling_ignored_during_execution.is_some())
    .then_some(anti)
}

fn stable_hash(rollout: &Rollout) -> &str {
    rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref()).unwrap_or("")
}

/// The term keeping new pods away from the stable ReplicaSet's.
fn rule(rollout: &Rollout) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: POD_TEMPLATE_HASH_LABEL.into(),
                operator: "In".into(),
                values: Some(vec![stable_hash(rollout).to_string()]),
            }]),
            ..Default::default()
        }),
        namespaces: Some(vec![rollout.metadata.namespace.clone().unwrap_or_default()]),
        topology_key: "kubernetes.io/hostname".into(),
        ..Default::default()
    }
}

/// `GenerateReplicaSetAffinity`: the template's affinity, with the anti-affinity rule added while an update
/// runs beside a stable ReplicaSet.
pub fn generate(rollout: &Rollout, current_hash: &str) -> Option<Affinity> {
    let template_affinity =
        rollout.spec.template.as_ref().and_then(|t| t.spec.as_ref()).and_then(|s| s.affinity.clone());
    let Some(anti) = configured(rollout) else { return template_affinity };
    let stable = stable_hash(rollout);
    if stable.is_empty() || stable == current_hash {
        return template_affinity;
    }
    let mut affinity = template_affinity.unwrap_or_default();
    let pod_anti = affinity.pod_anti_affinity.get_or_insert_with(PodAntiAffinity::default);
    match &anti.preferred_during_scheduling_ignored_during_execution {
        Some(p) => pod_anti
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(WeightedPodAffinityTerm { weight: p.weight, pod_affinity_term: rule(rollout) }),
        None => pod_anti
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(rule(rollout)),
    }
    Some(affinity)
}

/// The injected term, if `affinity` holds one.
fn injected(affinity: Option<&Affinity>, rollout: &Rollout) -> Option<PodAffinityTerm> {
    let anti = configured(rollout)?;
    let pod_anti = affinity?.pod_anti_affinity.as_ref()?;
    let has_hash = |t: &PodAffinityTerm| {
        t.label_selector
            .iter()
            .flat_map(|s| s.match_expressions.iter().flatten())
            .any(|r| r.key == POD_TEMPLATE_HASH_LABEL)
    };
    if anti.preferred_during_scheduling_ignored_during_execution.is_some() {
        pod_anti
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|w| &w.pod_affinity_term)
            .find(|t| has_hash(t))
            .cloned()
    } else {
        pod_anti
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .find(|t| has_hash(t))
            .cloned()
    }
}

/// `RemoveInjectedAntiAffinityRule`: the affinity without the rule serin (or upstream) added.
pub fn without_injected(affinity: Option<Affinity>, rollout: &Rollout) -> Option<Affinity> {
    let Some(term) = injected(affinity.as_ref(), rollout) else { return affinity };
    let mut affinity = affinity?;
    if let Some(pod_anti) = affinity.pod_anti_affinity.as_mut() {
        if let Some(p) = pod_anti.preferred_during_scheduling_ignored_during_execution.as_mut()
            && let Some(i) = p.iter().position(|w| w.pod_affinity_term == term)
        {
            p.remove(i);
        } else if let Some(r) = pod_anti.required_during_scheduling_ignored_during_execution.as_mut()
            && let Some(i) = r.iter().position(|t| *t == term)
        {
            r.remove(i);
        }
        if pod_anti.required_during_scheduling_ignored_during_execution.as_ref().is_some_and(Vec::is_empty) {
            pod_anti.required_during_scheduling_ignored_during_execution = None;
        }
        if pod_anti.preferred_during_scheduling_ignored_during_execution.as_ref().is_some_and(Vec::is_empty) {
            pod_anti.preferred_during_scheduling_ignored_during_execution = None;
        }
        if pod_anti.required_during_scheduling_ignored_during_execution.is_none()
            && pod_anti.preferred_during_scheduling_ignored_during_execution.is_none()
        {
            affinity.pod_anti_affinity = None;
        }
    }
    if affinity.pod_anti_affinity.is_none()
        && affinity.pod_affinity.is_none()
        && affinity.node_affinity.is_none()
    {
        return None;
    }
    Some(affinity)
}

/// `IfInjectedAntiAffinityRuleNeedsUpdate`: the injected rule points at a stable ReplicaSet that is no longer
/// the stable one.
pub fn needs_update(affinity: Option<&Affinity>, rollout: &Rollout, current_hash: &str) -> bool {
    let Some(term) = injected(affinity, rollout) else { return false };
    let stable = stable_hash(rollout);
    if stable == current_hash {
        return false;
    }
    term.label_selector.iter().flat_map(|s| s.match_expressions.iter().flatten()).any(|r| {
        r.key == POD_TEMPLATE_HASH_LABEL
            && r.values.as_ref().and_then(|v| v.first()).is_some_and(|v| v != stable)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{PreferredDuringSchedulingIgnoredDuringExecution, RolloutStatus};

    fn rollout(stable: &str) -> Rollout {
        let mut ro = Rollout::canary_fixture("app");
        ro.spec.strategy.as_mut().and_then(|s| s.canary.as_mut()).expect("canary").anti_affinity =
            Some(AntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(
                    PreferredDuringSchedulingIgnoredDuringExecution { weight: 50 },
                ),
                required_during_scheduling_ignored_during_execution: None,
            });
        ro.status = Some(RolloutStatus { stable_rs: Some(stable.into()), ..Default::default() });
        ro
    }

    #[test]
    fn the_rule_is_injected_only_during_an_update_and_refreshed_when_stable_moves() {
        assert_eq!(generate(&rollout(""), "new"), None, "first deploy: no stable to avoid");
        assert_eq!(generate(&rollout("new"), "new"), None, "fully promoted");
        let affinity = generate(&rollout("old"), "new").expect("affinity");
        let terms = affinity
            .pod_anti_affinity
            .as_ref()
            .and_then(|p| p.preferred_during_scheduling_ignored_during_execution.clone())
            .expect("terms");
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].weight, 50);
        assert_eq!(terms[0].pod_affinity_term.topology_key, "kubernetes.io/hostname");
        assert!(!needs_update(Some(&affinity), &rollout("old"), "new"));
        assert!(needs_update(Some(&affinity), &rollout("older"), "new"));
        assert_eq!(without_injected(Some(affinity), &rollout("old")), None);
    }
}
