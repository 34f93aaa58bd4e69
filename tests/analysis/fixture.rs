//! The controller running against a substrate (the embedded cluster or the real control plane), watching the
//! test's namespace, and helpers to create and await AnalysisRuns there.

use crate::e2e::substrate::Substrate;
use kube::api::{Api, PostParams};
use serin::analysis::template::{self, ClusterTemplates, TemplateRef};
use serin::api::analysis::{AnalysisRun, AnalysisRunSpec};
use serin::api::common::{AnalysisPhase, Argument};
use serin::controller::{Controller, Options};
use std::time::Duration;

pub struct Env {
    pub client: kube::Client,
    /// The test's namespace: the controller watches only it, and reads plugin ConfigMaps from it.
    pub ns: String,
    pub controller: Controller,
}

impl Env {
    pub async fn start(s: &Substrate) -> Env {
        let options = Options {
            namespace: Some(s.namespace.clone()),
            plugin_namespace: s.namespace.clone(),
            health_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..Options::default()
        };
        let controller = Controller::start(s.client.clone(), options).await.expect("controller");
        controller.ready().await;
        Env { client: s.client.clone(), ns: s.namespace.clone(), controller }
    }

    pub fn runs(&self) -> Api<AnalysisRun> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates a run from templates in the cluster, as `kubectl argo rollouts create analysisrun --from` does.
    pub async fn run_from(
        &self,
        name: &str,
        templates: &[TemplateRef],
        args: &[(&str, &str)],
    ) -> AnalysisRun {
        let source = ClusterTemplates { client: self.client.clone(), namespace: self.ns.clone() };
        let flat = template::flatten(&source, templates).await.expect("templates");
        let supplied: Vec<Argument> = args
            .iter()
            .map(|(n, v)| Argument { name: n.to_string(), value: Some(v.to_string()), value_from: None })
            .collect();
        let spec = template::merge(&flat, &supplied).expect("merge");
        self.create_run(name, spec).await
    }

    pub async fn create_run(&self, name: &str, spec: AnalysisRunSpec) -> AnalysisRun {
        let mut run = AnalysisRun::new(name, spec);
        run.metadata.namespace = Some(self.ns.clone());
        self.runs().create(&PostParams::default(), &run).await.expect("create AnalysisRun")
    }

    /// Waits (generously) for the run to complete and returns it.
    pub async fn completed(&self, name: &str) -> AnalysisRun {
        self.wait_run(name, |r| {
            r.status.as_ref().and_then(|s| s.phase.as_ref()).is_some_and(AnalysisPhase::completed)
        })
        .await
    }

    /// Waits until the AnalysisRun `name` has an Event of every one of `wanted` ("Type Reason: message"), and
    /// returns all of its Events in that form, oldest first.
    pub async fn events(&self, name: &str, wanted: &[&str]) -> Vec<String> {
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.client.clone(), &self.ns);
        let lp = kube::api::ListParams::default()
            .fields(&format!("involvedObject.kind=AnalysisRun,involvedObject.name={name}"));
        crate::e2e::wait::eventually(&format!("the Events of AnalysisRun {name}"), || async {
            let mut events = api.list(&lp).await.ok()?.items;
            events.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            let rows: Vec<String> = events
                .into_iter()
                .filter(|e| {
                    e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("rollouts-controller")
                })
                .map(|e| {
                    format!(
                        "{} {}: {}",
                        e.type_.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                        e.message.unwrap_or_default()
                    )
                })
                .collect();
            wanted.iter().all(|w| rows.iter().any(|r| r == w)).then_some(rows)
        })
        .await
    }

    /// Waits for the run to satisfy `cond` (polling with backoff, up to two minutes).
    pub async fn wait_run(&self, name: &str, cond: impl Fn(&AnalysisRun) -> bool) -> AnalysisRun {
        let runs = self.runs();
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(20);
        let mut last = None;
        loop {
            if let Ok(run) = runs.get(name).await {
                if cond(&run) {
                    return run;
                }
                last = Some(run);
            }
            if started.elapsed() > Duration::from_secs(120) {
                panic!(
                    "AnalysisRun {name} did not reach the expected state; last seen: {:#?}",
                    last.map(|r| r.status)
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    pub async fn stop(self) {
        self.controller.shutdown().await;
    }
}

/// The result of one metric of a run.
pub fn metric<'a>(run: &'a AnalysisRun, name: &str) -> &'a serin::api::analysis::MetricResult {
    run.status
        .as_ref()
        .and_then(|s| s.metric_results.as_ref())
        .and_then(|rs| rs.iter().find(|r| r.name == name))
        .unwrap_or_else(|| panic!("no result for metric {name}: {:#?}", run.status))
}

pub fn phase(run: &AnalysisRun) -> AnalysisPhase {
    run.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

/// Decodes a YAML manifest of one of serin's kinds (templates in tests read like users write them).
pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).expect("test manifest")
}

/// Serves `router` on a free loopback port until the test process ends; returns the base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
