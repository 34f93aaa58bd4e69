//! The operator CLI with `kubectl argo rollouts`' verbs, flags, messages and exit codes: `serin rollouts VERB`,
//! or the binary installed as `kubectl-argo-rollouts` (upstream's command lines unchanged) or `kubectl-serin`.
//! What each verb writes is in `actions`; this module reads and writes the objects and prints.
//!
//! Exit status as upstream's: 0 when the verb did its job, 1 for any error (an object that does not exist, no
//! cluster, a usage error as a kubectl plugin), with `Error: …` on stderr; `status` exits 1 for a Degraded
//! Rollout or a timeout. Under `serin rollouts` a usage error is 64, as for every serin command.

mod actions;
mod create;
mod list;
pub(crate) mod tree;

use crate::api::analysis::AnalysisRun;
use crate::api::experiment::Experiment;
use crate::api::rollout::{Rollout, RolloutPhase};
use crate::strategy::phase;
use anyhow::{Context as _, anyhow, bail};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How the CLI reaches the cluster, as kubectl reads it.
#[derive(Debug, Clone, clap::Args)]
pub struct KubeFlags {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster configuration).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// The namespace (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
}

/// `kubectl argo rollouts`' command line.
#[derive(Debug, clap::Parser)]
#[command(name = "kubectl-argo-rollouts", about = "Manage argo rollouts", version)]
pub struct Cli {
    #[command(flatten)]
    kube: KubeFlags,
    #[command(subcommand)]
    verb: Verb,
}

