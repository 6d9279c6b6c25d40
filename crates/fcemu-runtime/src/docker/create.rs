//! The engine's create call for an instance's container: its limits, its network, its published ports, and
//! the wait for a removal another call began.

use super::{DockerRuntime, is_not_found, logs};
use crate::{ContainerSpec, Result};
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::CreateContainerOptions;
use std::collections::HashMap;
use std::time::Duration;

/// What one instance's container may do beyond its memory and CPU: no process in it gains privileges
/// (setuid binaries, file capabilities), and it holds at most this many processes and threads, so a fork
/// bomb in a function stops there and not at the machine's limit.
const PIDS_LIMIT: i64 = 4096;

impl DockerRuntime {
    /// The engine's create call for an instance's container, its error as the engine gave it.
    pub(super) async fn create_container(
        &self,
        spec: &ContainerSpec,
        binds: Option<Vec<String>>,
    ) -> std::result::Result<String, BollardError> {
        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.command.clone(),
            working_dir: spec.working_dir.clone(),
            exposed_ports: Some(
                std::iter::once(spec.port)
                    .chain(spec.debug_port.as_ref().map(|d| d.port))
                    .map(|port| format!("{port}/tcp"))
                    .collect(),
            ),
            host_config: Some(HostConfig {
                memory: (memory > 0).then_some(memory),
                // No swap beyond the limit: FC's memory size is a hard limit.
                memory_swap: (memory > 0).then_some(memory),
                nano_cpus: (spec.cpu > 0.0).then_some((spec.cpu * 1e9) as i64),
                binds,
                // An init process as PID 1 forwards SIGTERM to the function (a PID 1 without a handler
                // ignores it, and every stop would wait for SIGKILL) and reaps its zombies.
                init: Some(true),
                log_config: Some(logs::instance_log_config()),
                security_opt: Some(vec!["no-new-privileges".into()]),
                pids_limit: Some(PIDS_LIMIT),
                network_mode: spec.network.clone(),
                port_bindings: port_bindings(self.reach.bind_ip(), spec),
                device_requests: spec.gpu.as_ref().map(|gpu| vec![self.gpu_request(gpu)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self.docker.create_container(Some(options), body).await?;
        Ok(created.id)
    }

    /// Waits until the container, whose removal another call began, is gone (polling; a removal the engine
    /// never finishes gives up after `REMOVAL_WAIT`, leaving the container to the next sweep).
    pub(super) async fn wait_gone(&self, id: &str) -> Result<()> {
        let deadline = std::time::Instant::now() + REMOVAL_WAIT;
        while std::time::Instant::now() < deadline {
            match self.docker.inspect_container(id, None).await {
                Err(e) if is_not_found(&e) => return Ok(()),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        Ok(())
    }
}

/// How long a removal that another call began is waited for.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

/// An ephemeral host port for the function's, where the bridge is not routable; a debugger's port at its own
/// number, where one is asked for.
fn port_bindings(
    bind_ip: Option<String>,
    spec: &ContainerSpec,
) -> Option<HashMap<String, Option<Vec<PortBinding>>>> {
    let function = bind_ip.map(|ip| (spec.port, ip, String::new()));
    let debugger = spec
        .debug_port
        .as_ref()
        .map(|d| (d.port, d.host_ip.clone(), d.port.to_string()));
    let bindings: HashMap<_, _> = function
        .into_iter()
        .chain(debugger)
        .map(|(port, ip, host_port)| {
            let binding = PortBinding {
                host_ip: Some(ip),
                host_port: Some(host_port),
            };
            (format!("{port}/tcp"), Some(vec![binding]))
        })
        .collect();
    (!bindings.is_empty()).then_some(bindings)
}
