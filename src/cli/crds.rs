//! `serin crds`: print the CustomResourceDefinitions, or write one file per CRD.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::api::crds;

/// Print the CRDs serin serves (multi-document YAML), or write them to a directory.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write `<kind>-crd.yaml` files into this directory instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Runs `serin crds`.
pub fn run(args: CrdsArgs) -> anyhow::Result<ExitCode> {
    match args.out_dir {
        None => {
            let yaml = crds::render_all().context("rendering CRDs")?;
            print!("{yaml}");
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, yaml) in crds::render_files().context("rendering CRDs")? {
                let path = dir.join(name);
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
