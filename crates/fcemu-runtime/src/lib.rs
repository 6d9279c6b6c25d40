//! fcemu-runtime: the containers an instance lives in, behind one trait.
//!
//! [`DockerRuntime`] is the real thing (bollard); `fake::FakeRuntime` (the `fake` feature, which only tests
//! enable) runs each "container" as an in-process HTTP server so the lifecycle can be tested in milliseconds.
//! This is the only crate that knows Docker exists.

mod docker;
#[cfg(feature = "fake")]
pub mod fake;

pub use docker::{
    DockerRuntime, EngineHost, EngineVersion, HostError, HostSource, Reach, Task, TlsFiles,
};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The labels every container fcemu creates carries (docs/contract.md).
pub mod labels {
    pub const MANAGED: &str = "fcemu.managed";
    pub const PROJECT: &str = "fcemu.project";
    pub const FUNCTION: &str = "fcemu.function";
    pub const INSTANCE_ID: &str = "fcemu.instance-id";
}

/// Everything needed to create one instance's container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// The container name (starts with `fcemu-`).
    pub name: String,
    pub image: String,
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub cpu: f64,
    /// The port the function listens on inside the container.
    pub port: u16,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Host folders mounted into the container.
    pub mounts: Vec<Mount>,
    pub working_dir: Option<String>,
    /// The NVIDIA cards the container sees (none without).
    pub gpu: Option<GpuRequest>,
    /// The network of the container's project, made (with the container's `fcemu.managed` and
    /// `fcemu.project` labels) when it is missing; None: the engine's default.
    pub network: Option<String>,
    /// A port of the container published on this machine at the same number: a debugger's (`up --debug`).
    pub debug_port: Option<DebugPort>,
}

/// A debugger's port inside the container, published on `host_ip` at the same number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugPort {
    pub port: u16,
    pub host_ip: String,
}

/// The name of a project's network: one per project folder, so that containers of other projects, and any
/// other container of the machine, cannot reach its instances.
pub fn network_name(project_dir: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same name for the same folder in every process of this build.
    let mut hasher = std::hash::DefaultHasher::new();
    project_dir.hash(&mut hasher);
    format!("fcemu-{:016x}", hasher.finish())
}

/// NVIDIA cards for a container, by UUID: the engine's NVIDIA driver (the NVIDIA Container Toolkit) makes
/// them visible inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequest {
    pub device_ids: Vec<String>,
}

/// A host folder seen inside the container (a bind mount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    /// Where the container sees it (absolute).
    pub container: String,
    pub read_only: bool,
}

impl Mount {
    /// Docker's `host:container[:ro]` form.
    pub fn to_bind(&self) -> String {
        self.bind_from(&self.host.display().to_string())
    }

    /// The same form with another source: a volume's name where the engine does not share this disk.
    pub fn bind_from(&self, source: &str) -> String {
        let mode = if self.read_only { ":ro" } else { "" };
        format!("{source}:{}{mode}", self.container)
    }
}

/// Where a container is in its life, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    Created,
    Running,
    /// Frozen (the cgroup freezer): its processes do not run until it is unpaused.
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A status this version does not know.
    Unknown,
}

impl ContainerStatus {
    /// The engine's word for it (`docker ps`' State).
    pub fn parse(word: &str) -> Self {
        match word {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            _ => ContainerStatus::Unknown,
        }
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line a container printed, stamped when the engine read it.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub ts: SystemTime,
    pub stream: OutputStream,
    pub line: String,
}

/// A container the engine started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Where the container's port can be reached from here.
    pub addr: SocketAddr,
    /// From the start call until the container's process began, by the engine's own record of that moment
    /// (Docker's `State.StartedAt`): the engine's share of Runtime Init. None where the engine's clock
    /// cannot be compared with ours (a remote engine, or a moment outside the call).
    pub engine_start: Option<Duration>,
}

/// What a command run inside a container (docker exec) did.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// A container found by its labels (for sweeping leftovers).
#[derive(Debug, Clone)]
pub struct ManagedContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub status: ContainerStatus,
}

/// How a container ended, when it ends by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    pub exit_code: i64,
    pub oom_killed: bool,
}

