//! Code, fcemu's runtime files and layers on an engine that does not share this machine's disk (one
//! reached over the network): a bind mount would name a folder that machine does not have, so each
//! mount's folder is copied into the container after it is created and before it starts, with the
//! engine's archive upload.

use super::{DockerRuntime, engine};
use crate::*;
use bollard::query_parameters::UploadToContainerOptions;

impl DockerRuntime {
    /// Copies every mount's folder to its place in the created container `id`.
    pub(super) async fn copy_mounts(&self, id: &str, mounts: &[Mount]) -> Result<()> {
        let mounts = mounts.to_vec();
        let failed = |source: EngineError| RuntimeError::CopyIntoContainer {
            id: id.into(),
            source,
        };
        let tar = tokio::task::spawn_blocking(move || tar_of(&mounts))
            .await
            .map_err(|e| failed(e.into()))?
            .map_err(|e| failed(e.into()))?;
        let options = UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| failed(engine(e)))
    }
}

/// One tar of every mount's folder under its path in the container. Links stay links (FC's language
/// layers are links into the runtime's own folders).
fn tar_of(mounts: &[Mount]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for m in mounts {
        tar.append_dir_all(m.container.trim_start_matches('/'), &m.host)?;
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_folder_goes_under_its_container_path_with_links_kept() {
        let code = tempfile::tempdir().unwrap();
        std::fs::write(code.path().join("index.py"), "def handler(e, c): pass\n").unwrap();
        std::fs::create_dir(code.path().join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/python3", code.path().join("lib/py")).unwrap();
        let bytes = tar_of(&[Mount {
            host: code.path().to_path_buf(),
            container: "/code".into(),
            read_only: true,
        }])
        .unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entries: Vec<(String, bool)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type().is_symlink(),
                )
            })
            .collect();
        entries.sort();
        assert_eq!(
            entries,
            [
                ("code/".to_string(), false),
                ("code/index.py".to_string(), false),
                ("code/lib".to_string(), false),
                ("code/lib/py".to_string(), true),
            ]
        );
    }
}
