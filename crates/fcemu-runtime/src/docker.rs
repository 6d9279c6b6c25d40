//! The Docker engine, through bollard.

mod context;
mod create;
mod engine;
mod error;
mod freezer;
mod gpu;
mod host;
mod image;
mod logs;
mod network;
mod podman_logs;
mod reach;
mod ssh;
mod task;
mod volume;
pub use task::Task;

pub use engine::EngineVersion;
pub(crate) use error::{engine, is_not_found};
pub use freezer::FreezeMethod;
pub use host::{EngineHost, HostError, HostSource, TlsFiles};
pub use reach::Reach;

use crate::*;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, StatsOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;

use std::time::{Duration, SystemTime};

/// The Docker engine fcemu drives. Cheap to clone.
#[derive(Clone)]
pub struct DockerRuntime {
    pub(crate) docker: Docker,
    host: EngineHost,
    /// What the engine said it is when connected.
    version: EngineVersion,
    /// How instances' servers are reached from here (`reach.rs`).
    reach: Reach,
    freezer: std::sync::Arc<freezer::Freezer>,
    /// The projects' networks this runtime has made or found (see `network.rs`).
    networks: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Held while a network is looked for and made.
    network_creation: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The content volumes this runtime has filled (see `volume.rs`).
    volumes: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Held while a content volume is looked for and filled.
    volume_creation: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Thaws through the engine, for Podman's log follows that a pause ended (`podman_logs.rs`).
    thaws: podman_logs::Thaws,
}

impl DockerRuntime {
    /// How instances are frozen in this run (the cgroup's freezer, or the engine's pause and why).
    pub fn freeze_method(&self) -> FreezeMethod {
        self.freezer.method()
    }

    /// Whether Runtime Init can be split into the engine's start and the function's own: only where the
    /// engine's clock is this machine's.
    pub fn splits_runtime_init(&self) -> bool {
        self.local()
    }

    /// Freezes or thaws a container through its cgroup, as instances are; None where the engine's pause is
    /// used. For the benchmark's floor: the kernel write with nothing of fcemu around it.
    pub async fn set_frozen_by_cgroup(
        &self,
        id: &str,
        frozen: bool,
    ) -> Option<std::io::Result<()>> {
        self.freezer.set(id, frozen).await
    }
}

/// How long a server behind a published port has to answer a probe before the next one is sent.
const PUBLISHED_PROBE: Duration = Duration::from_secs(2);

/// The labels a project's shared things (its network, its content volumes) carry: `fcemu.managed` and
/// `fcemu.project` of an instance's `labels`, so a sweep of the project finds them.
fn shared_labels(labels: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| *k == labels::MANAGED || *k == labels::PROJECT)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The engine's filter for what carries `fcemu.managed=true` and `labels` (containers and networks alike).
fn managed_filter(labels: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut filter = vec![format!("{}=true", labels::MANAGED)];
    filter.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
    HashMap::from([("label".to_string(), filter)])
}

