//! The built-in `job` metric provider on both substrates (the embedded cluster and the real control plane):
//! Jobs that complete or fail, the resume backoff, terminate, garbage collection, repeated creates, the Job's
//! metadata and owner, and the capability check. Everything waits on conditions (never on sleeps).

#[macro_use]
#[path = "common/e2e.rs"]
mod e2e;
use e2e::substrate::{ENDLESS_IMAGE, FAILING_IMAGE, Substrate};
use e2e::wait::eventually;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use serin::api::AnalysisRun;
use serin::plugin::grants::{KubernetesGrant, Verb};
use serin::plugin::kube::KubeAccess;
use serin::plugin::metric::{DecidedPhase, InFlight, MetricCall, ObjectRef, Observation};
use serin::plugin::{CallError, CallOptions, Grants, Plugin, Registry, Runtime, RuntimeConfig};

const UID_LABEL: &str = "analysisrun.argoproj.io/uid";

/// The `job` built-in, compiled once for every test in this binary.
fn job_plugin() -> Arc<Plugin> {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry =
        REGISTRY.get_or_init(|| Registry::new(Runtime::new(RuntimeConfig::default()).expect("runtime")));
    registry.get("job").expect("the job built-in loads")
}

/// What the controller grants the `job` built-in.
fn job_grants(verbs: &[Verb]) -> Grants {
    Grants {
        kubernetes: vec![KubernetesGrant {
            group: "batch".into(),
            resource: "jobs".into(),
            verbs: verbs.to_vec(),
            namespaces: vec![],
        }],
        ..Grants::default()
    }
}

const ALL_VERBS: &[Verb] = &[Verb::Get, Verb::List, Verb::Create, Verb::Delete];

