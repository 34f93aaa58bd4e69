//! The operator CLI through the real binary, on both substrates: every verb's message, exit code and effect on the
//! Rollout, as `kubectl argo rollouts` prints and does them; and the binary as a kubectl plugin, through the real
//! kubectl's plugin mechanism, under upstream's name and its own.

use super::fixture::{Env, canary_rollout, services, status_of};
use serin::api::rollout::{PauseReason, Rollout, RolloutPhase};

/// `serin rollouts ARGS` against the substrate: (exit code, stdout, stderr).
async fn serin(env: &Env<'_>, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_serin"))
        .arg("rollouts")
        .arg("--kubeconfig")
        .arg(env.s.kubeconfig())
        .args(["-n", &env.s.namespace])
        .args(args)
        .output()
        .await
        .expect("run serin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a verb that must succeed and returns what it printed.
async fn ok(env: &Env<'_>, args: &[&str]) -> String {
    let (code, out, err) = serin(env, args).await;
    assert_eq!(code, 0, "serin rollouts {}: {out}{err}", args.join(" "));
    out
}

fn paused_at(ro: &Rollout, index: i32) -> bool {
    let s = status_of(ro);
    s.current_step_index == Some(index)
        && s.pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
}

fn image(ro: &Rollout) -> String {
    ro.spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

on_both_substrates! {
    async fn every_verb_does_what_upstreams_does(s: &Substrate) {
        let env = Env::start(s).await;
        env.apply(&format!("{}---\n{}", services("cli"), canary_rollout("cli", 2, "app:v1", "steps:\n- setWeight: 50\n- pause: {}"))).await;
        env.wait_healthy("cli").await;
        assert_eq!(ok(&env, &["status", "cli"]).await, "Healthy\n");

        assert_eq!(ok(&env, &["set", "image", "cli", "app=app:v2"]).await, "rollout \"cli\" image updated\n");
        env.wait("cli", "paused at step 1", |ro, _| paused_at(ro, 1)).await;
        assert_eq!(ok(&env, &["status", "cli", "--watch=false"]).await, "Paused - CanaryPauseStep\n");
        // Watching a paused rollout ends at the timeout, with upstream's error.
        let (code, out, err) = serin(&env, &["status", "cli", "--timeout", "1s"]).await;
        assert_eq!((code, out.as_str(), err.as_str()), (1, "Paused - CanaryPauseStep\n", "Error: Rollout status watch exceeded timeout\n"));
        let table = ok(&env, &["list", "rollouts"]).await;
        let row = table.lines().find(|l| l.starts_with("cli ")).unwrap_or_else(|| panic!("{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        // Two pods at 50%: one canary, one stable.
        assert_eq!(cells, ["cli", "Canary", "Paused", "1/2", "50", "2/2", "2", "1", "2"], "{table}");
        assert!(table.starts_with("NAME        STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE\n"), "{table}");

        // The tree: the summary, both revisions with their ReplicaSets and pods, the roles; no colour in a pipe.
        let tree = ok(&env, &["get", "rollout", "cli"]).await;
        for line in ["Name:            cli\n", "Status:          ॥ Paused\n", "Message:         CanaryPauseStep\n", "  Step:          1/2\n", "  SetWeight:     50\n", "  ActualWeight:  50\n", "Images:          app:v2 (canary)\n", "                 app:v1 (stable)\n"] {
            assert!(tree.contains(line), "{line:?} missing from:\n{tree}");
        }
        let rows: Vec<&str> = tree.lines().skip_while(|l| !l.starts_with("NAME ")).collect();
        assert!(rows[1].starts_with("⟳ cli ") && rows[1].contains("Rollout") && rows[1].contains("॥ Paused"), "{tree}");
        assert!(rows[2].starts_with("├──# revision:2"), "{tree}");
        assert!(rows[3].starts_with("│  └──⧉ cli-") && rows[3].contains("✔ Healthy") && rows[3].trim_end().ends_with("canary"), "{tree}");
        assert!(rows[4].starts_with("│     └──□ cli-") && rows[4].contains("✔ Running") && rows[4].trim_end().ends_with("ready:1/1"), "{tree}");
        assert!(rows[5].starts_with("└──# revision:1"), "{tree}");
        assert!(rows[6].trim_end().ends_with("stable"), "{tree}");
        assert!(!tree.contains('\x1b'), "colour in a pipe: {tree:?}");

        assert_eq!(ok(&env, &["promote", "cli"]).await, "rollout 'cli' promoted\n");
        env.wait_healthy("cli").await;

        // An update aborted: Degraded, which `status` reports with exit code 1; retried, then fully promoted.
        ok(&env, &["set", "image", "cli", "app=app:v3"]).await;
        env.wait("cli", "paused at step 1", |ro, _| paused_at(ro, 1)).await;
        assert_eq!(ok(&env, &["abort", "cli"]).await, "rollout 'cli' aborted\n");
        env.wait_phase("cli", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 3").await;
        let (code, out, err) = serin(&env, &["status", "cli", "--watch=false"]).await;
        assert_eq!((code, out.as_str()), (1, "Degraded\n"));
        assert_eq!(err, "Error: The rollout is in a degraded state with message: RolloutAborted: Rollout aborted update to revision 3\n");
        assert_eq!(ok(&env, &["retry", "rollout", "cli"]).await, "rollout 'cli' retried\n");
        env.wait("cli", "paused at step 1 again", |ro, _| paused_at(ro, 1)).await;
        assert_eq!(ok(&env, &["promote", "cli", "--full"]).await, "rollout 'cli' fully promoted\n");
        let (ro, _) = env.wait_healthy("cli").await;
        assert_eq!(image(&ro), "app:v3");

        // Undo: the template of the revision before, which starts an update like any other.
        assert_eq!(ok(&env, &["undo", "cli"]).await, "rollout 'cli' undo\n");
        assert_eq!(image(&env.rollout("cli").await), "app:v2");
        env.wait("cli", "the undo's update at its pause", |ro, _| paused_at(ro, 1)).await;
        let (code, _, err) = serin(&env, &["undo", "cli", "--to-revision", "99"]).await;
        assert_eq!((code, err.as_str()), (1, "Error: unable to find specified revision 99 in history\n"));

        // Pause and restart edit the spec.
        assert_eq!(ok(&env, &["pause", "cli"]).await, "rollout 'cli' paused\n");
        assert_eq!(env.rollout("cli").await.spec.paused, Some(true));
        assert_eq!(ok(&env, &["promote", "cli"]).await, "rollout 'cli' promoted\n");
        let ro = env.rollout("cli").await;
        assert_ne!(ro.spec.paused, Some(true), "promote unpauses");
        assert_eq!(ok(&env, &["restart", "cli", "--in", "1h"]).await, "rollout 'cli' restarts in 1h\n");
        let at = env.rollout("cli").await.spec.restart_at.expect("restartAt").0;
        assert!(at > jiff::Timestamp::now(), "{at}");
        // Now instead: every pod restarted, then Healthy with the restart recorded.
        assert_eq!(ok(&env, &["restart", "cli"]).await, "rollout 'cli' restarts in 0s\n");
        let (ro, _) = env.wait_healthy("cli").await;
        assert_eq!(status_of(&ro).restarted_at, ro.spec.restart_at);

        // Errors name the object and the namespace.
        let (code, _, err) = serin(&env, &["promote", "nope"]).await;
        assert_eq!(code, 1);
        assert_eq!(err, format!("Error: rollouts.argoproj.io \"nope\" not found in namespace {:?}\n", env.s.namespace));
        let (code, _, err) = serin(&env, &["set", "image", "cli", "nope=x:1"]).await;
        assert_eq!((code, err.as_str()), (1, "Error: unable to find container named \"nope\"\n"));
        // A usage error is serin's 64 here (1 as a kubectl plugin, as upstream: see the plugin test).
        let (code, _, err) = serin(&env, &["promote"]).await;
        assert_eq!(code, 64, "a missing argument is a usage error: {err}");
        let (code, _, err) = serin(&env, &["dashboard"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("not part of serin yet"), "{err}");
        assert!(ok(&env, &["version"]).await.starts_with("serin rollouts: serin v"));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn terminate_analysisrun_asks_the_run_to_stop(s: &Substrate) {
        let env = Env::start(s).await;
        let run = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: long}
spec:
  metrics:
  - name: m
    interval: 1s
    count: 1000
    provider:
      web: {url: "http://127.0.0.1:1/"}
"#;
        env.apply(run).await;
        assert_eq!(ok(&env, &["terminate", "analysisrun", "long"]).await, "analysisRun 'long' terminated\n");
        let api: kube::Api<serin::api::analysis::AnalysisRun> = env.s.api();
        assert_eq!(api.get("long").await.expect("run").spec.terminate, Some(true));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn create_makes_objects_from_files_and_runs_from_templates(s: &Substrate) {
        let env = Env::start(s).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.display().to_string()
        };
        let template = write("template.yaml", r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: pass
  labels: {team: a}
spec:
  args:
  - name: foo
  - name: bar
    value: b
  metrics:
  - name: m
    interval: 1h
    count: 1
    provider:
      web: {url: "http://127.0.0.1:1/"}
"#);
        let rollout = write("rollout.yaml", &canary_rollout("made", 1, "app:v1", "steps:\n- setWeight: 50"));
        env.apply(&services("made")).await;
        assert_eq!(ok(&env, &["create", "-f", &template]).await, "analysistemplate.argoproj.io/pass created\n");
        assert_eq!(ok(&env, &["create", "-f", &rollout]).await, "rollout.argoproj.io/made created\n");
        env.wait_healthy("made").await;

        // From the template in the cluster: named by flag, arguments merged, the instance id labelled.
        let out = ok(&env, &["create", "analysisrun", "--from", "pass", "-a", "foo=1", "--name", "run-1", "--instance-id", "blue"]).await;
        assert_eq!(out, "analysisrun.argoproj.io/run-1 created\n");
        let runs: kube::Api<serin::api::analysis::AnalysisRun> = env.s.api();
        let run = runs.get("run-1").await.expect("run");
        let args: Vec<(String, Option<String>)> = run.spec.args.iter().flatten().map(|a| (a.name.clone(), a.value.clone())).collect();
        assert_eq!(args, [("foo".to_string(), Some("1".to_string())), ("bar".to_string(), Some("b".to_string()))]);
        assert_eq!(run.metadata.labels.expect("labels").get("argo-rollouts.argoproj.io/controller-instance-id").map(String::as_str), Some("blue"));
        assert_ne!(run.metadata.uid, None);
        // From the file, named after the template.
        let out = ok(&env, &["create", "ar", "--from-file", &template, "-a", "foo=2"]).await;
        let name = out.strip_prefix("analysisrun.argoproj.io/").and_then(|r| r.strip_suffix(" created\n")).unwrap_or_else(|| panic!("{out}"));
        assert!(name.starts_with("pass-") && name.len() > "pass-".len(), "{out}");
        assert_eq!(runs.get(name).await.expect("run").metadata.labels.expect("labels").get("team").map(String::as_str), Some("a"));

        // Upstream's errors.
        let unknown = write("unknown.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: m\n    intervall: 5m\n    provider: {web: {url: 'http://x'}}\n");
        let configmap = write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
        for (args, want) in [
            (vec!["create", "analysisrun"], "Error: one of --from or --from-file must be specified\n".to_string()),
            (vec!["create", "analysisrun", "--from", "pass", "--from-file", &template], "Error: one of --from or --from-file must be specified\n".to_string()),
            (vec!["create", "analysisrun", "--from", "pass"], "Error: args.foo was not resolved\n".to_string()),
            (vec!["create", "analysisrun", "--from", "pass", "-a", "bad-syntax"], "Error: arguments must be in the form NAME=VALUE\n".to_string()),
            (vec!["create", "analysisrun", "--from", "nope"], format!("Error: analysistemplates.argoproj.io \"nope\" not found in namespace {:?}\n", env.s.namespace)),
            (vec!["create", "-f", &template], "Error: analysistemplates.argoproj.io \"pass\" already exists\n".to_string()),
            (vec!["create", "-f", &unknown], "Error: error unmarshaling JSON: while decoding JSON: json: unknown field \"intervall\" (at spec.metrics[0].intervall)\n".to_string()),
            (vec!["create", "-f", &configmap], "Error: creates of /ConfigMap unsupported\n".to_string()),
            (vec!["create", "-f", &template, "-f", &rollout, "-w"], "Error: Cannot watch multiple resources\n".to_string()),
        ] {
            let (code, _, err) = serin(&env, &args).await;
            assert_eq!((code, err.as_str()), (1, want.as_str()), "{args:?}");
        }

        // list rollouts --watch: the table, then a row again whenever it changes.
        let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(["rollouts", "--kubeconfig"])
            .arg(env.s.kubeconfig())
            .args(["-n", &env.s.namespace, "list", "rollouts", "--watch", "--name", "made"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run serin");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(watcher.stdout.take().expect("stdout")));
        let mut next = async || {
            tokio::time::timeout(std::time::Duration::from_secs(120), lines.next_line()).await.expect("a line in time").expect("read").expect("a line")
        };
        assert!(next().await.starts_with("NAME "));
        let first = next().await;
        assert!(first.starts_with("made ") && first.contains("Healthy"), "{first}");
        env.set_image("made", "app:v2").await;
        let changed = next().await;
        assert!(changed.starts_with("made ") && !changed.contains("Healthy"), "the update's row: {changed}");
        watcher.kill().await.expect("stop watching");

        // lint -f: upstream's verb, with serin's checks.
        assert_eq!(ok(&env, &["lint", "-f", &rollout]).await, "");
        let bad = write("bad.yaml", &canary_rollout("bad", 1, "app:v1", "steps:\n- setWeight: 150"));
        let (code, out, err) = serin(&env, &["lint", "-f", &bad]).await;
        assert_eq!(code, 1, "{out}{err}");
        let first = out.lines().next().unwrap_or_default();
        assert!(first.starts_with("spec.strategy.canary.steps[0].setWeight: "), "{out}");
        assert_eq!(err, format!("Error: {first}\n"));
        env.stop().await;
    }
}

on_both_substrates! {
    async fn the_binary_is_a_kubectl_plugin_under_upstreams_name_and_its_own(s: &Substrate) {
        let env = Env::start(s).await;
        let bin = tempfile::tempdir().expect("plugin dir");
        for name in ["kubectl-argo-rollouts", "kubectl-serin"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_serin"), bin.path().join(name)).expect("symlink");
        }
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
        let kubectl = |args: &[&str]| {
            let mut cmd = tokio::process::Command::new(env.s.kubectl_bin());
            cmd.args(args).env("PATH", &path).env("KUBECONFIG", env.s.kubeconfig());
            cmd
        };
        env.apply(&format!("{}---\n{}", services("plug"), canary_rollout("plug", 2, "app:v1", "steps:\n- setWeight: 50\n- pause: {}\n- pause: {}"))).await;
        env.wait_healthy("plug").await;
        env.set_image("plug", "app:v2").await;
        env.wait("plug", "paused at step 1", |ro, _| paused_at(ro, 1)).await;
        let ns = env.s.namespace.clone();
        for (plugin, index) in [(&["argo", "rollouts"][..], 2), (&["serin"][..], 3)] {
            let mut args: Vec<&str> = plugin.to_vec();
            args.extend(["promote", "plug", "-n", &ns]);
            let out = kubectl(&args).output().await.expect("kubectl");
            assert!(out.status.success(), "kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), "rollout 'plug' promoted\n");
            if index == 2 {
                env.wait("plug", "paused at step 2", |ro, _| {
                    status_of(ro).current_step_index == Some(2)
                        && status_of(ro).pause_conditions.iter().flatten().any(|p| p.reason == PauseReason::CanaryPauseStep)
                })
                .await;
            }
        }
        env.wait_healthy("plug").await;
        let out = kubectl(&["argo", "rollouts", "version", "--short"]).output().await.expect("kubectl");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("kubectl-argo-rollouts: serin v"), "{out:?}");
        // Completion for the plugin's own command line, with its verbs.
        let out = kubectl(&["argo", "rollouts", "completion", "bash"]).output().await.expect("kubectl");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("-o default kubectl-argo-rollouts") && script.contains("promote"), "{script}");
        let out = kubectl(&["argo", "rollouts", "promote"]).output().await.expect("kubectl");
        assert_eq!(out.status.code(), Some(1), "a usage error exits 1, as upstream's plugin: {out:?}");
        env.stop().await;
    }
}

on_both_substrates! {
    async fn experiments_are_listed_shown_terminated_and_retried(s: &Substrate) {
        use serin::api::common::AnalysisPhase;
        use serin::api::experiment::Experiment;
        let env = Env::start(s).await;
        let path = crate::support::corpus_root().join("test/e2e/functional/experiment-basic.yaml");
        let basic = std::fs::read_to_string(&path).expect("experiment-basic.yaml");
        let open = basic
            .replace("generateName: experiment-basic-", "name: open")
            .replace("  duration: 30s\n", "  scaleDownDelaySeconds: 0\n");
        let short = basic
            .replace("generateName: experiment-basic-", "name: short")
            .replace("  duration: 30s\n", "  duration: 2s\n  scaleDownDelaySeconds: 0\n");
        env.apply(&format!("{open}\n---\n{short}")).await;
        let api: kube::Api<Experiment> = env.s.api();
        let phase_of = |ex: &Experiment| ex.status.as_ref().and_then(|s| s.phase.clone());
        let wait = |name: &'static str, want: AnalysisPhase| {
            let api = api.clone();
            async move {
                let start = std::time::Instant::now();
                loop {
                    let ex = api.get(name).await.expect("experiment");
                    if phase_of(&ex) == Some(want.clone()) {
                        return ex;
                    }
                    assert!(start.elapsed() < crate::e2e::wait::WAIT * 2, "{name} never {want}: {:?}", ex.status);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        };
        wait("open", AnalysisPhase::Running).await;

        let table = ok(&env, &["list", "experiments"]).await;
        let header: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
        assert_eq!(header, ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"], "{table}");
        let open_row: Vec<&str> = table.lines().find(|l| l.starts_with("open ")).unwrap_or("").split_whitespace().collect();
        assert_eq!(&open_row[..4], ["open", "Running", "-", "-"], "{table}");

        let shown = ok(&env, &["get", "experiment", "open"]).await;
        assert!(shown.starts_with("Name:            open\n"), "{shown}");
        assert!(shown.contains("Status:          ◌ Running\n"), "{shown}");
        let tree: Vec<Vec<&str>> = shown.lines().skip_while(|l| !l.starts_with("NAME")).skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(&tree[0][..3], ["Σ", "open", "Experiment"], "{shown}");
        assert!(tree.iter().any(|l| l.contains(&"open-baseline") && l.contains(&"ReplicaSet")), "{shown}");
        assert!(tree.iter().any(|l| l.contains(&"Pod")), "the template's pods: {shown}");

        assert_eq!(ok(&env, &["terminate", "experiment", "open"]).await, "experiment 'open' terminated\n");
        wait("open", AnalysisPhase::Successful).await;

        let first = wait("short", AnalysisPhase::Successful).await;
        let first_at = first.status.and_then(|s| s.available_at).expect("availableAt").0;
        assert_eq!(ok(&env, &["retry", "experiment", "short"]).await, "experiment 'short' retried\n");
        let start = std::time::Instant::now();
        loop {
            let ex = api.get("short").await.expect("experiment");
            let again = ex.status.as_ref().and_then(|s| s.available_at.clone()).is_some_and(|t| t.0 > first_at);
            if again && phase_of(&ex) == Some(AnalysisPhase::Successful) {
                break;
            }
            assert!(start.elapsed() < crate::e2e::wait::WAIT * 2, "the retried experiment did not run again: {:?}", ex.status);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let (code, _, err) = serin(&env, &["terminate", "experiment", "missing"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("experiments.argoproj.io \"missing\" not found"), "{err}");
        env.stop().await;
    }
}
