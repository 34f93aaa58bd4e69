//! `serin analyze`: run AnalysisTemplates on this machine with the controller's engine and plugins, for real
//! (intervals honoured), showing measurements as they come and ending with the AnalysisRun status.

use super::UsageError;
use crate::analysis::template::{self, TemplateRef, TemplateSource};
use crate::analysis::{Engine, Reconciled};
use crate::api::analysis::{AnalysisRun, AnalysisRunSpec, AnalysisTemplateSpec, Measurement};
use crate::api::common::{AnalysisPhase, Argument};
use crate::api::decode::{Classification, Kind, Object, classify, decode_object, parse_stream};
use crate::plugin::catalog::Catalog;
use crate::plugin::registration;
use crate::plugin::{Registry, Runtime, RuntimeConfig};
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML file with one or more AnalysisTemplates / ClusterAnalysisTemplates (`-` for stdin). Templates that
    /// other templates in the file reference run through them; the others run together as one AnalysisRun.
    file: PathBuf,
    /// Run only this template (with the templates it references).
    #[arg(long)]
    template: Option<String>,
    /// An argument value, `name=value`; repeatable.
    #[arg(long = "arg", short = 'a', value_name = "NAME=VALUE")]
    args: Vec<String>,
    /// Output format of the final AnalysisRun status.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Kubeconfig for Secret arguments and the job provider (default: none, no cluster needed).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Namespace the run pretends to live in (Secret arguments and Jobs use it).
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// A serin-config ConfigMap (YAML) registering plugins (`file://` and `https://` locations).
    #[arg(long)]
    plugin_config: Option<PathBuf>,
}

/// Exit codes: 0 Successful, 1 Failed, 2 Error, 3 Inconclusive; 64 when the command line or the templates
/// cannot be used (with the reason).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (engine, name, namespace, spec) = prepare(&args).await?;
    let Some(status) = run_locally(&engine, &name, &namespace, spec, args.output).await else {
        eprintln!("interrupted");
        return Ok(ExitCode::from(130));
    };

    let phase = status.phase.clone().unwrap_or(AnalysisPhase::Error);
    match args.output {
        Output::Text => print_summary(&status),
        Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Output::Yaml => print!("{}", serde_saphyr::to_string(&status).context("rendering YAML")?),
    }
    Ok(super::verdict_exit(match phase {
        AnalysisPhase::Successful => "Successful",
        AnalysisPhase::Failed => "Failed",
        AnalysisPhase::Inconclusive => "Inconclusive",
        _ => "Error",
    }))
}

/// Reads the templates and arguments and sets up the engine.
async fn prepare(args: &Args) -> anyhow::Result<(Engine, String, String, AnalysisRunSpec)> {
    // Problems with what was given (file, templates, arguments) are usage errors; the rest are failures.
    let given = |e: anyhow::Error| -> anyhow::Error { UsageError(format!("{e:#}")).into() };
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin").map_err(given)?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))
            .map_err(given)?
    };
    let templates =
        Templates::parse(&text).with_context(|| format!("{}", args.file.display())).map_err(given)?;
    let roots = templates.roots(args.template.as_deref()).map_err(given)?;
    let supplied = parse_args(&args.args).map_err(given)?;
    let flat = template::flatten(&templates, &roots).await.map_err(UsageError)?;
    let spec = template::merge(&flat, &supplied).map_err(UsageError)?;
    for name in template::undeclared(&flat, &supplied) {
        eprintln!("warning: --arg {name}: no template declares this argument; it is ignored");
    }
    if let Some(path) = &args.plugin_config
        && !path.exists()
    {
        return Err(UsageError(format!("--plugin-config: {} does not exist", path.display())).into());
    }

    let kube = match &args.kubeconfig {
        Some(path) => Some(client_from(path).await?),
        None => None,
    };
    let catalog = Arc::new(Catalog::new(Registry::new(Runtime::new(RuntimeConfig::default())?)));
    if let Some(path) = &args.plugin_config {
        let yaml =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for problem in registration::apply_config_yaml(&catalog, &yaml, kube.as_ref()).await {
            eprintln!("warning: {problem}");
        }
    }
    refuse_what_cannot_run(&spec, &catalog, kube.is_some()).await?;
    let engine = Engine::new(catalog, kube);
    let name = roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join("+");
    Ok((engine, name, args.namespace.clone(), spec))
}