/// A Job spec running one container of `image`, as a `provider.job` block.
fn job_config(image: &str) -> String {
    json!({"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "check", "image": image}]}}}})
    .to_string()
}

fn metric_call(run: &ObjectRef, metric: &str, count: u32, config: &str) -> MetricCall {
    MetricCall {
        run: run.clone(),
        metric_name: metric.into(),
        count,
        config: config.into(),
        ..MetricCall::default()
    }
}

fn job_name_metadata(name: &str) -> Vec<(String, String)> {
    vec![("job-name".into(), name.into())]
}

/// A client for the substrate and the test's namespace.
struct Env {
    client: kube::Client,
    ns: String,
}

impl Env {
    fn start(s: &Substrate) -> Env {
        Env { client: s.client.clone(), ns: s.namespace.clone() }
    }

    /// Creates a real AnalysisRun, so the Jobs' owner references point at an object the cluster knows.
    async fn analysis_run(&self, name: &str) -> ObjectRef {
        let runs: Api<AnalysisRun> = Api::namespaced(self.client.clone(), &self.ns);
        let mut run = AnalysisRun::fixture(name);
        run.metadata.namespace = Some(self.ns.clone());
        let run = runs.create(&PostParams::default(), &run).await.expect("create run");
        ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AnalysisRun".into(),
            namespace: self.ns.clone(),
            name: name.into(),
            uid: run.metadata.uid.expect("the server assigns a uid"),
        }
    }

    fn opts_with(&self, grants: Grants) -> CallOptions {
        CallOptions {
            grants,
            kube: Some(KubeAccess { client: self.client.clone(), namespace: self.ns.clone() }),
            ..CallOptions::default()
        }
    }

    fn opts(&self) -> CallOptions {
        self.opts_with(job_grants(ALL_VERBS))
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Names of the Jobs of `run`, sorted.
    async fn job_names(&self, run: &ObjectRef) -> Vec<String> {
        let list = self.jobs().list(&ListParams::default().labels(&format!("{UID_LABEL}={}", run.uid))).await;
        let mut names: Vec<String> =
            list.expect("list jobs").items.into_iter().filter_map(|j| j.metadata.name).collect();
        names.sort();
        names
    }
}

/// Starts a measurement and checks it is Running on the Job upstream would name; returns the in-flight
/// measurement the host would keep.
async fn start_job(env: &Env, call: &MetricCall) -> (String, InFlight) {
    let started_at = jiff::Timestamp::now();
    let obs = job_plugin().metric_run(&env.opts(), call).await.expect("run call");
    let name = format!("{}.{}.{}", call.run.uid, call.metric_name, call.count + 1);
    match obs {
        Observation::Running { metadata, message, resume_at } => {
            assert_eq!(metadata, job_name_metadata(&name));
            assert_eq!(message, None);
            let resume_at = resume_at.expect("run says when to look again");
            let after = jiff::Timestamp::now();
            assert!(
                resume_at >= started_at + Duration::from_secs(1)
                    && resume_at <= after + Duration::from_secs(1),
                "the first look is a second after the start, got {resume_at} for a start at {started_at}"
            );
            (name, InFlight { started_at, metadata })
        }
        other => panic!("run should be Running, got {other:?}"),
    }
}

/// Resumes until the provider decides, as the controller would; checks every answer before that is Running
/// with the measurement's metadata kept.
async fn resume_until_decided(env: &Env, call: &MetricCall, m: &InFlight) -> DecidedPhase {
    let plugin = job_plugin();
    let opts = env.opts();
    eventually("the job provider to decide", || async {
        match plugin.metric_resume(&opts, call, m).await.expect("resume call") {
            Observation::Running { metadata, .. } => {
                assert_eq!(metadata, m.metadata);
                None
            }
            Observation::Decided { phase, value, message, metadata } => {
                assert_eq!((value, message, &metadata), (None, None, &m.metadata));
                Some(phase)
            }
            other => panic!("resume should be Running or Decided, got {other:?}"),
        }
    })
    .await
}

async fn job_condition(env: &Env, name: &str) -> Vec<(String, String)> {
    let job = env.jobs().get(name).await.expect("get job");
    job.status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect()
}

on_both_substrates! {
    async fn a_job_the_kubelet_completes_is_running_then_successful(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("completes").await;
        let call = metric_call(&run, "smoke", 0, &job_config("busybox:1"));
        let (name, m) = start_job(&env, &call).await;
        assert_eq!(resume_until_decided(&env, &call, &m).await, DecidedPhase::Successful);
        assert!(job_condition(&env, &name).await.contains(&("Complete".into(), "True".into())));
    }
}

on_both_substrates! {
    async fn a_job_that_fails_is_failed(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("fails").await;
        let call = metric_call(&run, "smoke", 0, &job_config(FAILING_IMAGE));
        let (name, m) = start_job(&env, &call).await;
        assert_eq!(resume_until_decided(&env, &call, &m).await, DecidedPhase::Failed);
        assert!(job_condition(&env, &name).await.contains(&("Failed".into(), "True".into())));
    }
}

on_both_substrates! {
    async fn a_running_job_is_looked_at_again_after_a_growing_pause(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("endless").await;
        let call = metric_call(&run, "smoke", 0, &job_config(ENDLESS_IMAGE));
        let (_, m) = start_job(&env, &call).await;
        let pause_after = |elapsed: f64| Duration::from_secs_f64((2.0 * elapsed).sqrt().clamp(1.0, 60.0));
        // sqrt(2 · 50 s) = 10 s; an hour in, the pause is capped at a minute.
        for (elapsed, pause) in [(50, 10), (3600, 60)] {
            let before = jiff::Timestamp::now();
            let m = InFlight { started_at: before - Duration::from_secs(elapsed), ..m.clone() };
            let obs = job_plugin().metric_resume(&env.opts(), &call, &m).await.expect("resume call");
            let after = jiff::Timestamp::now();
            let Observation::Running { resume_at: Some(at), metadata, .. } = obs else {
                panic!("an unfinished Job stays Running with a resume time, got {obs:?}");
            };
            assert_eq!(metadata, m.metadata);
            // The plugin read the clock somewhere between `before` and `after`; a slow call only adds to both.
            let call_took = before.duration_until(after).as_secs_f64();
            let (low, high) =
                (before + Duration::from_secs(pause), after + pause_after(elapsed as f64 + call_took));
            assert!(low <= at && at <= high, "{elapsed}s in: resume at {at}, not {pause}s after {before}");
        }
    }
}

on_both_substrates! {
    async fn terminate_deletes_the_job_and_is_successful(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("terminated").await;
        let call = metric_call(&run, "smoke", 0, &job_config(ENDLESS_IMAGE));
        let (name, m) = start_job(&env, &call).await;
        let plugin = job_plugin();
        let decided =
            |phase| Observation::Decided { phase, value: None, message: None, metadata: m.metadata.clone() };

        let obs = plugin.metric_terminate(&env.opts(), &call, &m).await.expect("terminate call");
        assert_eq!(obs, decided(DecidedPhase::Successful));
        let jobs = env.jobs();
        eventually("the terminated Job to be gone", || async {
            jobs.get_opt(&name).await.ok()?.is_none().then_some(())
        })
        .await;

        // A Job that is already gone is terminated all the same; resuming it is an Error.
        let obs = plugin.metric_terminate(&env.opts(), &call, &m).await.expect("terminate call");
        assert_eq!(obs, decided(DecidedPhase::Successful));
        let obs = plugin.metric_resume(&env.opts(), &call, &m).await.expect("resume call");
        assert_eq!(obs, Observation::Error(format!("job get {name} failed: jobs.batch \"{name}\" not found")));
    }
}

on_both_substrates! {
    async fn garbage_collection_keeps_the_newest_jobs_of_the_metric(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("collected").await;
        let neighbour = env.analysis_run("neighbour").await;
        let config = job_config("busybox:1");
        // Measurement 4 errored before it made a Job: numbering goes on from the count, errors included.
        for count in [0, 1, 2, 4] {
            start_job(&env, &metric_call(&run, "smoke", count, &config)).await;
        }
        start_job(&env, &metric_call(&run, "other", 0, &config)).await;
        start_job(&env, &metric_call(&neighbour, "smoke", 0, &config)).await;
        let names = |run: &ObjectRef, metric: &str, numbers: &[u32]| -> Vec<String> {
            numbers.iter().map(|n| format!("{}.{metric}.{n}", run.uid)).collect()
        };
        let mut all = names(&run, "smoke", &[1, 2, 3, 5]);
        all.extend(names(&run, "other", &[1]));
        all.sort();
        assert_eq!(env.job_names(&run).await, all);

        let plugin = job_plugin();
        let collect = |metric: &str, keep: u32| {
            let call = metric_call(&run, metric, 5, &config);
            let plugin = plugin.clone();
            let opts = env.opts();
            async move { plugin.metric_garbage_collect(&opts, &call, keep).await }
        };
        assert_eq!(collect("smoke", 10).await, Ok(Ok(())));
        assert_eq!(env.job_names(&run).await, all, "fewer Jobs than kept: nothing goes");

        assert_eq!(collect("smoke", 2).await, Ok(Ok(())));
        let mut kept = names(&run, "smoke", &[3, 5]);
        kept.extend(names(&run, "other", &[1]));
        kept.sort();
        eventually("the oldest smoke Jobs to go", || async { (env.job_names(&run).await == kept).then_some(()) })
            .await;
        assert_eq!(env.job_names(&neighbour).await, names(&neighbour, "smoke", &[1]), "another run's Jobs stay");

        assert_eq!(collect("other", 0).await, Ok(Ok(())));
        let kept = names(&run, "smoke", &[3, 5]);
        eventually("the other metric's Job to go", || async {
            (env.job_names(&run).await == kept).then_some(())
        })
        .await;
    }
}

on_both_substrates! {
    async fn a_repeated_create_by_the_same_run_adopts_the_job(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("repeated").await;
        let call = metric_call(&run, "smoke", 0, &job_config(ENDLESS_IMAGE));
        let (name, _) = start_job(&env, &call).await;
        let (again, _) = start_job(&env, &call).await;
        assert_eq!(again, name);
        assert_eq!(env.job_names(&run).await, [name]);
    }
}

on_both_substrates! {
    async fn a_job_of_that_name_not_controlled_by_the_run_is_an_error(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("mine").await;
        let other = env.analysis_run("theirs").await;
        let owned_by_other = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "name": other.name,
            "uid": other.uid, "controller": true, "blockOwnerDeletion": true}]);
        // The first Job is controlled by another run, the second by nobody.
        for (count, owners) in [(0, owned_by_other), (1, json!([]))] {
            let name = format!("{}.smoke.{}", run.uid, count + 1);
            let squatter: Job = serde_json::from_value(json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "ownerReferences": owners},
                "spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": ENDLESS_IMAGE}]}}}}))
            .expect("job");
            env.jobs().create(&PostParams::default(), &squatter).await.expect("create squatter");

            let call = metric_call(&run, "smoke", count, &job_config(ENDLESS_IMAGE));
            let obs = job_plugin().metric_run(&env.opts(), &call).await.expect("run call");
            let Observation::Error(message) = &obs else { panic!("expected an Error, got {obs:?}") };
            assert!(
                message.starts_with(&format!("job create {name} failed: ")) && message.contains("already exists"),
                "{message}"
            );
        }
    }
}

