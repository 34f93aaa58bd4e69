//! The two substrates every end-to-end suite runs on: serin's embedded cluster and a real control plane
//! (kube-apiserver, etcd, kube-controller-manager, kube-scheduler and KWOK, built from Go modules). A test is
//! written once against [`Substrate`] and instantiated for both with [`on_both_substrates!`]; each instance gets
//! its own namespace, a `kube::Client`, a kubeconfig and the matching `kubectl`.
//!
//! Both substrates follow the same conventions for pods: every pod becomes Ready soon after it is created; a
//! Job's pod succeeds shortly after, unless its image is [`FAILING_IMAGE`] (it fails) or [`ENDLESS_IMAGE`] (it
//! keeps running); a pod running [`NEVER_READY_IMAGE`] never becomes ready.

#![allow(dead_code)]

use super::controlplane::{self, Unavailable};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serin::cluster::{ClusterConfig, ClusterHandle, JobOutcome};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A Job running this image fails.
pub const FAILING_IMAGE: &str = "fail:1";
/// A Job running this image never finishes.
pub const ENDLESS_IMAGE: &str = "sleep:forever";
/// A pod running this image never becomes ready.
pub const NEVER_READY_IMAGE: &str = "unready:1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Real,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Embedded => "embedded",
            Kind::Real => "real",
        }
    }
}

pub struct Substrate {
    pub kind: Kind,
    pub client: kube::Client,
    /// A namespace of this test's own, created for it.
    pub namespace: String,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    embedded: Option<ClusterHandle>,
    _scratch: tempfile::TempDir,
}

/// The embedded cluster's configuration for end-to-end tests, matching the real control plane's KWOK stages.
pub fn embedded_config() -> serin::cluster::ClusterConfigBuilder {
    ClusterConfig::builder()
        .ready_after(Duration::from_millis(50))
        .job_complete_after(Duration::from_millis(200))
        .job_outcome(FAILING_IMAGE, JobOutcome::Fail(Duration::from_millis(200)))
        .job_outcome(ENDLESS_IMAGE, JobOutcome::Never)
        .image_never_ready(NEVER_READY_IMAGE)
}

impl Substrate {
    /// The embedded substrate with the default end-to-end configuration.
    pub async fn embedded(test: &str) -> Substrate {
        Substrate::embedded_with(test, embedded_config().build()).await
    }

    /// The embedded substrate with a configuration of the test's own (faults, timings).
    pub async fn embedded_with(test: &str, config: ClusterConfig) -> Substrate {
        init_test_log();
        let cluster = serin::cluster::start(config).await.expect("embedded cluster");
        let client = cluster.client().expect("client");
        let scratch = tempfile::tempdir().expect("tempdir");
        let kubeconfig = scratch.path().join("kubeconfig");
        cluster.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        Substrate::prepare(Kind::Embedded, test, client, kubeconfig, "kubectl".into(), Some(cluster), scratch)
            .await
    }

    /// The real control plane shared by this test binary, or `None` (printed) when it is skipped.
    pub async fn real(test: &str) -> Option<Substrate> {
        init_test_log();
        let cp = match tokio::task::spawn_blocking(controlplane::shared).await.expect("start control plane") {
            Ok(cp) => cp,
            Err(Unavailable::Skipped(why)) => {
                // Straight to stderr, past the test harness's capture: a skip is never silent.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "SKIPPED on the real control plane ({why}): {test}");
                return None;
            }
        };
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&cp.kubeconfig).expect("kubeconfig"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kubeconfig");
        let client = kube::Client::try_from(config).expect("client");
        let scratch = tempfile::tempdir().expect("tempdir");
        Some(
            Substrate::prepare(Kind::Real, test, client, cp.kubeconfig.clone(), cp.kubectl(), None, scratch)
                .await,
        )
    }

    pub async fn start(kind: Kind, test: &str) -> Option<Substrate> {
        match kind {
            Kind::Embedded => Some(Substrate::embedded(test).await),
            Kind::Real => Substrate::real(test).await,
        }
    }

