//! `up --detach`: serve in the background, for CI. The same `up` runs as a child process of its own (its own
//! process group, so a terminal's Ctrl-C does not reach it) with its output in `.fcemu/up.log`; this process
//! returns once the child serves and its provisioned instances are ready (it records the endpoint only
//! then), or fails with what the child said if it stops first. `fcemu down` stops it.

use crate::client::ENDPOINT_FILE;
use crate::failure::Failure;
use crate::output::info;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The detached `up`'s process id, while it runs.
pub const PID_FILE: &str = ".fcemu/up.pid";
/// The detached `up`'s output.
pub const LOG_FILE: &str = ".fcemu/up.log";
/// In the environment of the `up` that serves for a detached one.
const DETACHED_ENV: &str = "FCEMU_DETACHED";

/// Whether this process is the `up` that serves for a detached one.
pub fn is_detached_child() -> bool {
    std::env::var_os(DETACHED_ENV).is_some()
}

/// The detached `up`'s record of itself: `PID START_TIME`, the start time as the kernel counts it
/// (`/proc/PID/stat`), in a file the `up` holds locked for as long as it runs. `fcemu down` signals a pid only
/// when all three agree, so a stale file (its pid reused since) or one a repository committed never sends
/// SIGTERM to some other process.
pub struct PidFile {
    path: PathBuf,
    /// Holds the lock; closed (and so unlocked) when the `up` ends, however it ends.
    _lock: std::fs::File,
}

impl PidFile {
    pub fn write(project_dir: &Path) -> Result<Self, Failure> {
        use std::io::Write;
        let path = project_dir.join(PID_FILE);
        let fail = |e| crate::state::failure(&path, e);
        let mut file = crate::state::create(&path).map_err(fail)?;
        let pid = std::process::id();
        let started = start_time(pid).ok_or_else(|| {
            Failure::environment(format!("cannot read /proc/{pid}/stat: is /proc mounted?"))
        })?;
        // SAFETY: flock(2) on a descriptor this File owns for as long as the call.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        writeln!(file, "{pid} {started}").map_err(fail)?;
        Ok(PidFile { path, _lock: file })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// When the process began, in clock ticks after boot: field 22 of `/proc/PID/stat`, after the command name in
/// parentheses (which may itself hold spaces and parentheses).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from the third (state) on; the start time is the 22nd field.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether some process holds the lock on `path` (a detached `up` holds its pid file's).
fn locked(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: flock(2) on a descriptor this File owns; a lock we get is dropped with the File.
    unsafe { libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

/// The process id of a detached `up` that runs in this project folder: the pid file is this user's, names a
/// live process that began when the file says, and is held locked.
pub fn running(project_dir: &Path) -> Option<u32> {
    let path = project_dir.join(PID_FILE);
    let recorded = crate::state::read_own(&path)?;
    let mut fields = recorded.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let started: u64 = fields.next()?.parse().ok()?;
    let genuine = pid > 1 && start_time(pid) == Some(started) && alive(pid) && locked(&path);
    genuine.then_some(pid)
}

/// Whether the process exists and has not ended (a zombie is an ended process).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// The project folder `up` would serve: where its s.yaml is.
pub fn project_dir(dir: Option<&Path>, template: Option<&Path>) -> Result<PathBuf, Failure> {
    let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let file =
        fcemu_spec::find_template(&dir, template).map_err(|e| Failure::user(e.to_string()))?;
    Ok(file.parent().map_or(dir, Path::to_path_buf))
}

/// Starts the serving `up` and returns once it serves, or with its failure.
pub async fn start(args: &super::Args) -> Result<(), Failure> {
    let dir = project_dir(args.dir.as_deref(), args.template.as_deref())?;
    // The s.yaml's problems are said here, at once.
    let project = match args.build {
        // What the build makes need not be there before it.
        true => crate::images::load_to_build(&dir, args.template.as_deref(), &args.runtime_images)?,
        false => crate::images::load(&dir, args.template.as_deref(), &args.runtime_images)?,
    };
    if let Some(pid) = running(&dir) {
        return Err(Failure::user(format!(
            "fcemu up already runs detached in {} (pid {pid}): `fcemu down` there stops it",
            dir.display()
        )));
    }
    // Built here, where its progress can be seen; the serving `up` then finds it up to date.
    if args.build {
        crate::commands::build::build(&project).await?;
    }
    let endpoint = dir.join(ENDPOINT_FILE);
    let _ = std::fs::remove_file(&endpoint);
    let log_path = dir.join(LOG_FILE);
    let log = crate::state::create(&log_path).map_err(|e| crate::state::failure(&log_path, e))?;
    let err_log = log
        .try_clone()
        .map_err(|e| Failure::environment(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| Failure::environment(e.to_string()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(DETACHED_ENV, "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::environment(format!("cannot start fcemu up: {e}")))?
    };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Failure {
                code: status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .filter(|c| *c != 0)
                    .unwrap_or(1),
                message: format!(
                    "fcemu up stopped before it served ({}):\n{}",
                    log_path.display(),
                    tail.join("\n")
                ),
            });
        }
        if let Some(url) = crate::state::read_own(&endpoint) {
            if !url.trim().is_empty() {
                info(&format!(
                    "fcemu up serves {} in the background (pid {}); output in {}; `fcemu down` stops it",
                    url.trim(),
                    child.id(),
                    log_path.display()
                ));
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            return Err(Failure::environment(format!(
                "fcemu up did not serve within 10 minutes; see {}",
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
