//! Images: whether one is there, building one from a context folder (`x-fcemu-build`), and asking one a
//! question by running a command in it once.

use super::{DockerRuntime, engine, is_not_found};
use crate::*;
use bollard::query_parameters::BuildImageOptions;
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
    /// interpreter's version. A task container (fcemu's labels, `labels` added, removed after), so a sweep
    /// finds it if fcemu stops meanwhile.
    pub async fn run_once(
        &self,
        image: &str,
        command: &[&str],
        labels: &[(String, String)],
    ) -> Result<String> {
        let task = crate::Task {
            image: image.to_string(),
            command: command.iter().map(|s| s.to_string()).collect(),
            labels: labels.to_vec(),
            ..Default::default()
        };
        let mut out = String::new();
        self.run_task(&task, &mut |line| {
            out.push_str(line);
            out.push('\n');
        })
        .await?;
        Ok(out)
    }
}
