//! The machine's NVIDIA cards through NVML. nvml-wrapper loads the library at run time, so a machine without
//! a driver simply has no cards; NVML is initialised once, on the first call.

use crate::{Card, Inventory, InventoryError};
use nvml_wrapper::error::NvmlError;
use std::sync::OnceLock;

pub struct Nvml {
    /// The library, or why it cannot be used (kept, so it is said the same way every time).
    loaded: OnceLock<Result<nvml_wrapper::Nvml, InventoryError>>,
}

impl Default for Nvml {
    fn default() -> Self {
        Nvml {
            loaded: OnceLock::new(),
        }
    }
}

/// The library as the driver installs it, then the development symlink (nvml-wrapper's default).
const LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// What went wrong, in words a user can act on.
fn plain(e: &NvmlError) -> String {
    match e {
        NvmlError::LibloadingError(_) => {
            "the NVIDIA management library (libnvidia-ml.so.1) is not installed, so there is no NVIDIA driver"
                .into()
        }
        NvmlError::DriverNotLoaded => "the NVIDIA driver is installed but not loaded".into(),
        NvmlError::NoPermission => "this user may not talk to the NVIDIA driver".into(),
        other => format!("NVML answered: {other}"),
    }
}

impl Nvml {
    fn load(&self) -> Result<&nvml_wrapper::Nvml, InventoryError> {
        self.loaded
            .get_or_init(|| {
                let mut last = String::new();
                for library in LIBRARIES {
                    match nvml_wrapper::Nvml::builder()
                        .lib_path(std::ffi::OsStr::new(library))
                        .init()
                    {
                        Ok(nvml) => return Ok(nvml),
                        Err(e) => last = plain(&e),
                    }
                }
                Err(InventoryError::NoGpus(last))
            })
            .as_ref()
            .map_err(InventoryError::clone)
    }
}

impl Inventory for Nvml {
    fn cards(&self) -> Result<Vec<Card>, InventoryError> {
        let nvml = self.load()?;
        let failed = |e: NvmlError| InventoryError::NoGpus(plain(&e));
        let count = nvml.device_count().map_err(failed)?;
        (0..count)
            .map(|index| {
                let device = nvml.device_by_index(index).map_err(failed)?;
                Ok(Card {
                    index,
                    name: device.name().map_err(failed)?,
                    uuid: device.uuid().map_err(failed)?,
                    memory_mb: (device.memory_info().map_err(failed)?.total / (1024 * 1024)) as u32,
                    simulated: false,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_there_are_no_cards_and_the_reason_is_plain() {
        // On a machine with NVIDIA cards this lists them; elsewhere (CI) it says why there are none.
        match Nvml::default().cards() {
            Ok(cards) => {
                for card in cards {
                    assert!(
                        card.uuid.starts_with("GPU-") && card.memory_mb > 0,
                        "{card:?}"
                    );
                }
            }
            Err(InventoryError::NoGpus(why)) => {
                assert!(!why.is_empty());
                assert!(!why.contains("Libloading"), "said in plain words: {why}");
            }
            Err(other) => panic!("{other}"),
        }
    }
}