/// `serin rollouts …`: the same verbs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    kube: KubeFlags,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Promote a rollout: on from a canary step or a blue-green pause; `--full` skips analysis, pauses and steps.
    Promote {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
        /// Perform a full promotion, skipping analysis, pauses, and steps.
        #[arg(long)]
        full: bool,
    },
    /// Abort a rollout: stop the update and go back to the stable ReplicaSet.
    Abort {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
    },
    /// Retry an aborted rollout.
    #[command(subcommand)]
    Retry(Retry),
    /// Pause rollouts.
    Pause {
        #[arg(value_name = "ROLLOUT_NAME", required = true)]
        names: Vec<String>,
    },
    /// Restart the pods of a rollout.
    Restart {
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// Amount of time before a restart (e.g. 30s, 5m, 1h).
        #[arg(short = 'i', long = "in")]
        delay: Option<String>,
    },
    /// Set a field of a rollout.
    #[command(subcommand)]
    Set(Set),
    /// Roll back to the previous revision (or to `--to-revision`).
    Undo {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
        /// The revision to roll back to; 0 is the one before the latest.
        #[arg(long = "to-revision", default_value_t = 0)]
        to_revision: i64,
    },
    /// Show the status of a rollout; with `--watch` (the default) until it is Healthy or Degraded.
    ///
    /// Exit status 0 when Healthy (or, without watching, not Degraded), 1 when Degraded or the timeout passed.
    Status {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
        /// Watch the status of the rollout until it's done (`--watch=false` to print it once).
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        watch: bool,
        /// How long to watch before giving up (e.g. 1s, 2m, 3h); 0 waits forever.
        #[arg(short = 't', long, default_value = "0s")]
        timeout: String,
    },
    /// Get details about a rollout: its summary and the tree of revisions, ReplicaSets, pods and AnalysisRuns.
    #[command(subcommand)]
    Get(Get),
    /// List rollouts or experiments.
    #[command(subcommand)]
    List(List),
    /// Terminate an AnalysisRun or Experiment.
    #[command(subcommand)]
    Terminate(Terminate),
    /// Create a Rollout, Experiment, AnalysisTemplate, ClusterAnalysisTemplate or AnalysisRun from a file, or an
    /// AnalysisRun from a template (`create analysisrun`).
    #[command(args_conflicts_with_subcommands = true)]
    Create {
        #[command(subcommand)]
        from_template: Option<CreateFrom>,
        /// Files to use to create the resource.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Watch live updates to the resource after creating.
        #[arg(short = 'w', long)]
        watch: bool,
        /// Do not colorize output.
        #[arg(long)]
        no_color: bool,
    },
    /// Lint and validate a Rollout (and the other kinds serin serves) from a file.
    Lint {
        /// File to lint.
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,
    },
    /// Print the version.
    Version {
        /// Print just the version number.
        #[arg(long)]
        short: bool,
    },
    /// Start the UI dashboard (not in serin yet).
    Dashboard,
    /// Print a shell completion script, e.g. `source <(kubectl-argo-rollouts completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Retry {
    /// Retry an aborted rollout.
    #[command(alias = "ro", alias = "rollouts")]
    Rollout {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
    },
    /// Retry a failed experiment: it runs again from the start.
    #[command(alias = "exp", alias = "experiments")]
    Experiment {
        #[arg(value_name = "EXPERIMENT_NAME")]
        name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum CreateFrom {
    /// Create an AnalysisRun from an AnalysisTemplate or a ClusterAnalysisTemplate.
    #[command(alias = "ar")]
    Analysisrun {
        /// Use the specified name for the run.
        #[arg(long)]
        name: Option<String>,
        /// Use the specified generateName for the run.
        #[arg(long)]
        generate_name: Option<String>,
        /// Instance-ID for the AnalysisRun.
        #[arg(long)]
        instance_id: Option<String>,
        /// Arguments to the parameter template (`NAME=VALUE`).
        #[arg(short = 'a', long = "argument")]
        arguments: Vec<String>,
        /// Create an AnalysisRun from an AnalysisTemplate or ClusterAnalysisTemplate in the cluster.
        #[arg(long)]
        from: Option<String>,
        /// Create an AnalysisRun from an AnalysisTemplate or ClusterAnalysisTemplate in a local file.
        #[arg(long)]
        from_file: Option<PathBuf>,
        /// Use a ClusterAnalysisTemplate instead of an AnalysisTemplate.
        #[arg(long)]
        global: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Set {
    /// Update the image of a rollout (`CONTAINER=IMAGE`; `*` for every container).
    Image {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
        #[arg(value_name = "CONTAINER=IMAGE")]
        image: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Get {
    /// Get details about and a visual representation of a rollout.
    #[command(alias = "ro", alias = "rollouts")]
    Rollout {
        #[arg(value_name = "ROLLOUT_NAME")]
        name: String,
        #[command(flatten)]
        show: ShowFlags,
    },
    /// Get details about and a visual representation of an experiment.
    #[command(alias = "exp", alias = "experiments")]
    Experiment {
        #[arg(value_name = "EXPERIMENT_NAME")]
        name: String,
        #[command(flatten)]
        show: ShowFlags,
    },
}

/// How `get` draws its tree.
#[derive(Debug, clap::Args)]
struct ShowFlags {
    /// Watch live updates.
    #[arg(short = 'w', long)]
    watch: bool,
    /// Do not colorize output (colour is only used on a terminal, and never with NO_COLOR set).
    #[arg(long)]
    no_color: bool,
    /// Stop watching after this many seconds.
    #[arg(long, default_value_t = 0)]
    timeout_seconds: u64,
}

#[derive(Debug, clap::Subcommand)]
enum List {
    /// List rollouts.
    #[command(alias = "ro", alias = "rollout")]
    Rollouts {
        /// Include all namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Only show the rollout with this name.
        #[arg(long)]
        name: Option<String>,
        /// Watch for changes: after the table, each Rollout's row again whenever it changes.
        #[arg(short = 'w', long)]
        watch: bool,
        /// Print timestamps on updates.
        #[arg(long)]
        timestamps: bool,
    },
    /// List experiments.
    #[command(alias = "exp", alias = "experiment")]
    Experiments {
        /// Include all namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Terminate {
    /// Terminate AnalysisRuns.
    #[command(alias = "ar", alias = "analysisruns")]
    Analysisrun {
        #[arg(value_name = "ANALYSISRUN_NAME", required = true)]
        names: Vec<String>,
    },
    /// Terminate experiments.
    #[command(alias = "exp", alias = "experiments")]
    Experiment {
        #[arg(value_name = "EXPERIMENT_NAME", required = true)]
        names: Vec<String>,
    },
}

/// The names the binary answers to as a kubectl plugin, and what it calls itself then.
pub fn plugin_name(argv0: &str) -> Option<&'static str> {
    let base = std::path::Path::new(argv0).file_name()?.to_str()?;
    match base {
        "kubectl-argo-rollouts" => Some("kubectl-argo-rollouts"),
        "kubectl-serin" => Some("kubectl-serin"),
        _ => None,
    }
}

/// Runs as the kubectl plugin `name`: upstream's parsing, errors and exit codes.
pub fn main_as_plugin(name: &'static str) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command().name(name).bin_name(name);
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    super::quiet_on_closed_pipe();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run_verb(name, cli.kube, cli.verb))
}

/// `serin rollouts …`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    Ok(run_verb("serin rollouts", args.kube, args.verb).await)
}

async fn run_verb(me: &str, kube: KubeFlags, verb: Verb) -> ExitCode {
    match execute(me, kube, verb).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A client and the namespace to work in, as kubectl would choose them.
async fn connect(flags: &KubeFlags) -> anyhow::Result<(kube::Client, String)> {
    let options = kube::config::KubeConfigOptions { context: flags.context.clone(), ..Default::default() };
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if flags.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => {
            kube::Config::infer().await.context("no cluster configured (no kubeconfig, not in a cluster)")?
        }
    };
    let namespace = flags.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config)?;
    Ok((client, namespace))
}

/// An API error as kubectl prints it (`rollouts.argoproj.io "x" not found`), with the namespace for a
/// missing object.
fn api_error(namespace: &str) -> impl Fn(kube::Error) -> anyhow::Error + '_ {
    move |e| match e {
        kube::Error::Api(s) if s.code == 404 => anyhow!("{} in namespace {namespace:?}", s.message),
        kube::Error::Api(s) => anyhow!("{}", s.message),
        other => anyhow!("{other}"),
    }
}

async fn patch_rollout(
    api: &Api<Rollout>,
    ns: &str,
    name: &str,
    patch: &Value,
    status: bool,
) -> anyhow::Result<Rollout> {
    let pp = PatchParams::default();
    let result = if status {
        api.patch_status(name, &pp, &Patch::Merge(patch)).await
    } else {
        api.patch(name, &pp, &Patch::Merge(patch)).await
    };
    result.map_err(api_error(ns))
}

/// Writes a status patch, falling back to the combined patch where there is no status subresource.
async fn patch_status_or(
    api: &Api<Rollout>,
    ns: &str,
    name: &str,
    status: &Value,
    unified: &Value,
) -> anyhow::Result<Rollout> {
    match api.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await {
        Ok(ro) => Ok(ro),
        Err(kube::Error::Api(s)) if s.code == 404 && api.get_opt(name).await.ok().flatten().is_some() => {
            patch_rollout(api, ns, name, unified, false).await
        }
        Err(e) => Err(api_error(ns)(e)),
    }
}

async fn execute(me: &str, flags: KubeFlags, verb: Verb) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match &verb {
        Verb::Version { short } => {
            writeln!(out, "{me}: serin v{}", env!("CARGO_PKG_VERSION"))?;
            if !short {
                writeln!(out, "  Platform: {}/{}", std::env::consts::OS, std::env::consts::ARCH)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        Verb::Dashboard => bail!(
            "the dashboard is not part of serin yet; `{me} get rollout NAME --watch` follows a rollout in the terminal"
        ),
        Verb::Lint { file } => {
            let Some(file) = file else { bail!("usage: {me} lint -f FILE") };
            return lint(file.clone(), &mut out);
        }
        Verb::Completion { shell } => {
            use clap::CommandFactory;
            // As a kubectl plugin, the plugin's own command line; otherwise all of serin's.
            let (mut command, bin) = match plugin_name(me) {
                Some(name) => (Cli::command(), name),
                None => (super::command(), "serin"),
            };
            command = command.name(bin).bin_name(bin);
            clap_complete::generate(*shell, &mut command, bin, &mut out);
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let (client, ns) = connect(&flags).await?;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    match verb {
        Verb::Version { .. } | Verb::Dashboard | Verb::Completion { .. } | Verb::Lint { .. } => {
            unreachable!("handled above")
        }
        Verb::Promote { name, full } => {
            let ro = rollouts.get(&name).await.map_err(api_error(&ns))?;
            let patches = actions::promote(&ro, full);
            if let Some(status) = &patches.status {
                patch_status_or(&rollouts, &ns, &name, status, &patches.unified).await?;
            }
            if let Some(spec) = &patches.spec {
                patch_rollout(&rollouts, &ns, &name, spec, false).await?;
            }
            let how = if full { "fully promoted" } else { "promoted" };
            writeln!(out, "rollout '{name}' {how}")?;
        }
        Verb::Abort { name } => {
            let patch = actions::abort();
            patch_status_or(&rollouts, &ns, &name, &patch, &patch).await?;
            writeln!(out, "rollout '{name}' aborted")?;
        }
        Verb::Retry(Retry::Rollout { name }) => {
            let patch = actions::retry();
            patch_status_or(&rollouts, &ns, &name, &patch, &patch).await?;
            writeln!(out, "rollout '{name}' retried")?;
        }
        Verb::Retry(Retry::Experiment { name }) => {
            // An Experiment's status has no subresource: it is cleared on the object, and the controller
            // runs the experiment again from the start.
            let experiments: Api<Experiment> = Api::namespaced(client.clone(), &ns);
            let patch = serde_json::json!({"status": null});
            experiments
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_error(&ns))?;
            writeln!(out, "experiment '{name}' retried")?;
        }
        Verb::Pause { names } => {
            for name in names {
                patch_rollout(&rollouts, &ns, &name, &actions::pause(), false).await?;
                writeln!(out, "rollout '{name}' paused")?;
            }
        }
        Verb::Restart { name, delay } => {
            let (at, shown) = match delay.as_deref() {
                Some(d) => {
                    let after =
                        crate::api::duration::parse_flag_duration(d).map_err(|e| anyhow!("--in: {e}"))?;
                    let after = jiff::SignedDuration::try_from(after).map_err(|e| anyhow!("--in: {e}"))?;
                    (jiff::Timestamp::now().checked_add(after)?, d.to_string())
                }
                None => (jiff::Timestamp::now(), "0s".to_string()),
            };
            patch_rollout(&rollouts, &ns, &name, &actions::restart(at), false).await?;
            writeln!(out, "rollout '{name}' restarts in {shown}")?;
        }
        Verb::Set(Set::Image { name, image }) => {
            let Some((container, image)) = image.split_once('=').filter(|(_, i)| !i.contains('=')) else {
                bail!("usage: {me} set image ROLLOUT_NAME CONTAINER=IMAGE");
            };
            let (kind, object) = set_image(&client, &ns, &name, container, image).await?;
            writeln!(out, "{kind} \"{object}\" image updated")?;
        }
        Verb::Undo { name, to_revision } => {
            let message = undo(&client, &ns, &name, to_revision).await?;
            write!(out, "{message}")?;
        }
        Verb::Status { name, watch, timeout } => {
            let timeout =
                crate::api::duration::parse_flag_duration(&timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
            return status(&rollouts, &ns, &name, watch, timeout, &mut out).await;
        }
        Verb::List(List::Experiments { all_namespaces }) => {
            let api: Api<Experiment> =
                if all_namespaces { Api::all(client.clone()) } else { Api::namespaced(client.clone(), &ns) };
            let listed = api.list(&ListParams::default()).await.map_err(api_error(&ns))?;
            if listed.items.is_empty() {
                eprintln!("No resources found.");
            } else {
                write!(
                    out,
                    "{}",
                    list::experiment_table(&listed.items, all_namespaces, jiff::Timestamp::now())
                )?;
            }
        }
        Verb::List(List::Rollouts { all_namespaces, name, watch, timestamps }) => {
            let api: Api<Rollout> = if all_namespaces { Api::all(client.clone()) } else { rollouts.clone() };
            let mut params = ListParams::default();
            if let Some(n) = &name {
                params = params.fields(&format!("metadata.name={n}"));
            }
            let listed = api.list(&params).await.map_err(api_error(&ns))?;
            let stamp = timestamps.then(list::timestamp_now);
            if listed.items.is_empty() && !watch {
                eprintln!("No resources found.");
            } else {
                write!(out, "{}", list::rollout_table(&listed.items, all_namespaces, stamp.as_deref()))?;
                out.flush()?;
            }
            if watch {
                watch_rollout_rows(&api, params, listed, all_namespaces, timestamps, &mut out).await?;
            }
        }
        Verb::Get(Get::Rollout { name, show }) => {
            get_tree(&client, &ns, Shown::Rollout(&name), &show, &mut out).await?;
        }
        Verb::Get(Get::Experiment { name, show }) => {
            get_tree(&client, &ns, Shown::Experiment(&name), &show, &mut out).await?;
        }
        Verb::Create { from_template: None, files, watch, no_color } => {
            if files.is_empty() {
                bail!("usage: {me} create -f FILE [-w]");
            }
            if files.len() > 1 && watch {
                bail!("Cannot watch multiple resources");
            }
            let mut created = Vec::new();
            for file in &files {
                created.push(create_from_file(&client, &ns, file, &mut out).await?);
            }
            if watch {
                match &created[0] {
                    (crate::api::decode::Kind::Rollout, name, ns) => {
                        let show = ShowFlags { watch: true, no_color, timeout_seconds: 0 };
                        get_tree(&client, ns, Shown::Rollout(name), &show, &mut out).await?;
                    }
                    (crate::api::decode::Kind::Experiment, name, ns) => {
                        let show = ShowFlags { watch: true, no_color, timeout_seconds: 0 };
                        get_tree(&client, ns, Shown::Experiment(name), &show, &mut out).await?;
                    }
                    _ => bail!("Can only watch resources of type Rollout or Experiment"),
                }
            }
        }
        Verb::Create {
            from_template:
                Some(CreateFrom::Analysisrun {
                    name,
                    generate_name,
                    instance_id,
                    arguments,
                    from,
                    from_file,
                    global,
                }),
            ..
        } => {
            let template = match (&from, &from_file) {
                (Some(from), None) => {
                    let kind = if global { "ClusterAnalysisTemplate" } else { "AnalysisTemplate" };
                    let api = dynamic_api(&client, kind, &ns);
                    let template = api.get(from).await.map_err(api_error(&ns))?;
                    serde_json::to_value(template)?
                }
                (None, Some(file)) => {
                    let text =
                        std::fs::read_to_string(file).with_context(|| format!("open {}", file.display()))?;
                    create::object_from_file(&text).map_err(|e| anyhow!(e))?.1
                }
                _ => bail!("one of --from or --from-file must be specified"),
            };
            let args = create::parse_arguments(&arguments).map_err(|e| anyhow!(e))?;
            let naming = create::RunNaming { name, generate_name, instance_id };
            let run = create::analysis_run(&template, &args, &naming, &ns).map_err(|e| anyhow!(e))?;
            let run: kube::api::DynamicObject = serde_json::from_value(run)?;
            let created = dynamic_api(&client, "AnalysisRun", &ns)
                .create(&PostParams::default(), &run)
                .await
                .map_err(api_error(&ns))?;
            writeln!(out, "analysisrun.argoproj.io/{} created", created.metadata.name.unwrap_or_default())?;
        }
        Verb::Terminate(Terminate::Analysisrun { names }) => {
            let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), &ns);
            for name in names {
                let patch = serde_json::json!({"spec": {"terminate": true}});
                runs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_error(&ns))?;
                writeln!(out, "analysisRun '{name}' terminated")?;
            }
        }
        Verb::Terminate(Terminate::Experiment { names }) => {
            let experiments: Api<Experiment> = Api::namespaced(client.clone(), &ns);
            for name in names {
                let patch = serde_json::json!({"spec": {"terminate": true}});
                experiments
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_error(&ns))?;
                writeln!(out, "experiment '{name}' terminated")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `get` draws.
#[derive(Clone, Copy)]
enum Shown<'a> {
    Rollout(&'a str),
    Experiment(&'a str),
}

/// `get rollout` and `get experiment`: the tree once, or redrawn every second with `--watch` (until
/// `timeout_seconds`, when not 0).
async fn get_tree(
    client: &kube::Client,
    ns: &str,
    shown: Shown<'_>,
    &ShowFlags { watch, no_color, timeout_seconds }: &ShowFlags,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let color = !no_color
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb");
    let started = Instant::now();
    loop {
        let now = jiff::Timestamp::now();
        let text = match shown {
            Shown::Rollout(name) => tree::render(&read_view(client, ns, name).await?, now, color),
            Shown::Experiment(name) => {
                tree::render_experiment(&read_experiment_view(client, ns, name).await?, now, color)
            }
        };
        if watch {
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if !watch || (timeout_seconds > 0 && started.elapsed() >= Duration::from_secs(timeout_seconds)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `list rollouts --watch`: from the listed version on, a Rollout's row whenever it differs from the last one
/// printed for it; a watch that ends is started again from the last version seen, as upstream's.
async fn watch_rollout_rows(
    api: &Api<Rollout>,
    params: ListParams,
    listed: kube::core::ObjectList<Rollout>,
    namespace: bool,
    timestamps: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let key = |ro: &Rollout| (ro.metadata.namespace.clone(), ro.metadata.name.clone());
    let mut printed: std::collections::BTreeMap<_, String> =
        listed.items.iter().map(|ro| (key(ro), list::rollout_line(ro, namespace, None))).collect();
    let mut version = listed.metadata.resource_version.unwrap_or_default();
    let watch_params =
        kube::api::WatchParams { field_selector: params.field_selector.clone(), ..Default::default() };
    let mut failures = 0;
    loop {
        let mut events = match api.watch(&watch_params, &version).await {
            Ok(events) => events.boxed(),
            Err(e) => {
                failed(&mut failures, &e.to_string()).await?;
                continue;
            }
        };
        while let Some(event) = events.next().await {
            let ro = match event {
                Ok(kube::api::WatchEvent::Added(ro) | kube::api::WatchEvent::Modified(ro)) => ro,
                Ok(kube::api::WatchEvent::Bookmark(b)) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                Ok(kube::api::WatchEvent::Deleted(ro)) => {
                    version = ro.metadata.resource_version.clone().unwrap_or(version);
                    continue;
                }
                // The version is gone (410): start again from now.
                Ok(kube::api::WatchEvent::Error(e)) if e.code == 410 => {
                    version = "0".into();
                    break;
                }
                Ok(kube::api::WatchEvent::Error(e)) => {
                    failed(&mut failures, &e.message).await?;
                    break;
                }
                Err(e) => {
                    failed(&mut failures, &e.to_string()).await?;
                    break;
                }
            };
            failures = 0;
            version = ro.metadata.resource_version.clone().unwrap_or(version);
            let line = list::rollout_line(&ro, namespace, None);
            if printed.get(&key(&ro)) != Some(&line) {
                let stamp = timestamps.then(list::timestamp_now);
                write!(out, "{}", list::rollout_line(&ro, namespace, stamp.as_deref()))?;
                out.flush()?;
                printed.insert(key(&ro), line);
            }
        }
    }
}

/// A watch that failed: a pause before the next try, and an error after five failures in a row (upstream's
/// retries).
async fn failed(failures: &mut u32, why: &str) -> anyhow::Result<()> {
    *failures += 1;
    if *failures > 5 {
        bail!("watching rollouts: {why}");
    }
    tracing::warn!("watching rollouts: {why}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

/// The API of one of serin's kinds, in `ns` unless it is cluster-scoped.
fn dynamic_api(client: &kube::Client, kind: &str, ns: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind);
    let resource =
        kube::api::ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_ascii_lowercase()));
    if kind == "ClusterAnalysisTemplate" {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), ns, &resource)
    }
}

/// Creates the object in `file` (in its own namespace, else `ns`) and says so; returns its kind, name and
/// namespace.
async fn create_from_file(
    client: &kube::Client,
    ns: &str,
    file: &std::path::Path,
    out: &mut impl Write,
) -> anyhow::Result<(crate::api::decode::Kind, String, String)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("open {}", file.display()))?;
    let (kind, value) = create::object_from_file(&text).map_err(|e| anyhow!(e))?;
    let ns = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(ns).to_string();
    let object: kube::api::DynamicObject = serde_json::from_value(value)?;
    let created = dynamic_api(client, kind.as_str(), &ns)
        .create(&PostParams::default(), &object)
        .await
        .map_err(api_error(&ns))?;
    let name = created.metadata.name.unwrap_or_default();
    writeln!(out, "{}", create::created_line(kind, &name))?;
    Ok((kind, name, ns))
}

/// `lint -f FILE`: serin's lint of the file, each error as `field: message`, failing with the first.
fn lint(file: PathBuf, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    use crate::api::lint::{Input, LintOptions, Severity, lint_paths};
    // Strict, as upstream decodes: an unknown field fails the lint.
    let options = LintOptions { strict: true, conditions: Some(super::lint::condition_check()?) };
    let report = lint_paths(&[Input::Path(file)], options, &mut std::io::empty());
    let errors: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| match &f.path {
            Some(path) => format!("{path}: {}", f.message),
            None => f.message.clone(),
        })
        .collect();
    for e in &errors {
        writeln!(out, "{e}")?;
    }
    match errors.first() {
        Some(first) => bail!("{first}"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The Rollout's (or, with `workloadRef`, its Deployment's) template, edited by `edit`, written back with an
/// update guarded by the resourceVersion read; retried on a conflict as upstream does. Returns the kind and
/// name of the object edited.
async fn edit_template(
    client: &kube::Client,
    ns: &str,
    name: &str,
    edit: impl Fn(&mut Value) -> anyhow::Result<()>,
) -> anyhow::Result<(&'static str, String)> {
    const ATTEMPTS: usize = 5;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), ns);
    for attempt in 0..ATTEMPTS {
        let ro = rollouts.get(name).await.map_err(api_error(ns))?;
        let result = match ro.spec.workload_ref.as_ref() {
            Some(r) => {
                let deploy = r.name.clone().unwrap_or_default();
                let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
                let d = api.get(&deploy).await.map_err(api_error(ns))?;
                let mut value = serde_json::to_value(&d)?;
                edit(&mut value)?;
                let d = serde_json::from_value(value)?;
                api.replace(&deploy, &PostParams::default(), &d).await.map(|_| ("deployment", deploy.clone()))
            }
            None => {
                let mut value = serde_json::to_value(&ro)?;
                edit(&mut value)?;
                let ro: Rollout = serde_json::from_value(value)?;
                rollouts
                    .replace(name, &PostParams::default(), &ro)
                    .await
                    .map(|_| ("rollout", name.to_string()))
            }
        };
        match result {
            Ok(edited) => return Ok(edited),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt + 1 < ATTEMPTS => continue,
            Err(e) => return Err(api_error(ns)(e)),
        }
    }
    unreachable!("the last attempt returns")
}

async fn set_image(
    client: &kube::Client,
    ns: &str,
    name: &str,
    container: &str,
    image: &str,
) -> anyhow::Result<(&'static str, String)> {
    edit_template(client, ns, name, |v| actions::set_image(v, container, image).map_err(|e| anyhow!(e))).await
}

async fn undo(client: &kube::Client, ns: &str, name: &str, to: i64) -> anyhow::Result<String> {
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let ro = rollouts.get(name).await.map_err(api_error(ns))?;
    let uid = ro.metadata.uid.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let selector = crate::strategy::replicaset::format_label_selector(ro.spec.selector.as_ref());
    let lp = if ro.spec.selector.is_some() {
        ListParams::default().labels(&selector)
    } else {
        ListParams::default()
    };
    let rss: Vec<ReplicaSet> = api
        .list(&lp)
        .await
        .map_err(|e| anyhow!("failed to retrieve replica sets from rollout {name}: {e}"))?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect();
    let target = actions::undo_target(name, &rss, to).map_err(|e| anyhow!(e))?;
    let current = match ro.spec.workload_ref.as_ref() {
        Some(_) => None,
        None => ro.spec.template.as_ref().map(serde_json::to_value).transpose()?,
    };
    let Some(template) = actions::undo_template(current.as_ref(), target).map_err(|e| anyhow!(e))? else {
        return Ok(format!("skipped rollback (current template already matches revision {to})"));
    };
    edit_template(client, ns, name, |v| {
        v["spec"]["template"] = template.clone();
        Ok(())
    })
    .await
    .map_err(|e| anyhow!("failed restoring revision {to}: {e:#}"))?;
    Ok(format!("rollout '{name}' undo\n"))
}

/// The Rollout and what it owns, for `get rollout`.
pub(crate) async fn read_view(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<tree::View> {
    let rollout = Api::<Rollout>::namespaced(client.clone(), ns).get(name).await.map_err(api_error(ns))?;
    let listed = Listed::read(client, ns, true).await?;
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    let (replica_sets, pods, runs) = listed.owned_by(&uid);
    let experiments = listed
        .experiments
        .iter()
        .filter(|e| Listed::owns(&uid, &e.metadata))
        .map(|e| listed.experiment_view(e.clone()))
        .collect();
    Ok(tree::View { rollout, replica_sets, pods, runs, experiments })
}

/// What `get experiment` draws.
async fn read_experiment_view(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> anyhow::Result<tree::ExperimentView> {
    let experiment =
        Api::<Experiment>::namespaced(client.clone(), ns).get(name).await.map_err(api_error(ns))?;
    Ok(Listed::read(client, ns, false).await?.experiment_view(experiment))
}

/// The objects of a namespace a tree is drawn from, listed once.
struct Listed {
    replica_sets: Vec<ReplicaSet>,
    pods: Vec<k8s_openapi::api::core::v1::Pod>,
    runs: Vec<AnalysisRun>,
    experiments: Vec<Experiment>,
}

impl Listed {
    async fn read(client: &kube::Client, ns: &str, experiments: bool) -> anyhow::Result<Listed> {
        async fn list<K>(client: &kube::Client, ns: &str) -> anyhow::Result<Vec<K>>
        where
            K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
                + Clone
                + serde::de::DeserializeOwned
                + std::fmt::Debug,
        {
            let api: Api<K> = Api::namespaced(client.clone(), ns);
            Ok(api.list(&ListParams::default()).await.map_err(api_error(ns))?.items)
        }
        Ok(Listed {
            replica_sets: list(client, ns).await?,
            pods: list(client, ns).await?,
            runs: list(client, ns).await?,
            experiments: if experiments { list(client, ns).await? } else { Vec::new() },
        })
    }

    fn owns(uid: &str, meta: &kube::api::ObjectMeta) -> bool {
        meta.owner_references.iter().flatten().any(|o| o.uid == uid)
    }

    /// The ReplicaSets and AnalysisRuns the object with `uid` owns, and the pods of those ReplicaSets.
    fn owned_by(
        &self,
        uid: &str,
    ) -> (Vec<ReplicaSet>, Vec<k8s_openapi::api::core::v1::Pod>, Vec<AnalysisRun>) {
        let rss: Vec<ReplicaSet> =
            self.replica_sets.iter().filter(|rs| Self::owns(uid, &rs.metadata)).cloned().collect();
        let rs_uids: Vec<&str> = rss.iter().filter_map(|rs| rs.metadata.uid.as_deref()).collect();
        let pods = self
            .pods
            .iter()
            .filter(|p| rs_uids.iter().any(|u| Self::owns(u, &p.metadata)))
            .cloned()
            .collect();
        let runs = self.runs.iter().filter(|r| Self::owns(uid, &r.metadata)).cloned().collect();
        (rss, pods, runs)
    }

    fn experiment_view(&self, experiment: Experiment) -> tree::ExperimentView {
        let (replica_sets, pods, runs) =
            self.owned_by(experiment.metadata.uid.as_deref().unwrap_or_default());
        tree::ExperimentView { experiment, replica_sets, pods, runs }
    }
}

/// `status`: the phase as `kubectl argo rollouts` computes it, once or until it is Healthy or Degraded.
async fn status(
    api: &Api<Rollout>,
    ns: &str,
    name: &str,
    watch: bool,
    timeout: Duration,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let line = |ro: &Rollout| {
        let (p, message) = phase::observed(ro);
        let text = if message.is_empty() || matches!(p, RolloutPhase::Healthy | RolloutPhase::Degraded) {
            p.to_string()
        } else {
            format!("{p} - {message}")
        };
        (p, message, text)
    };
    let ro = api.get(name).await.map_err(api_error(ns))?;
    if !watch {
        let (p, message, text) = line(&ro);
        writeln!(out, "{text}")?;
        if p == RolloutPhase::Degraded {
            bail!("The rollout is in a degraded state with message: {message}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let mut previous = String::new();
    let mut ro = ro;
    loop {
        let (p, message, _) = line(&ro);
        // While watching, upstream prints every phase with its message.
        let shown = if message.is_empty() { p.to_string() } else { format!("{p} - {message}") };
        if shown != previous {
            writeln!(out, "{shown}")?;
            out.flush()?;
            previous = shown;
        }
        match p {
            RolloutPhase::Healthy => return Ok(ExitCode::SUCCESS),
            RolloutPhase::Degraded => bail!("The rollout is in a degraded state with message: {message}"),
            _ => {}
        }
        if !timeout.is_zero() && started.elapsed() >= timeout {
            bail!("Rollout status watch exceeded timeout");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        ro = api.get(name).await.map_err(api_error(ns))?;
    }
}
