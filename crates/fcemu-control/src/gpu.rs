//! GPU slices for a run's instances: a GPU function's instance gets its `gpuMemorySize` on one card before
//! its container is made, and gives it back when it is destroyed, whatever the reason. The cards are shared by
//! every function of the run.

use fcemu_gpu::{Allocator, Card, CardView, Slice};
use serde::Serialize;
use std::sync::Mutex;

/// Where GPU functions' instances get their cards.
#[derive(Debug, Clone)]
pub enum GpuMode {
    /// No GPU is placed (`--gpu off`, or a run without GPU functions): GPU functions run without one.
    Off,
    /// These cards, real (NVML) or simulated.
    Cards(Vec<Card>),
}

pub(crate) struct Gpus {
    allocator: Mutex<Allocator>,
}

/// What `/_fcemu/gpus` shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuView {
    /// `nvml`, `simulated`, or `off`.
    pub mode: &'static str,
    pub cards: Vec<CardView>,
}

impl Gpus {
    pub fn new(mode: &GpuMode) -> Option<Self> {
        match mode {
            GpuMode::Off => None,
            GpuMode::Cards(cards) => Some(Gpus {
                allocator: Mutex::new(Allocator::new(cards.clone())),
            }),
        }
    }

    pub fn allot(&self, instance: &str, function: &str, memory_mb: u32) -> Option<Slice> {
        self.allocator
            .lock()
            .unwrap()
            .allot(instance, function, memory_mb)
    }

    /// Gives back what `instance` holds (nothing if it holds nothing).
    pub fn release(&self, instance: &str) -> Option<Slice> {
        self.allocator.lock().unwrap().release(instance)
    }

    /// `#0 0 MB, #1 8192 MB`: each card's free memory, for a message.
    pub fn describe_free(&self) -> String {
        self.allocator.lock().unwrap().describe_free()
    }

    pub fn view(&self) -> GpuView {
        let allocator = self.allocator.lock().unwrap();
        let simulated = allocator.cards().any(|c| c.simulated);
        GpuView {
            mode: if simulated { "simulated" } else { "nvml" },
            cards: allocator.view(),
        }
    }
}
