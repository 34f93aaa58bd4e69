//! The simulated Deployment controller's decisions, as kube-controller-manager makes them (pure: a Deployment and
//! its ReplicaSets in, what to write out): the new ReplicaSet for the current template, a rolling update bounded
//! by `maxSurge` / `maxUnavailable` (or Recreate), revision annotations, history cleanup and the status with
//! `Available` and `Progressing` conditions that `kubectl rollout status` reads.
//!
//! Not simulated: `progressDeadlineSeconds` (never `ProgressDeadlineExceeded`), proportional scaling of several
//! ReplicaSets during a rollout, and adoption of orphaned ReplicaSets. The pod-template-hash is the one Argo
//! Rollouts computes (FNV over the template's JSON), not kube-controller-manager's (over Go's printed form), so
//! ReplicaSet names differ from a real cluster's.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::object;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";

/// What the controller knows of one of the Deployment's ReplicaSets.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    pub name: String,
    pub revision: i64,
    pub created: String,
    /// `spec.replicas`.
    pub replicas: i64,
    /// `status.replicas`, `readyReplicas`, `availableReplicas`.
    pub actual: i64,
    pub ready: i64,
    pub available: i64,
    /// Its template is the Deployment's, ignoring the hash label.
    pub current: bool,
}

impl Owned {
    pub fn from_object(rs: &Value, template: &Value) -> Owned {
        let n = |p: &str| rs.pointer(p).and_then(Value::as_i64).unwrap_or(0);
        Owned {
            name: object::name(rs).to_string(),
            revision: rs
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            created: object::str_at(rs, "/metadata/creationTimestamp").to_string(),
            replicas: rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
            actual: n("/status/replicas"),
            ready: n("/status/readyReplicas"),
            available: n("/status/availableReplicas"),
            current: same_template(rs.pointer("/spec/template").unwrap_or(&Value::Null), template),
        }
    }
}

/// Two pod templates are the same Deployment revision when they differ at most in the hash label (and, as typed
/// objects compare, a null field is an absent one: `kubectl rollout undo` sends `creationTimestamp: null`).
pub fn same_template(a: &Value, b: &Value) -> bool {
    let strip = |t: &Value| {
        let mut t = t.clone();
        object::without_nulls(&mut t);
        if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
            labels.remove(HASH_LABEL);
            if labels.is_empty() {
                t["metadata"].as_object_mut().map(|m| m.remove("labels"));
            }
        }
        if t.get("metadata").and_then(Value::as_object).is_some_and(|m| m.is_empty())
            && let Some(m) = t.as_object_mut()
        {
            m.remove("metadata");
        }
        t
    };
    strip(a) == strip(b)
}

/// One sync's writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Create the new ReplicaSet with this many replicas and this revision.
    pub create: Option<(i64, i64)>,
    /// Set `spec.replicas` of a ReplicaSet.
    pub scale: Vec<(String, i64)>,
    /// Give the current ReplicaSet the newest revision (its template came back).
    pub revision: Option<(String, i64)>,
    /// Old, empty ReplicaSets beyond `revisionHistoryLimit`.
    pub delete: Vec<String>,
}

