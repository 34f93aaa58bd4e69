//! `serin plugin list | inspect | run`: the plugin author's tools.

use crate::api::duration::parse_flag_duration;
use crate::plugin::grants::{HttpGrant, PrometheusGrant};
use crate::plugin::limits::parse_bytes;
use crate::plugin::metric::{MetricCall, ObjectRef, Observation};
use crate::plugin::{CallOptions, Limits, Plugin, PluginKind, Registry, Runtime, RuntimeConfig};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Built-in and registered plugins: name, kind, contract version, size, sha256.
    List {
        /// A serin-config ConfigMap (YAML) whose registered plugins to load and list too.
        #[arg(long)]
        plugin_config: Option<PathBuf>,
    },
    /// Kind, contract version, imports and exports of a component, or why it is not a valid serin plugin.
    Inspect {
        /// The component (`.wasm`, optionally gzip-compressed).
        file: PathBuf,
        /// A registration entry (YAML, as in `serin-config` or a drop-in's `plugin.yaml`): show what it grants
        /// for each import.
        #[arg(long)]
        registration: Option<PathBuf>,
    },
    /// One metric-provider `run`, printing the measurement as JSON. Grants only what the flags grant.
    ///
    /// Exit status: 0 Successful, 1 Failed, 2 Error (the plugin's, or it trapped, timed out or was denied),
    /// 3 Inconclusive, 4 Running; 64 for usage errors.
    Run(Box<RunArgs>),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A built-in plugin's name (e.g. `web`, `prometheus`) or a component file.
    #[arg(long)]
    plugin: String,
    /// The provider configuration as JSON (for a built-in, what goes under its key, e.g. `provider.web`).
    #[arg(long)]
    config: String,
    /// Grant outbound HTTP to this origin (e.g. `http://127.0.0.1:8080`); repeatable.
    #[arg(long = "allow-http", value_name = "ORIGIN")]
    allow_http: Vec<String>,
    /// Grant outbound HTTP to this origin without TLS certificate verification; repeatable.
    #[arg(long = "allow-http-insecure", value_name = "ORIGIN")]
    allow_http_insecure: Vec<String>,
    /// Grant typed PromQL queries to this Prometheus address; repeatable.
    #[arg(long = "allow-prometheus", value_name = "ADDRESS")]
    allow_prometheus: Vec<String>,
    /// Deadline for the call (e.g. `10s`, `500ms`).
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// Memory cap (e.g. `64Mi`).
    #[arg(long, default_value = "128Mi")]
    memory: String,
    /// Judge a returned value with this successCondition.
    #[arg(long, allow_hyphen_values = true)]
    success: Option<String>,
    /// Judge a returned value with this failureCondition.
    #[arg(long, allow_hyphen_values = true)]
    failure: Option<String>,
    /// The metric's name, as the plugin sees it.
    #[arg(long, default_value = "metric")]
    metric_name: String,
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { plugin_config } => list(plugin_config.as_deref()).await,
        Command::Inspect { file, registration } => inspect(&file, registration.as_deref()),
        Command::Run(args) => run_metric(*args).await,
    }
}

fn registry() -> anyhow::Result<Registry> {
    Ok(Registry::new(Runtime::new(RuntimeConfig::default())?))
}

