//! The `smi` router's TrafficSplit, without I/O (upstream's `rollout/trafficrouting/smi`): the canary backend,
//! experiment backends, then the stable backend with what is left, for the SMI version the cluster serves.

use serde::Deserialize;
use serde_json::{Value, json};
use serin_plugin_support::routing;
pub use serin_plugin_support::routing::owned_by;

/// SMI versions in the order the router prefers them: upstream's default (`--traffic-split-api-version`)
/// first, then the later ones.
pub const VERSIONS: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3"];

/// `trafficRouting.smi`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub root_service: String,
    #[serde(default)]
    pub traffic_split_name: String,
}

/// What the split is for.
#[derive(Debug, Default, Clone)]
pub struct Split {
    pub rollout: String,
    pub rollout_uid: String,
    pub namespace: String,
    pub canary_service: String,
    pub stable_service: String,
}

impl Config {
    /// The TrafficSplit's name: `trafficSplitName`, or the Rollout's.
    pub fn name(&self, s: &Split) -> String {
        if self.traffic_split_name.is_empty() { s.rollout.clone() } else { self.traffic_split_name.clone() }
    }

    /// The root Service: `rootService`, or the stable Service.
    pub fn root(&self, s: &Split) -> String {
        if self.root_service.is_empty() { s.stable_service.clone() } else { self.root_service.clone() }
    }
}

/// One backend's weight as `version` spells it: a quantity in v1alpha1, an integer later.
fn weight(version: &str, w: i64) -> Value {
    if version == "v1alpha1" { json!(w.to_string()) } else { json!(w) }
}

/// The TrafficSplit `spec` for `weight` (and experiment backends), stable last with what is left of 100.
pub fn spec(cfg: &Config, s: &Split, version: &str, canary_weight: i64, extras: &[(String, i64)]) -> Value {
    let mut backends = vec![json!({"service": s.canary_service, "weight": weight(version, canary_weight)})];
    let mut stable = 100 - canary_weight;
    for (service, w) in extras {
        backends.push(json!({"service": service, "weight": weight(version, *w)}));
        stable -= w;
    }
    backends.push(json!({"service": s.stable_service, "weight": weight(version, stable)}));
    json!({"service": cfg.root(s), "backends": backends})
}

/// A new TrafficSplit owned by the Rollout.
pub fn object(cfg: &Config, s: &Split, version: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("split.smi-spec.io/{version}"),
        "kind": "TrafficSplit",
        "metadata": {
            "name": cfg.name(s),
            "namespace": s.namespace,
            "ownerReferences": [routing::rollout_owner(&s.rollout, &s.rollout_uid)],
        },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split() -> Split {
        Split {
            rollout: "ro".into(),
            rollout_uid: "u1".into(),
            namespace: "ns".into(),
            canary_service: "canary".into(),
            stable_service: "stable".into(),
        }
    }

    #[test]
    fn backends_are_canary_then_experiments_then_stable_with_the_rest() {
        // (version, weight, extras, expected backends)
        let cases: &[(&str, i64, &[(&str, i64)], Value)] = &[
            (
                "v1alpha1",
                5,
                &[],
                json!([{"service": "canary", "weight": "5"}, {"service": "stable", "weight": "95"}]),
            ),
            (
                "v1alpha2",
                0,
                &[],
                json!([{"service": "canary", "weight": 0}, {"service": "stable", "weight": 100}]),
            ),
            (
                "v1alpha3",
                10,
                &[("exp", 20)],
                json!([{"service": "canary", "weight": 10}, {"service": "exp", "weight": 20}, {"service": "stable", "weight": 70}]),
            ),
        ];
        for (version, w, extras, want) in cases {
            let extras: Vec<(String, i64)> = extras.iter().map(|(s, w)| (s.to_string(), *w)).collect();
            let got = spec(&Config::default(), &split(), version, *w, &extras);
            assert_eq!(got["backends"], *want, "{version} {w}");
            assert_eq!(got["service"], "stable", "the root defaults to the stable Service");
        }
    }

    #[test]
    fn names_default_to_the_rollout_and_the_stable_service() {
        let cfg = Config { root_service: "root".into(), traffic_split_name: "ts".into() };
        assert_eq!((cfg.name(&split()), cfg.root(&split())), ("ts".to_string(), "root".to_string()));
        let cfg = Config::default();
        assert_eq!((cfg.name(&split()), cfg.root(&split())), ("ro".to_string(), "stable".to_string()));
    }

    #[test]
    fn only_the_rollouts_own_split_is_edited() {
        let o = object(&Config::default(), &split(), "v1alpha2", json!({}));
        assert!(owned_by(&o, "u1"));
        assert!(!owned_by(&o, "u2"));
        assert!(!owned_by(&json!({"metadata": {}}), "u1"));
        assert_eq!(o["apiVersion"], "split.smi-spec.io/v1alpha2");
    }
}