/// Decides one sync of a Deployment whose ReplicaSets are `owned`.
pub fn plan(deployment: &Value, owned: &[Owned]) -> Plan {
    let desired = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
    let recreate = deployment.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
    let (surge, unavailable) = fenceposts(deployment, desired);
    let mut plan = Plan::default();
    let newest_old = owned.iter().filter(|r| !r.current).map(|r| r.revision).max().unwrap_or(0);
    let current = owned.iter().find(|r| r.current);
    let mut old: Vec<&Owned> = owned.iter().filter(|r| !r.current).collect();
    old.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    let old_replicas: i64 = old.iter().map(|r| r.replicas).sum();
    let paused = deployment.pointer("/spec/paused") == Some(&json!(true));

    let new_replicas = current.map_or(0, |r| r.replicas);
    if let Some(cur) = current
        && cur.revision <= newest_old
    {
        plan.revision = Some((cur.name.clone(), newest_old + 1));
    }
    if paused {
        // A paused Deployment scales but does not roll out.
        if let Some(cur) = current
            && old_replicas == 0
            && cur.replicas != desired
        {
            plan.scale.push((cur.name.clone(), desired));
        }
        return plan;
    }

    let target = if recreate {
        // Old pods go first; the new ReplicaSet scales up once none are left.
        for r in &old {
            if r.replicas > 0 {
                plan.scale.push((r.name.clone(), 0));
            }
        }
        if old.iter().all(|r| r.replicas == 0 && r.actual == 0) { desired } else { new_replicas }
    } else if new_replicas > desired {
        desired
    } else {
        let total: i64 = old_replicas + new_replicas;
        let room = (desired + surge - total).max(0);
        new_replicas + room.min(desired - new_replicas)
    };
    match current {
        None => plan.create = Some((target, newest_old + 1)),
        Some(cur) if cur.replicas != target => plan.scale.push((cur.name.clone(), target)),
        Some(_) => {}
    }

    if !recreate && old_replicas > 0 {
        // Old pods go as far as availability allows: first the unavailable ones, then the oldest ReplicaSets'
        // (reconcileOldReplicaSets, with the new ReplicaSet as this sync left it).
        let min_available = desired - unavailable;
        let new_unavailable = (target - current.map_or(0, |r| r.available)).max(0);
        let max_scaled_down = old_replicas + target - min_available - new_unavailable;
        if max_scaled_down > 0 {
            let mut sizes: Vec<i64> = old.iter().map(|r| r.replicas).collect();
            let mut budget = max_scaled_down;
            for (size, r) in sizes.iter_mut().zip(&old) {
                let unhealthy = (*size - r.available).max(0).min(budget);
                *size -= unhealthy;
                budget -= unhealthy;
            }
            let available: i64 =
                old.iter().map(|r| r.available).sum::<i64>() + current.map_or(0, |r| r.available);
            let mut budget = (available - min_available).max(0);
            for size in sizes.iter_mut() {
                let cut = (*size).min(budget);
                *size -= cut;
                budget -= cut;
            }
            for (r, size) in old.iter().zip(sizes) {
                if size != r.replicas {
                    plan.scale.push((r.name.clone(), size));
                }
            }
        }
    }

    // History is trimmed once a rollout is complete: of the oldest revisions beyond the limit, those empty.
    let complete = plan.create.is_none()
        && plan.scale.is_empty()
        && current.is_some_and(|c| c.replicas == desired && c.available == desired)
        && old_replicas == 0;
    if complete {
        let limit =
            deployment.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10).max(0);
        let mut by_revision = old.clone();
        by_revision.sort_by_key(|r| (r.revision, r.name.clone()));
        let excess = by_revision.len().saturating_sub(limit as usize);
        plan.delete = by_revision
            .iter()
            .take(excess)
            .filter(|r| r.replicas == 0 && r.actual == 0)
            .map(|r| r.name.clone())
            .collect();
    }
    plan
}

/// The Deployment's `maxSurge` in pods (0 for Recreate).
pub fn surge(deployment: &Value) -> i64 {
    if deployment.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    let desired = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
    fenceposts(deployment, desired).0
}

/// `maxSurge` and `maxUnavailable` resolved against `desired` (25% each by default); Recreate has neither.
fn fenceposts(deployment: &Value, desired: i64) -> (i64, i64) {
    let strategy = deployment.pointer("/spec/strategy/rollingUpdate");
    let read = |field: &str| match strategy.and_then(|s| s.get(field)) {
        Some(Value::Number(n)) => IntOrString::Int(n.as_i64().unwrap_or(0) as i32),
        Some(Value::String(s)) => IntOrString::String(s.clone()),
        _ => IntOrString::String("25%".into()),
    };
    let (surge, unavailable) =
        crate::strategy::fenceposts::resolve(&read("maxSurge"), &read("maxUnavailable"), desired as i32);
    (surge as i64, unavailable as i64)
}

