//! One case per validation rule: a valid fixture, one change, and the exact error(s) it must produce.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use serin::api::analysis::{JobMetric, WebMetric};
use serin::api::common::{AnalysisRunArgument, ArgumentValueFrom, FieldRef};
use serin::api::experiment::{ExperimentAnalysisTemplateRef, TemplateSpec};
use serin::api::fixtures::{pod_template, prometheus_metric};
use serin::api::rollout::{
    AntiAffinity, BlueGreenStrategy, CanaryStep, HeaderRoutingMatch, ObjectRef, PingPongSpec,
    PreferredDuringSchedulingIgnoredDuringExecution, RolloutAnalysis, RolloutExperimentStep,
    RolloutExperimentTemplate, RolloutPause, RouteMatch, SetCanaryScale, SetHeaderRoute, SetMirrorRoute,
    StringMatch,
};
use serin::api::traffic::{
    AlbTrafficRouting, IstioTrafficRouting, IstioVirtualService, ManagedRoute, NginxTrafficRouting,
    RolloutTrafficRouting, TraefikTrafficRouting,
};
use serin::api::{
    AnalysisRun, AnalysisTemplate, CanaryStrategy, DryRun, Experiment, MeasurementRetention, Rollout,
    Validate,
};

fn canary(change: impl FnOnce(&mut CanaryStrategy)) -> Rollout {
    let mut r = Rollout::canary_fixture("app");
    change(r.spec.strategy.as_mut().and_then(|s| s.canary.as_mut()).expect("canary fixture"));
    r
}

fn rollout(change: impl FnOnce(&mut Rollout)) -> Rollout {
    let mut r = Rollout::canary_fixture("app");
    change(&mut r);
    r
}

fn template(change: impl FnOnce(&mut AnalysisTemplate)) -> AnalysisTemplate {
    let mut t = AnalysisTemplate::fixture("t");
    change(&mut t);
    t
}

fn metric(change: impl FnOnce(&mut serin::api::Metric)) -> AnalysisTemplate {
    template(|t| change(&mut t.spec.metrics.as_mut().expect("fixture metrics")[0]))
}

fn experiment(change: impl FnOnce(&mut Experiment)) -> Experiment {
    let mut e = Experiment::fixture("exp");
    change(&mut e);
    e
}

fn steps(steps: Vec<CanaryStep>) -> impl FnOnce(&mut CanaryStrategy) {
    move |c| c.steps = Some(steps)
}

fn nginx() -> RolloutTrafficRouting {
    RolloutTrafficRouting {
        nginx: Some(NginxTrafficRouting { stable_ingress: Some("ingress".into()), ..Default::default() }),
        ..Default::default()
    }
}

fn smi() -> RolloutTrafficRouting {
    RolloutTrafficRouting { smi: Some(Default::default()), ..Default::default() }
}

