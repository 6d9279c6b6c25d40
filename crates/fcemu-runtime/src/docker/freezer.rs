//! Freezing an instance through its cgroup's freezer, written directly: the same kernel write the engine's
//! pause makes after going through containerd and runc, without their ~13 ms. Where fcemu cannot write there
//! (a remote or rootless engine, another layout, permission denied), the engine's pause and unpause are used,
//! and the reason is said once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where the cgroup file system is mounted, unless `FCEMU_CGROUP_ROOT` says otherwise.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long the kernel may take to report a container frozen or thawed.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupDriver {
    Cgroupfs,
    Systemd,
}

/// Where a container's freezer is, for the engine's cgroup version and driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    pub root: PathBuf,
    pub version: CgroupVersion,
    pub driver: CgroupDriver,
}

/// How instances are frozen in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeMethod {
    Cgroup(CgroupLayout),
    /// The engine's pause and unpause, and why not the cgroup.
    Engine {
        why: String,
    },
}

impl FreezeMethod {
    /// What `up` says about it.
    pub fn describe(&self) -> String {
        match self {
            FreezeMethod::Cgroup(l) => format!(
                "freezing through the cgroup freezer ({}, cgroup {}, {} driver)",
                l.root.display(),
                match l.version {
                    CgroupVersion::V1 => "v1",
                    CgroupVersion::V2 => "v2",
                },
                match l.driver {
                    CgroupDriver::Cgroupfs => "cgroupfs",
                    CgroupDriver::Systemd => "systemd",
                }
            ),
            FreezeMethod::Engine { why } => format!("freezing through the engine's pause ({why})"),
        }
    }
}

impl CgroupLayout {
    /// The container's cgroup, relative to a controller's hierarchy (v1) or the unified one (v2). `parent` is
    /// the container's `HostConfig.CgroupParent` (empty for the engine's default).
    fn group(&self, id: &str, parent: &str) -> PathBuf {
        match self.driver {
            CgroupDriver::Cgroupfs => {
                let parent = if parent.is_empty() { "docker" } else { parent };
                Path::new(parent.trim_start_matches('/')).join(id)
            }
            CgroupDriver::Systemd => {
                let slice = if parent.is_empty() {
                    "system.slice"
                } else {
                    parent
                };
                Path::new(slice).join(format!("docker-{id}.scope"))
            }
        }
    }

    /// The file that freezes the container (`freezer.state` in v1, `cgroup.freeze` in v2).
    pub fn freeze_file(&self, id: &str, parent: &str) -> PathBuf {
        let group = self.group(id, parent);
        match self.version {
            CgroupVersion::V1 => self.root.join("freezer").join(group).join("freezer.state"),
            CgroupVersion::V2 => self.root.join(group).join("cgroup.freeze"),
        }
    }

    /// The file that holds the container's peak memory use in bytes (`memory.max_usage_in_bytes` in v1,
    /// `memory.peak` in v2, from Linux 5.19).
    pub fn memory_peak_file(&self, id: &str, parent: &str) -> PathBuf {
        let group = self.group(id, parent);
        match self.version {
            CgroupVersion::V1 => self
                .root
                .join("memory")
                .join(group)
                .join("memory.max_usage_in_bytes"),
            CgroupVersion::V2 => self.root.join(group).join("memory.peak"),
        }
    }
}

/// The method for an engine with this cgroup version and driver: the cgroup when its freezer is there and
/// this process may write it, the engine otherwise.
pub fn choose(version: Option<&str>, driver: Option<&str>, local: bool) -> FreezeMethod {
    let engine = |why: &str| FreezeMethod::Engine { why: why.into() };
    if !local {
        return engine("the engine is not on this machine");
    }
    let root = PathBuf::from(std::env::var_os("FCEMU_CGROUP_ROOT").unwrap_or(CGROUP_ROOT.into()));
    let version = match version {
        Some("1") => CgroupVersion::V1,
        Some("2") => CgroupVersion::V2,
        other => return engine(&format!("the engine reports cgroup version {other:?}")),
    };
    let driver = match driver {
        Some("cgroupfs") => CgroupDriver::Cgroupfs,
        Some("systemd") => CgroupDriver::Systemd,
        other => return engine(&format!("the engine reports cgroup driver {other:?}")),
    };
    let top = match version {
        CgroupVersion::V1 => root.join("freezer"),
        CgroupVersion::V2 => root.clone(),
    };
    if !writable(&top) {
        return engine(&format!(
            "{} cannot be written by this process",
            top.display()
        ));
    }
    FreezeMethod::Cgroup(CgroupLayout {
        root,
        version,
        driver,
    })
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) with a NUL-terminated path; it only reads it.
    dir.is_dir() && unsafe { libc::access(path.as_ptr(), libc::W_OK) } == 0
}

