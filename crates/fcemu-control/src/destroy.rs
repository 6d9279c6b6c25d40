//! Destroy: thaw if frozen, PreStop (unless the reason rules it out), stop, keep the last log lines,
//! remove. Triggered by idle reclamation, provisioned-instance adjustment, an explicit reclaim, shutdown, a
//! failed Creating, and instance exceptions (the container exits, is OOM-killed, or stops answering).

use crate::hooks::{self, HookContext};
use crate::instance::DestroyReason;
use crate::pool::{Lease, Pool};
use crate::state::{Input, State};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long an instance whose process went away waits for the engine to report its container's exit
/// (which says whether it exited or was OOM-killed) before it is destroyed as unhealthy. A busy engine
/// reports an exit a second or two late.
const EXIT_SETTLE: Duration = Duration::from_secs(5);

/// After a broken connection, while its lease still holds the instance: one connection attempt tells
/// whether the instance's process is still there. Refused, the instance leaves service at once; accepted,
/// it serves on, but is not frozen before the engine could have reported its exit.
pub(crate) async fn check_alive(lease: &Lease) {
    let instance = &lease.instance;
    let Some(addr) = instance.addr() else { return };
    if lease.pool().shared.runtime.probe(addr).await.is_err() {
        instance.connections.clear();
        lease.pool().lost(&instance.id);
    } else {
        lease.pool().suspect(&instance.id);
    }
}

impl Pool {
    /// A connection to the instance broke, yet its port still answers: its process may be on its way out
    /// (an OOM-killed process is torn down for a moment). It is not frozen until the engine has had time
    /// to report an exit.
    pub(crate) fn suspect(&self, id: &str) {
        let mut st = self.lock();
        if let Some(slot) = st.slots.iter_mut().find(|s| &*s.instance.id == id) {
            slot.freeze_not_before = Some(tokio::time::Instant::now() + EXIT_SETTLE);
        }
    }

    /// Claims the destroy of an instance for `reason`: no request is placed on it from now on. False if it
    /// is gone, or already claimed by another destroy.
    pub(crate) fn begin_destroy(self: &Arc<Self>, id: &str, reason: DestroyReason) -> bool {
        let mut st = self.lock();
        let claimed_before = matches!(
            st.slot(id).map(|s| &s.state),
            Some(State::Stopping {
                reason: Some(_),
                ..
            })
        );
        !claimed_before
            && matches!(
                self.apply_locked(&mut st, id, Input::BeginDestroy(reason)),
                Some(State::Stopping { reason: Some(r), .. }) if r == reason
            )
    }

    /// Claims and runs the destroy at once; `error` says why Creating failed, when it did.
    pub(crate) async fn destroy_now(
        self: &Arc<Self>,
        id: &str,
        reason: DestroyReason,
        error: Option<String>,
    ) {
        if self.begin_destroy(id, reason) {
            self.destroy(id, error).await;
        }
    }

    /// The destroy of an instance this caller holds a lease on (a failed Creating): claimed first, so the
    /// lease's release finds it stopping.
    pub(crate) async fn destroy_held(
        self: &Arc<Self>,
        lease: Lease,
        reason: DestroyReason,
        error: Option<String>,
    ) {
        let id = lease.instance.id.clone();
        let claimed = self.begin_destroy(&id, reason);
        drop(lease);
        if claimed {
            self.destroy(&id, error).await;
        }
    }

    /// Claims every instance that serves (all of them with `busy_too`, otherwise only those without a
    /// request) and those whose process went away; returns their ids.
    pub(crate) fn begin_destroy_all(
        self: &Arc<Self>,
        reason: DestroyReason,
        busy_too: bool,
    ) -> Vec<Arc<str>> {
        let mut st = self.lock();
        let ids: Vec<Arc<str>> = st
            .slots
            .iter()
            .filter(|s| {
                s.state.is_serving() || matches!(s.state, State::Stopping { reason: None, .. })
            })
            .filter(|s| busy_too || s.in_flight == 0)
            .map(|s| s.instance.id.clone())
            .collect();
        ids.into_iter()
            .filter(|id| {
                matches!(
                    self.apply_locked(&mut st, id, Input::BeginDestroy(reason)),
                    Some(State::Stopping { reason: Some(r), .. }) if r == reason
                )
            })
            .collect()
    }

