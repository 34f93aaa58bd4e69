//! Small valid objects of each kind, for tests in any module (`Rollout::canary_fixture("app")`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::analysis::{
    AnalysisRun, AnalysisRunSpec, AnalysisTemplate, AnalysisTemplateSpec, ClusterAnalysisTemplate,
    ClusterAnalysisTemplateSpec, Metric, MetricProvider, PrometheusMetric,
};
use super::experiment::{Experiment, ExperimentSpec, TemplateSpec};
use super::rollout::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, Rollout, RolloutPause, RolloutSpec, RolloutStrategy,
};

/// `metadata` with a name and the `default` namespace.
pub fn meta(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.to_owned()), namespace: Some("default".to_owned()), ..ObjectMeta::default() }
}

/// `{app: <app>}`.
pub fn app_labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

/// Selector `app=<app>`.
pub fn app_selector(app: &str) -> LabelSelector {
    LabelSelector { match_labels: Some(app_labels(app)), ..LabelSelector::default() }
}

/// A pod template labelled `app=<app>` with one `nginx:1.27` container named `app`.
pub fn pod_template(app: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(app_labels(app)), ..ObjectMeta::default() }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                image: Some("nginx:1.27".to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

/// A Prometheus metric measuring `up` once.
pub fn prometheus_metric(name: &str) -> Metric {
    Metric {
        name: name.to_owned(),
        success_condition: Some("result[0] >= 1".to_owned()),
        provider: MetricProvider {
            prometheus: Some(PrometheusMetric {
                address: Some("http://127.0.0.1:9090".to_owned()),
                query: Some("up".to_owned()),
                ..PrometheusMetric::default()
            }),
            ..MetricProvider::default()
        },
        ..Metric::default()
    }
}

impl Rollout {
    /// A valid basic canary: 1 replica, `setWeight: 20`, then an indefinite pause.
    pub fn canary_fixture(name: &str) -> Rollout {
        let strategy = RolloutStrategy {
            canary: Some(CanaryStrategy {
                steps: Some(vec![
                    CanaryStep { set_weight: Some(20), ..CanaryStep::default() },
                    CanaryStep { pause: Some(RolloutPause::default()), ..CanaryStep::default() },
                ]),
                ..CanaryStrategy::default()
            }),
            ..RolloutStrategy::default()
        };
        Rollout {
            metadata: meta(name),
            spec: RolloutSpec {
                replicas: Some(1),
                selector: Some(app_selector(name)),
                template: Some(pod_template(name)),
                strategy: Some(strategy),
                ..RolloutSpec::default()
            },
            status: None,
        }
    }

    /// A valid blue-green Rollout with `<name>-active` and `<name>-preview` Services.
    pub fn blue_green_fixture(name: &str) -> Rollout {
        let mut rollout = Rollout::canary_fixture(name);
        rollout.spec.strategy = Some(RolloutStrategy {
            blue_green: Some(BlueGreenStrategy {
                active_service: format!("{name}-active"),
                preview_service: Some(format!("{name}-preview")),
                ..BlueGreenStrategy::default()
            }),
            ..RolloutStrategy::default()
        });
        rollout
    }
}

impl AnalysisTemplate {
    /// A valid template with one Prometheus metric named `up`.
    pub fn fixture(name: &str) -> AnalysisTemplate {
        AnalysisTemplate {
            metadata: meta(name),
            spec: AnalysisTemplateSpec {
                metrics: Some(vec![prometheus_metric("up")]),
                ..AnalysisTemplateSpec::default()
            },
        }
    }
}

impl ClusterAnalysisTemplate {
    /// A valid cluster template with one Prometheus metric named `up`.
    pub fn fixture(name: &str) -> ClusterAnalysisTemplate {
        ClusterAnalysisTemplate {
            metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
            spec: ClusterAnalysisTemplateSpec(AnalysisTemplate::fixture(name).spec),
        }
    }
}

impl AnalysisRun {
    /// A valid run with one Prometheus metric named `up` and no status.
    pub fn fixture(name: &str) -> AnalysisRun {
        AnalysisRun {
            metadata: meta(name),
            spec: AnalysisRunSpec { metrics: vec![prometheus_metric("up")], ..AnalysisRunSpec::default() },
            status: None,
        }
    }
}

impl Experiment {
    /// A valid 30-second experiment with one template named `baseline`.
    pub fn fixture(name: &str) -> Experiment {
        Experiment {
            metadata: meta(name),
            spec: ExperimentSpec {
                duration: Some("30s".to_owned()),
                templates: vec![TemplateSpec {
                    name: "baseline".to_owned(),
                    selector: Some(app_selector(name)),
                    template: pod_template(name),
                    ..TemplateSpec::default()
                }],
                ..ExperimentSpec::default()
            },
            status: None,
        }
    }
}
