//! A task container: one command run to its end in an image (an image's facts, a build step), with folders of this machine mounted, its
//! output handed over line by line as it comes. `fcemu build` runs `s build`'s work this way, inside the
//! image the function runs on, so that native packages match its interpreter; official layers are filled
//! the same way.

use super::{DockerRuntime, engine};
use crate::*;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

/// What to run, where, and with what.
#[derive(Debug, Clone, Default)]
pub struct Task {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub working_dir: Option<String>,
    /// fcemu's own labels (managed, project) so that a sweep finds the container if fcemu stops meanwhile.
    pub labels: Vec<(String, String)>,
    /// On this machine's network, for a proxy that listens on its loopback.
    pub network_host: bool,
    /// `UID:GID` to run as, so that what it writes into a mounted folder belongs to whoever ran fcemu.
    pub user: Option<String>,
}

impl DockerRuntime {
    /// Runs `task` to its end, calling `line` with each line it prints (stdout and stderr, as they come),
    /// and answers its exit code. The container is removed whatever happens.
    pub async fn run_task(&self, task: &Task, line: &mut (dyn FnMut(&str) + Send)) -> Result<i64> {
        let body = ContainerCreateBody {
            image: Some(task.image.clone()),
            entrypoint: Some(task.command.clone()),
            cmd: Some(vec![]),
            env: Some(task.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: task.working_dir.clone(),
            user: task.user.clone(),
            labels: Some(
                std::iter::once((labels::MANAGED.to_string(), "true".to_string()))
                    .chain(task.labels.iter().cloned())
                    .collect(),
            ),
            host_config: Some(HostConfig {
                binds: Some(task.mounts.iter().map(Mount::to_bind).collect()),
                init: Some(true),
                security_opt: Some(vec!["no-new-privileges".into()]),
                network_mode: task.network_host.then(|| "host".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| RuntimeError::CreateContainer {
                image: task.image.clone(),
                source: engine(e),
            })?
            .id;
        let result = self.follow_to_exit(&id, line).await;
        let removed = self
            .docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        let code = result?;
        removed.map_err(|e| RuntimeError::RemoveContainer {
            id: id.clone(),
            source: engine(e),
        })?;
        Ok(code)
    }

    async fn follow_to_exit(&self, id: &str, line: &mut (dyn FnMut(&str) + Send)) -> Result<i64> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| RuntimeError::StartContainer {
                id: id.into(),
                source: engine(e),
            })?;
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..Default::default()
        };
        let mut logs = self.docker.logs(id, Some(options));
        // Chunks need not end at a line's end: the part after the last newline waits for the rest.
        let mut pending = Vec::new();
        while let Some(chunk) = logs.next().await {
            let Ok(chunk) = chunk else { break };
            pending.extend_from_slice(&chunk.into_bytes());
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let text: Vec<u8> = pending.drain(..=end).collect();
                line(String::from_utf8_lossy(&text[..end]).trim_end_matches('\r'));
            }
        }
        if !pending.is_empty() {
            line(&String::from_utf8_lossy(&pending));
        }
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let mut code = None;
        while let Some(exit) = wait.next().await {
            match exit {
                Ok(exit) => code = Some(exit.status_code),
                // bollard reports a non-zero exit as an error that carries the code.
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => {
                    code = Some(c)
                }
                Err(e) => {
                    return Err(RuntimeError::Logs {
                        id: id.into(),
                        source: engine(e),
                    });
                }
            }
        }
        Ok(code.unwrap_or(-1))
    }
}
