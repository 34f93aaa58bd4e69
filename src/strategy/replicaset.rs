//! Reading ReplicaSets the way upstream's `utils/replicaset` does: counts, the pod-template hash label, the
//! revision annotation, and which ReplicaSet of a Rollout is new, stable or other (`FindNewReplicaSet`,
//! `GetStableRS`, `GetOtherRSs`, `MaxRevision`).

use crate::api::rollout::Rollout;
use k8s_openapi::api::apps::v1::ReplicaSet;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The label (and selector key) holding a ReplicaSet's pod-template hash.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// A ReplicaSet's (and the Rollout's) revision number.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
/// Earlier revisions a ReplicaSet held, comma-separated, when it was brought back by a rollback.
pub const REVISION_HISTORY_ANNOTATION: &str = "rollout.argoproj.io/revision-history";
/// `spec.replicas` of the Rollout when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "rollout.argoproj.io/desired-replicas";
/// When a ReplicaSet kept up after being replaced is to be scaled down (RFC 3339, UTC).
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";
/// The canary/stable metadata injected into a ReplicaSet's pods, so it can be taken out again.
pub const EPHEMERAL_METADATA_ANNOTATION: &str = "rollout.argoproj.io/ephemeral-metadata";
/// ReplicaSets of Experiments carry this annotation; they do not count towards rollback windows.
pub const EXPERIMENT_NAME_ANNOTATION: &str = "experiment.argoproj.io/name";

/// `spec.replicas` (the API server defaults it to 1).
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// `status.replicas`.
pub fn actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

/// `status.availableReplicas`.
pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// `IsReplicaSetAvailable`: it should have pods and every one of them is available.
pub fn fully_available(rs: &ReplicaSet) -> bool {
    let spec = spec_replicas(rs);
    spec != 0 && available(rs) != 0 && spec <= available(rs)
}

/// `status.readyReplicas`.
pub fn ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// The `rollouts-pod-template-hash` label, or "".
pub fn pod_hash(rs: &ReplicaSet) -> &str {
    rs.metadata.labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL)).map(String::as_str).unwrap_or("")
}

/// An annotation of the ReplicaSet.
pub fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// `Revision`: the revision annotation; absent is 0, unparsable is an error.
pub fn revision(annotations: Option<&BTreeMap<String, String>>) -> Result<i64, String> {
    match annotations.and_then(|a| a.get(REVISION_ANNOTATION)) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("invalid revision {v:?}")),
    }
}

/// The revision of a ReplicaSet (0 when absent or unreadable, as upstream's callers treat it).
pub fn rs_revision(rs: &ReplicaSet) -> i64 {
    revision(rs.metadata.annotations.as_ref()).unwrap_or(0)
}

/// `MaxRevision`: the highest readable revision among `rss`.
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().filter_map(|rs| revision(rs.metadata.annotations.as_ref()).ok()).max().unwrap_or(0).max(0)
}

/// `FilterActiveReplicaSets`: ReplicaSets that have, or ought to have, pods.
pub fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

/// Whether the ReplicaSet has a scale-down deadline.
pub fn has_scale_down_deadline(rs: &ReplicaSet) -> bool {
    annotation(rs, SCALE_DOWN_DEADLINE_ANNOTATION).is_some_and(|v| !v.is_empty())
}

/// Time left before the scale-down deadline, if it has one that has not passed; an unreadable deadline is an
/// error.
pub fn time_before_scale_down(
    rs: &ReplicaSet,
    now: jiff::Timestamp,
) -> Result<Option<jiff::SignedDuration>, String> {
    let Some(raw) = annotation(rs, SCALE_DOWN_DEADLINE_ANNOTATION).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let at: jiff::Timestamp =
        raw.parse().map_err(|_| format!("unable to read scaleDownAt label on rs '{}'", name(rs)))?;
    Ok((at > now).then(|| now.duration_until(at)))
}

/// The ReplicaSet's name.
pub fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// The revision a ReplicaSet was created with: the first of its `revision-history`, else its revision.
/// Revisions are handed out in creation order, so this orders ReplicaSets created within one second.
fn first_revision(rs: &ReplicaSet) -> Option<i64> {
    let history = annotation(rs, REVISION_HISTORY_ANNOTATION).unwrap_or("");
    let current = annotation(rs, REVISION_ANNOTATION);
    history.split(',').chain(current).filter_map(|r| r.trim().parse::<i64>().ok()).min()
}

