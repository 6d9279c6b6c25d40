//! Code, fcemu's runtime files and layers on an engine that does not share this machine's disk (one reached
//! over the network): a bind mount would name a folder that machine does not have. Each folder goes into a
//! volume named by its content, filled once through the engine's archive upload and mounted read-only by
//! every instance that needs the same content, as FC mounts code.
//!
//! Why a volume and not a copy into each container: the copy's upload and unpacking were paid by every
//! instance's Instance Create; with the volume only the first instance of a content pays it, and the others
//! pay the tar and hash of the folder here (see docs/engines.md for the measurement).

use super::{DockerRuntime, engine};
use crate::*;
use bollard::models::{ContainerCreateBody, HostConfig, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions,
    UploadToContainerOptions,
};
use sha2::{Digest, Sha256};

/// Where the filling container sees the volume.
const FILL_AT: &str = "/fcemu-fill";

impl DockerRuntime {
    /// The binds of `spec`'s mounts on this engine: each folder's content volume, made and filled if this
    /// run has not yet.
    pub(super) async fn content_binds(&self, spec: &ContainerSpec) -> Result<Vec<String>> {
        let mut binds = Vec::with_capacity(spec.mounts.len());
        for mount in &spec.mounts {
            let volume = self.content_volume(mount, spec).await?;
            binds.push(mount.bind_from(&volume));
        }
        Ok(binds)
    }

    async fn content_volume(&self, mount: &Mount, spec: &ContainerSpec) -> Result<String> {
        let failed = |source: EngineError| RuntimeError::CopyIntoContainer {
            id: spec.name.clone(),
            source,
        };
        let host = mount.host.clone();
        let tar = tokio::task::spawn_blocking(move || tar_of(&host))
            .await
            .map_err(|e| failed(e.into()))?
            .map_err(|e| failed(e.into()))?;
        let project = spec
            .labels
            .get(labels::PROJECT)
            .cloned()
            .unwrap_or_default();
        let name = volume_name(&project, &tar);
        // One filling at a time: two instances of one content would otherwise both fill it.
        let _filling = self.volume_creation.lock().await;
        if self.volumes.lock().unwrap().contains(&name) {
            return Ok(name);
        }
        self.fill_volume(&name, &spec.image, &spec.labels, tar)
            .await
            .map_err(failed)?;
        self.volumes.lock().unwrap().insert(name.clone());
        Ok(name)
    }

    /// Makes the volume `name` (labelled as the instances are, so a sweep finds it) and fills it: a
    /// container of `image` that mounts it is created, never started, receives the tar there, and goes.
    async fn fill_volume(
        &self,
        name: &str,
        image: &str,
        labels: &std::collections::BTreeMap<String, String>,
        tar: Vec<u8>,
    ) -> std::result::Result<(), EngineError> {
        let labels = super::shared_labels(labels);
        // A volume of that content left by an earlier run is filled again: it may have been cut short.
        let _ = self
            .docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await;
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.into()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(engine)?;
        let filler = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(format!("{name}-fill")),
                    ..Default::default()
                }),
                ContainerCreateBody {
                    image: Some(image.into()),
                    // Never run: the engine wants a command all the same, and an image may have none.
                    entrypoint: Some(vec!["/fcemu-never-started".into()]),
                    labels: Some(labels),
                    host_config: Some(HostConfig {
                        binds: Some(vec![format!("{name}:{FILL_AT}")]),
                        network_mode: Some("none".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(engine)?
            .id;
        let upload = self
            .docker
            .upload_to_container(
                &filler,
                Some(UploadToContainerOptions {
                    path: FILL_AT.into(),
                    ..Default::default()
                }),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(engine);
        let removed = self
            .docker
            .remove_container(
                &filler,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(engine);
        upload.and(removed)
    }

    /// Removes fcemu's content volumes with these labels that no container uses; how many went.
    pub(super) async fn remove_content_volumes(
        &self,
        labels: &[(String, String)],
    ) -> Result<usize> {
        let failed = |source| RuntimeError::RemoveUnused { source };
        let found = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(super::managed_filter(labels)),
            }))
            .await
            .map_err(|e| failed(engine(e)))?;
        let mut removed = 0;
        for volume in found.volumes.unwrap_or_default() {
            // Never touch a volume without the label, whatever the engine's filter did.
            if volume.labels.get(labels::MANAGED).map(String::as_str) != Some("true") {
                continue;
            }
            match self
                .docker
                .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {
                    self.volumes.lock().unwrap().remove(&volume.name);
                    removed += 1;
                }
                // Gone meanwhile, or still mounted by an instance of a run that goes on.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(e) => return Err(failed(engine(e))),
            }
        }
        Ok(removed)
    }
}

/// The volume of one project's folder content: the same content in another project is another volume, so
/// one project's shutdown never removes what another mounts.
fn volume_name(project: &str, tar: &[u8]) -> String {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let project = Sha256::digest(project.as_bytes());
    let content = Sha256::digest(tar);
    format!("fcemu-{}-{}", hex(&project[..6]), hex(&content[..10]))
}

/// A tar of the folder's content at its root. Links stay links (FC's language layers are links into the
/// runtime's own folders); the headers' times and owners are the files' own, so the same content makes
/// the same tar.
fn tar_of(folder: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.append_dir_all("", folder)?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_goes_at_the_root_with_links_kept() {
        let code = tempfile::tempdir().unwrap();
        std::fs::write(code.path().join("index.py"), "def handler(e, c): pass\n").unwrap();
        std::fs::create_dir(code.path().join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/python3", code.path().join("lib/py")).unwrap();
        let bytes = tar_of(code.path()).unwrap();
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
            .filter(|(path, _)| !path.is_empty())
            .collect();
        entries.sort();
        assert_eq!(
            entries,
            [
                ("index.py".to_string(), false),
                ("lib".to_string(), false),
                ("lib/py".to_string(), true),
            ]
        );
    }

    #[test]
    fn a_volume_is_named_by_its_project_and_its_content() {
        let code = tempfile::tempdir().unwrap();
        std::fs::write(code.path().join("index.py"), "a = 1\n").unwrap();
        let first = volume_name("/p", &tar_of(code.path()).unwrap());
        assert_eq!(first, volume_name("/p", &tar_of(code.path()).unwrap()));
        assert_ne!(first, volume_name("/q", &tar_of(code.path()).unwrap()));
        std::fs::write(code.path().join("index.py"), "a = 2\n").unwrap();
        assert_ne!(first, volume_name("/p", &tar_of(code.path()).unwrap()));
        assert!(first.starts_with("fcemu-") && first.len() == "fcemu-".len() + 12 + 1 + 20);
    }
}
