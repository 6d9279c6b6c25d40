//! Provisioned instances: created, initialized and frozen before any request (`provisionConfig`,
//! `scalingConfig.minInstances`, `fcemu provision`), never reclaimed for idleness, and made good again after
//! a wait that grows with failures in a row when one fails to come up or dies.

use crate::error::PlaceError;
use crate::events::Event;
use crate::events::EventKind;
use crate::instance::DestroyReason;
use crate::pool::Pool;
use std::sync::Arc;
use std::time::Duration;

/// The wait before a provisioned instance that failed to come up, or died, is created again: 1 s, doubling
/// with each failure in a row up to a minute, so a function that cannot start does not spin.
pub fn provision_retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(6);
    Duration::from_secs(1 << doublings).min(Duration::from_secs(60))
}

/// A function's provisioned instances: wanted and live.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionStatus {
    pub function_name: String,
    pub target: u32,
    pub current: u32,
    #[serde(rename = "alwaysAllocateCPU")]
    pub always_allocate_cpu: bool,
    #[serde(rename = "alwaysAllocateGPU")]
    pub always_allocate_gpu: bool,
}

/// Why a provisioned target was not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRefused {
    NoFunction,
    /// More than the function may have at all (`--max-instances`, `reservedConcurrency`).
    OverCap {
        target: u32,
        cap: u32,
    },
}

impl Pool {
    pub fn provision_status(&self) -> ProvisionStatus {
        let st = self.lock();
        let spec = &self.function.spec;
        ProvisionStatus {
            function_name: spec.name.clone(),
            target: st.provision_target,
            current: st
                .slots
                .iter()
                .filter(|s| s.provisioned && !s.state.is_stopping())
                .count() as u32,
            always_allocate_cpu: spec.provision.always_allocate_cpu,
            always_allocate_gpu: spec.provision.always_allocate_gpu,
        }
    }

    /// Provisioned instance adjustment: sets the target and creates or destroys instances until the count
    /// matches. Returns when every creation and destroy it started is done. A target over the cap on
    /// instances (an s.yaml's, or an update's) is held to the cap.
    pub async fn set_provision_target(self: &Arc<Self>, target: u32) -> ProvisionStatus {
        let target = match self.instance_cap() {
            Some(cap) if target > cap => {
                tracing::warn!(
                    "function {}: {target} provisioned instances wanted, held to its cap of {cap} (--max-instances)",
                    self.function.name
                );
                cap
            }
            _ => target,
        };
        let previous = std::mem::replace(&mut self.lock().provision_target, target);
        if previous != target {
            self.shared.events.emit(
                Event::new(EventKind::ProvisionChanged, &self.function.name, None)
                    .with("target", target)
                    .with("previous", previous),
            );
        }
        self.reconcile_provision().await;
        self.provision_status()
    }

    /// Creates the missing provisioned instances (initialized, then frozen unless alwaysAllocateCPU), or
    /// destroys the excess through PreStop, idle ones first.
    async fn reconcile_provision(self: &Arc<Self>) {
        let shared = &self.shared;
        let (creations, excess, short) = {
            let mut st = self.lock();
            let target = st.provision_target as usize;
            let mut live: Vec<(bool, u32, Arc<str>)> = st
                .slots
                .iter()
                .filter(|s| s.provisioned && !s.state.is_stopping())
                .map(|s| (s.state.is_creating(), s.in_flight, s.instance.id.clone()))
                .collect();
            // Keep those being created (each is checked against the target when it is done) and the
            // busiest; the excess comes from the idle end.
            live.sort_by_key(|(creating, in_flight, _)| std::cmp::Reverse((*creating, *in_flight)));
            let excess: Vec<Arc<str>> = live
                .iter()
                .skip(target)
                .filter(|(creating, _, _)| !creating)
                .map(|(_, _, id)| id.clone())
                .filter(|id| {
                    self.apply_locked(
                        &mut st,
                        id,
                        crate::state::Input::BeginDestroy(DestroyReason::Provision),
                    )
                    .is_some()
                })
                .collect();
            let missing = target.saturating_sub(live.len());
            let made: Vec<_> = (0..missing).map(|_| self.new_slot(&mut st, true)).collect();
            let no_room = made.iter().filter(|m| m.is_err()).count();
            if no_room > 0 {
                tracing::warn!(
                    "{no_room} provisioned instance{} of {} wait for GPU memory: it needs {} MB on one card, and the cards have {} free",
                    if no_room == 1 { "" } else { "s" },
                    self.function.name,
                    self.function
                        .spec
                        .gpu
                        .as_ref()
                        .map_or(0, |g| g.gpu_memory_size_mb),
                    shared
                        .gpus
                        .as_ref()
                        .map(|g| g.describe_free())
                        .unwrap_or_default()
                );
            }
            (
                made.into_iter().flatten().collect::<Vec<_>>(),
                excess,
                no_room > 0,
            )
        };
        if short {
            // Tried again (with growing waits) until cards have room: a slice may be freed meanwhile.
            self.retry_provision();
        }
        let creations = creations.into_iter().map(|lease| {
            let pool = self.clone();
            // Tracked, so shutdown waits for creations it interrupts to clean up.
            shared.tasks.clone().spawn(async move {
                // Held by the provisioner until Creating is done; released, the instance idles (and
                // freezes). A failure is made good by the destroy that follows it.
                match pool.create(lease).await {
                    Ok(lease) => {
                        pool.lock().provision_failures = 0;
                        let id = lease.instance.id.clone();
                        drop(lease);
                        // The target was lowered while it was being created.
                        let status = pool.provision_status();
                        if status.current > status.target {
                            pool.destroy_now(&id, DestroyReason::Provision, None).await;
                        }
                    }
                    Err(PlaceError::ShuttingDown) => {}
                    Err(e) => tracing::debug!(
                        "a provisioned instance of {} did not come up: {}",
                        pool.function.name,
                        fcemu_runtime::error_chain(&e)
                    ),
                }
            })
        });
        let destroys = excess.iter().map(|id| self.destroy(id, None));
        tokio::join!(
            futures_util::future::join_all(creations),
            futures_util::future::join_all(destroys)
        );
    }

    /// A provisioned instance failed to come up or died: the count is made good again after a wait that
    /// grows with the failures in a row.
    pub(crate) fn retry_provision(self: &Arc<Self>) {
        let shared = &self.shared;
        let delay = {
            let mut st = self.lock();
            st.provision_failures += 1;
            provision_retry_delay(st.provision_failures)
        };
        let (pool, shutdown) = (self.clone(), shared.shutdown.clone());
        shared.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
            // Boxed: the adjustment can lead back here, and a future cannot contain itself.
            let again: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(pool.reconcile_provision());
            again.await;
        });
    }
}
