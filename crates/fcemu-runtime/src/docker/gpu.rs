//! A GPU for an instance's container, as each engine takes one.

use super::DockerRuntime;
use crate::GpuRequest;
use bollard::models::DeviceRequest;

impl DockerRuntime {
    /// A card for a container, as this engine takes it: Docker through the NVIDIA Container Toolkit's
    /// device request; Podman as a CDI device (`nvidia.com/gpu=UUID`), which its Docker API takes from
    /// Podman 5 on.
    pub(super) fn gpu_request(&self, gpu: &GpuRequest) -> DeviceRequest {
        if self.version.is_podman() {
            return DeviceRequest {
                driver: Some("cdi".into()),
                device_ids: Some(
                    gpu.device_ids
                        .iter()
                        .map(|uuid| format!("nvidia.com/gpu={uuid}"))
                        .collect(),
                ),
                ..Default::default()
            };
        }
        DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(gpu.device_ids.clone()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }
    }

    /// Whether a device request reaches the container: Podman before 5 drops it without a word, and the
    /// function would start without its card.
    pub(super) fn passes_gpus(&self) -> bool {
        let major = |v: &str| v.split('.').next().and_then(|m| m.parse::<u32>().ok());
        !self.version.is_podman() || major(&self.version.version).is_some_and(|m| m >= 5)
    }
}