on_both_substrates! {
    async fn jobs_carry_upstreams_labels_annotations_and_owner(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("labelled").await;
        let config = json!({
            "metadata": {
                "labels": {"team": "payments", UID_LABEL: "spoofed"},
                "annotations": {"contact": "sre@example.com"},
            },
            "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "check", "image": ENDLESS_IMAGE, "args": ["--smoke"]}]}}},
        })
        .to_string();
        let (name, _) = start_job(&env, &metric_call(&run, "smoke", 0, &config)).await;

        let job = env.jobs().get(&name).await.expect("get job");
        let labels = job.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("team").map(String::as_str), Some("payments"));
        assert_eq!(labels.get(UID_LABEL), Some(&run.uid), "the provider's label wins over the configured one");
        let annotations = job.metadata.annotations.unwrap_or_default();
        for (key, value) in [
            ("contact", "sre@example.com"),
            ("analysisrun.argoproj.io/name", "labelled"),
            ("analysisrun.argoproj.io/metric-name", "smoke"),
        ] {
            assert_eq!(annotations.get(key).map(String::as_str), Some(value), "annotation {key}");
        }
        let owners = serde_json::to_value(job.metadata.owner_references.unwrap_or_default()).expect("json");
        assert_eq!(
            owners,
            json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "name": "labelled", "uid": run.uid,
                "controller": true, "blockOwnerDeletion": true}])
        );
        let spec = job.spec.expect("spec");
        assert_eq!(spec.backoff_limit, Some(1));
        let container = spec.template.spec.expect("pod spec").containers.into_iter().next().expect("container");
        assert_eq!(
            (container.image.as_deref(), container.args),
            (Some(ENDLESS_IMAGE), Some(vec!["--smoke".into()]))
        );

        // The owner reference is real: deleting the run takes its Jobs with it.
        let runs: Api<AnalysisRun> = Api::namespaced(env.client.clone(), &env.ns);
        runs.delete("labelled", &DeleteParams::default()).await.expect("delete run");
        let jobs = env.jobs();
        eventually("the run's Job to be collected", || async {
            jobs.get_opt(&name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
}

on_both_substrates! {
    async fn without_the_kubernetes_grant_calls_are_denied(s: &Substrate) {
        let env = Env::start(s);
        let run = env.analysis_run("ungranted").await;
        let call = metric_call(&run, "smoke", 0, &job_config(ENDLESS_IMAGE));
        let plugin = job_plugin();
        fn denied<T: std::fmt::Debug>(result: Result<T, CallError>, verb: &str) {
            match result {
                Err(CallError::Denied { plugin, what }) => {
                    assert_eq!(plugin, "job");
                    assert_eq!(what, format!("Kubernetes {verb} on jobs.batch is not granted"));
                }
                other => panic!("expected a denied call for {verb}, got {other:?}"),
            }
        }
        denied(plugin.metric_run(&env.opts_with(Grants::default()), &call).await, "create");
        denied(plugin.metric_run(&env.opts_with(job_grants(&[Verb::Get, Verb::Delete])), &call).await, "create");
        let m = InFlight { started_at: jiff::Timestamp::now(), metadata: job_name_metadata("anything") };
        denied(plugin.metric_resume(&env.opts_with(job_grants(&[Verb::Create])), &call, &m).await, "get");
        denied(plugin.metric_terminate(&env.opts_with(job_grants(&[Verb::Get])), &call, &m).await, "delete");
        denied(
            plugin.metric_garbage_collect(&env.opts_with(job_grants(&[Verb::Delete])), &call, 0).await,
            "list",
        );
        assert!(env.job_names(&run).await.is_empty(), "nothing reached the cluster");
    }
}

#[tokio::test]
async fn bad_input_and_a_missing_cluster_are_error_measurements() {
    let run = ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "AnalysisRun".into(),
        namespace: "default".into(),
        name: "offline".into(),
        uid: "3f1c9a0d-7b8e-4f5a-8c3b-2a1908f7e6d5".into(),
    };
    let plugin = job_plugin();
    let opts = CallOptions { grants: job_grants(ALL_VERBS), ..CallOptions::default() };
    let error = |obs: Observation| match obs {
        Observation::Error(message) => message,
        other => panic!("expected an Error, got {other:?}"),
    };

    let obs = plugin.metric_run(&opts, &metric_call(&run, "smoke", 0, "[1, 2")).await.expect("run call");
    assert!(error(obs).starts_with("invalid job metric configuration: "));

    let obs = plugin.metric_run(&opts, &metric_call(&run, "smoke", 2, &job_config("busybox:1"))).await;
    assert_eq!(
        error(obs.expect("run call")),
        format!("job create {}.smoke.3 failed: no Kubernetes cluster is connected", run.uid)
    );

    let no_uid = ObjectRef { uid: String::new(), ..run.clone() };
    let obs = plugin.metric_run(&opts, &metric_call(&no_uid, "smoke", 0, &job_config("busybox:1"))).await;
    assert!(error(obs.expect("run call")).contains("uid"));

    let call = metric_call(&run, "smoke", 0, &job_config("busybox:1"));
    for metadata in [vec![], job_name_metadata(""), vec![("other".into(), "x".into())]] {
        let m = InFlight { started_at: jiff::Timestamp::now(), metadata };
        let resumed = plugin.metric_resume(&opts, &call, &m).await.expect("resume call");
        assert_eq!(error(resumed), "job metadata reference missing");
        let terminated = plugin.metric_terminate(&opts, &call, &m).await.expect("terminate call");
        assert_eq!(error(terminated), "job metadata reference missing");
    }
}
