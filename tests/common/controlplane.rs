//! The real Kubernetes control plane for a test binary: built by `tests/controlplane/build.sh` (CI's setup runs
//! it), started once per test binary on first use by the `serin-controlplane` supervisor, and stopped when the
//! test binary exits (the supervisor watches its standard input, which closes with this process, however it
//! ends).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Set to skip the real control plane (a developer without Go); the skip is printed by every test it skips.
pub const SKIP_VAR: &str = "SERIN_SKIP_REAL_CLUSTER";

/// A running control plane.
pub struct ControlPlane {
    pub kubeconfig: PathBuf,
    pub bin_dir: PathBuf,
    _supervisor: Mutex<(Child, ChildStdin)>,
}

impl ControlPlane {
    /// The kubectl built with the control plane (same version as the server).
    pub fn kubectl(&self) -> PathBuf {
        self.bin_dir.join("kubectl")
    }
}

/// Why the real control plane is not used by this run.
pub enum Unavailable {
    /// Skipped on purpose, with the reason to print.
    Skipped(String),
}

/// The control plane shared by every test of this binary, started on first use. Panics with the reason when it
/// cannot start (a missing build is an error, not a skip: only [`SKIP_VAR`] skips).
pub fn shared() -> Result<&'static ControlPlane, Unavailable> {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    if let Ok(v) = std::env::var(SKIP_VAR)
        && !v.is_empty()
        && v != "0"
    {
        return Err(Unavailable::Skipped(format!("{SKIP_VAR}={v}")));
    }
    match SHARED.get_or_init(start) {
        Ok(cp) => Ok(cp),
        Err(e) => panic!("the real control plane did not start: {e}"),
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `build.sh` puts the binaries (it computes the cache key; nothing is built here).
pub fn bin_dir() -> Result<PathBuf, String> {
    let out = Command::new(repo().join("tests/controlplane/build.sh"))
        .arg("--bin-dir")
        .output()
        .map_err(|e| format!("running tests/controlplane/build.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tests/controlplane/build.sh --bin-dir failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn start() -> Result<ControlPlane, String> {
    let bin_dir = bin_dir()?;
    let supervisor = bin_dir.join("serin-controlplane");
    if !supervisor.exists() {
        return Err(format!(
            "{} is not built: run .ci/setup or tests/controlplane/build.sh (needs Go), or set {SKIP_VAR}=1 to \
             skip the real control plane",
            supervisor.display()
        ));
    }
    let mut child = Command::new(&supervisor)
        .arg("--watch-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", supervisor.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut kubeconfig = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(path) = line.strip_prefix("kubeconfig: ") {
            kubeconfig = Some(PathBuf::from(path));
        }
        if line.starts_with("ready in") {
            eprintln!("real control plane: {line}");
            break;
        }
    }
    let kubeconfig = kubeconfig.ok_or_else(|| {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        format!("serin-controlplane ended before it was ready ({status}); see its error above")
    })?;
    Ok(ControlPlane { kubeconfig, bin_dir, _supervisor: Mutex::new((child, stdin)) })
}
