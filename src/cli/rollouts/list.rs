//! `list rollouts` and `list experiments`: upstream's tables (`rolloutInfo`, `PrintExperimentTable`), laid out
//! as Go's `tabwriter` lays them out (cells padded to the widest in their column plus two spaces; the last
//! column as it is).

use crate::api::experiment::Experiment;
use crate::api::rollout::Rollout;
use crate::strategy::{canary, phase};

/// One row's cells, formatted as upstream's `columnFmtString` pads them, after the timestamp of a watched update.
fn row(ro: &Rollout, namespace: bool, timestamp: Option<&str>) -> Vec<String> {
    let status = ro.status.clone().unwrap_or_default();
    let (strategy, step, weight) = match (ro.canary(), ro.blue_green()) {
        (Some(c), _) => {
            let steps = c.steps().len();
            let step = match status.current_step_index {
                Some(i) if steps > 0 => format!("{i}/{steps}"),
                _ => "-".into(),
            };
            ("Canary", step, canary::current_set_weight(ro).to_string())
        }
        (None, Some(_)) => ("BlueGreen", "-".into(), "-".into()),
        _ => ("unknown", "-".into(), "-".into()),
    };
    let (p, _) = phase::observed(ro);
    let n = |v: Option<i32>| v.unwrap_or(0);
    let mut cells = vec![
        format!("{:<10}", ro.metadata.name.clone().unwrap_or_default()),
        format!("{strategy:<9}"),
        format!("{:<12}", p.to_string()),
        format!("{step:<4}"),
        format!("{weight:<10}"),
        format!("{:<5}", format!("{}/{}", n(status.ready_replicas), n(status.replicas))),
        format!("{:<7}", ro.spec.replicas.unwrap_or(1)),
        format!("{:<10}", n(status.updated_replicas)),
        format!("{:<9}", n(status.available_replicas)),
    ];
    if namespace {
        cells.insert(0, format!("{:<9}", ro.metadata.namespace.clone().unwrap_or_default()));
    }
    if let Some(t) = timestamp {
        cells.insert(0, format!("{t:<20}"));
    }
    cells
}

/// A watched Rollout's row (printed again only when it changes), aligned as a tabwriter flush of that one line.
pub fn rollout_line(ro: &Rollout, namespace: bool, timestamp: Option<&str>) -> String {
    tabwrite(&[row(ro, namespace, timestamp)])
}