/// A metric that could only ever measure Error is refused before the run starts (the controller would retry it
/// until its consecutiveErrorLimit): a condition that does not compile, a job metric without a cluster.
async fn refuse_what_cannot_run(
    spec: &AnalysisRunSpec,
    catalog: &Catalog,
    cluster: bool,
) -> anyhow::Result<()> {
    let evaluator = catalog
        .resolve(crate::analysis::engine::EVALUATOR, crate::plugin::PluginKind::ConditionEvaluator)
        .map_err(|e| anyhow::anyhow!(e))?
        .plugin;
    let mut problems = Vec::new();
    let args = spec.args.as_deref().unwrap_or_default();
    let values = crate::analysis::args::ArgValues::without_secrets(args);
    let secret_args: Vec<String> = args
        .iter()
        .filter(|a| a.value_from.as_ref().is_some_and(|v| v.secret_key_ref.is_some()))
        .map(|a| format!("{{{{args.{}}}}}", a.name))
        .collect();
    for original in &spec.metrics {
        // Conditions are checked as they will be measured: with the arguments' values in them (a Secret's is
        // only known then, so a condition using one waits for the measurement).
        let Ok(metric) = values.resolve(original) else { continue };
        for (field, condition, written) in [
            ("successCondition", &metric.success_condition, &original.success_condition),
            ("failureCondition", &metric.failure_condition, &original.failure_condition),
        ] {
            let Some(condition) = condition.as_deref().filter(|c| !c.trim().is_empty()) else { continue };
            let written = written.as_deref().unwrap_or_default();
            if secret_args.iter().any(|s| written.contains(s.as_str())) {
                continue;
            }
            let checked = evaluator.check(&crate::plugin::CallOptions::default(), condition).await;
            if let Err(reason) = checked.unwrap_or_else(|e| Err(e.to_string())) {
                problems.push(format!(
                    "metric {:?}: {field} {written:?} does not compile: {}",
                    metric.name,
                    crate::api::lint::one_line(&reason)
                ));
            }
        }
        if metric.provider.job.is_some() && !cluster {
            problems.push(format!(
                "metric {:?}: the job provider runs Jobs on a cluster: pass --kubeconfig",
                metric.name
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(UsageError(problems.join("\n")).into()) }
}

/// Reconciles an in-memory AnalysisRun until it completes, sleeping until each next due time. The first Ctrl-C
/// terminates the run as `kubectl argo rollouts terminate` would; a second one stops waiting (`None`).
async fn run_locally(
    engine: &Engine,
    name: &str,
    namespace: &str,
    spec: AnalysisRunSpec,
    output: Output,
) -> Option<crate::api::analysis::AnalysisRunStatus> {
    let mut run = AnalysisRun::new(name, spec);
    run.metadata.namespace = Some(namespace.to_string());
    run.metadata.uid = Some(local_uid());
    let mut interrupts = Interrupts::new();
    loop {
        let reconciled = tokio::select! {
            r = engine.reconcile(&run, jiff::Timestamp::now()) => Some(r),
            () = interrupts.next() => None,
        };
        let Some(Reconciled { status, requeue_after, measured, .. }) = reconciled else {
            if !interrupts.terminate(&mut run) {
                return None;
            }
            continue;
        };
        for (metric, m) in &measured {
            let line = progress_line(metric, m);
            // With -o json|yaml stdout carries only the final status.
            if output == Output::Text {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
        let _ = std::io::stdout().flush();
        let done = status.phase.as_ref().is_some_and(AnalysisPhase::completed);
        run.status = Some(status);
        if done {
            return run.status;
        }
        let wait = requeue_after
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(50), Duration::from_secs(60));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = interrupts.next() => {
                if !interrupts.terminate(&mut run) {
                    return None;
                }
            }
        }
    }
}

/// Ctrl-C, counted: one signal listener for the whole run, so no press is lost between waits.
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    count: u32,
}

impl Interrupts {
    fn new() -> Interrupts {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        Interrupts {
            #[cfg(unix)]
            signal,
            count: 0,
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.signal.as_mut() {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }

    /// Marks the run terminating on the first interrupt; `false` on the second (stop waiting).
    fn terminate(&mut self, run: &mut AnalysisRun) -> bool {
        self.count += 1;
        if self.count > 1 {
            return false;
        }
        eprintln!("terminating the run (Ctrl-C again to stop waiting)");
        run.spec.terminate = Some(true);
        true
    }
}

fn progress_line(metric: &str, m: &Measurement) -> String {
    let at = m.finished_at.as_ref().or(m.started_at.as_ref()).map(|t| t.0.strftime("%H:%M:%S").to_string());
    let mut line = format!("{}  {:<24} {:<12}", at.unwrap_or_default(), metric, m.phase.to_string());
    if let Some(v) = &m.value {
        line.push_str(&format!(" value={v}"));
    }
    if let Some(msg) = &m.message {
        line.push_str(&format!(" message={msg:?}"));
    }
    line
}

fn print_summary(status: &crate::api::analysis::AnalysisRunStatus) {
    let phase = status.phase.clone().unwrap_or(AnalysisPhase::Error);
    println!();
    println!("Phase:   {phase}");
    if let Some(m) = &status.message {
        println!("Message: {m}");
    }
    for r in status.metric_results.iter().flatten() {
        println!(
            "  {:<24} {:<12} count={} successful={} failed={} inconclusive={} error={}",
            r.name,
            r.phase.to_string(),
            r.count.unwrap_or(0),
            r.successful.unwrap_or(0),
            r.failed.unwrap_or(0),
            r.inconclusive.unwrap_or(0),
            r.error.unwrap_or(0)
        );
    }
}

/// `--arg NAME=VALUE`s; a name given twice is an error rather than a silent choice of one.
fn parse_args(raw: &[String]) -> anyhow::Result<Vec<Argument>> {
    let mut out: Vec<Argument> = Vec::new();
    for a in raw {
        let Some((name, value)) = a.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            bail!("--arg {a:?}: expected NAME=VALUE");
        };
        if out.iter().any(|x| x.name == name) {
            bail!("--arg {name}: given more than once");
        }
        out.push(Argument { name: name.to_string(), value: Some(value.to_string()), value_from: None });
    }
    Ok(out)
}

/// A uid for a run that exists only here. The `local-` prefix tells the job plugin not to make the run the owner
/// of its Jobs (`plugins/job/src/jobs.rs`, `LOCAL_UID_PREFIX`): on a cluster that reference would dangle and the
/// garbage collector would delete the Job at once.
fn local_uid() -> String {
    let nanos = jiff::Timestamp::now().as_nanosecond();
    format!("local-{:x}-{:x}", nanos, std::process::id())
}

async fn client_from(path: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("creating the Kubernetes client")
}

/// The templates of one file.
struct Templates(BTreeMap<TemplateRef, AnalysisTemplateSpec>);

impl Templates {
    fn parse(text: &str) -> anyhow::Result<Templates> {
        let mut map = BTreeMap::new();
        for doc in parse_stream(text) {
            let value = doc.value.map_err(|e| anyhow::anyhow!("document {}: {e}", doc.index))?;
            let kind = match classify(&value) {
                Classification::Served(k @ (Kind::AnalysisTemplate | Kind::ClusterAnalysisTemplate)) => k,
                _ => continue,
            };
            let object =
                decode_object(kind, &value).map_err(|e| anyhow::anyhow!("document {}: {e}", doc.index))?;
            let (name, cluster, spec) = match object {
                Object::AnalysisTemplate(t) => (t.metadata.name.clone(), false, t.spec.clone()),
                Object::ClusterAnalysisTemplate(t) => (t.metadata.name.clone(), true, t.spec.0.clone()),
                _ => continue,
            };
            let name = name
                .ok_or_else(|| anyhow::anyhow!("document {}: template without metadata.name", doc.index))?;
            map.insert(TemplateRef { name, cluster_scope: cluster }, spec);
        }
        if map.is_empty() {
            bail!("no AnalysisTemplate or ClusterAnalysisTemplate found");
        }
        Ok(Templates(map))
    }

    /// The templates to run: the one asked for, else every template no other template references.
    fn roots(&self, only: Option<&str>) -> anyhow::Result<Vec<TemplateRef>> {
        if let Some(name) = only {
            let found: Vec<TemplateRef> = self.0.keys().filter(|r| r.name == name).cloned().collect();
            if found.is_empty() {
                bail!("--template {name}: no such template in the file");
            }
            return Ok(found);
        }
        let referenced: Vec<TemplateRef> = self
            .0
            .values()
            .flat_map(|s| s.templates.iter().flatten())
            .map(|r| TemplateRef {
                name: r.template_name.clone().unwrap_or_default(),
                cluster_scope: r.cluster_scope.unwrap_or(false),
            })
            .collect();
        let roots: Vec<TemplateRef> = self.0.keys().filter(|r| !referenced.contains(r)).cloned().collect();
        // When every template is referenced, they reference each other in a cycle: start anywhere, so that
        // flattening names it.
        if roots.is_empty() { Ok(self.0.keys().cloned().collect()) } else { Ok(roots) }
    }
}

impl TemplateSource for Templates {
    async fn template(&self, r: &TemplateRef) -> Result<AnalysisTemplateSpec, String> {
        self.0.get(r).cloned().ok_or_else(|| format!("{r} is not in the file"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_name_value_pairs_given_once() {
        let args = |v: &[&str]| super::parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let ok = args(&["a=1", "b=x=y", "c="]).expect("valid");
        let pairs: Vec<(String, Option<String>)> = ok.into_iter().map(|a| (a.name, a.value)).collect();
        assert_eq!(
            pairs,
            [
                ("a".into(), Some("1".into())),
                ("b".into(), Some("x=y".into())),
                ("c".into(), Some(String::new()))
            ]
        );
        assert_eq!(args(&["a=1", "a=2"]).unwrap_err().to_string(), "--arg a: given more than once");
        assert_eq!(args(&["=1"]).unwrap_err().to_string(), "--arg \"=1\": expected NAME=VALUE");
        assert_eq!(args(&["x"]).unwrap_err().to_string(), "--arg \"x\": expected NAME=VALUE");
    }
}
