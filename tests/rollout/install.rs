//! serin installed as a platform team installs it, and operated: `manifests/install.yaml`,
//! `manifests/namespace-install.yaml` and the Helm chart applied to the real control plane (which enforces
//! RBAC), with the controller run out of the cluster as its ServiceAccount (a token, not admin) driving a canary
//! with an analysis to the end, with no `forbidden` anywhere in its log; and two controller processes with
//! leader election, the leader killed in the middle of a canary and the standby finishing it.

use crate::e2e::substrate::Substrate;
use crate::e2e::wait::{WAIT, eventually};
use crate::rollout::fixture::{Env, analysis_args, app, canary_rollout, services, status_of, template};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serin::api::rollout::RolloutPhase;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `serin controller` as its own process, its log in a file; killed (SIGKILL) when dropped.
struct ControllerProcess {
    child: std::process::Child,
    log: PathBuf,
    metrics_port: u16,
}

impl ControllerProcess {
    fn start(
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
        name: &str,
    ) -> ControllerProcess {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let metrics_port = free_port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_serin"));
        cmd.arg("controller")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg("--health-addr=127.0.0.1:0")
            .arg(format!("--metricsPort={metrics_port}"))
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .env("POD_NAME", name)
            .env("SERIN_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start serin controller");
        ControllerProcess { child, log, metrics_port }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `/metrics` of the process (empty until it serves).
    async fn metrics(&self) -> String {
        match reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// A kubeconfig for the ServiceAccount `namespace/name`: the substrate's server and CA, and a token the API
/// server issued for the account (`kubectl create token`), nothing of the admin's.
async fn service_account_kubeconfig(s: &Substrate, namespace: &str, name: &str, dir: &Path) -> PathBuf {
    let token = s.kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=2h"]).await;
    let admin = kube::config::Kubeconfig::read_from(s.kubeconfig()).expect("kubeconfig");
    let cluster = admin.clusters.first().and_then(|c| c.cluster.clone()).expect("a cluster");
    let server = cluster.server.expect("server");
    let ca = cluster.certificate_authority_data.map(|d| format!("    certificate-authority-data: {d}\n"));
    let ca = ca
        .or_else(|| cluster.certificate_authority.map(|p| format!("    certificate-authority: {p}\n")))
        .unwrap_or_default();
    let path = dir.join(format!("{namespace}-{name}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n{ca}users:\n- name: \
             sa\n  user:\n    token: {}\ncontexts:\n- name: sa\n  context: {{cluster: c, user: sa}}\ncurrent-context: sa\n",
            token.trim()
        ),
    )
    .expect("write kubeconfig");
    path
}

/// Lines of `log` that say the API server refused the controller something.
fn forbidden(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.to_ascii_lowercase().contains("forbidden")).collect()
}

/// A canary with an experiment step, an analysis step and a pause taken from v1 to a promoted v2, and a
/// blue-green Rollout from v1 to v2, as an operator would drive them; the controller is whatever is running
/// against the namespace.
async fn drive_canary(env: &Env<'_>, name: &str) {
    let app = app(1).await;
    env.apply(&template("score", None)).await;
    let strategy = format!(
        "steps:\n- setWeight: 50\n- experiment:\n    duration: 1s\n    templates:\n    - {{name: trial, specRef: canary, \
         replicas: 1}}\n- analysis:\n    templates: [{{templateName: score}}]\n    {}\n- pause: {{}}",
        analysis_args(&app.url).replace('\n', "\n    ")
    );
    env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", &strategy))).await;
    env.wait_healthy(name).await;
    env.set_image(name, "app:v2").await;
    env.wait(name, "paused after its experiment and analysis", |ro, _| {
        status_of(ro).current_step_index == Some(3) && status_of(ro).pause_conditions.is_some()
    })
    .await;
    env.promote(name).await;
    let (ro, rss) = env.wait_healthy(name).await;
    assert_eq!(status_of(&ro).current_step_index, Some(4), "every step done");
    assert!(
        rss.iter().any(|rs| rs.spec.template.as_ref().is_some_and(|t| format!("{t:?}").contains("app:v2")))
    );

    let bg = format!("{name}-bg");
    env.apply(&crate::rollout::fixture::blue_green_rollout(&bg, 1, "autoPromotionEnabled: true")).await;
    env.wait_healthy(&bg).await;
    env.set_image(&bg, "app:v2").await;
    env.wait(&bg, "v2 promoted to the active Service", |ro, rss| {
        let st = status_of(ro);
        let v2 = rss
            .iter()
            .find(|rs| rs.spec.template.as_ref().is_some_and(|t| format!("{t:?}").contains("app:v2")));
        let hash =
            v2.and_then(|rs| rs.metadata.labels.as_ref()?.get(crate::rollout::fixture::HASH_LABEL).cloned());
        st.phase == Some(RolloutPhase::Healthy) && hash.is_some() && st.stable_rs == hash
    })
    .await;
}

/// Applies `manifest` (a YAML stream) to `namespace` with the real kubectl, server-side as the README says.
async fn apply(s: &Substrate, manifest: &str, namespace: &str) {
    s.kubectl_with_input(
        &["apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-"],
        manifest,
    )
    .await;
}

async fn install_and_drive(
    s: &Substrate,
    sa_namespace: &str,
    sa: &str,
    args: &[&str],
    env_vars: &[(&str, &str)],
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = service_account_kubeconfig(s, sa_namespace, sa, dir.path()).await;
    let controller = ControllerProcess::start(&kubeconfig, args, env_vars, dir.path(), "serin-sa");
    let env = Env { s, controller: None };
    drive_canary(&env, "installed").await;
    let log = controller.log();
    assert!(
        forbidden(&log).is_empty(),
        "the ServiceAccount lacked a permission:\n{}",
        forbidden(&log).join("\n")
    );
    assert!(log.contains("leader election: leading"), "it led through its Lease:\n{log}");
}

/// `kubectl apply -f manifests/install.yaml`, then the controller as the `serin` ServiceAccount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_yaml_runs_a_canary_as_its_service_account() {
    let Some(s) = Substrate::real("install_yaml").await else { return };
    let manifest = std::fs::read_to_string(repo().join("manifests/install.yaml")).expect("install.yaml");
    apply(&s, &manifest, "serin").await;
    let ns = s.namespace.clone();
    install_and_drive(&s, "serin", "serin", &["--namespace", &ns, "--plugin-namespace=serin"], &[]).await;
    s.stop().await;
}

/// `kubectl apply -n NS -f manifests/namespace-install.yaml`: a Role only, `--namespaced`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_install_runs_a_canary_with_a_role_only() {
    let Some(s) = Substrate::real("namespace_install").await else { return };
    let manifest = std::fs::read_to_string(repo().join("manifests/namespace-install.yaml"))
        .expect("namespace-install.yaml");
    let ns = s.namespace.clone();
    apply(&s, &manifest, &ns).await;
    install_and_drive(
        &s,
        &ns,
        "serin",
        &["--namespaced", &format!("--plugin-namespace={ns}")],
        &[("POD_NAMESPACE", &ns)],
    )
    .await;
    s.stop().await;
}

