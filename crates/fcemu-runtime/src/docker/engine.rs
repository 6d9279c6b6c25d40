//! Reaching the engine and its containers: connecting to the engine `host.rs` names (the first that
//! answers), agreeing on an API version, choosing how instances are reached (`reach.rs`), and reading where
//! a started container's port is.

use super::host::{self, EngineHost};
use super::reach::{self, Reach};
use super::{DockerRuntime, engine, freezer, ssh};
use crate::*;
use bollard::Docker;
use std::net::{IpAddr, Ipv4Addr};

/// What an engine says it is.
#[derive(Debug, Clone)]
pub struct EngineVersion {
    /// `Docker` or `Podman`.
    pub product: &'static str,
    pub version: String,
    /// The newest API version it speaks.
    pub api: String,
    /// Whether it has the NVIDIA Container Toolkit's runtime (what a real card's device request needs).
    pub nvidia: bool,
}

impl EngineVersion {
    /// `Docker 20.10.24, API 1.41`, as `up` and `fcemu doctor` say it.
    pub fn describe(&self) -> String {
        format!("{} {}, API {}", self.product, self.version, self.api)
    }

    /// Podman's Docker-compatible API, where it differs from Docker's (freezing, logs, GPUs).
    pub fn is_podman(&self) -> bool {
        self.product == "Podman"
    }
}

impl DockerRuntime {
    /// Connects to the engine the docker CLI would use (`host.rs`: DOCKER_HOST, a context, else the first
    /// of this machine's sockets that answers) and agrees on an API version, so an older engine (20.10
    /// speaks API 1.41) is talked to in its own version.
    pub async fn connect() -> Result<Self> {
        let lookup = host::Lookup {
            env: &|name| std::env::var(name).ok(),
            home: std::env::home_dir(),
        };
        let candidates = host::candidates(&lookup)?;
        let mut tried = Vec::new();
        let mut last = None;
        for host in candidates {
            // A socket that is not there is passed over without a word, unless it was the last hope.
            if let Some(socket) = host.socket().filter(|s| !s.exists()) {
                tried.push(host.describe());
                last = Some(format!("{} does not exist", socket.display()).into());
                continue;
            }
            match Self::connect_to(host.clone()).await {
                Ok(runtime) => return Ok(runtime),
                Err(e) => {
                    tried.push(host.describe());
                    last = Some(e);
                }
            }
        }
        Err(RuntimeError::Unreachable {
            tried: tried.join(", "),
            source: last.unwrap_or_else(|| "no engine was named".into()),
        })
    }

    async fn connect_to(host: EngineHost) -> std::result::Result<Self, EngineError> {
        // bollard's own per-request timeout; log follows and the event stream are not cut by it.
        const TIMEOUT_S: u64 = 120;
        let version = bollard::API_DEFAULT_VERSION;
        let docker = match (&host.tls, host.url.as_str()) {
            (Some(tls), url) => {
                Docker::connect_with_ssl(url, &tls.key, &tls.cert, &tls.ca, TIMEOUT_S, version)
            }
            (None, url) if url.starts_with("unix://") => {
                Docker::connect_with_unix(url, TIMEOUT_S, version)
            }
            (None, url) if url.starts_with("ssh://") => {
                let config = std::env::var("FCEMU_SSH_CONFIG").ok();
                let docker = ssh::connect(url, config.as_deref(), TIMEOUT_S).await;
                Ok(docker.map_err(|e| format!("ssh to {url}: {e}"))?)
            }
            (None, url) => Docker::connect_with_http(url, TIMEOUT_S, version),
        }
        .map_err(engine)?;
        let docker = docker.negotiate_version().await.map_err(engine)?;
        let info = docker.info().await.map_err(engine)?;
        let system = docker.version().await.map_err(engine)?;
        let version = EngineVersion {
            product: if is_podman(&system) {
                "Podman"
            } else {
                "Docker"
            },
            version: system.version.unwrap_or_default(),
            api: system.api_version.unwrap_or_default(),
            nvidia: info
                .runtimes
                .as_ref()
                .is_some_and(|runtimes| runtimes.contains_key("nvidia")),
        };
        let local = host.socket().is_some();
        let remote = match reach::remote_host(&host.url) {
            Some(name) => Some((name, reach::resolve(name).await)),
            None => None,
        };
        let mut reach = Reach::choose(
            remote,
            info.operating_system.as_deref().unwrap_or_default(),
            info.security_options.as_deref().unwrap_or_default(),
        );
        // Only a bridge the facts left is tried. Podman's bridge device is there only while a container
        // runs on it: nothing to try yet.
        if reach == Reach::Bridge && !version.is_podman() {
            if let Some(gateway) = bridge_gateway(&docker).await {
                reach = reach.tried(gateway, reach::bridge_answers(gateway).await);
            }
        }
        let method = if version.is_podman() {
            freezer::FreezeMethod::Engine {
                why: "Podman keeps its containers' cgroups in a layout of its own".into(),
            }
        } else {
            freezer::choose(
                info.cgroup_version.map(|v| v.to_string()).as_deref(),
                info.cgroup_driver.map(|d| d.to_string()).as_deref(),
                local,
            )
        };
        Ok(DockerRuntime {
            docker,
            host,
            version,
            reach,
            freezer: std::sync::Arc::new(freezer::Freezer::new(method)),
            networks: Default::default(),
            network_creation: Default::default(),
            volumes: Default::default(),
            volume_creation: Default::default(),
            thaws: Default::default(),
        })
    }

