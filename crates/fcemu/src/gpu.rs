//! `--gpu auto|off|simulate`: which cards a run's GPU functions are placed on, checked against what the
//! functions ask for before anything starts.

use crate::failure::Failure;
use fcemu_control::GpuMode as Cards;
use fcemu_gpu::{Card, Inventory, InventoryError, Nvml, Simulated};
use fcemu_spec::{Project, SpecErrors};

/// Where GPU functions get cards (`up --gpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuSource {
    Auto,
    Off,
    Simulate,
}

/// The simulated cards when `FCEMU_SIMULATED_GPUS` is not set: one 48 GB card.
pub const DEFAULT_SIMULATED: &str = "ada:49152";

/// The run's cards, the line the banner shows about them, and what `up` warns of.
pub struct Plan {
    pub cards: Cards,
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

/// The machine's NVIDIA cards; NVML's calls block, so they run off the async threads.
pub async fn nvml_cards() -> Result<Vec<Card>, InventoryError> {
    tokio::task::spawn_blocking(|| Nvml::default().cards())
        .await
        .unwrap_or_else(|e| Err(InventoryError::NoGpus(e.to_string())))
}

/// The cards `--gpu simulate` places on.
pub fn simulated_cards() -> Result<(Vec<Card>, String), Failure> {
    let given = std::env::var("FCEMU_SIMULATED_GPUS").ok();
    let spec = given.clone().unwrap_or_else(|| DEFAULT_SIMULATED.into());
    let cards = Simulated(spec)
        .cards()
        .map_err(|e| Failure::user(e.to_string()))?;
    let from = match given {
        Some(_) => "FCEMU_SIMULATED_GPUS".to_string(),
        None => format!("FCEMU_SIMULATED_GPUS is not set: {DEFAULT_SIMULATED}"),
    };
    Ok((cards, from))
}

/// `#0 NVIDIA L40S (49152 MB), #1 ...`
pub fn describe(cards: &[Card]) -> String {
    cards
        .iter()
        .map(Card::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides the run's cards from `--gpu`, and refuses what cannot run: GPU functions without cards (auto, no
/// NVIDIA GPU: exit 3), or a function that asks more than any card has (a placed error, exit 1).
pub async fn plan(project: &Project, source: GpuSource) -> Result<Plan, Failure> {
    let gpu_functions: Vec<&str> = project
        .functions
        .iter()
        .filter(|f| f.gpu.is_some())
        .map(|f| f.name.as_str())
        .collect();
    let (cards, line) = match source {
        GpuSource::Off => {
            let warnings = if gpu_functions.is_empty() {
                vec![]
            } else {
                vec![format!(
                    "--gpu off: {} run without a GPU (gpuConfig is read, and no card is placed)",
                    gpu_functions.join(", ")
                )]
            };
            return Ok(Plan {
                cards: Cards::Off,
                lines: vec![],
                warnings,
            });
        }
        GpuSource::Simulate => {
            let (cards, from) = simulated_cards()?;
            let line = format!("GPUs (simulated, {from}): {}", describe(&cards));
            (cards, line)
        }
        GpuSource::Auto => match nvml_cards().await {
            Ok(cards) if !cards.is_empty() => {
                let line = format!("GPUs: {}", describe(&cards));
                (cards, line)
            }
            found => {
                let why = match found {
                    Err(e) => e.to_string(),
                    Ok(_) => "NVML found no NVIDIA card".into(),
                };
                if gpu_functions.is_empty() {
                    return Ok(Plan {
                        cards: Cards::Off,
                        lines: vec![],
                        warnings: vec![],
                    });
                }
                return Err(Failure::environment(format!(
                    "{} {} a GPU (gpuConfig), and {why}. Run with --gpu simulate to place them on simulated cards (FCEMU_SIMULATED_GPUS, e.g. ada:49152,ada:49152; {DEFAULT_SIMULATED} when unset), or --gpu off to run them without a GPU.",
                    gpu_functions.join(", "),
                    if gpu_functions.len() == 1 {
                        "asks for"
                    } else {
                        "ask for"
                    }
                )));
            }
        },
    };
    check_fit(project, &cards)?;
    Ok(Plan {
        cards: Cards::Cards(cards),
        lines: vec![line],
        warnings: vec![],
    })
}

/// A function that asks for more GPU memory than any card has can never be placed: refused at `up`, at its
/// `gpuMemorySize` in the file.
fn check_fit(project: &Project, cards: &[Card]) -> Result<(), Failure> {
    let largest = cards.iter().map(|c| c.memory_mb).max().unwrap_or(0);
    let errors: Vec<(String, String)> = project
        .functions
        .iter()
        .filter_map(|f| f.gpu.as_ref())
        .filter(|gpu| gpu.gpu_memory_size_mb > largest)
        .map(|gpu| {
            (
                gpu.memory_field.clone(),
                format!(
                    "is {}, more than any card here has (the largest has {largest} MB): {}",
                    gpu.gpu_memory_size_mb,
                    describe(cards)
                ),
            )
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(Failure::user(
        SpecErrors::placed(&project.template, errors).to_string(),
    ))
}