/// Lines of tab-separated cells aligned as `tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)` aligns them.
fn tabwrite(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for line in lines {
        // The text after a line's last tab is not a cell and does not widen its column.
        for (i, cell) in line.iter().enumerate().take(line.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < line.len() {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    out
}

/// The table `list rollouts` prints; with `--timestamps`, each row starts with the time it was printed.
pub fn rollout_table(rollouts: &[Rollout], namespace: bool, timestamp: Option<&str>) -> String {
    let mut header: Vec<String> =
        ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED", "UP-TO-DATE", "AVAILABLE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    if namespace {
        header.insert(0, "NAMESPACE".into());
    }
    if timestamp.is_some() {
        header.insert(0, "TIMESTAMP".into());
    }
    let mut lines = vec![header];
    lines.extend(rollouts.iter().map(|r| row(r, namespace, timestamp)));
    tabwrite(&lines)
}

/// The table `list experiments` prints: name, phase, duration, time left (while it runs), age.
pub fn experiment_table(experiments: &[Experiment], namespace: bool, now: jiff::Timestamp) -> String {
    let mut header: Vec<String> =
        ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"].iter().map(|s| s.to_string()).collect();
    if namespace {
        header.insert(0, "NAMESPACE".into());
    }
    let mut lines = vec![header];
    for ex in experiments {
        let status = ex.status.clone().unwrap_or_default();
        let human = super::tree::human_duration;
        let (mut duration, mut remaining) = ("-".to_string(), "-".to_string());
        if let Some(d) = crate::strategy::experiment::duration(ex) {
            duration = human(d);
            let done = status.phase.as_ref().is_some_and(|p| p.completed());
            if let (false, Some(at)) = (done, status.available_at.as_ref())
                && let Ok(end) = at.0.checked_add(d)
                && end > now
            {
                remaining = human(now.duration_until(end));
            }
        }
        let age = ex.metadata.creation_timestamp.as_ref().map(|t| human(now.duration_until(t.0).abs()));
        let mut cells = vec![
            format!("{:<10}", ex.metadata.name.clone().unwrap_or_default()),
            format!("{:<6}", status.phase.map(|p| p.to_string()).unwrap_or_default()),
            format!("{duration:<8}"),
            format!("{remaining:<9}"),
            format!("{:<3}", age.unwrap_or_default()),
        ];
        if namespace {
            cells.insert(0, format!("{:<9}", ex.metadata.namespace.clone().unwrap_or_default()));
        }
        lines.push(cells);
    }
    tabwrite(&lines)
}

/// Upstream's timestamp: now, in UTC, to the second.
pub fn timestamp_now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{RolloutPhase, RolloutStatus};

    #[test]
    fn the_table_is_laid_out_as_upstreams() {
        let mut canary = Rollout::canary_fixture("guestbook");
        canary.metadata.namespace = Some("default".into());
        canary.spec.replicas = Some(5);
        canary.status = Some(RolloutStatus {
            current_step_index: Some(1),
            phase: Some(RolloutPhase::Paused),
            message: Some("CanaryPauseStep".into()),
            ready_replicas: Some(5),
            replicas: Some(6),
            updated_replicas: Some(1),
            available_replicas: Some(5),
            ..Default::default()
        });
        let mut bg = Rollout::blue_green_fixture("bluegreen-demo");
        bg.metadata.namespace = Some("default".into());
        bg.status = Some(RolloutStatus { phase: Some(RolloutPhase::Healthy), ..Default::default() });
        let table = rollout_table(&[canary.clone(), bg], false, None);
        // The last column keeps the padding of its format (`%-9d`), as Go's tabwriter passes it through.
        let want = format!(
            "{}\n{}{:<9}\n{}{:<9}\n",
            "NAME            STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE",
            "guestbook       Canary     Paused        1/2   20          5/6    5        1           ",
            5,
            "bluegreen-demo  BlueGreen  Healthy       -     -           0/0    1        0           ",
            0
        );
        assert_eq!(table, want, "\n{table}");

        // With --timestamps (and a watched update: the row alone, aligned by itself).
        let at = "2026-12-01T10:00:00Z";
        let table = rollout_table(&[canary.clone()], true, Some(at));
        assert!(table.starts_with("TIMESTAMP             NAMESPACE  NAME        STRATEGY"), "\n{table}");
        assert!(
            table
                .lines()
                .nth(1)
                .expect("row")
                .starts_with("2026-12-01T10:00:00Z  default    guestbook   Canary "),
            "\n{table}"
        );
        let line = rollout_line(&canary, false, None);
        assert_eq!(
            line,
            format!(
                "{}{:<9}\n",
                "guestbook   Canary     Paused        1/2   20          5/6    5        1           ", 5
            )
        );
        assert_eq!(timestamp_now().len(), at.len());
    }

    #[test]
    fn the_experiment_table_shows_the_time_left_while_one_runs() {
        use crate::api::common::AnalysisPhase;
        use crate::api::experiment::ExperimentStatus;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let ago = |s: i64| Time(jiff::Timestamp::from_second(1_800_000_000 - s).unwrap());
        let mut running = Experiment::fixture("canary-vs-baseline");
        running.metadata.creation_timestamp = Some(ago(90));
        running.spec.duration = Some("5m".into());
        running.status = Some(ExperimentStatus {
            phase: Some(AnalysisPhase::Running),
            available_at: Some(ago(60)),
            ..Default::default()
        });
        let mut done = running.clone();
        done.metadata.name = Some("old".into());
        done.status.as_mut().unwrap().phase = Some(AnalysisPhase::Successful);
        let mut open = running.clone();
        open.metadata.name = Some("open-ended".into());
        open.spec.duration = None;
        let table = experiment_table(&[running, done, open], false, now);
        let want = [
            "NAME                STATUS      DURATION  REMAINING  AGE",
            "canary-vs-baseline  Running     5m        4m         90s",
            "old                 Successful  5m        -          90s",
            "open-ended          Running     -         -          90s",
        ];
        assert_eq!(table.lines().collect::<Vec<_>>(), want, "\n{table}");
    }
}
