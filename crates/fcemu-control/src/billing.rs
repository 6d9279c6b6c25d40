//! The billing view (docs/lifecycle.md): per function, what FC would bill. Invocations and hook executions are
//! billed alike; frozen time is not billed.

use fcemu_spec::FunctionSpec;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
struct Counters {
    invocations: u64,
    hook_executions: u64,
    active: Duration,
    frozen: Duration,
    /// Of `frozen`, what provisioned GPU instances spent in FC's GPU idle mode.
    gpu_idle: Duration,
}

#[derive(Debug, Default)]
pub struct Billing {
    counters: Mutex<Counters>,
}

/// One function's line of `/_fcemu/billing`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingView {
    pub function_name: String,
    pub invocations: u64,
    pub hook_executions: u64,
    /// Time with at least one request or hook running, per instance (overlaps counted once).
    pub active_seconds: f64,
    pub frozen_seconds: f64,
    pub vcpu_seconds: f64,
    pub gb_seconds: f64,
    /// GPU memory (GB) times active seconds.
    pub gpu_gb_seconds: f64,
    /// GPU memory (GB) times the seconds provisioned GPU instances spent idle (frozen, FC's GPU idle mode,
    /// billed at a lower rate).
    pub gpu_idle_gb_seconds: f64,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Billing {
    pub fn invocation(&self) {
        self.counters.lock().unwrap().invocations += 1;
    }

    pub fn hook_execution(&self) {
        self.counters.lock().unwrap().hook_executions += 1;
    }

    pub fn active(&self, d: Duration) {
        self.counters.lock().unwrap().active += d;
    }

    pub fn frozen(&self, d: Duration, gpu_idle: bool) {
        let mut c = self.counters.lock().unwrap();
        c.frozen += d;
        if gpu_idle {
            c.gpu_idle += d;
        }
    }

    pub fn view(&self, spec: &FunctionSpec) -> BillingView {
        let c = self.counters.lock().unwrap();
        let active = c.active.as_secs_f64();
        let gpu_gb = spec
            .gpu
            .as_ref()
            .map(|g| f64::from(g.gpu_memory_size_mb) / 1024.0)
            .unwrap_or(0.0);
        BillingView {
            function_name: spec.name.clone(),
            invocations: c.invocations,
            hook_executions: c.hook_executions,
            active_seconds: round3(active),
            frozen_seconds: round3(c.frozen.as_secs_f64()),
            vcpu_seconds: round3(active * spec.cpu),
            gb_seconds: round3(active * f64::from(spec.memory_size_mb) / 1024.0),
            gpu_gb_seconds: round3(active * gpu_gb),
            gpu_idle_gb_seconds: round3(c.gpu_idle.as_secs_f64() * gpu_gb),
        }
    }
}
