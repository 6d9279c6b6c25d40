//! Freezing between requests: an instance whose idle period began is frozen after the freeze grace
//! (PreFreeze, then the engine's pause: the cgroup freezer), and thawed for the requests placed on it.
//! The engine gets one pause or unpause of an instance at a time (`Instance::freezer`); the state machine
//! says which one is due.

use crate::hooks::{self, HookContext};
use crate::instance::Instance;
use crate::pool::Pool;
use crate::state::{Input, State};
use std::sync::Arc;

impl Pool {
    /// Whether `up` was asked to freeze this instance when idle: not with `--no-freeze`, not under a debugger,
    /// and not when it is provisioned and keeps its resources allocated (FC's `alwaysAllocateCPU`; for a GPU function
    /// `alwaysAllocateGPU`: false is FC's GPU idle mode).
    pub(crate) fn freezes(&self, provisioned: bool) -> bool {
        let provision = &self.function.spec.provision;
        let kept_allocated = match self.function.spec.gpu {
            Some(_) => provision.always_allocate_gpu,
            None => provision.always_allocate_cpu,
        };
        // A process stopped at a breakpoint would otherwise be frozen under the debugger.
        let debugged = self.shared.options.debugged(&self.function.name).is_some();
        self.shared.options.freeze && !(provisioned && kept_allocated) && !debugged
    }

    /// Freezes the instance after the freeze grace (and not before `not_before`), unless a request reaches
    /// it first (which ends idle period `period`).
    pub(crate) fn schedule_freeze(
        self: &Arc<Self>,
        id: &str,
        period: u64,
        provisioned: bool,
        not_before: Option<tokio::time::Instant>,
    ) {
        if !self.freezes(provisioned) {
            return;
        }
        let shared = &self.shared;
        let pool = self.clone();
        let id = id.to_string();
        let settle = not_before.map_or(std::time::Duration::ZERO, |t| {
            t.saturating_duration_since(tokio::time::Instant::now())
        });
        let grace = shared.options.freeze_grace.max(settle);
        shared.tasks.spawn(async move {
            if !grace.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = pool.shared.shutdown.cancelled() => return,
                }
            }
            pool.freeze(&id, period).await;
        });
    }

    /// PreFreeze and the pause, if the instance is still in idle period `period`.
    async fn freeze(self: &Arc<Self>, id: &str, period: u64) {
        let shared = &self.shared;
        let Some(instance) = self.instance(id) else {
            return;
        };
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let _engine = instance.freezer.lock().await;
        if !matches!(
            self.apply(id, Input::FreezeDue { period }),
            Some(State::Freezing { .. })
        ) {
            return; // a request came first: this freeze is void
        }
        if self.function.spec.pre_freeze.is_some() {
            hooks::run_pre_freeze(HookContext {
                shared,
                function: &self.function,
                instance: &instance,
            })
            .await;
            // Requests that came while PreFreeze ran are served without a pause.
            let mut st = self.lock();
            if st.slot(id).is_some_and(|s| s.in_flight > 0) {
                self.apply_locked(&mut st, id, Input::FreezeAbandoned);
                return;
            }
        }
        match shared.runtime.pause(&container_id).await {
            Ok(()) => {
                // Requests placed during the pause find it thawing: it is thawed for them at once.
                if let Some(State::Thawing { .. }) = self.apply(id, Input::Paused) {
                    self.unpause(&instance).await;
                }
            }
            Err(e) => {
                // Not frozen, it serves on; most often its container has just ended, which the engine's
                // exit event is about to say.
                tracing::debug!("{}", fcemu_runtime::error_chain(&e));
                self.apply(id, Input::PauseFailed);
            }
        }
    }

    /// Thaws a frozen instance for the request just placed on it. A task of its own: the request's caller
    /// may go away, and the instance must not stay half-thawed.
    pub(crate) fn spawn_thaw(self: &Arc<Self>, instance: Arc<Instance>) {
        let pool = self.clone();
        self.shared.tasks.spawn(async move {
            let _engine = instance.freezer.lock().await;
            pool.unpause(&instance).await;
        });
    }

    /// The engine's unpause, when the state machine says the container is paused (the caller holds the
    /// instance's freezer). A container that cannot be thawed is out of service.
    pub(crate) async fn unpause(self: &Arc<Self>, instance: &Instance) {
        let paused = matches!(
            self.state_of(&instance.id),
            Some(
                State::Thawing { .. }
                    | State::Stopping {
                        frozen_since: Some(_),
                        ..
                    }
            )
        );
        let Some(container_id) = instance.container_id().filter(|_| paused) else {
            return;
        };
        match self.shared.runtime.unpause(&container_id).await {
            Ok(()) => {
                self.apply(&instance.id, Input::Thawed);
            }
            Err(e) => {
                let stopping = self.state_of(&instance.id).is_none_or(|s| s.is_stopping());
                if stopping {
                    tracing::debug!("{}", fcemu_runtime::error_chain(&e));
                } else {
                    tracing::warn!(
                        "{}; instance {} leaves service",
                        fcemu_runtime::error_chain(&e),
                        instance.id
                    );
                }
                self.lost(&instance.id);
            }
        }
    }
}
