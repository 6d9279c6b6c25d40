//! Images: whether one is there, building one from a context folder (`x-fcemu-build`), and asking one a
//! question by running a command in it once.

use super::{DockerRuntime, engine, is_not_found};
use crate::*;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;

impl DockerRuntime {
    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(RuntimeError::InspectImage {
                image: image.into(),
                source: engine(e),
            }),
        }
    }

    /// Builds `tag` from a context folder, calling `progress` with each line the build prints.
    pub async fn build_image(
        &self,
        context: &Path,
        dockerfile: &str,
        tag: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<()> {
        let fail = |source: EngineError| RuntimeError::BuildImage {
            image: tag.into(),
            source,
        };
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            labels: Some(HashMap::from([(
                labels::MANAGED.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let archive = bollard::body_try_stream(super::context::stream(context, dockerfile));
        let mut stream = self.docker.build_image(options, None, Some(archive));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| fail(engine(e)))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(fail(err.into()));
            }
            if let Some(line) = info.stream {
                for l in line.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    progress(l);
                }
            }
        }
        Ok(())
    }
}

impl DockerRuntime {
    /// The image's id, as the engine names its content (None when the image is not there).
    pub async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(info.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(RuntimeError::InspectImage {
                image: image.into(),
                source: engine(e),
            }),
        }
    }

    /// What `command` prints (stdout and stderr) when run once in `image`: facts about an image, such as its
    /// interpreter's version. The container carries fcemu's labels (`labels` added), so a sweep finds it if
    /// fcemu stops meanwhile, and is removed.
    pub async fn run_once(
        &self,
        image: &str,
        command: &[&str],
        extra_labels: &[(String, String)],
    ) -> Result<String> {
        let mut container_labels =
            HashMap::from([(labels::MANAGED.to_string(), "true".to_string())]);
        container_labels.extend(extra_labels.iter().cloned());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(command.iter().map(|s| s.to_string()).collect()),
            cmd: Some(vec![]),
            labels: Some(container_labels),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| RuntimeError::CreateContainer {
                image: image.into(),
                source: engine(e),
            })?
            .id;
        let output = self.output_of(&id).await;
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
        let output = output?;
        removed.map_err(|e| RuntimeError::RemoveContainer {
            id: id.clone(),
            source: engine(e),
        })?;
        Ok(output)
    }

    /// Starts a created container, waits for it to exit, and reads what it printed.
    async fn output_of(&self, id: &str) -> Result<String> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| RuntimeError::StartContainer {
                id: id.into(),
                source: engine(e),
            })?;
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        while wait.next().await.is_some() {}
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.docker.logs(id, Some(options));
        let mut out = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|e| RuntimeError::Logs {
                id: id.into(),
                source: engine(e),
            })?;
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(out)
    }
}
