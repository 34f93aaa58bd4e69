//! Canary steps as upstream describes them in Events (`CanaryStepString`) and which of them keep a rollout
//! waiting without counting against its progress deadline (`isIndefiniteStep`).

use super::canary::current_step;
use crate::api::rollout::{CanaryStep, Rollout, RolloutConditionType};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `CanaryStepString`: `setWeight: 20`, `pause`, `pause: 10s`, `analysis`, ...
pub fn describe(step: &CanaryStep) -> String {
    if let Some(w) = step.set_weight {
        return format!("setWeight: {w}");
    }
    if let Some(p) = &step.pause {
        return match &p.duration {
            Some(IntOrString::Int(i)) => format!("pause: {i}"),
            Some(IntOrString::String(s)) => format!("pause: {s}"),
            None => "pause".into(),
        };
    }
    if step.experiment.is_some() {
        return "experiment".into();
    }
    if step.analysis.is_some() {
        return "analysis".into();
    }
    if let Some(scs) = &step.set_canary_scale {
        if let Some(w) = scs.weight {
            return format!("setCanaryScale{{weight: {w}}}");
        } else if scs.match_traffic_weight.unwrap_or(false) {
            return "setCanaryScale{matchTrafficWeight: true}".into();
        } else if let Some(r) = scs.replicas {
            return format!("setCanaryScale{{replicas: {r}}}");
        }
    }
    if let Some(p) = &step.plugin {
        return format!("plugin: {}", p.name);
    }
    if let Some(h) = &step.set_header_route {
        return format!("setHeaderRoute: {}", h.name.as_deref().unwrap_or(""));
    }
    if let Some(m) = &step.set_mirror_route {
        return format!("setMirrorRoute: {}", m.name);
    }
    "invalid".into()
}

/// `isIndefiniteStep`: the current step is a pause, analysis or experiment, or the Rollout is paused.
pub fn indefinite(rollout: &Rollout) -> bool {
    if let (Some(step), _) = current_step(rollout)
        && (step.experiment.is_some() || step.analysis.is_some() || step.pause.is_some())
    {
        return true;
    }
    let status = rollout.status.clone().unwrap_or_default();
    super::conditions::get(&status, &RolloutConditionType::Paused).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{PluginStep, RolloutPause, SetCanaryScale};

    #[test]
    fn steps_are_described_as_upstream_writes_them_in_events() {
        let cases = [
            (CanaryStep { set_weight: Some(20), ..Default::default() }, "setWeight: 20"),
            (CanaryStep { pause: Some(RolloutPause::default()), ..Default::default() }, "pause"),
            (
                CanaryStep {
                    pause: Some(RolloutPause { duration: Some(IntOrString::String("10s".into())) }),
                    ..Default::default()
                },
                "pause: 10s",
            ),
            (
                CanaryStep {
                    pause: Some(RolloutPause { duration: Some(IntOrString::Int(30)) }),
                    ..Default::default()
                },
                "pause: 30",
            ),
            (CanaryStep { analysis: Some(Default::default()), ..Default::default() }, "analysis"),
            (CanaryStep { experiment: Some(Default::default()), ..Default::default() }, "experiment"),
            (
                CanaryStep {
                    set_canary_scale: Some(SetCanaryScale { replicas: Some(3), ..Default::default() }),
                    ..Default::default()
                },
                "setCanaryScale{replicas: 3}",
            ),
            (
                CanaryStep {
                    set_canary_scale: Some(SetCanaryScale { weight: Some(5), ..Default::default() }),
                    ..Default::default()
                },
                "setCanaryScale{weight: 5}",
            ),
            (
                CanaryStep {
                    set_canary_scale: Some(SetCanaryScale {
                        match_traffic_weight: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "setCanaryScale{matchTrafficWeight: true}",
            ),
            (
                CanaryStep {
                    plugin: Some(PluginStep { name: "org/p".into(), config: None }),
                    ..Default::default()
                },
                "plugin: org/p",
            ),
            (CanaryStep::default(), "invalid"),
        ];
        for (step, text) in cases {
            assert_eq!(describe(&step), text);
        }
    }
}
