//! `fcemu validate`: check an s.yaml and print what it resolves to.

use crate::failure::Failure;
use std::path::PathBuf;

/// Check an s.yaml and print the functions it resolves to
#[derive(clap::Args)]
pub struct Args {
    dir: Option<PathBuf>,
    #[arg(short = 't', long = "template")]
    template: Option<PathBuf>,
    /// Also list what is emulated and how (mounts, credentials), and the fields that are accepted but mean
    /// nothing locally
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let Args {
        dir,
        template,
        verbose,
    } = args;
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let project = fcemu_spec::load_project(&dir, template.as_deref())
        .map_err(|e| Failure::user(e.to_string()))?;
    crate::output::say_warnings(&project, verbose);
    if verbose {
        crate::output::say_emulated(&project);
    }
    for missing in project.unbuilt.iter().flat_map(|u| &u.errors) {
        crate::output::note(&format!("{}: {}", missing.field, missing.message));
    }
    let text = serde_json::to_string_pretty(&project).unwrap_or_default();
    println!("{text}");
    Ok(())
}
