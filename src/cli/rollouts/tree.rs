//! `get rollout` and `get experiment`: upstream's summaries and trees (`pkg/kubectl-argo-rollouts/info` and
//! `cmd/get`): a Rollout's revisions newest first, each with its ReplicaSets (their pods) and AnalysisRuns; an
//! Experiment's ReplicaSets and AnalysisRuns; icons, statuses, ages and info tags; colour only when asked for.

use crate::api::analysis::AnalysisRun;
use crate::api::common::AnalysisPhase;
use crate::api::rollout::Rollout;
use crate::strategy::replicaset::{self as rsutil, REVISION_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION};
use crate::strategy::{canary, phase};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const ICON_ROLLOUT: &str = "⟳";
const ICON_REVISION: &str = "#";
const ICON_REPLICA_SET: &str = "⧉";
const ICON_POD: &str = "□";
const ICON_ANALYSIS: &str = "α";
const ICON_EXPERIMENT: &str = "Σ";
const ICON_WAITING: &str = "◷";
const ICON_PROGRESSING: &str = "◌";
const ICON_WARNING: &str = "⚠";
const ICON_UNKNOWN: &str = "?";
const ICON_OK: &str = "✔";
const ICON_BAD: &str = "✖";
const ICON_PAUSED: &str = "॥";
const ICON_NEUTRAL: &str = "•";

/// What the tree is drawn from: a Rollout and the objects it owns.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub runs: Vec<AnalysisRun>,
    /// The Rollout's Experiments, each with what it owns.
    pub experiments: Vec<ExperimentView>,
}

/// Go's `duration.HumanDuration`, as ages are shown.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(meta: &ObjectMeta, now: Timestamp) -> String {
    match &meta.creation_timestamp {
        Some(t) => human_duration(t.0.duration_until(now)),
        None => human_duration(SignedDuration::from_secs(now.as_second())),
    }
}

/// Colours as upstream's `colorMapping`.
struct Paint(bool);

impl Paint {
    fn code(s: &str) -> Option<u8> {
        Some(match s {
            ICON_WAITING | ICON_UNKNOWN | "canary" => 33,
            ICON_PROGRESSING | "preview" | "ping" | "pong" | "Pending" | "Running" => 94,
            ICON_WARNING | ICON_BAD => 31,
            ICON_OK | "stable" | "active" => 32,
            _ => return None,
        })
    }

    fn with(&self, s: &str, key: &str) -> String {
        match (self.0, Self::code(key)) {
            (true, Some(c)) => format!("\x1b[{c}m{s}\x1b[0m"),
            _ => s.to_string(),
        }
    }

    fn it(&self, s: &str) -> String {
        self.with(s, s)
    }
}

/// The width of a cell as a terminal shows it: escape sequences take none.
fn visible_width(s: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Go's `tabwriter` with padding 2: each cell but the last of a line padded to its column's widest.
fn tabwrite(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for line in lines {
        for (i, cell) in line.iter().enumerate().take(line.len().saturating_sub(1)) {
            widths[i] = widths[i].max(visible_width(cell));
        }
    }
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < line.len() {
                out.push_str(&" ".repeat(widths[i] - visible_width(cell) + 2));
            }
        }
        out.push('\n');
    }
    out
}

fn rollout_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => ICON_PROGRESSING,
        "Error" | "InvalidSpec" => ICON_WARNING,
        "Paused" => ICON_PAUSED,
        "Healthy" => ICON_OK,
        "Degraded" => ICON_BAD,
        "Unknown" => ICON_UNKNOWN,
        "ScaledDown" => ICON_NEUTRAL,
        _ => " ",
    }
}