/// `ReplicaSetsByCreationTimestamp`: oldest first; within one second (the timestamps' granularity) by the
/// revision each was created with, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| match (first_revision(a), first_revision(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        })
        .then_with(|| name(a).cmp(name(b)))
}

/// Whether `a` was created before `b` (`CreationTimestamp.Before`). Upstream compares whole seconds, so of two
/// ReplicaSets created within one second neither is older; serin asks the revisions they were created with.
pub fn created_before(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    match (created(a), created(b)) {
        (Some(x), Some(y)) if x != y => x < y,
        (Some(_), Some(_)) => matches!((first_revision(a), first_revision(b)), (Some(x), Some(y)) if x < y),
        _ => false,
    }
}

/// `ReplicaSetsByRevisionNumber`: by revision, creation time breaking ties; unreadable revisions sort by
/// creation time among themselves.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ra = annotation(a, REVISION_ANNOTATION).and_then(|v| v.parse::<i64>().ok());
    let rb = annotation(b, REVISION_ANNOTATION).and_then(|v| v.parse::<i64>().ok());
    match (ra, rb) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        _ => by_creation(a, b),
    }
}

/// Rollout annotations that are not copied to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    "notified.notifications.argoproj.io",
];

/// `SetNewReplicaSetAnnotations`: copies the Rollout's annotations to the new ReplicaSet, raises its revision to
/// `new_revision` (recording the revisions it held before, when it is brought back), and on creation sets the
/// desired-replicas annotation. Returns whether anything changed.
pub fn set_new_rs_annotations(
    rollout_annotations: Option<&BTreeMap<String, String>>,
    rs: &mut BTreeMap<String, String>,
    new_revision: i64,
    exists: bool,
    replicas: i32,
) -> bool {
    let mut changed = false;
    for (k, v) in rollout_annotations.into_iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || rs.get(k) == Some(v) {
            continue;
        }
        rs.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = rs.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        rs.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
    }
    if let Some(old) = old
        && changed
    {
        let history = rs.get(REVISION_HISTORY_ANNOTATION).cloned().unwrap_or_default();
        let value = if history.is_empty() { old } else { format!("{history},{old}") };
        rs.insert(REVISION_HISTORY_ANNOTATION.into(), value);
    }
    if !exists && set_desired_replicas(rs, replicas) {
        changed = true;
    }
    changed
}

/// `SetReplicasAnnotations`.
pub fn set_desired_replicas(annotations: &mut BTreeMap<String, String>, replicas: i32) -> bool {
    let desired = replicas.to_string();
    if annotations.get(DESIRED_REPLICAS_ANNOTATION) == Some(&desired) {
        return false;
    }
    annotations.insert(DESIRED_REPLICAS_ANNOTATION.into(), desired);
    true
}

/// `ReplicasAnnotationsNeedUpdate`: the desired-replicas annotation differs from `replicas`, or a ReplicaSet
/// being scaled to nothing still has a scale-down deadline.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, replicas: i32) -> bool {
    let Some(a) = rs.metadata.annotations.as_ref() else { return true };
    if a.get(DESIRED_REPLICAS_ANNOTATION) != Some(&replicas.to_string()) {
        return true;
    }
    replicas == 0 && a.get(SCALE_DOWN_DEADLINE_ANNOTATION).is_some_and(|v| !v.is_empty())
}

/// `GetDesiredReplicasAnnotation`.
pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS_ANNOTATION)?.parse().ok()
}

/// `metav1.FormatLabelSelector`: `app=foo,tier in (a,b)`, `<none>` for an empty selector.
pub fn format_label_selector(
    selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> String {
    let Some(s) = selector else { return "<none>".into() };
    // Go's selector: requirements sorted by key, the values of a set requirement sorted too.
    let mut parts: Vec<(&str, String)> =
        s.match_labels.iter().flatten().map(|(k, v)| (k.as_str(), format!("{k}={v}"))).collect();
    for e in s.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        let text = match e.operator.as_str() {
            "In" => format!("{} in ({})", e.key, values.join(",")),
            "NotIn" => format!("{} notin ({})", e.key, values.join(",")),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => return "<error>".into(),
        };
        parts.push((e.key.as_str(), text));
    }
    parts.sort_by(|a, b| a.0.cmp(b.0));
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(",")
    }
}

