//! Images: whether one is there, and building one from a context folder (`x-fcemu-build`).

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
        let context_dir = context.to_path_buf();
        let archive = tokio::task::spawn_blocking(move || build_context_tar(&context_dir))
            .await
            .map_err(|e| fail(e.into()))?
            .map_err(|e| {
                fail(format!("packing the build context {}: {e}", context.display()).into())
            })?;
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
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(archive.into())));
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

/// A tar of the build context, leaving out what never belongs in an image (VCS data, fcemu's state).
fn build_context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let name = entry.file_name();
            if current == dir && (name == ".git" || name == ".fcemu" || name == "target") {
                continue;
            }
            if entry.file_type()?.is_dir() {
                builder.append_dir(rel, &path)?;
                stack.push(path);
            } else {
                builder.append_path_with_name(&path, rel)?;
            }
        }
    }
    builder.into_inner()
}