/// What the engine (or the fake) said when a call failed: kept as the source of a [`RuntimeError`].
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// A failed call to the container engine: which operation, on what, and (as its source) why.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "cannot reach the Docker engine (tried {tried}). Start Docker (e.g. `sudo systemctl start docker` or `sudo dockerd &`), or point DOCKER_HOST (or a docker context) at a running engine, then try again"
    )]
    Unreachable {
        /// The engines tried, as `EngineHost::describe` names them.
        tried: String,
        #[source]
        source: EngineError,
    },
    /// The environment or the docker CLI's configuration names an engine that cannot be read.
    #[error(transparent)]
    NoEngine(#[from] docker::HostError),
    #[error(
        "image {image} is not available locally: build or load it first (docker build -t {image} .), or add x-fcemu-build to customContainerConfig"
    )]
    ImageMissing {
        image: String,
        #[source]
        source: EngineError,
    },
    #[error("inspecting image {image} failed")]
    InspectImage {
        image: String,
        #[source]
        source: EngineError,
    },
    #[error("building image {image} failed")]
    BuildImage {
        image: String,
        #[source]
        source: EngineError,
    },
    #[error("creating a container from {image} failed")]
    CreateContainer {
        image: String,
        #[source]
        source: EngineError,
    },
    #[error(
        "copying the code, runtime and layers into container {id} failed (the engine does not share this machine's disk)"
    )]
    CopyIntoContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("starting container {id} failed")]
    StartContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error(
        "container {id} asks for an NVIDIA GPU, and this Docker engine cannot give it one: install the NVIDIA Container Toolkit (nvidia-container-toolkit, then restart Docker; `docker info` must list an nvidia runtime), or run with --gpu simulate or --gpu off"
    )]
    GpuDriverMissing {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error(
        "{container} asks for an NVIDIA GPU, and Podman {version} cannot pass one through its Docker-compatible API (Podman 5 does, as a CDI device: install it with the NVIDIA Container Toolkit and `nvidia-ctk cdi generate`); or use Docker with the toolkit, or run with --gpu simulate or --gpu off"
    )]
    GpuNotThroughPodman { container: String, version: String },
    #[error("inspecting container {id} failed")]
    InspectContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("pausing container {id} failed")]
    PauseContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("unpausing container {id} failed")]
    UnpauseContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("running {command:?} in container {id} failed")]
    Exec {
        id: String,
        command: Vec<String>,
        #[source]
        source: EngineError,
    },
    #[error("waiting for container {id} to exit failed")]
    WaitContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("reading the memory use of container {id} failed")]
    Stats {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("stopping container {id} failed")]
    StopContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("removing container {id} failed")]
    RemoveContainer {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("listing containers failed")]
    ListContainers {
        #[source]
        source: EngineError,
    },
    #[error("reading the logs of container {id} failed")]
    Logs {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("creating the network {name} for the project's instances failed")]
    CreateNetwork {
        name: String,
        #[source]
        source: EngineError,
    },
    #[error("removing fcemu's unused networks and volumes failed")]
    RemoveUnused {
        #[source]
        source: EngineError,
    },
}

/// An error with its causes, `: `-separated: the top says which operation failed, the rest why.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A byte stream to an instance's port: TCP for Docker, an in-memory pipe for the fake.
pub trait Connection:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// How long a connection to an instance may take to be accepted or refused (see `connect`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The container operations the lifecycle needs. Every call names one container by id.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Opens a connection to an address that [`ContainerRuntime::start`] returned. A container's address
    /// answers at once, accepted or refused; one whose container is gone answers nothing, and the
    /// kernel's SYN retries would hold the caller for many seconds: past [`CONNECT_TIMEOUT`] it is
    /// taken as gone.
    async fn connect(&self, addr: SocketAddr) -> std::io::Result<Box<dyn Connection>> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{addr} did not answer within {CONNECT_TIMEOUT:?}"),
                )
            })??;
        // Requests and responses are small and latency-bound: never wait to coalesce them.
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
    /// Whether a server accepts connections at an address [`ContainerRuntime::start`] returned (Runtime
    /// Init's readiness, and whether an instance's process is still there).
    async fn probe(&self, addr: SocketAddr) -> std::io::Result<()> {
        self.connect(addr).await.map(drop)
    }
    /// Creates (does not start) a container; returns its id.
    async fn create(&self, spec: &ContainerSpec) -> Result<String>;
    /// Starts the container.
    async fn start(&self, id: &str, port: u16) -> Result<Started>;
    /// Freezes every process of the container (cgroup freezer).
    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    /// Runs a command inside the running container and waits for it.
    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput>;
    /// Follows everything the container prints, from its start, until it is removed.
    fn logs(&self, id: &str) -> BoxStream<'static, Result<LogLine>>;
    /// Resolves when the container stops by itself (or is stopped), with how it ended.
    async fn wait_exit(&self, id: &str) -> Result<ContainerExit>;
    /// The container's peak memory use in bytes since it started (None where the engine cannot tell).
    async fn memory_peak(&self, _id: &str) -> Result<Option<u64>> {
        Ok(None)
    }
    /// SIGTERM, then SIGKILL after `grace`.
    async fn stop(&self, id: &str, grace: Duration) -> Result<()>;
    /// Removes the container, killing it if it still runs. Removing a container that is gone is not an error.
    async fn remove(&self, id: &str) -> Result<()>;
    /// Containers carrying all of the given `key=value` labels (besides `fcemu.managed=true`), running or not.
    async fn list_managed(&self, labels: &[(String, String)]) -> Result<Vec<ManagedContainer>>;
    /// Removes the networks and content volumes labelled `fcemu.managed=true` and `labels` that no container
    /// uses any more; how many. An engine without networks or volumes of fcemu's own has none to remove.
    async fn remove_unused(&self, _labels: &[(String, String)]) -> Result<usize> {
        Ok(0)
    }
}

/// Removes every fcemu-managed container matching `labels`; returns how many went.
pub async fn sweep(runtime: &dyn ContainerRuntime, labels: &[(String, String)]) -> Result<usize> {
    let found = runtime.list_managed(labels).await?;
    let mut removed = 0;
    for c in &found {
        if c.status == ContainerStatus::Paused {
            // A paused container cannot always be killed cleanly; thaw it first.
            let _ = runtime.unpause(&c.id).await;
        }
        runtime.remove(&c.id).await?;
        removed += 1;
    }
    runtime.remove_unused(labels).await?;
    Ok(removed)
}