/// `getReplicaSetHealth`.
fn replica_set_health(rs: &ReplicaSet) -> &'static str {
    let status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.replicas;
    if rs.metadata.generation.unwrap_or(0) <= status.observed_generation.unwrap_or(0) {
        let failed = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"));
        if failed {
            return "ReplicaFailure";
        }
        if spec.is_some_and(|s| status.available_replicas.unwrap_or(0) < s) {
            return "Progressing";
        }
    } else {
        return "Progressing";
    }
    if spec == Some(0) { "ScaledDown" } else { "Healthy" }
}

fn replica_set_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => ICON_PROGRESSING,
        "Healthy" => ICON_OK,
        "ReplicaFailure" => ICON_BAD,
        "ScaledDown" => ICON_NEUTRAL,
        _ => " ",
    }
}

/// `newPodInfo`'s status (kubectl's pod status column) and ready count.
fn pod_status(pod: &Pod) -> (String, String, i32) {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let mut reason =
        status.reason.clone().filter(|r| !r.is_empty()).or(status.phase.clone()).unwrap_or_default();
    let mut restarts = 0;
    let mut initializing = false;
    let init_count = spec.init_containers.as_ref().map_or(0, Vec::len);
    for (i, c) in status.init_container_statuses.iter().flatten().enumerate() {
        restarts += c.restart_count;
        let state = c.state.clone().unwrap_or_default();
        if let Some(t) = &state.terminated {
            if t.exit_code == 0 {
                continue;
            }
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => format!("Init:Signal:{}", t.signal.unwrap_or(0)),
                None => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(w) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{init_count}");
        }
        initializing = true;
        break;
    }
    let mut ready = 0;
    if !initializing {
        restarts = 0;
        let mut running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += c.restart_count;
            let state = c.state.clone().unwrap_or_default();
            if let Some(w) = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty()) {
                reason = w;
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if status.reason.as_deref() == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    (reason, format!("{ready}/{}", spec.containers.len()), restarts)
}

fn pod_icon(status: &str) -> &'static str {
    if status.starts_with("Init:") {
        return ICON_PROGRESSING;
    }
    if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
        return ICON_BAD;
    }
    if status.ends_with("Error") || status.starts_with("Err") {
        return ICON_WARNING;
    }
    match status {
        "Pending" | "Terminating" | "ContainerCreating" => ICON_PROGRESSING,
        "Running" | "Completed" => ICON_OK,
        "Failed" | "InvalidImageName" | "CrashLoopBackOff" => ICON_BAD,
        "ImagePullBackOff" | "RegistryUnavailable" => ICON_WARNING,
        "Unknown" => ICON_UNKNOWN,
        _ => " ",
    }
}

fn analysis_icon(phase: Option<&AnalysisPhase>) -> &'static str {
    match phase {
        Some(AnalysisPhase::Successful) => ICON_OK,
        Some(AnalysisPhase::Inconclusive) => ICON_UNKNOWN,
        Some(AnalysisPhase::Failed) => ICON_BAD,
        Some(AnalysisPhase::Error) => ICON_WARNING,
        Some(AnalysisPhase::Running) => ICON_PROGRESSING,
        Some(AnalysisPhase::Pending) => ICON_WAITING,
        _ => " ",
    }
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|o| o.uid == uid)
}

/// The roles upstream tags a ReplicaSet with.
#[derive(Default)]
struct Roles {
    stable: bool,
    canary: bool,
    active: bool,
    preview: bool,
}

fn roles(ro: &Rollout, rs: &ReplicaSet) -> Roles {
    let status = ro.status.clone().unwrap_or_default();
    let hash = rsutil::pod_hash(rs);
    let mut r = Roles::default();
    if ro.canary().is_some() {
        if status.stable_rs.as_deref() == Some(hash) {
            r.stable = true;
        } else if status.current_pod_hash.as_deref() == Some(hash) {
            r.canary = true;
        }
    }
    if ro.blue_green().is_some() {
        let bg = status.blue_green.clone().unwrap_or_default();
        r.stable = status.stable_rs.as_deref() == Some(hash);
        if bg.active_selector.as_deref() == Some(hash) {
            r.active = true;
        } else if bg.preview_selector.as_deref() == Some(hash) {
            r.preview = true;
        }
    }
    r
}