async fn list(plugin_config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let catalog = crate::plugin::catalog::Catalog::new(registry()?);
    let mut failed = false;
    if let Some(path) = plugin_config {
        let yaml =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for problem in crate::plugin::registration::apply_config_yaml(&catalog, &yaml, None).await {
            eprintln!("{problem}");
            failed = true;
        }
    }
    println!("{:<24} {:<20} {:<9} {:>10}  SHA256", "NAME", "KIND", "CONTRACT", "SIZE");
    for row in catalog.registry().list() {
        let name = if row.builtin { format!("{} (built-in)", row.name) } else { row.name };
        println!(
            "{:<24} {:<20} {:<9} {:>10}  {}",
            name,
            row.kind.to_string(),
            row.contract.unwrap_or_default(),
            row.size,
            row.sha256
        );
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// What an import gives the plugin: always there (clocks, random, streams, log), there but empty (files,
/// sockets, environment), or what a registration grants.
fn import_standing(import: &str, grants: Option<&crate::plugin::Grants>) -> String {
    let name = import.split('@').next().unwrap_or(import);
    let granted = |what: Vec<String>| match grants {
        None => "needs a grant".to_string(),
        Some(_) if what.is_empty() => "not granted".to_string(),
        Some(_) => format!("granted: {}", what.join(", ")),
    };
    match name {
        "serin:plugin/types" | "serin:plugin/log" => "always".into(),
        "serin:plugin/prometheus" => granted(
            grants
                .map(|g| g.prometheus.iter().map(|p| format!("{}{}", p.origin, p.path_prefix)).collect())
                .unwrap_or_default(),
        ),
        "serin:plugin/kubernetes" => granted(
            grants
                .map(|g| {
                    g.kubernetes
                        .iter()
                        .map(|k| {
                            let verbs: Vec<&str> = k.verbs.iter().map(|v| v.as_str()).collect();
                            let resource = if k.group.is_empty() {
                                k.resource.clone()
                            } else {
                                format!("{}.{}", k.resource, k.group)
                            };
                            let namespaces = if k.namespaces.is_empty() {
                                "the served namespace".to_string()
                            } else {
                                k.namespaces.join(" ")
                            };
                            format!("{} {resource} in {namespaces}", verbs.join("/"))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "wasi:http/outgoing-handler" | "wasi:http/types" => {
            granted(grants.map(|g| g.http.iter().map(|h| h.origin.to_string()).collect()).unwrap_or_default())
        }
        n if n.starts_with("wasi:filesystem/")
            || n.starts_with("wasi:sockets/")
            || n == "wasi:cli/environment" =>
        {
            "sandboxed: empty (no files, sockets or environment)".into()
        }
        _ => "always".into(),
    }
}

fn inspect(file: &Path, registration: Option<&Path>) -> anyhow::Result<ExitCode> {
    let grants = match registration {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let entry: crate::plugin::registration::PluginEntry = serde_saphyr::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a plugin registration: {e}", path.display()))?;
            Some(entry.grants().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let name = file.display().to_string();
    match Plugin::load(&runtime, &name, &bytes, None) {
        Ok(plugin) => {
            let info = plugin.info();
            println!("file:     {name}");
            println!("kind:     {}", info.kind);
            println!("contract: serin:plugin@{}", info.contract);
            println!("size:     {} bytes", info.size);
            println!("sha256:   {}", info.sha256);
            println!("imports:");
            let width = info.imports.iter().map(String::len).max().unwrap_or(0);
            for i in &info.imports {
                println!("  {i:<width$}  {}", import_standing(i, grants.as_ref()));
            }
            println!("exports:");
            for e in &info.exports {
                println!("  {e}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{name} is not a valid serin plugin: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn run_metric(args: RunArgs) -> anyhow::Result<ExitCode> {
    let registry = registry()?;
    // A component file (named .wasm, or an existing file); otherwise a plugin name (a directory is not a plugin).
    let plugin = if args.plugin.ends_with(".wasm") || Path::new(&args.plugin).is_file() {
        let bytes = std::fs::read(&args.plugin).with_context(|| format!("cannot read {}", args.plugin))?;
        registry.insert(&args.plugin, &bytes, None)?
    } else {
        registry.get(&args.plugin)?
    };
    if plugin.kind() != PluginKind::MetricProvider {
        return Err(super::UsageError(format!(
            "{} is a {}, not a metric provider",
            args.plugin,
            plugin.kind()
        ))
        .into());
    }
    let mut opts = CallOptions {
        limits: Limits {
            deadline: parse_flag_duration(&args.timeout).map_err(super::usage("--timeout"))?,
            memory: parse_bytes(&args.memory)
                .and_then(|m| {
                    (m <= crate::plugin::limits::MAX_MEMORY)
                        .then_some(m)
                        .ok_or_else(|| format!("at most {} bytes (4Gi)", crate::plugin::limits::MAX_MEMORY))
                })
                .map_err(super::usage("--memory"))?,
            ..Limits::default()
        },
        ..CallOptions::default()
    };
    for origin in &args.allow_http {
        opts.grants.http.push(HttpGrant::for_url(origin, false).map_err(super::usage("--allow-http"))?);
    }
    for origin in &args.allow_http_insecure {
        opts.grants
            .http
            .push(HttpGrant::for_url(origin, true).map_err(super::usage("--allow-http-insecure"))?);
    }
    for address in &args.allow_prometheus {
        opts.grants
            .prometheus
            .push(PrometheusGrant::for_address(address).map_err(super::usage("--allow-prometheus"))?);
    }
    let call = MetricCall {
        run: ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AnalysisRun".into(),
            namespace: "default".into(),
            name: "serin-plugin-run".into(),
            uid: String::new(),
        },
        metric_name: args.metric_name.clone(),
        count: 0,
        config: args.config.clone(),
        success_condition: args.success.clone(),
        failure_condition: args.failure.clone(),
    };
    let started = jiff::Timestamp::now();
    let observation = match plugin.metric_run(&opts, &call).await {
        Ok(o) => o,
        // The plugin failing (a trap, its deadline, a denied call) is an Error measurement on an AnalysisRun.
        Err(e) => {
            eprintln!("{e}");
            return Ok(super::verdict_exit("Error"));
        }
    };
    let (phase, message) = match &observation {
        Observation::Judge { result, .. } => {
            if args.success.is_none() && args.failure.is_none() {
                ("Successful".to_string(), None)
            } else {
                let expr = registry.get("expr")?;
                match expr
                    .assess(&CallOptions::default(), args.success.as_deref(), args.failure.as_deref(), result)
                    .await?
                {
                    Ok(v) => (super::condition::verdict_name(v).to_string(), None),
                    Err(e) => ("Error".to_string(), Some(observation.explain(e))),
                }
            }
        }
        Observation::Running { message, .. } => ("Running".to_string(), message.clone()),
        Observation::Decided { phase, message, .. } => (format!("{phase:?}"), message.clone()),
        Observation::Error(e) => ("Error".to_string(), Some(e.clone())),
    };
    let metadata = match &observation {
        Observation::Judge { metadata, .. }
        | Observation::Running { metadata, .. }
        | Observation::Decided { metadata, .. } => metadata.clone(),
        Observation::Error(_) => Vec::new(),
    };
    let mut out = serde_json::json!({
        "phase": phase,
        "startedAt": started.to_string(),
        "finishedAt": jiff::Timestamp::now().to_string(),
    });
    if let Some(v) = observation.display_value() {
        out["value"] = v.into();
    }
    if let Some(m) = message {
        out["message"] = m.into();
    }
    if !metadata.is_empty() {
        out["metadata"] =
            metadata.into_iter().map(|(k, v)| (k, v.into())).collect::<serde_json::Map<_, _>>().into();
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(super::verdict_exit(&phase))
}