/// The Rollout's ReplicaSets split as upstream's rollout context holds them.
#[derive(Debug, Clone, Default)]
pub struct ReplicaSets {
    /// Every ReplicaSet the Rollout controls.
    pub all: Vec<ReplicaSet>,
    /// Index into `all` of the ReplicaSet for the desired template.
    pub new: Option<usize>,
    /// Index into `all` of the ReplicaSet whose hash is `status.stableRS`.
    pub stable: Option<usize>,
}

impl ReplicaSets {
    /// Sorts `all` oldest first and finds the new and stable ReplicaSets: the new one by the first of
    /// `desired_hashes` some ReplicaSet carries (`FindNewReplicaSet`: the hash, then the hash earlier versions
    /// computed for the same template), the stable one by `status.stableRS` (`GetStableRS`).
    pub fn classify(mut all: Vec<ReplicaSet>, rollout: &Rollout, desired_hashes: &[&str]) -> ReplicaSets {
        all.sort_by(by_creation);
        let new = desired_hashes.iter().find_map(|h| all.iter().position(|rs| pod_hash(rs) == *h));
        let stable_hash = rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref()).unwrap_or("");
        let stable = if stable_hash.is_empty() {
            None
        } else if new.is_some_and(|i| pod_hash(&all[i]) == stable_hash) {
            new
        } else {
            all.iter().position(|rs| pod_hash(rs) == stable_hash)
        };
        ReplicaSets { all, new, stable }
    }

    pub fn new_rs(&self) -> Option<&ReplicaSet> {
        self.new.map(|i| &self.all[i])
    }

    pub fn stable_rs(&self) -> Option<&ReplicaSet> {
        self.stable.map(|i| &self.all[i])
    }

    /// `GetReplicaSetByTemplateHash`: the ReplicaSet with this pod-template hash (none for an empty hash).
    pub fn by_hash(&self, hash: &str) -> Option<usize> {
        if hash.is_empty() {
            return None;
        }
        self.all.iter().position(|rs| pod_hash(rs) == hash)
    }

    /// `GetOtherRSs`: neither new nor stable.
    pub fn others(&self) -> Vec<&ReplicaSet> {
        self.all
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.new && Some(*i) != self.stable)
            .map(|(_, rs)| rs)
            .collect()
    }

    /// `FindOldReplicaSets`: every ReplicaSet but the new one (the stable one included).
    pub fn older(&self) -> Vec<&ReplicaSet> {
        self.all.iter().enumerate().filter(|(i, _)| Some(*i) != self.new).map(|(_, rs)| rs).collect()
    }

    /// `CheckStableRSExists`: a stable ReplicaSet that is not the new one.
    pub fn stable_differs(&self) -> bool {
        self.stable.is_some() && self.stable != self.new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    pub(crate) fn rs(hash: &str, revision: &str, created_s: i64) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("r-{hash}")),
                labels: Some([(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string())].into()),
                annotations: (!revision.is_empty())
                    .then(|| [(REVISION_ANNOTATION.to_string(), revision.to_string())].into()),
                creation_timestamp: Some(Time(jiff::Timestamp::from_second(created_s).expect("ts"))),
                ..Default::default()
            },
            spec: ReplicaSetSpec { replicas: Some(1), ..Default::default() },
            status: Some(ReplicaSetStatus::default()),
        }
    }

    #[test]
    fn label_selectors_are_formatted_as_go_does() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let labels = |pairs: &[(&str, &str)]| {
            Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
        };
        let cases = [
            (None, "<none>"),
            (Some(LabelSelector::default()), "<none>"),
            (Some(LabelSelector { match_labels: labels(&[("app", "x")]), match_expressions: None }), "app=x"),
            (
                Some(LabelSelector {
                    match_labels: labels(&[("app", "x"), ("tier", "web")]),
                    match_expressions: Some(vec![
                        req("a-tier", "In", &["b", "a"]),
                        req("zone", "NotIn", &["z2", "z1"]),
                        req("canary", "Exists", &[]),
                        req("legacy", "DoesNotExist", &[]),
                    ]),
                }),
                "a-tier in (a,b),app=x,canary,!legacy,tier=web,zone notin (z1,z2)",
            ),
            (
                Some(LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![req("k", "Near", &["v"])]),
                }),
                "<error>",
            ),
        ];
        for (selector, want) in cases {
            assert_eq!(format_label_selector(selector.as_ref()), want, "{selector:?}");
        }
    }

    #[test]
    fn new_replica_sets_get_the_rollouts_annotations_and_the_next_revision() {
        let rollout: BTreeMap<String, String> = [
            ("team", "a"),
            (REVISION_ANNOTATION, "9"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut created = BTreeMap::new();
        assert!(set_new_rs_annotations(Some(&rollout), &mut created, 3, false, 5));
        let keys: Vec<&str> = created.keys().map(String::as_str).collect();
        assert_eq!(keys, [DESIRED_REPLICAS_ANNOTATION, REVISION_ANNOTATION, "team"]);
        assert_eq!(
            (created[REVISION_ANNOTATION].as_str(), created[DESIRED_REPLICAS_ANNOTATION].as_str()),
            ("3", "5")
        );
        // Unchanged on the next pass; brought back by a rollback, it remembers its old revisions.
        assert!(!set_new_rs_annotations(Some(&rollout), &mut created, 3, true, 5));
        assert!(set_new_rs_annotations(Some(&rollout), &mut created, 5, true, 5));
        assert!(set_new_rs_annotations(Some(&rollout), &mut created, 7, true, 5));
        assert_eq!(created[REVISION_HISTORY_ANNOTATION], "3,5");
        assert_eq!(created[REVISION_ANNOTATION], "7");
        // A revision that is not a number is left alone.
        let mut odd = BTreeMap::from([(REVISION_ANNOTATION.to_string(), "x".to_string())]);
        assert!(!set_new_rs_annotations(None, &mut odd, 2, true, 1));
    }

    #[test]
    fn revisions_sort_numerically_with_unreadable_ones_first() {
        let mut list = vec![rs("c", "10", 3), rs("a", "2", 1), rs("x", "bad", 5), rs("b", "2", 2)];
        list.sort_by(by_revision);
        let names: Vec<&str> = list.iter().map(name).collect();
        assert_eq!(names, ["r-x", "r-a", "r-b", "r-c"]);
        assert_eq!(max_revision(&list), 10);
        assert_eq!(max_revision(&[rs("a", "", 1)]), 0);
    }

    #[test]
    fn creation_order_within_one_second_follows_the_revision_each_was_created_with() {
        let (old, new) = (rs("a", "2", 5), rs("b", "3", 5));
        assert!(created_before(&old, &new) && !created_before(&new, &old));
        // Brought back by a rollback, it is revision 4 now but was created as revision 2.
        let mut back = rs("a", "4", 5);
        back.metadata
            .annotations
            .get_or_insert_default()
            .insert(REVISION_HISTORY_ANNOTATION.into(), "2".into());
        assert!(created_before(&back, &new));
        assert!(created_before(&rs("z", "9", 4), &rs("a", "1", 5)), "whole seconds decide first");
        assert!(!created_before(&rs("a", "", 5), &rs("b", "", 5)), "no revisions: neither is older");
        let mut list = [new.clone(), back.clone()];
        list.sort_by(by_creation);
        assert_eq!(list.iter().map(name).collect::<Vec<_>>(), ["r-a", "r-b"]);
    }

    #[test]
    fn scale_down_deadlines_are_read_as_rfc3339() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let mut r = rs("a", "1", 1);
        assert_eq!(time_before_scale_down(&r, now), Ok(None));
        r.metadata
            .annotations
            .get_or_insert_default()
            .insert(SCALE_DOWN_DEADLINE_ANNOTATION.into(), "2026-01-01T00:00:30Z".into());
        assert_eq!(time_before_scale_down(&r, now), Ok(Some(jiff::SignedDuration::from_secs(30))));
        r.metadata
            .annotations
            .get_or_insert_default()
            .insert(SCALE_DOWN_DEADLINE_ANNOTATION.into(), "2025-01-01T00:00:00Z".into());
        assert_eq!(time_before_scale_down(&r, now), Ok(None));
        r.metadata
            .annotations
            .get_or_insert_default()
            .insert(SCALE_DOWN_DEADLINE_ANNOTATION.into(), "soon".into());
        assert!(time_before_scale_down(&r, now).is_err());
    }
}
