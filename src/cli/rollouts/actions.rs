//! What each of `kubectl argo rollouts`' verbs writes (upstream's `pkg/kubectl-argo-rollouts/cmd/*`), as pure
//! functions of the objects read: the patches of promote, abort, retry, pause and restart, the template edits of
//! set image and undo.

use crate::api::common::AnalysisPhase;
use crate::api::rollout::Rollout;
use crate::strategy::canary;
use crate::strategy::replicaset::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Value, json};

/// The merge patches a verb sends: to the spec (the main resource), to the status (the status subresource), and
/// the combined one used when the server has no status subresource.
#[derive(Debug, Clone, PartialEq)]
pub struct Patches {
    pub spec: Option<Value>,
    pub status: Option<Value>,
    pub unified: Value,
}

/// The next step index for promote: one past the current step, at most the number of steps.
fn next_index(ro: &Rollout) -> Option<i32> {
    let (_, index) = canary::current_step(ro);
    let steps = ro.canary().map(|c| c.steps().len() as i32).unwrap_or(0);
    index.map(|i| if i < steps { i + 1 } else { i })
}

/// `promote [--full]` (`getPatches`).
pub fn promote(ro: &Rollout, full: bool) -> Patches {
    let status = ro.status.clone().unwrap_or_default();
    let paused = ro.spec.paused.unwrap_or(false);
    let unpause = paused.then(|| json!({"spec": {"paused": false}}));
    if full {
        let needed = status.current_pod_hash != status.stable_rs;
        return Patches {
            spec: unpause,
            status: needed.then(|| json!({"status": {"promoteFull": true}})),
            unified: json!({"spec": {"paused": false}, "status": {"promoteFull": true}}),
        };
    }
    let pause_conditions = status.pause_conditions.as_ref().is_some_and(|p| !p.is_empty());
    let inconclusive = ro.canary().is_some()
        && status
            .canary
            .as_ref()
            .and_then(|c| c.current_step_analysis_run_status.as_ref())
            .is_some_and(|r| r.status == AnalysisPhase::Inconclusive);
    let mut patches = Patches {
        spec: unpause,
        status: None,
        unified: json!({"spec": {"paused": false}, "status": {"pauseConditions": null}}),
    };
    if inconclusive && pause_conditions && status.controller_pause.unwrap_or(false) {
        if let Some(i) = next_index(ro) {
            patches.status = Some(
                json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": i}}),
            );
        }
    } else if pause_conditions {
        patches.status = Some(json!({"status": {"pauseConditions": null}}));
    } else if ro.canary().is_some()
        && let Some(i) = next_index(ro)
    {
        patches.status = Some(json!({"status": {"pauseConditions": null, "currentStepIndex": i}}));
        patches.unified =
            json!({"spec": {"paused": false}, "status": {"pauseConditions": null, "currentStepIndex": i}});
    }
    patches
}

/// `abort`.
pub fn abort() -> Value {
    json!({"status": {"abort": true}})
}

/// `retry rollout`.
pub fn retry() -> Value {
    json!({"status": {"abort": false}})
}

/// `pause`.
pub fn pause() -> Value {
    json!({"spec": {"paused": true}})
}

/// `restart [--in D]`: `restartAt` is now (plus the delay), in whole seconds, as RFC 3339.
pub fn restart(at: jiff::Timestamp) -> Value {
    let at = jiff::Timestamp::from_second(at.as_second()).unwrap_or(at);
    json!({"spec": {"restartAt": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}})
}

/// `set image`: every init, regular and ephemeral container named `container` (or every one, for `*`) in the
/// object's `spec.template` runs `image`; an error when none is named so.
pub fn set_image(object: &mut Value, container: &str, image: &str) -> Result<(), String> {
    let mut found = false;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(items) =
            object.pointer_mut(&format!("/spec/template/spec/{list}")).and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in items {
            if container == "*" || c.get("name").and_then(Value::as_str) == Some(container) {
                c["image"] = json!(image);
                found = true;
            }
        }
    }
    if found { Ok(()) } else { Err(format!("unable to find container named \"{container}\"")) }
}

fn revision(rs: &ReplicaSet) -> Result<i64, ()> {
    match rs.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| ()),
    }
}

/// `undo [--to-revision N]` (`rolloutRevision`): the ReplicaSet of revision `to` (0: the one before the
/// latest).
pub fn undo_target<'a>(rollout: &str, rss: &'a [ReplicaSet], to: i64) -> Result<&'a ReplicaSet, String> {
    let (mut latest, mut latest_rev, mut previous, mut previous_rev) = (None, -1i64, None, -1i64);
    for rs in rss {
        let Ok(v) = revision(rs) else { continue };
        if to == 0 {
            if latest_rev < v {
                (previous, previous_rev) = (latest, latest_rev);
                (latest, latest_rev) = (Some(rs), v);
            } else if previous_rev < v {
                (previous, previous_rev) = (Some(rs), v);
            }
        } else if to == v {
            return Ok(rs);
        }
    }
    if to > 0 {
        return Err(format!("unable to find specified revision {to} in history"));
    }
    previous.ok_or_else(|| format!("no revision found for rollout {rollout:?}"))
}

/// The template `undo` writes: the ReplicaSet's, without its pod-template hash label; `None` when the Rollout's
/// template already is that (`equalIgnoreHash`).
pub fn undo_template(current: Option<&Value>, rs: &ReplicaSet) -> Result<Option<Value>, String> {
    let mut template =
        serde_json::to_value(rs.spec.template.clone().unwrap_or_default()).map_err(|e| e.to_string())?;
    if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    if let Some(obj) = template.get_mut("metadata").and_then(Value::as_object_mut) {
        obj.remove("creationTimestamp");
    }
    let mut current = current.cloned().unwrap_or(Value::Null);
    if let Some(obj) = current.get_mut("metadata").and_then(Value::as_object_mut) {
        obj.remove("creationTimestamp");
    }
    Ok((current != template).then_some(template))
}

#[cfg(test)]
mod tests;
