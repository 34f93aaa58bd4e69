//! Canary and stable metadata injected into a ReplicaSet's pods while they play that role, and taken out again
//! when they stop (`SyncEphemeralPodMetadata`, `SyncReplicaSetEphemeralPodMetadata`): the ReplicaSet
//! remembers what it injected in an annotation, so only that is ever removed.

use super::replicaset::EPHEMERAL_METADATA_ANNOTATION;
use crate::api::common::PodTemplateMetadata;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// `ParseExistingPodMetadata`: what the ReplicaSet says it injected (nothing when absent or unreadable).
pub fn injected(rs: &ReplicaSet) -> Option<PodTemplateMetadata> {
    let raw = rs.metadata.annotations.as_ref()?.get(EPHEMERAL_METADATA_ANNOTATION)?;
    serde_json::from_str(raw).ok()
}

fn sync_map(
    map: &mut Option<BTreeMap<String, String>>,
    existing: Option<&BTreeMap<String, String>>,
    desired: Option<&BTreeMap<String, String>>,
) -> bool {
    let mut modified = false;
    for (k, v) in desired.into_iter().flatten() {
        let m = map.get_or_insert_with(BTreeMap::new);
        if m.get(k) != Some(v) {
            m.insert(k.clone(), v.clone());
            modified = true;
        }
    }
    for k in existing.into_iter().flatten().map(|(k, _)| k) {
        if desired.is_some_and(|d| d.contains_key(k)) {
            continue;
        }
        if let Some(m) = map.as_mut()
            && m.remove(k).is_some()
        {
            modified = true;
        }
    }
    modified
}

/// `SyncEphemeralPodMetadata`: `desired` added to `meta`, what `existing` injected and `desired` no longer
/// wants removed; whether anything changed.
pub fn sync(
    meta: &mut ObjectMeta,
    existing: Option<&PodTemplateMetadata>,
    desired: Option<&PodTemplateMetadata>,
) -> bool {
    let annotations = sync_map(
        &mut meta.annotations,
        existing.and_then(|e| e.annotations.as_ref()),
        desired.and_then(|d| d.annotations.as_ref()),
    );
    let labels = sync_map(
        &mut meta.labels,
        existing.and_then(|e| e.labels.as_ref()),
        desired.and_then(|d| d.labels.as_ref()),
    );
    annotations || labels
}

/// The injected metadata as upstream records it in the annotation: Go's JSON, empty maps left out.
fn record(metadata: &PodTemplateMetadata) -> String {
    let non_empty = |m: &Option<BTreeMap<String, String>>| m.clone().filter(|m| !m.is_empty());
    let m = PodTemplateMetadata {
        labels: non_empty(&metadata.labels),
        annotations: non_empty(&metadata.annotations),
    };
    serde_json::to_string(&m).unwrap_or_default()
}

/// `SyncReplicaSetEphemeralPodMetadata`: the ReplicaSet with `desired` injected into its pod template (and
/// recorded), or all injected metadata taken out when `desired` is `None`; `None` when nothing changes.
pub fn sync_replica_set(rs: &ReplicaSet, desired: Option<&PodTemplateMetadata>) -> Option<ReplicaSet> {
    let existing = injected(rs);
    let mut rs = rs.clone();
    let template = rs.spec.template.get_or_insert_with(Default::default);
    let meta = template.metadata.get_or_insert_with(Default::default);
    if !sync(meta, existing.as_ref(), desired) {
        return None;
    }
    match desired {
        Some(d) => {
            rs.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(EPHEMERAL_METADATA_ANNOTATION.into(), record(d));
        }
        None => {
            if let Some(a) = rs.metadata.annotations.as_mut() {
                a.remove(EPHEMERAL_METADATA_ANNOTATION);
            }
        }
    }
    Some(rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> PodTemplateMetadata {
        let map = |kv: &[(&str, &str)]| {
            (!kv.is_empty()).then(|| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        PodTemplateMetadata { labels: map(labels), annotations: map(annotations) }
    }

    #[test]
    fn only_what_was_injected_is_taken_out() {
        let mut meta = ObjectMeta {
            labels: Some(
                [("app".to_string(), "x".to_string()), ("role".to_string(), "canary".to_string())].into(),
            ),
            ..Default::default()
        };
        let existing = md(&[("role", "canary")], &[]);
        let desired = md(&[("role", "stable"), ("tier", "web")], &[("note", "n")]);
        assert!(sync(&mut meta, Some(&existing), Some(&desired)));
        assert_eq!(meta.labels.as_ref().map(|l| l.len()), Some(3));
        assert_eq!(meta.labels.as_ref().and_then(|l| l.get("role")).map(String::as_str), Some("stable"));
        assert!(!sync(&mut meta, Some(&desired), Some(&desired)), "nothing to change");
        assert!(sync(&mut meta, Some(&desired), None));
        assert_eq!(
            meta.labels,
            Some([("app".to_string(), "x".to_string())].into()),
            "the user's label stays"
        );
        assert_eq!(meta.annotations, Some(BTreeMap::new()));
    }

    #[test]
    fn the_replica_set_records_what_it_injected() {
        let rs = ReplicaSet::default();
        let desired = md(&[("role", "canary")], &[]);
        let injected_rs = sync_replica_set(&rs, Some(&desired)).expect("changed");
        assert_eq!(
            injected_rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(EPHEMERAL_METADATA_ANNOTATION))
                .map(String::as_str),
            Some(r#"{"labels":{"role":"canary"}}"#)
        );
        assert_eq!(injected(&injected_rs), Some(desired.clone()));
        assert!(sync_replica_set(&injected_rs, Some(&desired)).is_none());
        let removed = sync_replica_set(&injected_rs, None).expect("changed");
        assert_eq!(injected(&removed), None);
    }
}