/// The Deployment's status from its ReplicaSets, as `calculateStatus` and `syncRolloutStatus` write it; `now`
/// stamps conditions that change.
pub fn status(deployment: &Value, owned: &[Owned], now: &str) -> Value {
    let desired = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0);
    let (_, unavailable) = fenceposts(deployment, desired);
    let unavailable = if deployment.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
    {
        0
    } else {
        unavailable
    };
    let sum = |f: fn(&Owned) -> i64| owned.iter().map(f).sum::<i64>();
    let current = owned.iter().find(|r| r.current);
    let available = sum(|r| r.available);
    let updated = current.map_or(0, |r| r.actual);
    let mut status = json!({
        "observedGeneration": deployment.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": sum(|r| r.actual),
        "updatedReplicas": updated,
        "readyReplicas": sum(|r| r.ready),
        "availableReplicas": available,
        "unavailableReplicas": (sum(|r| r.replicas) - available).max(0),
    });
    if let Some(c) = deployment.pointer("/status/collisionCount") {
        status["collisionCount"] = c.clone();
    }
    // Zero counts are omitted, as the real server's encoding omits them.
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| k == "observedGeneration" || v.as_i64() != Some(0));
    }
    let previous =
        deployment.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let condition = |kind: &str, ok: bool, reason: &str, message: String| {
        let before = previous.iter().find(|c| c["type"] == kind);
        let status_text = if ok { "True" } else { "False" };
        let transitioned = before.and_then(|b| b.get("lastTransitionTime")).cloned();
        let same_status = before.is_some_and(|b| b["status"] == status_text);
        let unchanged = before.is_some_and(|b| b["reason"] == reason && b["message"] == message.as_str());
        json!({
            "type": kind,
            "status": status_text,
            "lastUpdateTime": if unchanged && same_status {
                before.and_then(|b| b.get("lastUpdateTime")).cloned().unwrap_or(json!(now))
            } else {
                json!(now)
            },
            "lastTransitionTime": if same_status { transitioned.unwrap_or(json!(now)) } else { json!(now) },
            "reason": reason,
            "message": message,
        })
    };
    let minimum = available >= desired - unavailable;
    let mut conditions = vec![if minimum {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    }];
    let before = previous.iter().find(|c| c["type"] == "Progressing");
    if deployment.pointer("/spec/paused") == Some(&json!(true)) {
        conditions.push(match before.filter(|b| b["reason"] == "DeploymentPaused") {
            Some(b) => b.clone(),
            None => json!({"type": "Progressing", "status": "Unknown", "lastUpdateTime": now,
                "lastTransitionTime": now, "reason": "DeploymentPaused", "message": "Deployment is paused"}),
        });
    } else if let Some(cur) = current {
        let complete = updated == desired && sum(|r| r.actual) == desired && available == desired;
        // A completed rollout stays completed while every pod is of the current revision (a scale or a lost
        // pod is not a new rollout), as the controller-manager keeps it.
        let still_complete =
            before.is_some_and(|b| b["reason"] == "NewReplicaSetAvailable") && sum(|r| r.actual) == updated;
        conditions.push(if still_complete {
            before.cloned().unwrap_or_default()
        } else if complete {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{}\" has successfully progressed.", cur.name),
            )
        } else {
            condition(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{}\" is progressing.", cur.name),
            )
        });
    }
    status["conditions"] = Value::Array(conditions);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, strategy: Value) -> Value {
        json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": replicas, "strategy": strategy,
               "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}}}})
    }

    fn rs(name: &str, revision: i64, current: bool, replicas: i64, available: i64) -> Owned {
        Owned {
            name: name.into(),
            revision,
            created: format!("2026-01-0{revision}T00:00:00Z"),
            replicas,
            actual: replicas,
            ready: available,
            available,
            current,
        }
    }

    /// A rolling update of 4 replicas with the default 25% / 25% (surge 1, unavailable 1), step by step as the
    /// controller-manager takes it.
    #[test]
    fn a_rolling_update_moves_within_surge_and_unavailability() {
        let d = deployment(4, json!({"type": "RollingUpdate"}));
        // The first sync: a new ReplicaSet of one pod (surge), one old pod may go (unavailable).
        let p = plan(&d, &[rs("old", 1, false, 4, 4)]);
        assert_eq!(p.create, Some((1, 2)));
        assert_eq!(p.scale, vec![("old".to_string(), 3)]);
        // New pod not yet available: total is 4 + 1 surge already, nothing more may go.
        let p = plan(&d, &[rs("old", 1, false, 3, 3), rs("new", 2, true, 1, 0)]);
        assert_eq!(p, Plan { scale: vec![("new".to_string(), 2)], ..Plan::default() });
        let p = plan(&d, &[rs("old", 1, false, 3, 3), rs("new", 2, true, 2, 0)]);
        assert_eq!(p, Plan::default(), "4 total needs 3 available");
        // Two new pods available: old goes down to 1... bounded by availability (5 pods, 3 must stay available).
        let p = plan(&d, &[rs("old", 1, false, 3, 3), rs("new", 2, true, 2, 2)]);
        assert_eq!(p.scale, vec![("old".to_string(), 1)]);
        // The new ReplicaSet grows to all 4, and the last old pod waits for two more of them to be available.
        let p = plan(&d, &[rs("old", 1, false, 1, 1), rs("new", 2, true, 2, 2)]);
        assert_eq!(p.scale, vec![("new".to_string(), 4)]);
        assert_eq!(plan(&d, &[rs("old", 1, false, 1, 1), rs("new", 2, true, 4, 2)]), Plan::default());
        let p = plan(&d, &[rs("old", 1, false, 1, 1), rs("new", 2, true, 4, 4)]);
        assert_eq!(p.scale, vec![("old".to_string(), 0)]);
        // Done: nothing to write.
        assert_eq!(plan(&d, &[rs("old", 1, false, 0, 0), rs("new", 2, true, 4, 4)]), Plan::default());
        // Unavailable old pods go first, as far as the total allows, although nothing is available.
        let p = plan(&d, &[rs("old", 1, false, 4, 0), rs("new", 2, true, 1, 0)]);
        assert_eq!(p.scale, vec![("old".to_string(), 3)]);
    }

    #[test]
    fn recreate_empties_the_old_replica_sets_before_the_new_one_grows() {
        let d = deployment(3, json!({"type": "Recreate"}));
        let p = plan(&d, &[rs("old", 1, false, 3, 3)]);
        assert_eq!((p.create, p.scale), (Some((0, 2)), vec![("old".to_string(), 0)]));
        let mut draining = rs("old", 1, false, 0, 0);
        draining.actual = 2;
        assert_eq!(plan(&d, &[draining, rs("new", 2, true, 0, 0)]), Plan::default());
        let p = plan(&d, &[rs("old", 1, false, 0, 0), rs("new", 2, true, 0, 0)]);
        assert_eq!(p.scale, vec![("new".to_string(), 3)]);
    }

    #[test]
    fn revisions_history_and_scaling() {
        let d = deployment(2, json!({}));
        // The first ReplicaSet of a new Deployment has everything at once.
        assert_eq!(plan(&d, &[]).create, Some((2, 1)));
        // Rolled back to an old template: that ReplicaSet becomes the newest revision.
        let p = plan(&d, &[rs("back", 1, true, 2, 2), rs("mid", 2, false, 0, 0)]);
        assert_eq!(p.revision, Some(("back".to_string(), 3)));
        // Scaled down after the update: the new ReplicaSet follows.
        let d1 = deployment(1, json!({}));
        assert_eq!(plan(&d1, &[rs("new", 2, true, 2, 2)]).scale, vec![("new".to_string(), 1)]);
        // Empty old ReplicaSets beyond the history limit go, oldest first.
        let mut limited = deployment(2, json!({}));
        limited["spec"]["revisionHistoryLimit"] = json!(1);
        let p = plan(&limited, &[rs("a", 1, false, 0, 0), rs("b", 2, false, 0, 0), rs("c", 3, true, 2, 2)]);
        assert_eq!(p.delete, vec!["a".to_string()]);
        // By revision, not age: after a rollback the oldest ReplicaSet may be a recent revision.
        let mut rolled_back = rs("old-but-recent", 4, false, 0, 0);
        rolled_back.created = "2025-01-01T00:00:00Z".into();
        let p = plan(&limited, &[rolled_back, rs("b", 2, false, 0, 0), rs("c", 5, true, 2, 2)]);
        assert_eq!(p.delete, vec!["b".to_string()]);
        // Not while a rollout is under way.
        let p = plan(&limited, &[rs("a", 1, false, 0, 0), rs("b", 2, false, 0, 0), rs("c", 3, true, 2, 1)]);
        assert!(p.delete.is_empty(), "{p:?}");
    }

    #[test]
    fn status_reads_as_kubectl_rollout_status_expects() {
        let d = deployment(2, json!({}));
        let s = status(&d, &[rs("old", 1, false, 1, 1), rs("new", 2, true, 2, 1)], "t1");
        assert_eq!(
            (s["replicas"].as_i64(), s["updatedReplicas"].as_i64(), s["availableReplicas"].as_i64()),
            (Some(3), Some(2), Some(2))
        );
        assert_eq!(s["conditions"][0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(s["conditions"][1]["reason"], "ReplicaSetUpdated");
        let mut d2 = d.clone();
        d2["status"] = s;
        let s = status(&d2, &[rs("new", 2, true, 2, 2)], "t2");
        assert_eq!(s["conditions"][1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(s["conditions"][1]["message"], "ReplicaSet \"new\" has successfully progressed.");
        // Progressing stayed True: its transition time is kept; Available's too.
        let progressing = &s["conditions"][1];
        assert_eq!(
            (progressing["lastTransitionTime"].as_str(), progressing["lastUpdateTime"].as_str()),
            (Some("t1"), Some("t2"))
        );
        assert_eq!(s["conditions"][0]["lastUpdateTime"], "t1");
        assert!(s.get("unavailableReplicas").is_none());
        assert_eq!(s["observedGeneration"], 2);
        // Completed, then scaled up: still the completed rollout, not a new one.
        let mut d3 = deployment(3, json!({}));
        d3["status"] = s.clone();
        let scaled = status(&d3, &[rs("new", 2, true, 3, 2)], "t3");
        assert_eq!(scaled["conditions"][1], s["conditions"][1]);
        let s = status(&d, &[rs("new", 2, true, 2, 0)], "t3");
        assert_eq!(s["conditions"][0]["reason"], "MinimumReplicasUnavailable");
        assert_eq!(s["unavailableReplicas"], 2);
        let mut paused = d.clone();
        paused["spec"]["paused"] = json!(true);
        let s = status(&paused, &[rs("new", 2, true, 2, 2)], "t4");
        let p = &s["conditions"][1];
        assert_eq!((p["status"].as_str(), p["reason"].as_str()), (Some("Unknown"), Some("DeploymentPaused")));
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let a = json!({"metadata": {"labels": {"app": "d", "pod-template-hash": "abc"}}, "spec": {"x": 1}});
        let b = json!({"metadata": {"labels": {"app": "d"}}, "spec": {"x": 1}});
        assert!(same_template(&a, &b));
        let undone =
            json!({"metadata": {"creationTimestamp": null, "labels": {"app": "d"}}, "spec": {"x": 1}});
        assert!(same_template(&a, &undone));
        // A template without labels matches its ReplicaSet's, which carries only the hash label.
        let bare = json!({"spec": {"x": 1}});
        assert!(same_template(
            &bare,
            &json!({"metadata": {"labels": {"pod-template-hash": "h"}}, "spec": {"x": 1}})
        ));
        assert!(!same_template(&a, &json!({"metadata": {"labels": {"app": "d"}}, "spec": {"x": 2}})));
    }
}