    /// Destroy, for an instance whose destroy this caller claimed; `error` says why Creating failed, when
    /// it did.
    pub(crate) async fn destroy(self: &Arc<Self>, id: &str, error: Option<String>) {
        let shared = &self.shared;
        let claimed = {
            let st = self.lock();
            st.slot(id).and_then(|s| match s.state {
                State::Stopping {
                    reason: Some(reason),
                    ..
                } => Some((s.instance.clone(), reason, s.provisioned)),
                _ => None,
            })
        };
        let Some((instance, reason, provisioned)) = claimed else {
            return;
        };
        if reason.runs_pre_stop() {
            // Requests already on the instance may finish (no new one is placed on it), within the
            // function's timeout.
            let deadline = Instant::now() + self.function.spec.timeout;
            self.wait_no_request(deadline, |s| s.instance.id == instance.id)
                .await;
        }
        if let Some(container_id) = instance.container_id() {
            if !reason.has_exited() {
                // A frozen container can neither run PreStop nor always be removed cleanly.
                let _engine = instance.freezer.lock().await;
                self.unpause(&instance).await;
            }
            if reason.runs_pre_stop() && instance.addr().is_some() {
                hooks::run_pre_stop(HookContext {
                    shared,
                    function: &self.function,
                    instance: &instance,
                })
                .await;
            }
            if let Err(e) = shared
                .runtime
                .stop(&container_id, shared.options.stop_grace)
                .await
            {
                tracing::warn!("{}", fcemu_runtime::error_chain(&e));
            }
            instance.wait_log_pump(Duration::from_secs(5)).await;
            if let Err(e) = shared.runtime.remove(&container_id).await {
                tracing::warn!("{}", fcemu_runtime::error_chain(&e));
            }
        }
        // Its GPU slice is free before anyone waiting for one is woken by the destroy.
        if let Some(gpus) = &shared.gpus {
            gpus.release(id);
        }
        self.apply(id, Input::Destroyed { error });
        if provisioned && reason.is_exception() {
            // A provisioned instance that failed or died is made good again.
            self.retry_provision();
        }
        shared.instance_line(
            &self.function.name,
            &instance,
            format!(
                "FC Instance Destroyed InstanceId: {id} Reason: {}",
                reason.as_str()
            ),
        );
    }

    /// A connection showed that the instance's process is gone: it leaves service at once, without waiting
    /// for the engine. The engine's exit event then destroys it as exited or OOM-killed; if none comes, it
    /// is destroyed as unhealthy.
    pub(crate) fn lost(self: &Arc<Self>, id: &str) {
        let before = self.state_of(id);
        if before.as_ref().is_none_or(State::is_stopping) {
            return;
        }
        self.apply(id, Input::Lost);
        let shared = &self.shared;
        let (pool, id) = (self.clone(), id.to_string());
        let shutdown = shared.shutdown.clone();
        shared.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(EXIT_SETTLE) => {}
                _ = shutdown.cancelled() => return,
            }
            pool.destroy_now(&id, DestroyReason::Unhealthy, None).await;
        });
    }

    /// Destroys the instances that had no request for the idle timeout (never provisioned ones, nor a
    /// debugged function's: a debugger stays attached to it).
    pub fn reap_idle(self: &Arc<Self>, idle_timeout: Duration) {
        if self.shared.options.debugged(&self.function.name).is_some() {
            return;
        }
        let now = Instant::now();
        let idle: Vec<Arc<str>> = {
            let mut st = self.lock();
            let due: Vec<Arc<str>> = st
                .slots
                .iter()
                .filter(|s| !s.provisioned && s.in_flight == 0)
                // An instance holding a live session stays while the session lives.
                .filter(|s| !st.sessions.holds_any(&s.instance.id))
                .filter(|s| {
                    s.state
                        .idle_since()
                        .is_some_and(|since| now.duration_since(since) >= idle_timeout)
                })
                .map(|s| s.instance.id.clone())
                .collect();
            due.into_iter()
                .filter(|id| {
                    self.apply_locked(&mut st, id, Input::BeginDestroy(DestroyReason::Idle))
                        .is_some()
                })
                .collect()
        };
        for id in idle {
            let pool = self.clone();
            self.shared
                .tasks
                .spawn(async move { pool.destroy(&id, None).await });
        }
    }
}
