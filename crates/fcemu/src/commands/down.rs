//! `fcemu down`: in a project whose `up` runs detached, stop it as Ctrl-C would (PreStop on every instance,
//! then remove), wait for it, and exit with its verdict; otherwise remove every container fcemu left behind
//! (by label), for any project.

use super::up::detach;
use crate::failure::Failure;
use crate::output::info;
use crate::report;
use fcemu_control::summary::Summary;
use fcemu_runtime::{DockerRuntime, sweep};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Stop the `up` running detached in a project folder (PreStop on every instance) and exit with its
/// verdict; with none running, remove every container fcemu left behind, for any project
#[derive(clap::Args)]
pub struct Args {
    /// The project folder (default: the current folder)
    dir: Option<PathBuf>,
    /// Exit 0 even when a hook failed or a request was lost
    #[arg(long)]
    no_verdict: bool,
    /// Also write the hook runs as a JUnit XML report to FILE
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        dir,
        no_verdict,
        junit,
    } = args;
    let project_dir = detach::project_dir(dir.as_deref(), None).ok();
    match project_dir
        .as_deref()
        .and_then(|d| detach::running(d).map(|pid| (d, pid)))
    {
        Some((dir, pid)) => stop_detached(dir, pid, no_verdict, junit.as_deref()).await,
        None => remove_leftovers().await,
    }
}

async fn stop_detached(
    dir: &Path,
    pid: u32,
    no_verdict: bool,
    junit: Option<&Path>,
) -> Result<(), Failure> {
    let summary_file = dir.join(report::SUMMARY_FILE);
    let _ = std::fs::remove_file(&summary_file);
    info(&format!(
        "stopping fcemu up (pid {pid}): PreStop on every instance, then remove"
    ));
    // SAFETY: kill(2) with the pid of this project's detached `up`, checked (pid, start time, lock) just
    // before.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let started = Instant::now();
    while detach::alive(pid) {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(Failure::environment(format!(
                "fcemu up (pid {pid}) did not stop within 2 minutes; see {}",
                dir.join(detach::LOG_FILE).display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let summary: Summary = crate::state::read_own(&summary_file)
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| {
            Failure::environment(format!(
                "fcemu up stopped without writing {}; see {}",
                summary_file.display(),
                dir.join(detach::LOG_FILE).display()
            ))
        })?;
    let requests: u64 = summary.invocations.values().sum();
    info(&format!(
        "{} hook runs, {} cold starts, {requests} requests; summary in {}",
        summary.hooks.len(),
        summary.cold_starts.len(),
        summary_file.display()
    ));
    if let Some(junit) = junit {
        std::fs::write(junit, report::junit(&summary))
            .map_err(|e| Failure::environment(format!("cannot write {}: {e}", junit.display())))?;
    }
    let lines = report::verdict_lines(&summary);
    if summary.passed || no_verdict {
        info(&lines.join("\n"));
        Ok(())
    } else {
        Err(Failure::user(lines.join("\n")))
    }
}

async fn remove_leftovers() -> Result<(), Failure> {
    let docker = DockerRuntime::connect()
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    let removed = sweep(&docker, &[])
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    info(&format!(
        "removed {removed} container{} labelled fcemu.managed=true",
        if removed == 1 { "" } else { "s" }
    ));
    Ok(())
}
