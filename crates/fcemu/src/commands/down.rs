//! `fcemu down`: remove every container fcemu left behind (by label), for any project.

use crate::Failure;
use fcemu_runtime::{DockerRuntime, sweep};

pub async fn run() -> Result<(), Failure> {
    let docker = DockerRuntime::connect()
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    let removed = sweep(&docker, &[])
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    println!(
        "removed {removed} container{} labelled fcemu.managed=true",
        if removed == 1 { "" } else { "s" }
    );
    Ok(())
}
