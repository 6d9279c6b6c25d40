//! What a test reads of the fake engine and does to it: the calls made, failures and delays injected,
//! containers killed or their process gone.

use super::{ContainerState, FakeRuntime, FunctionCounters};
use crate::*;
use std::sync::Arc;

impl FakeRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// How many calls of operation `op` (`create`, `pause`, ...) were made so far.
    pub fn count(&self, op: &str) -> usize {
        let inner = self.inner.lock().unwrap();
        inner
            .calls
            .iter()
            .filter(|c| c.split(' ').next() == Some(op))
            .count()
    }

    /// Makes every later call of operation `op` fail.
    pub fn fail(&self, op: &str) {
        self.inner.lock().unwrap().failing.push(op.to_string());
    }

    /// Makes every later call of operation `op` take `took` (before it does anything).
    pub fn slow(&self, op: &str, took: Duration) {
        self.inner.lock().unwrap().slow.insert(op.to_string(), took);
    }

    pub(super) async fn take_time(&self, op: &str) {
        let took = self.inner.lock().unwrap().slow.get(op).copied();
        if let Some(took) = took {
            tokio::time::sleep(took).await;
        }
    }

    pub fn state(&self, id: &str) -> Option<ContainerState> {
        self.inner
            .lock()
            .unwrap()
            .containers
            .get(id)
            .map(|c| c.state)
    }

    /// Containers that exist (created and not removed).
    pub fn live(&self) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        let mut ids: Vec<String> = inner
            .containers
            .iter()
            .filter(|(_, c)| c.state != ContainerState::Removed)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub fn spec(&self, id: &str) -> Option<ContainerSpec> {
        self.inner
            .lock()
            .unwrap()
            .containers
            .get(id)
            .map(|c| c.spec.clone())
    }

    pub fn counters(&self, id: &str) -> Option<Arc<FunctionCounters>> {
        self.inner
            .lock()
            .unwrap()
            .containers
            .get(id)
            .map(|c| c.counters.clone())
    }

    /// Makes a container end by itself, as a crash or the OOM killer would.
    pub fn kill(&self, id: &str, exit_code: i64, oom_killed: bool) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(c) = inner.containers.get_mut(id) {
            c.exited(ContainerExit {
                exit_code,
                oom_killed,
            });
        }
    }

    /// The container's port refuses new connections; those open stay.
    pub fn stop_listening(&self, id: &str) {
        if let Some(c) = self.inner.lock().unwrap().containers.get_mut(id) {
            c.listener = None;
        }
    }

    /// The function's process is gone (connections to its port are refused) while its container has not
    /// exited (yet): what the engine reports only later, or, for a process that left a child behind, never.
    pub fn process_gone(&self, id: &str) {
        if let Some(c) = self.inner.lock().unwrap().containers.get_mut(id) {
            c.listener = None;
            c.gone.send_replace(true);
        }
    }

    pub(super) fn record(&self, op: &str, target: &str) -> Result<(), EngineError> {
        let mut inner = self.inner.lock().unwrap();
        inner.calls.push(format!("{op} {target}"));
        if inner.failing.iter().any(|f| f == op) {
            return Err(format!("{op} fails on purpose (fake runtime)").into());
        }
        Ok(())
    }
}