    async fn prepare(
        kind: Kind,
        test: &str,
        client: kube::Client,
        kubeconfig: PathBuf,
        kubectl: PathBuf,
        embedded: Option<ClusterHandle>,
        scratch: tempfile::TempDir,
    ) -> Substrate {
        install_crds(&client).await;
        let namespace = unique_namespace(test);
        create_namespace(&client, &namespace).await;
        Substrate { kind, client, namespace, kubeconfig, kubectl, embedded, _scratch: scratch }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The embedded cluster, for tests that inject faults or read its internals.
    pub fn embedded_cluster(&self) -> Option<&ClusterHandle> {
        self.embedded.as_ref()
    }

    /// The `kubectl` binary that matches this substrate.
    pub fn kubectl_bin(&self) -> &Path {
        &self.kubectl
    }

    /// `kubectl` for this substrate, with its kubeconfig and the test's namespace.
    pub fn kubectl(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).arg("-n").arg(&self.namespace);
        cmd
    }

    /// Runs kubectl with `args`, panicking with its output unless it succeeds; returns stdout.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().await.expect("run kubectl");
        self.succeeded(args, out)
    }

    /// Runs kubectl with `args` and `input` on its standard input, panicking with its output unless it succeeds;
    /// returns stdout.
    pub async fn kubectl_with_input(&self, args: &[&str], input: &str) -> String {
        use std::process::Stdio;
        let mut child = self
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut stdin = child.stdin.take().expect("stdin");
        tokio::io::AsyncWriteExt::write_all(&mut stdin, input.as_bytes())
            .await
            .expect("write kubectl's input");
        drop(stdin);
        let out = child.wait_with_output().await.expect("kubectl finishes");
        self.succeeded(args, out)
    }

    /// kubectl's stdout, or a panic with all it printed when it failed.
    fn succeeded(&self, args: &[&str], out: std::process::Output) -> String {
        assert!(
            out.status.success(),
            "kubectl {} failed on the {} substrate: {}{}",
            args.join(" "),
            self.kind.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A namespaced API in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Another namespace of the test's own (for tests that need two), created now.
    pub async fn extra_namespace(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.namespace);
        create_namespace(&self.client, &name).await;
        name
    }

    /// Ends the test: the namespace is deleted on the shared control plane; the embedded cluster stops.
    pub async fn stop(self) {
        match self.embedded {
            Some(cluster) => {
                let _ = cluster.shutdown().await;
            }
            None => {
                let namespaces: Api<Namespace> = Api::all(self.client.clone());
                let _ = namespaces.delete(&self.namespace, &DeleteParams::background()).await;
            }
        }
    }
}

/// A DNS-label namespace name from the test's name, unique within this process and across runs.
fn unique_namespace(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut base: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    base.truncate(40);
    let base = base.trim_matches('-');
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{base}-{}-{n}", std::process::id() % 100_000)
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        ..Default::default()
    };
    namespaces.create(&PostParams::default(), &ns).await.expect("create namespace");
}

/// With `SERIN_TEST_LOG` set (a tracing filter such as `serin=debug`), the code under test logs into the
/// test's captured output.
fn init_test_log() {
    if let Ok(filter) = std::env::var("SERIN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Applies serin's CRDs (server-side, so concurrent tests on the shared control plane agree) and waits until
/// each is established.
pub async fn install_crds(client: &kube::Client) {
    apply_crds(client, serin::api::crds::crds()).await;
}

/// Applies `crds` server-side and waits until each is established.
pub async fn apply_crds(client: &kube::Client, crds: Vec<CustomResourceDefinition>) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("serin-tests").force();
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("CRD name");
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("CRD name");
        super::wait::eventually(&format!("CRD {name} established"), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.ok()?;
                let established =
                    crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            }
        })
        .await;
    }
}

/// Declares `name` once and runs it on both substrates, as `name::embedded` and `name::real`.
#[macro_export]
macro_rules! on_both_substrates {
    ($(#[$meta:meta])* async fn $name:ident($s:ident: &Substrate) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn case($s: &$crate::e2e::substrate::Substrate) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                let s = $crate::e2e::substrate::Substrate::embedded(stringify!($name)).await;
                case(&s).await;
                s.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real() {
                let Some(s) = $crate::e2e::substrate::Substrate::real(stringify!($name)).await else { return };
                case(&s).await;
                s.stop().await;
            }
        }
    };
}