/// Helm's path to the chart's tools (`tests/helm/build.sh`, which CI's setup runs).
fn helm() -> PathBuf {
    let out = std::process::Command::new(repo().join("tests/helm/build.sh"))
        .arg("--bin-dir")
        .output()
        .expect("build.sh");
    let helm = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("helm");
    assert!(helm.exists(), "{} is not built: run .ci/setup or tests/helm/build.sh", helm.display());
    helm
}

fn helm_run(args: &[&str]) -> String {
    let out = std::process::Command::new(helm()).args(args).current_dir(repo()).output().expect("helm");
    assert!(
        out.status.success(),
        "helm {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The chart rendered by the real Helm, installed the same way, as a release of another name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helm_chart_runs_a_canary_as_its_service_account() {
    let Some(s) = Substrate::real("helm_chart").await else { return };
    let release = "serin-chart";
    s.kubectl_ok(&["create", "namespace", release]).await;
    let rendered = helm_run(&["template", release, "charts/serin", "-n", release, "--include-crds"]);
    apply(&s, &rendered, release).await;
    let ns = s.namespace.clone();
    let args = ["--namespace", &ns, "--plugin-namespace=serin-chart", "--config-map=serin-chart-config"];
    install_and_drive(&s, release, release, &args, &[]).await;
    s.stop().await;
}

/// Two replicas with leader election: only the leader reconciles; killed in the middle of a canary, the
/// standby takes the Lease once it expires and finishes the canary, with no AnalysisRun or ReplicaSet twice.
async fn leader_dies_mid_canary(s: &Substrate) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = s.namespace.clone();
    let timings = [
        "--leader-election-lease-duration=6s",
        "--leader-election-renew-deadline=4s",
        "--leader-election-retry-period=1s",
    ];
    let mut args = vec!["--namespace", &ns, "--plugin-namespace", &ns];
    args.extend(timings);
    let leases: Api<Lease> = Api::namespaced(s.client.clone(), &ns);
    let holder = || {
        let leases = leases.clone();
        async move {
            leases
                .get_opt("serin-controller-lock")
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec)
                .and_then(|spec| spec.holder_identity)
        }
    };
    let wait_holder = async |want: &str, process: &ControllerProcess| {
        let start = Instant::now();
        // The identity is the pod's name and a random suffix.
        while !holder().await.is_some_and(|h| h.starts_with(&format!("{want}_"))) {
            assert!(start.elapsed() < WAIT, "{want} never held the Lease; its log:\n{}", process.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut first = ControllerProcess::start(s.kubeconfig(), &args, &[], dir.path(), "first");
    wait_holder("first", &first).await;
    let second = ControllerProcess::start(s.kubeconfig(), &args, &[], dir.path(), "second");

    let env = Env { s, controller: None };
    let name = "elected";
    let app = app(1).await;
    env.apply(&template("score", Some("1s"))).await;
    // A background analysis runs from the update to the end: the standby must adopt it, not start another.
    let strategy = format!(
        "analysis:\n  templates: [{{templateName: score}}]\n  {}\nsteps:\n- setWeight: 50\n- pause: {{}}",
        analysis_args(&app.url).replace('\n', "\n  ")
    );
    env.apply(&format!("{}---\n{}", services(name), canary_rollout(name, 2, "app:v1", &strategy))).await;
    env.wait_healthy(name).await;
    env.set_image(name, "app:v2").await;
    env.wait(name, "paused at the canary step", |ro, _| {
        status_of(ro).current_step_index == Some(1) && status_of(ro).pause_conditions.is_some()
    })
    .await;
    let ro = env.rollout(name).await;
    eventually("the background analysis runs", || async {
        env.analysis_runs(&ro)
            .await
            .iter()
            .any(|r| r.status.as_ref().is_some_and(|s| s.phase.is_some()))
            .then_some(())
    })
    .await;
    // The standby has reconciled nothing: it serves metrics, but no Rollout is in its caches.
    let standby = second.metrics().await;
    assert!(standby.contains("argo_rollouts_controller_info"), "the standby serves /metrics: {standby}");
    assert!(
        !standby.contains(&format!(r#"rollout_info{{name="{name}""#)),
        "the standby reconciles nothing: {standby}"
    );
    assert!(holder().await.is_some_and(|h| h.starts_with("first_")));

    first.kill();
    let killed = Instant::now();
    wait_holder("second", &second).await;
    let takeover = killed.elapsed();
    eprintln!("the standby took over {takeover:?} after the leader was killed (lease duration 6s)");
    // Once the Lease has expired, with a retry period (and a loaded machine) of slack.
    assert!(takeover < Duration::from_secs(6) + WAIT, "took over after {takeover:?}");

    env.promote(name).await;
    let (ro, rss) = env.wait_healthy(name).await;
    assert_eq!(ro.status.as_ref().and_then(|s| s.phase.clone()), Some(RolloutPhase::Healthy));
    let runs = env.analysis_runs(&ro).await;
    let names: Vec<_> = runs.iter().filter_map(|r| r.metadata.name.clone()).collect();
    assert_eq!(runs.len(), 1, "one background run, adopted by the new leader: {names:?}");
    assert_eq!(rss.len(), 2, "v1 and v2, once each");
    let log = second.log();
    assert!(log.contains("leader election: leading"), "{log}");
    assert!(first.log().contains("leader election: leading"));
}

on_both_substrates! {
    async fn a_standby_finishes_the_canary_of_a_killed_leader(s: &Substrate) {
        leader_dies_mid_canary(s).await;
    }
}

/// Controllers of different instance ids campaign for different Leases, so each instance has its own leader.
#[test]
fn each_instance_id_has_its_own_lease() {
    use serin::controller::leader::LeaderElection;
    assert_ne!(LeaderElection::lease_name_for("a"), LeaderElection::lease_name_for("b"));
    assert_eq!(LeaderElection::lease_name_for(""), "serin-controller-lock");
}

/// `helm lint` is clean, and the chart rendered with its default values is `install.yaml` without its
/// Namespace (which `helm install --create-namespace` makes), up to Helm's own labels.
#[test]
fn the_chart_lints_and_renders_install_yaml() {
    let lint = helm_run(&["lint", "--strict", "charts/serin"]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let rendered = helm_run(&["template", "serin", "charts/serin", "-n", "serin", "--include-crds"]);
    let install = std::fs::read_to_string(repo().join("manifests/install.yaml")).expect("install.yaml");
    let chart = normalized(&rendered);
    let mut want = normalized(&install);
    want.retain(|(kind, _, _)| kind != "Namespace");
    let keys = |v: &[(String, String, serde_json::Value)]| {
        v.iter().map(|(k, n, _)| format!("{k}/{n}")).collect::<Vec<_>>()
    };
    assert_eq!(keys(&chart), keys(&want), "the same objects");
    for ((kind, name, got), (_, _, want)) in chart.iter().zip(&want) {
        assert_eq!(got, want, "{kind}/{name} differs between the chart and install.yaml");
    }
}

/// (kind, name, object) of every object in a YAML stream, sorted, without the labels Helm adds.
fn normalized(stream: &str) -> Vec<(String, String, serde_json::Value)> {
    const HELM_LABELS: &[&str] = &[
        "helm.sh/chart",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
    ];
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for l in HELM_LABELS {
                    map.remove(*l);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out: Vec<_> = serde_saphyr::from_multiple::<serde_json::Value>(stream)
        .expect("a YAML stream")
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|mut v| {
            strip(&mut v);
            let kind = v["kind"].as_str().unwrap_or_default().to_string();
            let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
            (kind, name, v)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}