/// The run's freezing method, and what it learned: a cgroup write that failed before any succeeded means the
/// layout is not what it seemed, and the engine takes over.
pub(crate) struct Freezer {
    method: Mutex<FreezeMethod>,
    proven: AtomicBool,
}

impl Freezer {
    pub fn new(method: FreezeMethod) -> Self {
        Freezer {
            method: Mutex::new(method),
            proven: AtomicBool::new(false),
        }
    }

    pub fn method(&self) -> FreezeMethod {
        self.method.lock().unwrap().clone()
    }

    fn layout(&self) -> Option<CgroupLayout> {
        match &*self.method.lock().unwrap() {
            FreezeMethod::Cgroup(layout) => Some(layout.clone()),
            FreezeMethod::Engine { .. } => None,
        }
    }

    /// Freezes or thaws through the cgroup; None when the engine must do it.
    pub async fn set(&self, id: &str, frozen: bool) -> Option<std::io::Result<()>> {
        let layout = self.layout()?;
        let file = layout.freeze_file(id, "");
        match set(&file, layout.version, frozen).await {
            Ok(()) => {
                self.proven.store(true, Ordering::Relaxed);
                Some(Ok(()))
            }
            // The first freeze of a running container tells whether the layout is right.
            Err(e) if frozen && !self.proven.load(Ordering::Relaxed) => {
                let why = format!("writing {} failed: {e}", file.display());
                tracing::warn!("{why}; freezing through the engine's pause from now on");
                *self.method.lock().unwrap() = FreezeMethod::Engine { why };
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// The container's peak memory use read from its cgroup, where the layout is known and the file reads
    /// (None otherwise: the engine's stats are asked instead).
    pub fn memory_peak(&self, id: &str) -> Option<u64> {
        let file = self.layout()?.memory_peak_file(id, "");
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Whether the container is frozen through its cgroup (the engine does not know it).
    pub fn frozen(&self, id: &str) -> bool {
        let Some(layout) = self.layout() else {
            return false;
        };
        let file = layout.freeze_file(id, "");
        match layout.version {
            CgroupVersion::V1 => std::fs::read_to_string(file).is_ok_and(|s| s.trim() == "FROZEN"),
            CgroupVersion::V2 => std::fs::read_to_string(file).is_ok_and(|s| s.trim() == "1"),
        }
    }
}

/// Freezes (`frozen`) or thaws the container whose freezer file is `file`, and waits until the kernel
/// reports it done. On a thread of the blocking pool: a v1 freeze returns only once every task is frozen.
pub async fn set(file: &Path, version: CgroupVersion, frozen: bool) -> std::io::Result<()> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || set_now(&file, version, frozen))
        .await
        .map_err(std::io::Error::other)?
}

fn set_now(file: &Path, version: CgroupVersion, frozen: bool) -> std::io::Result<()> {
    let (value, done): (&str, fn(&str) -> bool) = match (version, frozen) {
        (CgroupVersion::V1, true) => ("FROZEN", |s| s.trim() == "FROZEN"),
        (CgroupVersion::V1, false) => ("THAWED", |s| s.trim() == "THAWED"),
        (CgroupVersion::V2, true) => ("1", |s| s.lines().any(|l| l.trim() == "frozen 1")),
        (CgroupVersion::V2, false) => ("0", |s| s.lines().any(|l| l.trim() == "frozen 0")),
    };
    // v1 reports the state in the file written; v2 in cgroup.events beside it.
    let state_file = match version {
        CgroupVersion::V1 => file.to_path_buf(),
        CgroupVersion::V2 => file.with_file_name("cgroup.events"),
    };
    std::fs::write(file, value)?;
    let started = Instant::now();
    loop {
        if done(&std::fs::read_to_string(&state_file)?) {
            return Ok(());
        }
        if started.elapsed() > SETTLE {
            return Err(std::io::Error::other(format!(
                "{} did not become {value} within {} s",
                file.display(),
                SETTLE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(version: CgroupVersion, driver: CgroupDriver) -> CgroupLayout {
        CgroupLayout {
            root: "/sys/fs/cgroup".into(),
            version,
            driver,
        }
    }

    #[test]
    fn the_freezer_of_a_container_for_each_version_and_driver() {
        let id = "abc123";
        let cases = [
            (
                layout(CgroupVersion::V1, CgroupDriver::Cgroupfs),
                "",
                "/sys/fs/cgroup/freezer/docker/abc123/freezer.state",
            ),
            (
                layout(CgroupVersion::V1, CgroupDriver::Cgroupfs),
                "/ci",
                "/sys/fs/cgroup/freezer/ci/abc123/freezer.state",
            ),
            (
                layout(CgroupVersion::V1, CgroupDriver::Systemd),
                "",
                "/sys/fs/cgroup/freezer/system.slice/docker-abc123.scope/freezer.state",
            ),
            (
                layout(CgroupVersion::V2, CgroupDriver::Systemd),
                "",
                "/sys/fs/cgroup/system.slice/docker-abc123.scope/cgroup.freeze",
            ),
            (
                layout(CgroupVersion::V2, CgroupDriver::Cgroupfs),
                "",
                "/sys/fs/cgroup/docker/abc123/cgroup.freeze",
            ),
        ];
        for (layout, parent, expected) in cases {
            assert_eq!(
                layout.freeze_file(id, parent),
                PathBuf::from(expected),
                "{layout:?}"
            );
        }
    }

    #[test]
    fn the_memory_peak_of_a_container_for_each_version_and_driver() {
        let cases = [
            (
                layout(CgroupVersion::V1, CgroupDriver::Cgroupfs),
                "/sys/fs/cgroup/memory/docker/abc123/memory.max_usage_in_bytes",
            ),
            (
                layout(CgroupVersion::V1, CgroupDriver::Systemd),
                "/sys/fs/cgroup/memory/system.slice/docker-abc123.scope/memory.max_usage_in_bytes",
            ),
            (
                layout(CgroupVersion::V2, CgroupDriver::Systemd),
                "/sys/fs/cgroup/system.slice/docker-abc123.scope/memory.peak",
            ),
        ];
        for (layout, expected) in cases {
            assert_eq!(
                layout.memory_peak_file("abc123", ""),
                PathBuf::from(expected),
                "{layout:?}"
            );
        }
    }

    #[test]
    fn a_remote_engine_or_an_unknown_layout_uses_the_engine() {
        assert!(matches!(
            choose(Some("1"), Some("cgroupfs"), false),
            FreezeMethod::Engine { .. }
        ));
        assert!(matches!(
            choose(Some("3"), Some("cgroupfs"), true),
            FreezeMethod::Engine { .. }
        ));
        assert!(matches!(
            choose(Some("1"), Some("none"), true),
            FreezeMethod::Engine { .. }
        ));
    }

    #[tokio::test]
    async fn freezing_writes_the_state_and_waits_for_the_kernel_to_report_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("freezer.state");
        std::fs::write(&file, "THAWED").unwrap();
        // A plain file reads back what was written: "the kernel" reports at once.
        set(&file, CgroupVersion::V1, true).await.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "FROZEN");
        set(&file, CgroupVersion::V1, false).await.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "THAWED");
        let gone = dir.path().join("no-such/freezer.state");
        assert!(set(&gone, CgroupVersion::V1, true).await.is_err());
    }
}