/// The engine's share of a start call: from `asked` (our clock, just before the call) until the process
/// began (`started_at`, the engine's RFC 3339 time), if that moment lies within the call, which took `took`.
/// Outside it, the two clocks disagree and the split would be fiction.
fn engine_start(asked: SystemTime, started_at: &str, took: Duration) -> Option<Duration> {
    let began = humantime::parse_rfc3339(started_at).ok()?;
    let share = began.duration_since(asked).ok()?;
    (share <= took).then_some(share)
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn probe(&self, addr: SocketAddr) -> std::io::Result<()> {
        match &self.reach {
            Reach::Bridge => self.connect(addr).await.map(drop),
            // The engine's proxy accepts for whatever is behind it: only an answer says a server is there.
            Reach::Published { .. } => reach::served(addr, PUBLISHED_PROBE).await,
        }
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        if spec.gpu.is_some() && !self.passes_gpus() {
            return Err(RuntimeError::GpuNotThroughPodman {
                container: spec.name.clone(),
                version: self.version.version.clone(),
            });
        }
        if let Some(name) = &spec.network {
            self.ensure_network(name, &spec.labels).await?;
        }
        // The folders themselves where the engine shares this machine's disk; elsewhere volumes filled with
        // their content.
        let binds = match spec.mounts.is_empty() {
            true => None,
            false if self.local() => Some(spec.mounts.iter().map(Mount::to_bind).collect()),
            false => Some(self.content_binds(spec).await?),
        };
        let id = match self.create_container(spec, binds.clone()).await {
            Err(e) if spec.network.is_some() && network::is_missing(&e) => {
                // Removed behind this run's back (another `fcemu down`): made again.
                let name = spec.network.as_deref().expect("checked above");
                self.forget_network(name);
                self.ensure_network(name, &spec.labels).await?;
                self.create_container(spec, binds).await
            }
            created => created,
        }
        .map_err(|e| {
            let image = spec.image.clone();
            if is_not_found(&e) {
                RuntimeError::ImageMissing {
                    image,
                    source: engine(e),
                }
            } else {
                RuntimeError::CreateContainer {
                    image,
                    source: engine(e),
                }
            }
        })?;
        Ok(id)
    }

    async fn start(&self, id: &str, port: u16) -> Result<Started> {
        let asked = SystemTime::now();
        let call = std::time::Instant::now();
        self.docker.start_container(id, None).await.map_err(|e| {
            // The network went behind this run's back: the next creation makes it again.
            if network::is_missing(&e) {
                self.forget_networks();
            }
            // The engine refuses a device request at start when it has no NVIDIA driver.
            let no_driver = matches!(&e, BollardError::DockerResponseServerError { message, .. }
                if message.contains("could not select device driver"));
            if no_driver {
                RuntimeError::GpuDriverMissing {
                    id: id.into(),
                    source: engine(e),
                }
            } else {
                RuntimeError::StartContainer {
                    id: id.into(),
                    source: engine(e),
                }
            }
        })?;
        let (addr, started_at) = self.started(id, port).await?;
        let engine_start = started_at
            .filter(|_| self.local())
            .and_then(|at| engine_start(asked, &at, call.elapsed()));
        Ok(Started { addr, engine_start })
    }

    async fn pause(&self, id: &str) -> Result<()> {
        if let Some(done) = self.freezer.set(id, true).await {
            return done.map_err(|e| RuntimeError::PauseContainer {
                id: id.into(),
                source: Box::new(e),
            });
        }
        self.docker
            .pause_container(id)
            .await
            .map_err(|e| RuntimeError::PauseContainer {
                id: id.into(),
                source: engine(e),
            })
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        if let Some(done) = self.freezer.set(id, false).await {
            return done.map_err(|e| RuntimeError::UnpauseContainer {
                id: id.into(),
                source: Box::new(e),
            });
        }
        self.docker
            .unpause_container(id)
            .await
            .map_err(|e| RuntimeError::UnpauseContainer {
                id: id.into(),
                source: engine(e),
            })?;
        self.thaws.thawed(id);
        Ok(())
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        let fail = |e: BollardError| RuntimeError::Exec {
            id: id.into(),
            command: command.to_vec(),
            source: engine(e),
        };
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(command.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(fail)?;
        let mut out = ExecOutput::default();
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await.map_err(fail)?
        {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(fail)? {
                    bollard::container::LogOutput::StdErr { message } => {
                        out.stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => out
                        .stdout
                        .push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspect = self.docker.inspect_exec(&exec.id).await.map_err(fail)?;
        out.exit_code = inspect.exit_code.unwrap_or(-1);
        Ok(out)
    }

    fn logs(&self, id: &str) -> BoxStream<'static, Result<LogLine>> {
        let podman = self.version.is_podman().then_some(&self.thaws);
        logs::follow(&self.docker, id, podman)
    }

    async fn wait_exit(&self, id: &str) -> Result<ContainerExit> {
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let exit_code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => {
                return Err(RuntimeError::WaitContainer {
                    id: id.into(),
                    source: engine(e),
                });
            }
            None => -1,
        };
        let oom_killed = match self.docker.inspect_container(id, None).await {
            Ok(info) => info.state.and_then(|s| s.oom_killed).unwrap_or(false),
            Err(_) => false,
        };
        Ok(ContainerExit {
            exit_code,
            oom_killed,
        })
    }

    async fn memory_peak(&self, id: &str) -> Result<Option<u64>> {
        // The cgroup's own figure where fcemu knows where it is: a file read, where the engine's stats
        // call gathers every statistic of the container (its network's included) to answer it.
        if let Some(peak) = self.freezer.memory_peak(id) {
            return Ok(Some(peak));
        }
        // one_shot: one reading now, without waiting a second for a CPU delta.
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let mut stats = self.docker.stats(id, Some(options));
        match stats.next().await {
            Some(Ok(s)) => Ok(s.memory_stats.and_then(|m| m.max_usage.or(m.usage))),
            Some(Err(e)) => Err(RuntimeError::Stats {
                id: id.into(),
                source: engine(e),
            }),
            None => Ok(None),
        }
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let options = StopContainerOptions {
            t: Some(grace.as_secs().max(1) as i32),
            ..Default::default()
        };
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped; 404: already gone.
            Err(BollardError::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::StopContainer {
                id: id.into(),
                source: engine(e),
            }),
        }
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: a removal is already under way (another path got there first). Waited for: a caller
            // that goes on to remove the project's network finds it still in use otherwise, and the
            // network is left behind once the container goes.
            Err(BollardError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => self.wait_gone(id).await,
            Err(e) => Err(RuntimeError::RemoveContainer {
                id: id.into(),
                source: engine(e),
            }),
        }
    }

    async fn remove_unused(&self, labels: &[(String, String)]) -> Result<usize> {
        Ok(self.remove_managed_networks(labels).await?
            + self.remove_content_volumes(labels).await?)
    }

    async fn list_managed(&self, labels: &[(String, String)]) -> Result<Vec<ManagedContainer>> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(managed_filter(labels)),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| RuntimeError::ListContainers { source: engine(e) })?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let labels: BTreeMap<String, String> =
                    c.labels.unwrap_or_default().into_iter().collect();
                // Never touch a container without the label, whatever the engine's filter did.
                (labels.get(labels::MANAGED).map(String::as_str) == Some("true")).then(|| {
                    let id = c.id.unwrap_or_default();
                    ManagedContainer {
                        name: c
                            .names
                            .and_then(|n| n.into_iter().next())
                            .unwrap_or_default(),
                        labels,
                        status: match ContainerStatus::parse(
                            &c.state.map(|s| s.to_string()).unwrap_or_default(),
                        ) {
                            // Frozen through its cgroup, behind the engine's back.
                            ContainerStatus::Running if self.freezer.frozen(&id) => {
                                ContainerStatus::Paused
                            }
                            status => status,
                        },
                        id,
                    }
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
