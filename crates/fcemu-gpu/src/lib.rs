//! fcemu-gpu: the GPU cards a run can place instances on, and the allocator that slices them by memory as FC
//! does (an instance gets `gpuMemorySize` MB of one card, never parts of two).
//!
//! Cards come from an [`Inventory`]: NVML on a machine with NVIDIA cards ([`Nvml`]), a list given in
//! `FCEMU_SIMULATED_GPUS` ([`Simulated`]), or a fixed list in tests ([`Fixed`]).

mod allocator;
mod nvml;

pub use allocator::{Allocator, CardView, Slice, SliceView};
pub use nvml::Nvml;

use serde::Serialize;

/// One card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub memory_mb: u32,
    /// From `--gpu simulate`: no device behind it.
    pub simulated: bool,
}

impl std::fmt::Display for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let simulated = if self.simulated { "simulated " } else { "" };
        write!(
            f,
            "#{} {simulated}{} ({} MB)",
            self.index, self.name, self.memory_mb
        )
    }
}

/// Why no cards could be listed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InventoryError {
    /// NVML could not be used: no library, no driver, no permission. Said once, in plain words.
    #[error("no NVIDIA GPU can be used here: {0}")]
    NoGpus(String),
    #[error(
        "FCEMU_SIMULATED_GPUS is `{given}`: {why}. Write cards as TYPE:MB, comma-separated, e.g. ada:49152,ada:49152 or tesla:16384"
    )]
    BadSimulation { given: String, why: String },
}

/// Where a run's cards come from.
pub trait Inventory: Send + Sync {
    /// The cards there are. NVML's calls block: call this off the async threads.
    fn cards(&self) -> Result<Vec<Card>, InventoryError>;
}

/// Cards from `FCEMU_SIMULATED_GPUS` (`TYPE:MB,...`, e.g. `ada:49152,ada:49152`): placement and accounting as
/// with real cards, on machines without any (CI, laptops).
pub struct Simulated(pub String);

impl Inventory for Simulated {
    fn cards(&self) -> Result<Vec<Card>, InventoryError> {
        let bad = |why: String| InventoryError::BadSimulation {
            given: self.0.clone(),
            why,
        };
        let text = self.0.trim();
        if text.is_empty() {
            return Err(bad("it names no card".into()));
        }
        text.split(',')
            .enumerate()
            .map(|(i, card)| {
                let (kind, mb) = card
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| bad(format!("card {} (`{card}`) has no `:MB`", i + 1)))?;
                let memory_mb: u32 = mb.trim().parse().ok().filter(|mb| *mb >= 1024).ok_or_else(
                    || {
                        bad(format!(
                            "card {} has `{mb}` MB, which is not a whole number of at least 1024",
                            i + 1
                        ))
                    },
                )?;
                let kind = kind.trim();
                if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(bad(format!("card {} has no type name before `:`", i + 1)));
                }
                Ok(Card {
                    index: i as u32,
                    name: format!("NVIDIA {kind}"),
                    uuid: format!("GPU-simulated-{i}"),
                    memory_mb,
                    simulated: true,
                })
            })
            .collect()
    }
}

/// A fixed list of cards, for tests.
pub struct Fixed(pub Vec<Card>);

impl Inventory for Fixed {
    fn cards(&self) -> Result<Vec<Card>, InventoryError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_cards_are_read_from_type_and_memory() {
        let cards = Simulated("ada:49152, tesla:16384".into()).cards().unwrap();
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].name, "NVIDIA ada");
        assert_eq!(cards[0].memory_mb, 49152);
        assert_eq!(cards[1].uuid, "GPU-simulated-1");
        assert!(cards.iter().all(|c| c.simulated));
        assert_eq!(cards[1].to_string(), "#1 simulated NVIDIA tesla (16384 MB)");
    }

    #[test]
    fn a_bad_simulation_says_what_is_wrong_and_how_to_write_it() {
        for (given, needle) in [
            ("", "names no card"),
            ("ada", "has no `:MB`"),
            ("ada:lots", "not a whole number"),
            ("ada:512", "at least 1024"),
            (":49152", "no type name"),
        ] {
            let e = Simulated(given.into()).cards().unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.contains("ada:49152,ada:49152"),
                "{e}"
            );
        }
    }
}
