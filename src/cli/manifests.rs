//! `serin manifests`: print an install manifest, or write every generated install file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::install::{self, Scope};

/// Print the install manifest (CRDs, RBAC, the controller's Deployment), or write every generated file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the one-namespace install (a Role, `--namespaced`) instead of the cluster-wide one.
    #[arg(long)]
    namespaced: bool,
    /// Write `install.yaml`, `namespace-install.yaml` and the Helm chart's CRDs (`../charts/serin/crds/`)
    /// relative to this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.out_dir {
        None => {
            let scope = if args.namespaced { Scope::Namespaced } else { Scope::Cluster };
            print!("{}", install::render(scope).map_err(anyhow::Error::msg)?);
        }
        Some(dir) => {
            for (name, contents) in install::files().map_err(anyhow::Error::msg)? {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