fn istio() -> RolloutTrafficRouting {
    RolloutTrafficRouting {
        istio: Some(IstioTrafficRouting {
            virtual_service: Some(IstioVirtualService { name: "vs".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn alb() -> RolloutTrafficRouting {
    RolloutTrafficRouting {
        alb: Some(AlbTrafficRouting {
            ingress: Some("ingress".into()),
            service_port: 80,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with_services(c: &mut CanaryStrategy, tr: RolloutTrafficRouting) {
    c.canary_service = Some("canary".into());
    c.stable_service = Some("stable".into());
    c.traffic_routing = Some(tr);
}

fn managed(mut tr: RolloutTrafficRouting, name: &str) -> RolloutTrafficRouting {
    tr.managed_routes = Some(vec![ManagedRoute { name: name.into() }]);
    tr
}

fn exact(v: &str) -> StringMatch {
    StringMatch { exact: Some(v.into()), ..Default::default() }
}

fn header_step(name: &str, value: StringMatch) -> CanaryStep {
    CanaryStep {
        set_header_route: Some(SetHeaderRoute {
            name: Some(name.into()),
            match_: Some(vec![HeaderRoutingMatch { header_name: "x-canary".into(), header_value: value }]),
        }),
        ..Default::default()
    }
}

fn weight(w: i32) -> CanaryStep {
    CanaryStep { set_weight: Some(w), ..Default::default() }
}

fn experiment_step(weight: Option<i32>) -> CanaryStep {
    CanaryStep {
        experiment: Some(RolloutExperimentStep {
            templates: vec![RolloutExperimentTemplate {
                name: "baseline".into(),
                spec_ref: "stable".into(),
                weight,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn int(i: i32) -> Option<IntOrString> {
    Some(IntOrString::Int(i))
}

fn string(s: &str) -> Option<IntOrString> {
    Some(IntOrString::String(s.into()))
}

/// `(rule, object, expected (path, message) list in order)`.
type Case = (&'static str, Box<dyn Validate>, Vec<(&'static str, String)>);

fn e(path: &'static str, message: &str) -> (&'static str, String) {
    (path, message.to_owned())
}

fn rollout_cases() -> Vec<Case> {
    let missing_selector_message = "Rollout has missing field '.spec.selector'";
    vec![
        (
            "replicas must not be negative",
            Box::new(rollout(|r| r.spec.replicas = Some(-1))),
            vec![e("spec.replicas", "must be greater than or equal to 0")],
        ),
        (
            "a selector is required without workloadRef",
            Box::new(rollout(|r| r.spec.selector = None)),
            vec![
                e("spec.selector", missing_selector_message),
                e("spec.template.metadata.labels", "`selector` does not match template `labels`"),
            ],
        ),
        (
            "an empty selector is invalid",
            Box::new(rollout(|r| r.spec.selector = Some(LabelSelector::default()))),
            vec![e("spec.selector", "empty selector is invalid for deployment")],
        ),
        (
            "selector operators must be known",
            Box::new(rollout(|r| {
                r.spec.selector = Some(LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "app".into(),
                        operator: "Equals".into(),
                        values: Some(vec!["app".into()]),
                    }]),
                    ..Default::default()
                })
            })),
            vec![
                e("spec.selector.matchExpressions[0].operator", "not a valid selector operator"),
                e("spec.selector", "invalid label selector"),
            ],
        ),
        (
            "In requires values",
            Box::new(rollout(|r| {
                r.spec.selector = Some(LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "app".into(),
                        operator: "In".into(),
                        values: None,
                    }]),
                    ..Default::default()
                })
            })),
            vec![
                e(
                    "spec.selector.matchExpressions[0].values",
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ),
                e("spec.selector", "invalid label selector"),
            ],
        ),
        (
            "the selector must match the template labels",
            Box::new(rollout(|r| r.spec.template = Some(pod_template("other")))),
            vec![e("spec.template.metadata.labels", "`selector` does not match template `labels`")],
        ),
        (
            "a template needs containers",
            Box::new(rollout(|r| {
                r.spec.template.as_mut().and_then(|t| t.spec.as_mut()).expect("spec").containers.clear()
            })),
            vec![e("spec.template.spec.containers", "Required value")],
        ),
        (
            "container names are unique",
            Box::new(rollout(|r| {
                let spec = r.spec.template.as_mut().and_then(|t| t.spec.as_mut()).expect("spec");
                spec.init_containers = Some(vec![Container { name: "app".into(), ..Default::default() }]);
            })),
            vec![e("spec.template.spec.initContainers[0].name", "Duplicate value: \"app\"")],
        ),
        (
            "container names are DNS labels",
            Box::new(rollout(|r| {
                r.spec.template.as_mut().and_then(|t| t.spec.as_mut()).expect("spec").containers[0].name =
                    "App".into()
            })),
            vec![e(
                "spec.template.spec.containers[0].name",
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            )],
        ),
        (
            "resource quantities must parse",
            Box::new(rollout(|r| {
                r.spec.template.as_mut().and_then(|t| t.spec.as_mut()).expect("spec").containers[0]
                    .resources = Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([("cpu".into(), Quantity("1Q".into()))])),
                    ..Default::default()
                })
            })),
            vec![e(
                "spec.template.spec.containers[0].resources.limits.cpu",
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )],
        ),
        (
            "pods of a ReplicaSet restart Always",
            Box::new(rollout(|r| {
                r.spec.template.as_mut().and_then(|t| t.spec.as_mut()).expect("spec").restart_policy =
                    Some("Never".into())
            })),
            vec![e(
                "spec.template.spec.restartPolicy",
                "Unsupported value: \"Never\": supported values: \"Always\"",
            )],
        ),
        (
            "activeDeadlineSeconds is not for ReplicaSets",
            Box::new(rollout(|r| {
                r.spec
                    .template
                    .as_mut()
                    .and_then(|t| t.spec.as_mut())
                    .expect("spec")
                    .active_deadline_seconds = Some(5)
            })),
            vec![e(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )],
        ),
        (
            "workloadRef needs an empty template",
            Box::new(rollout(|r| {
                r.spec.workload_ref = Some(ObjectRef {
                    api_version: Some("apps/v1".into()),
                    kind: Some("Deployment".into()),
                    name: Some("app".into()),
                    scale_down: None,
                })
            })),
            vec![e("spec.template", "template must be empty for workload reference rollout")],
        ),
        (
            "minReadySeconds must not be negative",
            Box::new(rollout(|r| r.spec.min_ready_seconds = Some(-1))),
            vec![e("spec.minReadySeconds", "must be greater than or equal to 0")],
        ),
        (
            "revisionHistoryLimit must not be negative",
            Box::new(rollout(|r| r.spec.revision_history_limit = Some(-1))),
            vec![e("spec.revisionHistoryLimit", "must be greater than or equal to 0")],
        ),
        (
            "progressDeadlineSeconds must exceed minReadySeconds",
            Box::new(rollout(|r| {
                r.spec.min_ready_seconds = Some(30);
                r.spec.progress_deadline_seconds = Some(30);
            })),
            vec![e("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")],
        ),
        (
            "a strategy is required",
            Box::new(rollout(|r| r.spec.strategy = None)),
            vec![e(
                "spec.strategy",
                "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'",
            )],
        ),
        (
            "only one strategy",
            Box::new(rollout(|r| {
                r.spec.strategy.as_mut().expect("strategy").blue_green =
                    Some(BlueGreenStrategy { active_service: "a".into(), ..Default::default() })
            })),
            vec![e("spec.strategy", "Multiple Strategies can not be listed")],
        ),
        (
            "blue-green active and preview Services differ",
            Box::new({
                let mut r = Rollout::blue_green_fixture("app");
                r.spec.strategy.as_mut().and_then(|s| s.blue_green.as_mut()).expect("bg").preview_service =
                    Some("app-active".into());
                r
            }),
            vec![e(
                "spec.strategy.blueGreen.activeService",
                "This rollout uses the same service for the active and preview services, but two different services are required.",
            )],
        ),
        (
            "scaleDownDelayRevisionLimit stays within revisionHistoryLimit",
            Box::new({
                let mut r = Rollout::blue_green_fixture("app");
                r.spec.revision_history_limit = Some(2);
                r.spec
                    .strategy
                    .as_mut()
                    .and_then(|s| s.blue_green.as_mut())
                    .expect("bg")
                    .scale_down_delay_revision_limit = Some(3);
                r
            }),
            vec![e(
                "spec.strategy.blueGreen.scaleDownDelayRevisionLimit",
                "This rollout's revision history limit can not be smaller than the rollout's scale down limit",
            )],
        ),
        (
            "anti-affinity has exactly one member",
            Box::new(canary(|c| c.anti_affinity = Some(AntiAffinity::default()))),
            vec![e(
                "spec.strategy.canary.antiAffinity",
                "AntiAffinity must have exactly one strategy listed",
            )],
        ),
        (
            "anti-affinity weight is 1..100",
            Box::new(canary(|c| {
                c.anti_affinity = Some(AntiAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(
                        PreferredDuringSchedulingIgnoredDuringExecution { weight: 101 },
                    ),
                    ..Default::default()
                })
            })),
            vec![e("spec.strategy.canary.antiAffinity.weight", "AntiAffinity weight must be between 1-100")],
        ),
        (
            "maxSurge and maxUnavailable are not both zero",
            Box::new(canary(|c| {
                c.max_surge = int(0);
                c.max_unavailable = string("0%");
            })),
            vec![e("spec.strategy.canary.maxSurge", "MaxSurge and MaxUnavailable both can not be zero")],
        ),
        (
            "canary and stable Services differ",
            Box::new(canary(|c| {
                c.canary_service = Some("svc".into());
                c.stable_service = Some("svc".into());
            })),
            vec![e(
                "spec.strategy.canary.stableService",
                "This rollout uses the same service for the stable and canary services, but two different services are required.",
            )],
        ),
        (
            "traffic routing needs canary and stable Services",
            Box::new(canary(|c| c.traffic_routing = Some(nginx()))),
            vec![
                e(
                    "spec.strategy.canary.stableService",
                    "Canary service and Stable service must to be set to use Traffic Routing",
                ),
                e(
                    "spec.strategy.canary.canaryService",
                    "Canary service and Stable service must to be set to use Traffic Routing",
                ),
            ],
        ),
        (
            "scaleDownDelaySeconds needs traffic routing",
            Box::new(canary(|c| c.scale_down_delay_seconds = Some(10))),
            vec![e(
                "spec.strategy.canary.scaleDownDelaySeconds",
                "Canary scaleDownDelaySeconds can only be used with traffic routing",
            )],
        ),
        (
            "dynamicStableScale needs traffic routing",
            Box::new(canary(|c| c.dynamic_stable_scale = Some(true))),
            vec![e(
                "spec.strategy.canary.dynamicStableScale",
                "Canary dynamicStableScale can only be used with traffic routing",
            )],
        ),
        (
            "dynamicStableScale excludes scaleDownDelaySeconds",
            Box::new(canary(|c| {
                with_services(c, nginx());
                c.dynamic_stable_scale = Some(true);
                c.scale_down_delay_seconds = Some(10);
            })),
            vec![e(
                "spec.strategy.canary.dynamicStableScale",
                "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds",
            )],
        ),
        (
            "maxTrafficWeight only with nginx or plugins",
            Box::new(canary(|c| {
                let mut tr = istio();
                tr.max_traffic_weight = Some(1000);
                with_services(c, tr);
            })),
            vec![e(
                "spec.strategy.canary.trafficRouting.maxTrafficWeight",
                "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins",
            )],
        ),
        (
            "setWeight stays within maxTrafficWeight",
            Box::new(canary(|c| {
                let mut tr = nginx();
                tr.max_traffic_weight = Some(1000);
                with_services(c, tr);
                c.steps = Some(vec![weight(500), weight(1001)]);
            })),
            vec![e("spec.strategy.canary.steps[1].setWeight", "SetWeight needs to be between 0 and 1000")],
        ),
        (
            "setWeight is not negative",
            Box::new(canary(steps(vec![weight(-1)]))),
            vec![e("spec.strategy.canary.steps[0].setWeight", "SetWeight needs to be between 0 and 100")],
        ),
        (
            "pause durations parse as seconds or Go durations",
            Box::new(canary(steps(vec![CanaryStep {
                pause: Some(RolloutPause { duration: string("1d") }),
                ..Default::default()
            }]))),
            vec![e("spec.strategy.canary.steps[0].pause.duration", "Duration needs to be greater than 0")],
        ),
        (
            "a step has a kind",
            Box::new(canary(steps(vec![CanaryStep::default()]))),
            vec![e(
                "spec.strategy.canary.steps[0]",
                "Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause",
            )],
        ),
        (
            "a step has one primary kind",
            Box::new(canary(steps(vec![CanaryStep {
                set_weight: Some(10),
                pause: Some(RolloutPause::default()),
                ..Default::default()
            }]))),
            vec![e(
                "spec.strategy.canary.steps[0]",
                "Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause",
            )],
        ),
        (
            "setCanaryScale needs traffic routing",
            Box::new(canary(steps(vec![CanaryStep {
                set_canary_scale: Some(SetCanaryScale { replicas: Some(1), ..Default::default() }),
                ..Default::default()
            }]))),
            vec![e(
                "spec.strategy.canary.trafficRouting",
                "SetCanaryScale requires TrafficRouting to be set",
            )],
        ),
        (
            "setHeaderRoute needs Istio, ALB, APISIX, NGINX or plugins",
            Box::new(canary(|c| {
                with_services(c, managed(smi(), "hdr"));
                c.steps = Some(vec![header_step("hdr", exact("1"))]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setHeaderRoute",
                "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix and Nginx",
            )],
        ),
        (
            "ALB header routes match exactly",
            Box::new(canary(|c| {
                with_services(c, managed(alb(), "hdr"));
                c.steps = Some(vec![header_step(
                    "hdr",
                    StringMatch { prefix: Some("a".into()), ..Default::default() },
                )]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                "SetHeaderRoute match value invalid. ALB supports 'exact' value only",
            )],
        ),
        (
            "a header match has one value kind",
            Box::new(canary(|c| {
                with_services(c, managed(istio(), "hdr"));
                c.steps = Some(vec![header_step(
                    "hdr",
                    StringMatch { exact: Some("a".into()), regex: Some("a.*".into()), ..Default::default() },
                )]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                "StringMatch match value must have exactly one of the following: exact, regex, prefix",
            )],
        ),
        (
            "a header match has a value",
            Box::new(canary(|c| {
                with_services(c, managed(istio(), "hdr"));
                c.steps = Some(vec![header_step("hdr", StringMatch::default())]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                "StringMatch value missed, match value must have one of the following: exact, regex, prefix",
            )],
        ),
        (
            "setMirrorRoute needs Istio or plugins",
            Box::new(canary(|c| {
                with_services(c, managed(alb(), "mirror"));
                c.steps = Some(vec![CanaryStep {
                    set_mirror_route: Some(SetMirrorRoute {
                        name: "mirror".into(),
                        match_: Some(vec![RouteMatch { path: Some(exact("/")), ..Default::default() }]),
                        percentage: Some(10),
                    }),
                    ..Default::default()
                }]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setMirrorRoute",
                "SetMirrorRoute requires TrafficRouting, supports Istio and Traefik (with mirrorTraefikServiceName)",
            )],
        ),
        (
            "header and mirror routes need managedRoutes",
            Box::new(canary(|c| {
                with_services(c, istio());
                c.steps = Some(vec![header_step("hdr", exact("1"))]);
            })),
            vec![e(
                "spec.strategy.canary.trafficRouting.managedRoutes",
                "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
            )],
        ),
        (
            "step routes are listed in managedRoutes",
            Box::new(canary(|c| {
                with_services(c, managed(istio(), "other"));
                c.steps = Some(vec![header_step("hdr", exact("1"))]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].setHeaderRoute",
                "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes",
            )],
        ),
        (
            "experiment weights need traffic routing",
            Box::new(canary(steps(vec![experiment_step(Some(10))]))),
            vec![e(
                "spec.strategy.canary.steps[0].experiment.templates[0].weight",
                "Experiment template weight cannot be set unless TrafficRouting is enabled",
            )],
        ),
        (
            "experiment weights need SMI, ALB, Istio or plugins",
            Box::new(canary(|c| {
                with_services(c, nginx());
                c.steps = Some(vec![experiment_step(Some(10))]);
            })),
            vec![e(
                "spec.strategy.canary.steps[0].experiment.templates[0].weight",
                "Experiment template weight is only available for TrafficRouting with SMI, ALB, and Istio at this time",
            )],
        ),
        (
            "metadata fieldRef arguments follow the downward API",
            Box::new(canary(steps(vec![CanaryStep {
                analysis: Some(RolloutAnalysis {
                    args: Some(vec![AnalysisRunArgument {
                        name: "gen".into(),
                        value: None,
                        value_from: Some(ArgumentValueFrom {
                            field_ref: Some(FieldRef { field_path: "metadata.generation".into() }),
                            pod_template_hash_value: None,
                        }),
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }]))),
            vec![e(
                "spec.strategy.canary.steps[0].analyses",
                "Analyses arguments must refer to valid object metadata supported by downwardAPI",
            )],
        ),
        (
            "ping-pong only with ALB, Istio or plugins",
            Box::new(canary(|c| {
                with_services(c, nginx());
                c.ping_pong = Some(PingPongSpec { ping_service: "ping".into(), pong_service: "pong".into() });
            })),
            vec![e(
                "spec.strategy.canary.trafficRouting.alb",
                "Ping-pong feature works with the ALB and Istio traffic routers only",
            )],
        ),
        (
            "ping-pong needs both Services",
            Box::new(canary(|c| {
                c.ping_pong = Some(PingPongSpec { ping_service: "ping".into(), pong_service: String::new() });
            })),
            vec![e(
                "spec.strategy.canary.pingPong.pongService",
                "Ping service and Pong service must to be set to use Ping-Pong feature",
            )],
        ),
        (
            "ping and pong Services differ",
            Box::new(canary(|c| {
                c.ping_pong = Some(PingPongSpec { ping_service: "svc".into(), pong_service: "svc".into() });
            })),
            vec![e(
                "spec.strategy.canary.pingPong.pingService",
                "This rollout uses the same service for the ping and pong services, but two different services are required.",
            )],
        ),
        (
            "ping-pong with ALB needs a root Service",
            Box::new(canary(|c| {
                c.traffic_routing = Some(alb());
                c.ping_pong = Some(PingPongSpec { ping_service: "ping".into(), pong_service: "pong".into() });
            })),
            vec![e(
                "spec.strategy.canary.trafficRouting.alb.rootService",
                "Root service field is required for the configuration with ALB and ping-pong feature enabled",
            )],
        ),
    ]
}

fn analysis_cases() -> Vec<Case> {
    vec![
        (
            "a template has metrics",
            Box::new(template(|t| t.spec.metrics = Some(vec![]))),
            vec![e("spec.metrics", "no metrics specified")],
        ),
        (
            "metric names are unique",
            Box::new(template(|t| t.spec.metrics.as_mut().expect("metrics").push(prometheus_metric("up")))),
            vec![e("spec.metrics[1].name", "duplicate name 'up'")],
        ),
        (
            "count covers failureLimit plus consecutiveSuccessLimit",
            Box::new(metric(|m| {
                m.interval = Some("10s".into());
                m.count = int(3);
                m.failure_limit = int(2);
                m.consecutive_success_limit = int(2);
            })),
            vec![e(
                "spec.metrics[0].count",
                "count must be >= failureLimit + consecutiveSuccessLimit if failureLimit is applicable",
            )],
        ),
        (
            "count covers consecutiveSuccessLimit when failureLimit is off",
            Box::new(metric(|m| {
                m.interval = Some("10s".into());
                m.count = int(2);
                m.failure_limit = int(-1);
                m.consecutive_success_limit = int(3);
            })),
            vec![e(
                "spec.metrics[0].count",
                "count must be >= consecutiveSuccessLimit if failureLimit is not applicable",
            )],
        ),
        (
            "count covers inconclusiveLimit",
            Box::new(metric(|m| {
                m.interval = Some("10s".into());
                m.count = string("2");
                m.inconclusive_limit = int(3);
            })),
            vec![e("spec.metrics[0].count", "count must be >= inconclusiveLimit")],
        ),
        (
            "count above 1 needs an interval",
            Box::new(metric(|m| m.count = int(2))),
            vec![e("spec.metrics[0].interval", "interval must be specified when count > 1")],
        ),
        (
            "intervals are Go durations",
            Box::new(metric(|m| m.interval = Some("1d".into()))),
            vec![e(
                "spec.metrics[0].interval",
                "invalid interval string: time: unknown unit \"d\" in duration \"1d\"",
            )],
        ),
        (
            "initial delays are Go durations",
            Box::new(metric(|m| m.initial_delay = Some("5".into()))),
            vec![e(
                "spec.metrics[0].initialDelay",
                "invalid startDelay string: time: missing unit in duration \"5\"",
            )],
        ),
        (
            "failureLimit is at least -1",
            Box::new(metric(|m| m.failure_limit = int(-2))),
            vec![e("spec.metrics[0].failureLimit", "failureLimit must be >= -1")],
        ),
        (
            "inconclusiveLimit is not negative",
            Box::new(metric(|m| m.inconclusive_limit = int(-1))),
            vec![e("spec.metrics[0].inconclusiveLimit", "inconclusiveLimit must be >= 0")],
        ),
        (
            "consecutiveSuccessLimit is not negative",
            Box::new(metric(|m| m.consecutive_success_limit = int(-1))),
            vec![e("spec.metrics[0].consecutiveSuccessLimit", "consecutiveSuccessLimit must be >= 0")],
        ),
        (
            "failureLimit and consecutiveSuccessLimit are not both off",
            Box::new(metric(|m| m.failure_limit = int(-1))),
            vec![e(
                "spec.metrics[0].failureLimit",
                "failureLimit and consecutiveSuccessLimit cannot both be disabled",
            )],
        ),
        (
            "consecutiveErrorLimit is not negative",
            Box::new(metric(|m| m.consecutive_error_limit = string("-1"))),
            vec![e("spec.metrics[0].consecutiveErrorLimit", "consecutiveErrorLimit must be >= 0")],
        ),
        (
            "a metric has a provider",
            Box::new(metric(|m| m.provider = Default::default())),
            vec![e("spec.metrics[0].provider", "no provider specified")],
        ),
        (
            "a metric has one provider",
            Box::new(metric(|m| {
                m.provider.web = Some(WebMetric { url: "http://x".into(), ..Default::default() })
            })),
            vec![e("spec.metrics[0].provider", "multiple providers specified")],
        ),
        (
            "one plugin per metric",
            Box::new(metric(|m| {
                m.provider.prometheus = None;
                m.provider.plugin =
                    Some(BTreeMap::from([("a/b".into(), json!({})), ("c/d".into(), json!({}))]));
            })),
            vec![e("spec.metrics[0].provider", "multiple providers specified")],
        ),
        (
            "job metric quantities must parse",
            Box::new(metric(|m| {
                m.provider.prometheus = None;
                let mut template = pod_template("job");
                template.spec.as_mut().expect("spec").containers[0].resources = Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([("memory".into(), Quantity("lots".into()))])),
                    ..Default::default()
                });
                m.provider.job = Some(JobMetric {
                    metadata: None,
                    spec: k8s_openapi::api::batch::v1::JobSpec { template, ..Default::default() },
                });
            })),
            vec![e(
                "spec.metrics[0].provider.job.spec.template.spec.containers[0].resources.requests.memory",
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )],
        ),
        (
            "dry-run rules match a metric (unanchored regexp)",
            Box::new(template(|t| t.spec.dry_run = Some(vec![DryRun { metric_name: "^down$".into() }]))),
            vec![e("spec.dryRun[0].metricName", "Rule didn't match any metric name(s)")],
        ),
        (
            "a bare * is not a regexp and matches nothing",
            Box::new(template(|t| t.spec.dry_run = Some(vec![DryRun { metric_name: "*".into() }]))),
            vec![e("spec.dryRun[0].metricName", "Rule didn't match any metric name(s)")],
        ),
        (
            "dry-run rules are unique",
            Box::new(template(|t| {
                t.spec.dry_run =
                    Some(vec![DryRun { metric_name: "u".into() }, DryRun { metric_name: "u".into() }])
            })),
            vec![e("spec.dryRun[1].metricName", "two Dry-Run metric rules have the same name 'u'")],
        ),
        (
            "retention rules match a metric",
            Box::new(template(|t| {
                t.spec.measurement_retention =
                    Some(vec![MeasurementRetention { metric_name: "x".into(), limit: 5 }])
            })),
            vec![e("spec.measurementRetention[0].metricName", "Rule didn't match any metric name(s)")],
        ),
        (
            "retention rules are unique",
            Box::new(template(|t| {
                t.spec.measurement_retention = Some(vec![
                    MeasurementRetention { metric_name: ".*".into(), limit: 5 },
                    MeasurementRetention { metric_name: ".*".into(), limit: 3 },
                ])
            })),
            vec![e(
                "spec.measurementRetention[1].metricName",
                "two Measurement Retention metric rules have the same name '.*'",
            )],
        ),
        (
            "a run has metrics",
            Box::new({
                let mut run = AnalysisRun::fixture("run");
                run.spec.metrics.clear();
                run
            }),
            vec![e("spec.metrics", "no metrics specified")],
        ),
    ]
}

fn experiment_cases() -> Vec<Case> {
    vec![
        (
            "an experiment has templates",
            Box::new(experiment(|x| x.spec.templates.clear())),
            vec![e("spec.templates", "Required value")],
        ),
        (
            "experiment template names are unique",
            Box::new(experiment(|x| {
                let t = x.spec.templates[0].clone();
                x.spec.templates.push(t);
            })),
            vec![e("spec.templates[1].name", "Duplicate value: \"baseline\"")],
        ),
        (
            "experiment templates have a selector",
            Box::new(experiment(|x| x.spec.templates[0].selector = None)),
            vec![e("spec.templates[0].selector", "Required value")],
        ),
        (
            "experiment templates are valid pod templates",
            Box::new(experiment(|x| {
                x.spec.templates[0] =
                    TemplateSpec { template: Default::default(), ..x.spec.templates[0].clone() }
            })),
            vec![
                e(
                    "spec.templates[0].template.metadata.labels",
                    "`selector` does not match template `labels`",
                ),
                e("spec.templates[0].template.spec.containers", "Required value"),
            ],
        ),
        (
            "experiment durations are Go durations",
            Box::new(experiment(|x| x.spec.duration = Some("forever".into()))),
            vec![e("spec.duration", "time: invalid duration \"forever\"")],
        ),
        (
            "experiment analysis names are unique",
            Box::new(experiment(|x| {
                let a = ExperimentAnalysisTemplateRef {
                    name: "a".into(),
                    template_name: "t".into(),
                    ..Default::default()
                };
                x.spec.analyses = Some(vec![a.clone(), a]);
            })),
            vec![e("spec.analyses[1].name", "Duplicate value: \"a\"")],
        ),
    ]
}

#[test]
fn fixtures_are_valid() {
    assert_eq!(Rollout::canary_fixture("a").validate(), Ok(()));
    assert_eq!(Rollout::blue_green_fixture("a").validate(), Ok(()));
    assert_eq!(AnalysisTemplate::fixture("a").validate(), Ok(()));
    assert_eq!(serin::api::ClusterAnalysisTemplate::fixture("a").validate(), Ok(()));
    assert_eq!(AnalysisRun::fixture("a").validate(), Ok(()));
    assert_eq!(Experiment::fixture("a").validate(), Ok(()));
}

#[test]
fn each_rule_reports_its_exact_path_and_message() {
    let mut cases = rollout_cases();
    cases.extend(analysis_cases());
    cases.extend(experiment_cases());
    let mut failures = Vec::new();
    for (rule, object, want) in &cases {
        let got: Vec<(String, String)> =
            object.field_errors().into_iter().map(|e| (e.path, e.message)).collect();
        let want: Vec<(String, String)> = want.iter().map(|(p, m)| ((*p).to_owned(), m.clone())).collect();
        if got != want {
            failures.push(format!("{rule}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    println!("validation table: {} rules checked", cases.len());
    assert!(failures.is_empty(), "{} rule(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn validate_returns_a_typed_error_listing_every_problem() {
    let r = canary(steps(vec![weight(-1), CanaryStep::default()]));
    let err = r.validate().expect_err("invalid");
    assert_eq!(err.errors.len(), 2);
    assert_eq!(
        err.to_string(),
        "spec.strategy.canary.steps[0].setWeight: SetWeight needs to be between 0 and 100; \
         spec.strategy.canary.steps[1]: Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause"
    );
    assert_eq!(err.errors[0].kind.status_reason(), "FieldValueInvalid");
}

#[test]
fn upstream_accepts_route_steps_riding_along_with_another_kind() {
    // Upstream's own APISIX example combines setCanaryScale and setHeaderRoute in one step.
    let r = canary(|c| {
        let mut tr = managed(RolloutTrafficRouting::default(), "hdr");
        tr.apisix = Some(Default::default());
        with_services(c, tr);
        let mut step = header_step("hdr", exact("1"));
        step.set_canary_scale = Some(SetCanaryScale { replicas: Some(1), ..Default::default() });
        c.steps = Some(vec![step]);
    });
    assert_eq!(r.validate(), Ok(()));
}

#[test]
fn traefik_mirrors_only_through_a_mirroring_traefik_service() {
    let mirror_step = || CanaryStep {
        set_mirror_route: Some(SetMirrorRoute {
            name: "mirror".into(),
            match_: Some(vec![RouteMatch::default()]),
            percentage: Some(10),
        }),
        ..Default::default()
    };
    let rollout = |mirror: Option<&str>| {
        canary(|c| {
            let traefik = TraefikTrafficRouting {
                weighted_traefik_service_name: "weighted".into(),
                mirror_traefik_service_name: mirror.map(str::to_string),
            };
            with_services(
                c,
                managed(RolloutTrafficRouting { traefik: Some(traefik), ..Default::default() }, "mirror"),
            );
            c.steps = Some(vec![mirror_step()]);
        })
    };
    assert_eq!(rollout(Some("mirroring")).validate(), Ok(()));
    let errors: Vec<String> = rollout(None).field_errors().into_iter().map(|e| e.message).collect();
    assert_eq!(
        errors,
        [
            "SetMirrorRoute requires TrafficRouting, supports Istio and Traefik (with mirrorTraefikServiceName)"
        ]
    );
}

#[test]
fn metric_placeholders_resolve_from_template_args_before_checking_durations() {
    let t = template(|t| {
        t.spec.args = Some(vec![
            serin::api::Argument { name: "interval".into(), value: Some("5s".into()), value_from: None },
            serin::api::Argument { name: "later".into(), value: None, value_from: None },
            serin::api::Argument { name: "bad".into(), value: Some("5".into()), value_from: None },
        ]);
        let m = &mut t.spec.metrics.as_mut().expect("metrics")[0];
        m.interval = Some("{{ args.interval }}".into());
        m.count = string("{{args.later}}");
    });
    assert_eq!(t.validate(), Ok(()));
    let t = template(|t| {
        t.spec.args = Some(vec![serin::api::Argument {
            name: "bad".into(),
            value: Some("5".into()),
            value_from: None,
        }]);
        t.spec.metrics.as_mut().expect("metrics")[0].interval = Some("{{args.bad}}".into());
    });
    let errors = t.field_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "invalid interval string: time: missing unit in duration \"5\"");
}
