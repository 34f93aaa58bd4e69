//! Events are one resource served at two versions, as on the real API server: `v1` Events (`involvedObject`,
//! `message`, `source`, `count`, …) and `events.k8s.io/v1` Events (`regarding`, `note`, `reportingController`,
//! `deprecatedCount`, …). The store keeps a copy under each, converted as the API server converts between
//! them, so an Event recorded through either appears in both (and in `kubectl describe`).

use serde_json::{Map, Value, json};

use super::registry::GroupResource;

/// The other version's resource of an Event resource, if `gr` is one.
pub fn counterpart(gr: &GroupResource) -> Option<GroupResource> {
    match (gr.group.as_str(), gr.resource.as_str()) {
        ("", "events") => Some(GroupResource::new("events.k8s.io", "events")),
        ("events.k8s.io", "events") => Some(GroupResource::new("", "events")),
        _ => None,
    }
}

/// Fields the two versions share under the same names.
const SHARED: [&str; 7] = ["metadata", "eventTime", "series", "action", "reason", "type", "related"];
/// `(v1 name, events.k8s.io/v1 name)` of the renamed fields.
const RENAMED: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Converts an Event stored under `from` into the other version.
pub fn convert(from: &GroupResource, event: &Value) -> Value {
    let to_events_k8s_io = from.group.is_empty();
    let get = |k: &str| event.get(k).filter(|v| !v.is_null());
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(if to_events_k8s_io { "events.k8s.io/v1" } else { "v1" }));
    out.insert("kind".into(), json!("Event"));
    for k in SHARED {
        if let Some(v) = get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (core, new) in RENAMED {
        let (src, dst) = if to_events_k8s_io { (core, new) } else { (new, core) };
        if let Some(v) = get(src) {
            out.insert(dst.into(), v.clone());
        }
    }
    if let Some(i) = get("reportingInstance") {
        out.insert("reportingInstance".into(), i.clone());
    }
    if !to_events_k8s_io && !out.contains_key("involvedObject") {
        // v1 always has one, empty when the Event regards nothing.
        out.insert("involvedObject".into(), json!({}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_versions_convert_as_the_api_server_converts_them() {
        let core = GroupResource::new("", "events");
        let v1 = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
            "involvedObject": {"kind": "Rollout", "name": "r", "namespace": "ns"},
            "reason": "RolloutUpdated", "message": "Rollout updated to revision 2", "type": "Normal",
            "source": {"component": "rollouts-controller", "host": "node-1"},
            "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:05:00Z", "count": 3,
            "eventTime": null, "reportingComponent": "", "reportingInstance": ""
        });
        let new = convert(&core, &v1);
        assert_eq!(new["apiVersion"], "events.k8s.io/v1");
        assert_eq!(new["regarding"], v1["involvedObject"]);
        assert_eq!(new["note"], "Rollout updated to revision 2");
        assert_eq!(new["deprecatedCount"], 3);
        assert_eq!(new["deprecatedSource"], v1["source"]);
        assert_eq!(new["deprecatedLastTimestamp"], "2026-12-01T10:05:00Z");
        assert_eq!(
            (new["reportingController"].as_str(), new["reportingInstance"].as_str()),
            (Some(""), Some(""))
        );
        assert_eq!(new["metadata"], v1["metadata"]);
        assert!(new.get("eventTime").is_none(), "nulls are not carried over: {new}");
        // And back: the v1 fields as they were.
        let back = convert(&GroupResource::new("events.k8s.io", "events"), &new);
        for k in [
            "involvedObject",
            "message",
            "reason",
            "type",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "metadata",
        ] {
            assert_eq!(back[k], v1[k], "{k}");
        }
        assert_eq!(counterpart(&core), Some(GroupResource::new("events.k8s.io", "events")));
        assert_eq!(counterpart(&GroupResource::new("", "configmaps")), None);
    }
}