impl Roles {
    fn tags(&self) -> Vec<&'static str> {
        let mut tags = Vec::new();
        if self.stable {
            tags.push("stable");
        }
        if self.canary {
            tags.push("canary");
        } else if self.active {
            tags.push("active");
        } else if self.preview {
            tags.push("preview");
        }
        tags
    }
}

fn prefixes(last: bool, sub: &str) -> (String, String) {
    if last {
        (format!("{sub}└──"), format!("{sub}   "))
    } else {
        (format!("{sub}├──"), format!("{sub}│  "))
    }
}

fn images_of(rs: &ReplicaSet) -> Vec<String> {
    rs.spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default()
}

/// The summary and the tree `get rollout` prints.
pub fn render(view: &View, now: Timestamp, color: bool) -> String {
    let paint = Paint(color);
    let ro = &view.rollout;
    let status = ro.status.clone().unwrap_or_default();
    let uid = ro.metadata.uid.clone().unwrap_or_default();
    let (p, message) = phase::observed(ro);
    let p = p.to_string();
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| out.push_str(&format!("{label:<17}{value}\n"));
    field(&mut out, "Name:", ro.metadata.name.as_deref().unwrap_or(""));
    field(&mut out, "Namespace:", ro.metadata.namespace.as_deref().unwrap_or(""));
    field(&mut out, "Status:", &format!("{} {p}", paint.it(rollout_icon(&p))));
    if !message.is_empty() {
        field(&mut out, "Message:", &message);
    }
    // ReplicaSets newest revision first (then by name), as upstream sorts them.
    let mut rss: Vec<&ReplicaSet> =
        view.replica_sets.iter().filter(|rs| owned_by(&rs.metadata, &uid)).collect();
    rss.sort_by(|a, b| {
        revision_of(&b.metadata)
            .cmp(&revision_of(&a.metadata))
            .then_with(|| rsutil::name(a).cmp(rsutil::name(b)))
    });
    if ro.canary().is_some() {
        field(&mut out, "Strategy:", "Canary");
        let steps = ro.canary().map(|c| c.steps().len()).unwrap_or(0);
        let step = match status.current_step_index {
            Some(i) if steps > 0 => format!("{i}/{steps}"),
            _ => String::new(),
        };
        field(&mut out, "  Step:", &step);
        field(&mut out, "  SetWeight:", &canary::current_set_weight(ro).to_string());
        let max = crate::api::defaults::max_traffic_weight(ro);
        let available = status.available_replicas.unwrap_or(0);
        let actual = if canary::current_step(ro).0.is_none() {
            max
        } else if available > 0 {
            rss.iter()
                .filter(|rs| roles(ro, rs).canary)
                .map(|rs| rsutil::available(rs) * max / available)
                .next_back()
                .unwrap_or(0)
        } else {
            0
        };
        field(&mut out, "  ActualWeight:", &actual.to_string());
    } else if ro.blue_green().is_some() {
        field(&mut out, "Strategy:", "BlueGreen");
    }
    // Images of ReplicaSets with pods, with the roles of the ReplicaSets running them.
    let mut shown: Vec<(String, Vec<&'static str>)> = Vec::new();
    for rs in rss.iter().filter(|rs| rs.status.as_ref().map_or(0, |s| s.replicas) > 0) {
        for image in images_of(rs) {
            let tags = roles(ro, rs).tags();
            match shown.iter_mut().find(|(i, _)| *i == image) {
                Some((_, t)) => t.extend(tags.into_iter().filter(|x| !t.contains(x)).collect::<Vec<_>>()),
                None => shown.push((image, tags)),
            }
        }
    }
    for (i, (image, tags)) in shown.iter().enumerate() {
        let label = if i == 0 { "Images:" } else { "" };
        let value = if tags.is_empty() {
            image.clone()
        } else {
            format!("{image} ({})", tags.iter().map(|t| paint.it(t)).collect::<Vec<_>>().join(", "))
        };
        field(&mut out, label, &value);
    }
    out.push_str("Replicas:\n");
    let n = |v: Option<i32>| v.unwrap_or(0).to_string();
    field(&mut out, "  Desired:", &ro.spec.replicas.unwrap_or(1).to_string());
    field(&mut out, "  Current:", &n(status.replicas));
    field(&mut out, "  Updated:", &n(status.updated_replicas));
    field(&mut out, "  Ready:", &n(status.ready_replicas));
    field(&mut out, "  Available:", &n(status.available_replicas));
    out.push('\n');

    let mut lines: Vec<Vec<String>> =
        vec![["NAME", "KIND", "STATUS", "AGE", "INFO"].map(String::from).to_vec()];
    let name = ro.metadata.name.clone().unwrap_or_default();
    lines.push(vec![
        format!("{ICON_ROLLOUT} {name}"),
        "Rollout".into(),
        format!("{} {p}", paint.it(rollout_icon(&p))),
        age(&ro.metadata, now),
        String::new(),
    ]);
    let mut runs: Vec<&AnalysisRun> = view.runs.iter().filter(|r| owned_by(&r.metadata, &uid)).collect();
    runs.sort_by(|a, b| {
        revision_of(&b.metadata)
            .cmp(&revision_of(&a.metadata))
            .then_with(|| {
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            })
            .then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    let mut experiments: Vec<&ExperimentView> =
        view.experiments.iter().filter(|e| owned_by(&e.experiment.metadata, &uid)).collect();
    experiments.sort_by(|a, b| {
        let created = |e: &ExperimentView| e.experiment.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a).cmp(&created(b)).then_with(|| a.experiment.metadata.name.cmp(&b.experiment.metadata.name))
    });
    let mut revisions: Vec<i64> = rss
        .iter()
        .map(|rs| revision_of(&rs.metadata))
        .chain(runs.iter().map(|r| revision_of(&r.metadata)))
        .chain(experiments.iter().map(|e| revision_of(&e.experiment.metadata)))
        .collect();
    revisions.sort_by(|a, b| b.cmp(a));
    revisions.dedup();
    for (ri, revision) in revisions.iter().enumerate() {
        let (prefix, sub) = prefixes(ri + 1 == revisions.len(), "");
        lines.push(vec![
            format!("{prefix}{ICON_REVISION} revision:{revision}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        let sets: Vec<&&ReplicaSet> =
            rss.iter().filter(|rs| revision_of(&rs.metadata) == *revision).collect();
        let its_runs: Vec<&&AnalysisRun> =
            runs.iter().filter(|r| revision_of(&r.metadata) == *revision).collect();
        let its_experiments: Vec<&&ExperimentView> =
            experiments.iter().filter(|e| revision_of(&e.experiment.metadata) == *revision).collect();
        let total = sets.len() + its_experiments.len() + its_runs.len();
        let mut current = 0;
        for rs in sets {
            let (prefix, child) = prefixes(current + 1 == total, &sub);
            current += 1;
            let health = replica_set_health(rs);
            let r = roles(ro, rs);
            let tags = r.tags();
            let mut info: Vec<String> = tags.iter().map(|t| paint.it(t)).collect();
            info.extend(delay_info(rs, now));
            let rs_name = rsutil::name(rs);
            let rs_name = match tags.last() {
                Some(t) => paint.with(rs_name, t),
                None => rs_name.to_string(),
            };
            lines.push(vec![
                format!("{prefix}{ICON_REPLICA_SET} {rs_name}"),
                "ReplicaSet".into(),
                format!("{} {health}", paint.it(replica_set_icon(health))),
                age(&rs.metadata, now),
                info.join(","),
            ]);
            lines.extend(pod_lines(&view.pods, rs, &child, now, &paint));
        }
        for ex in its_experiments {
            let (prefix, child) = prefixes(current + 1 == total, &sub);
            current += 1;
            lines.extend(experiment_lines(ex, &prefix, &child, now, &paint));
        }
        for run in its_runs {
            let (prefix, _) = prefixes(current + 1 == total, &sub);
            current += 1;
            lines.push(run_line(run, &prefix, now, &paint));
        }
    }
    out.push_str(&tabwrite(&lines));
    out
}

/// `delay:<left>` (or `delay:passed`) for a ReplicaSet waiting for its scale-down deadline.
fn delay_info(rs: &ReplicaSet, now: Timestamp) -> Option<String> {
    let at =
        rsutil::annotation(rs, SCALE_DOWN_DEADLINE_ANNOTATION).and_then(|d| d.parse::<Timestamp>().ok())?;
    let shown = if at < now { "passed".to_string() } else { human_duration(now.duration_until(at)) };
    Some(format!("delay:{shown}"))
}

/// The lines of the pods `rs` owns, oldest first, under the prefix `child`.
fn pod_lines(pods: &[Pod], rs: &ReplicaSet, child: &str, now: Timestamp, paint: &Paint) -> Vec<Vec<String>> {
    let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
    let mut pods: Vec<&Pod> = pods.iter().filter(|p| owned_by(&p.metadata, &rs_uid)).collect();
    pods.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let mut lines = Vec::new();
    for (pi, pod) in pods.iter().enumerate() {
        let (pod_prefix, _) = prefixes(pi + 1 == pods.len(), child);
        let (status, ready, restarts) = pod_status(pod);
        let mut info = vec![format!("ready:{ready}")];
        if restarts > 0 {
            info.push(format!("restarts:{restarts}"));
        }
        lines.push(vec![
            format!("{pod_prefix}{ICON_POD} {}", pod.metadata.name.as_deref().unwrap_or("")),
            "Pod".into(),
            format!("{} {status}", paint.it(pod_icon(&status))),
            age(&pod.metadata, now),
            info.join(","),
        ]);
    }
    lines
}

/// An AnalysisRun's line: its phase and the counts of its measurements by outcome.
fn run_line(run: &AnalysisRun, prefix: &str, now: Timestamp, paint: &Paint) -> Vec<String> {
    let s = run.status.clone().unwrap_or_default();
    let phase = s.phase.clone();
    let phase_text = phase.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let mut counts = [0i32; 4];
    for m in s.metric_results.iter().flatten() {
        counts[0] += m.successful.unwrap_or(0);
        counts[1] += m.failed.unwrap_or(0);
        counts[2] += m.inconclusive.unwrap_or(0);
        counts[3] += m.error.unwrap_or(0);
    }
    let info: Vec<String> = [ICON_OK, ICON_BAD, ICON_UNKNOWN, ICON_WARNING]
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c > 0)
        .map(|(icon, c)| format!("{} {c}", paint.it(icon)))
        .collect();
    let run_name = paint.with(run.metadata.name.as_deref().unwrap_or(""), &phase_text);
    vec![
        format!("{prefix}{ICON_ANALYSIS} {run_name}"),
        "AnalysisRun".into(),
        format!("{} {phase_text}", paint.it(analysis_icon(phase.as_ref()))),
        age(&run.metadata, now),
        info.join(","),
    ]
}

/// What `get experiment` draws: an Experiment and the objects it owns.
#[derive(Debug, Clone, Default)]
pub struct ExperimentView {
    pub experiment: crate::api::experiment::Experiment,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub runs: Vec<AnalysisRun>,
}

/// The summary and the tree `get experiment` prints (upstream's `PrintExperiment`): the phase, its message,
/// the templates' images, then the Experiment with its ReplicaSets (and their pods) and AnalysisRuns.
pub fn render_experiment(view: &ExperimentView, now: Timestamp, color: bool) -> String {
    let paint = Paint(color);
    let ex = &view.experiment;
    let status = ex.status.clone().unwrap_or_default();
    let uid = ex.metadata.uid.clone().unwrap_or_default();
    let phase = status.phase.clone();
    let phase_text = phase.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| out.push_str(&format!("{label:<17}{value}\n"));
    field(&mut out, "Name:", ex.metadata.name.as_deref().unwrap_or(""));
    field(&mut out, "Namespace:", ex.metadata.namespace.as_deref().unwrap_or(""));
    field(&mut out, "Status:", &format!("{} {phase_text}", paint.it(analysis_icon(phase.as_ref()))));
    if let Some(m) = status.message.as_deref().filter(|m| !m.is_empty()) {
        field(&mut out, "Message:", m);
    }
    let mut rss: Vec<&ReplicaSet> =
        view.replica_sets.iter().filter(|rs| owned_by(&rs.metadata, &uid)).collect();
    rss.sort_by(|a, b| rsutil::name(a).cmp(rsutil::name(b)));
    let mut images: Vec<String> = Vec::new();
    for image in
        rss.iter().filter(|rs| rs.status.as_ref().map_or(0, |s| s.replicas) > 0).flat_map(|rs| images_of(rs))
    {
        if !images.contains(&image) {
            images.push(image);
        }
    }
    for (i, image) in images.iter().enumerate() {
        field(&mut out, if i == 0 { "Images:" } else { "" }, image);
    }
    out.push('\n');
    let mut lines: Vec<Vec<String>> =
        vec![["NAME", "KIND", "STATUS", "AGE", "INFO"].map(String::from).to_vec()];
    lines.extend(experiment_lines(view, "", "", now, &paint));
    out.push_str(&tabwrite(&lines));
    out
}

/// An Experiment's line, then its ReplicaSets (with their pods) and AnalysisRuns under the prefix `sub`.
fn experiment_lines(
    view: &ExperimentView,
    prefix: &str,
    sub: &str,
    now: Timestamp,
    paint: &Paint,
) -> Vec<Vec<String>> {
    let ex = &view.experiment;
    let uid = ex.metadata.uid.clone().unwrap_or_default();
    let phase = ex.status.as_ref().and_then(|s| s.phase.clone());
    let phase_text = phase.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let name = ex.metadata.name.as_deref().unwrap_or("");
    let mut lines = vec![vec![
        format!("{prefix}{ICON_EXPERIMENT} {}", paint.with(name, &phase_text)),
        "Experiment".into(),
        format!("{} {phase_text}", paint.it(analysis_icon(phase.as_ref()))),
        age(&ex.metadata, now),
        String::new(),
    ]];
    let mut rss: Vec<&ReplicaSet> =
        view.replica_sets.iter().filter(|rs| owned_by(&rs.metadata, &uid)).collect();
    rss.sort_by(|a, b| rsutil::name(a).cmp(rsutil::name(b)));
    let mut runs: Vec<&AnalysisRun> = view.runs.iter().filter(|r| owned_by(&r.metadata, &uid)).collect();
    runs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let total = rss.len() + runs.len();
    for (i, rs) in rss.iter().enumerate() {
        let (prefix, child) = prefixes(i + 1 == total, sub);
        let health = replica_set_health(rs);
        let info: Vec<String> = delay_info(rs, now).into_iter().collect();
        lines.push(vec![
            format!("{prefix}{ICON_REPLICA_SET} {}", rsutil::name(rs)),
            "ReplicaSet".into(),
            format!("{} {health}", paint.it(replica_set_icon(health))),
            age(&rs.metadata, now),
            info.join(","),
        ]);
        lines.extend(pod_lines(&view.pods, rs, &child, now, paint));
    }
    for (i, run) in runs.iter().enumerate() {
        let (prefix, _) = prefixes(rss.len() + i + 1 == total, sub);
        lines.push(run_line(run, &prefix, now, paint));
    }
    lines
}

#[cfg(test)]
mod tests;
