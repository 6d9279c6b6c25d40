//! `fcemu validate`: check an s.yaml and print what it resolves to.

use crate::Failure;
use std::path::PathBuf;

pub fn run(dir: Option<PathBuf>, template: Option<PathBuf>, verbose: bool) -> Result<(), Failure> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let project = fcemu_spec::load_project(&dir, template.as_deref())
        .map_err(|e| Failure::user(e.to_string()))?;
    crate::output::say_warnings(&project, verbose);
    let text = serde_json::to_string_pretty(&project).unwrap_or_default();
    println!("{text}");
    Ok(())
}