    /// What the engine said it is when connected.
    pub fn engine_version(&self) -> &EngineVersion {
        &self.version
    }

    /// The engine runs on this machine (a unix socket): its clock and its disk are ours.
    pub(super) fn local(&self) -> bool {
        self.host.socket().is_some()
    }

    /// The engine this runtime talks to, and how it was chosen.
    pub fn host(&self) -> &EngineHost {
        &self.host
    }

    /// How instances' servers are reached in this run.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// Reaches instances through ports the engine publishes on `host` (`up --container-host`), whatever
    /// the engine is.
    pub fn reach_through(&mut self, host: IpAddr) {
        self.reach = Reach::Published {
            host,
            why: "--container-host".into(),
        };
    }

    /// Where a started container's `port` is reached (its bridge address, or the port published for it),
    /// and when the engine says its process began (`State.StartedAt`).
    pub(super) async fn started(
        &self,
        id: &str,
        port: u16,
    ) -> Result<(SocketAddr, Option<String>)> {
        let info = self.docker.inspect_container(id, None).await.map_err(|e| {
            RuntimeError::InspectContainer {
                id: id.into(),
                source: engine(e),
            }
        })?;
        let settings = info.network_settings.unwrap_or_default();
        let started_at = info.state.and_then(|s| s.started_at);
        let addr = match &self.reach {
            Reach::Bridge => {
                let ip = settings
                    .networks
                    .unwrap_or_default()
                    .into_values()
                    .filter_map(|n| n.ip_address)
                    .find(|ip| !ip.is_empty());
                let ip = ip.and_then(|ip| ip.parse().ok());
                SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), port)
            }
            Reach::Published { host, .. } => {
                let published = settings
                    .ports
                    .unwrap_or_default()
                    .remove(&format!("{port}/tcp"))
                    .flatten()
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|b| b.host_port?.parse::<u16>().ok())
                    .ok_or_else(|| RuntimeError::InspectContainer {
                        id: id.into(),
                        source: format!("the engine published no host port for {port}/tcp").into(),
                    })?;
                SocketAddr::new(*host, published)
            }
        };
        Ok((addr, started_at))
    }
}

/// Podman's Docker-compatible API names itself in its version's components.
fn is_podman(version: &bollard::models::SystemVersion) -> bool {
    version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.contains("Podman"))
}

/// The gateway of one of the engine's bridge networks (Docker's `bridge` first): where the bridge is tried
/// from here.
async fn bridge_gateway(docker: &Docker) -> Option<IpAddr> {
    let options = bollard::query_parameters::ListNetworksOptions {
        filters: Some(std::collections::HashMap::from([(
            "driver".to_string(),
            vec!["bridge".to_string()],
        )])),
    };
    let mut networks = docker.list_networks(Some(options)).await.ok()?;
    // The default network first: it is there from the engine's start, the same in every run.
    networks.sort_by_key(|n| !matches!(n.name.as_deref(), Some("bridge")));
    networks
        .into_iter()
        .flat_map(|n| n.ipam.and_then(|ipam| ipam.config).unwrap_or_default())
        .filter_map(|config| config.gateway?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}
