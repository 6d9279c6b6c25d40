//! One function's instances, each in a slot with its state and the leases held on it. Every change of an
//! instance's state goes through [`Pool::apply`], which runs the state machine (`crate::state`), emits the
//! event the transition returns, and does what the new state asks for.
//!
//! What the pool does with its instances is spread by concern: placing requests (`placement.rs`), Creating
//! (`creating.rs`, `readiness.rs`), freezing (`freezing.rs`), provisioned instances (`provision.rs`), Destroy
//! (`destroy.rs`), and watching the engine (`engine.rs`).

use crate::function::Function;
use crate::init_duration::ms;
use crate::instance::{Instance, InstanceState};
use crate::shared::Shared;
use crate::state::{Input, Names, State};
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::{Notify, Semaphore};

/// What `/_fcemu/instances` and `fcemu ps` show of an instance.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    pub instance_id: String,
    pub function_name: String,
    pub state: InstanceState,
    pub container_id: String,
    pub in_flight: u32,
    pub created_at: String,
    pub last_request_at: Option<String>,
    pub provisioned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    /// The GPU slice it holds, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<fcemu_gpu::Slice>,
}

/// An instance's place in the pool: what placement reads and changes under the pool's lock.
pub(crate) struct Slot {
    pub instance: Arc<Instance>,
    pub state: State,
    /// Leases held on the instance: requests, a creation under way, or the provisioner.
    pub in_flight: u32,
    pub provisioned: bool,
    pub last_request_at: Option<SystemTime>,
    /// Not frozen before this: a connection to it broke while its port still answered, and a process on
    /// its way out never finishes exiting once frozen.
    pub freeze_not_before: Option<tokio::time::Instant>,
}

#[derive(Default)]
pub(crate) struct PoolState {
    pub slots: Vec<Slot>,
    /// Requests waiting for an instance with room.
    pub waiting: u32,
    /// Provisioned instances wanted (`provisionConfig`, `scalingConfig.minInstances`, `fcemu provision`).
    pub provision_target: u32,
    /// Provisioned instances in a row that failed to come up or died: sets the wait before the next try.
    pub provision_failures: u32,
    /// Which instance holds which session (functions with session affinity).
    pub sessions: crate::session_table::SessionTable,
}

impl PoolState {
    pub fn slot(&self, id: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| &*s.instance.id == id)
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| &*s.instance.id == id)
    }
}

pub struct Pool {
    pub function: Arc<Function>,
    pub(crate) shared: Arc<Shared>,
    state: Mutex<PoolState>,
    /// The run's `Shared::changed`: woken on every transition.
    pub(crate) changed: Arc<Notify>,
    cap: Option<u32>,
    /// Asynchronous invocations running at once, at most what the capped instances can serve: the rest wait
    /// their turn (answered 202 already) instead of each asking for an instance of its own.
    pub(crate) async_slots: Option<Arc<Semaphore>>,
}

fn instance_cap(options: &crate::options::Options, spec: &fcemu_spec::FunctionSpec) -> Option<u32> {
    // A debugged function has one instance: the one the debugger is attached to.
    let debugged = options.debugged(&spec.name).map(|_| 1);
    [options.max_instances, spec.reserved_concurrency, debugged]
        .into_iter()
        .flatten()
        .min()
}

/// No card has room for a new instance's GPU slice.
#[derive(Debug)]
pub(crate) struct NoGpuRoom;

/// A hold on one slot of one instance; dropping it gives the slot back.
pub struct Lease {
    pub instance: Arc<Instance>,
    pool: Arc<Pool>,
    /// The session whose request holds it: the session's idle time counts from its release.
    pub(crate) session: Option<crate::session_table::Token>,
}

impl Lease {
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(token) = self.session {
            self.pool.session_request_ended(token);
        }
        self.pool.apply(&self.instance.id, Input::Release);
    }
}

impl Pool {
    pub fn new(function: Arc<Function>, shared: &Arc<Shared>) -> Self {
        let cap = instance_cap(&shared.options, &function.spec);
        let concurrency = function.spec.instance_concurrency.max(1);
        Pool {
            async_slots: cap
                .map(|cap| Arc::new(Semaphore::new(cap.saturating_mul(concurrency) as usize))),
            cap,
            function,
            shared: shared.clone(),
            state: Mutex::default(),
            changed: shared.changed.clone(),
        }
    }

    /// The cap on this function's instances: `--max-instances`, `concurrencyConfig.reservedConcurrency`.
    pub fn instance_cap(&self) -> Option<u32> {
        self.cap
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap()
    }

    /// Applies `input` to an instance's state; the state it is in after, or None when it is gone.
    pub(crate) fn apply(self: &Arc<Self>, id: &str, input: Input) -> Option<State> {
        let mut st = self.lock();
        self.apply_locked(&mut st, id, input)
    }

    /// [`Pool::apply`] under a lock already held, for a decision and its transition made at once.
    pub(crate) fn apply_locked(
        self: &Arc<Self>,
        st: &mut PoolState,
        id: &str,
        input: Input,
    ) -> Option<State> {
        let index = st.index(id)?;
        let shared = &self.shared;
        let slot = &mut st.slots[index];
        match input {
            Input::Place => {
                slot.in_flight += 1;
                slot.last_request_at = Some(SystemTime::now());
            }
            Input::Release => match slot.in_flight.checked_sub(1) {
                Some(left) => slot.in_flight = left,
                None => {
                    shared.illegal_transition(&format!(
                        "a lease released on instance {id}, which has none"
                    ));
                    return Some(slot.state.clone());
                }
            },
            _ => {}
        }
        let names = Names {
            function: &self.function.name,
            instance: &slot.instance.id,
        };
        let step = match slot.state.step(input, slot.in_flight, &names) {
            Ok(step) => step,
            Err(illegal) => {
                shared.illegal_transition(&illegal.to_string());
                return Some(slot.state.clone());
            }
        };
        if let Some(frozen) = step.frozen_for {
            // A provisioned GPU instance frozen between requests is in FC's GPU idle mode, billed apart.
            let gpu_idle = slot.provisioned && self.function.spec.gpu.is_some();
            self.function.billing.frozen(frozen, gpu_idle);
        }
        if let Some(event) = step.event {
            shared.events.emit(event);
        }
        let leaving = step.next.is_stopping() && !slot.state.is_stopping();
        slot.state = step.next.clone();
        let (provisioned, not_before) = (slot.provisioned, slot.freeze_not_before);
        if leaving {
            // Its sessions go with it: their next requests start new sessions on other instances.
            self.end_sessions_on(st, id);
        }
        if let State::Destroyed { .. } = step.next {
            st.slots.remove(index);
        }
        if step.idle_began {
            if let State::Ready { idle, .. } = &step.next {
                self.schedule_freeze(id, idle.period, provisioned, not_before);
            }
        }
        self.changed.notify_waiters();
        Some(step.next)
    }

    /// Makes a slot for a new instance, held by the lease returned (the creation's or the provisioner's). A
    /// GPU function's instance first gets its slice of a card: Err when no card has room for it.
    pub(crate) fn new_slot(
        self: &Arc<Self>,
        st: &mut PoolState,
        provisioned: bool,
    ) -> Result<Lease, NoGpuRoom> {
        let instance = Arc::new(Instance::new(
            crate::ids::instance_id(),
            self.function.spec.name.clone(),
            SystemTime::now(),
        ));
        if let (Some(gpus), Some(gpu)) = (&self.shared.gpus, &self.function.spec.gpu) {
            let slice = gpus
                .allot(
                    &instance.id,
                    &self.function.spec.name,
                    gpu.gpu_memory_size_mb,
                )
                .ok_or(NoGpuRoom)?;
            instance.set_gpu(slice);
        }
        if provisioned {
            // Requests to a provisioned instance are never cold starts.
            instance.take_cold_start();
        }
        st.slots.push(Slot {
            instance: instance.clone(),
            state: State::Absent,
            in_flight: 1,
            provisioned,
            last_request_at: (!provisioned).then(SystemTime::now),
            freeze_not_before: None,
        });
        self.apply_locked(st, &instance.id, Input::Create { provisioned });
        Ok(self.lease(instance))
    }

    /// A lease on an instance whose slot already counts it.
    pub(crate) fn lease(self: &Arc<Self>, instance: Arc<Instance>) -> Lease {
        Lease {
            instance,
            pool: self.clone(),
            session: None,
        }
    }

    pub(crate) fn state_of(&self, id: &str) -> Option<State> {
        self.lock().slot(id).map(|s| s.state.clone())
    }

    pub(crate) fn instance(&self, id: &str) -> Option<Arc<Instance>> {
        self.lock().slot(id).map(|s| s.instance.clone())
    }

    pub fn instance_infos(&self) -> Vec<InstanceInfo> {
        let st = self.lock();
        st.slots
            .iter()
            .map(|s| InstanceInfo {
                instance_id: s.instance.id.to_string(),
                function_name: self.function.spec.name.clone(),
                state: s.state.shown(s.in_flight),
                container_id: s.instance.container_id().unwrap_or_default(),
                in_flight: s.in_flight,
                created_at: crate::events::timestamp(s.instance.created_at),
                last_request_at: s.last_request_at.map(crate::events::timestamp),
                provisioned: s.provisioned,
                init_duration_ms: s
                    .instance
                    .init_duration()
                    .map(|d| crate::events::round_ms(ms(d.total()))),
                gpu: s.instance.gpu().cloned(),
            })
            .collect()
    }

    pub fn wake_waiters(&self) {
        self.changed.notify_waiters();
    }

    /// Waits until no lease is held on the instances `which` picks, or the deadline passes.
    pub(crate) async fn wait_no_request(
        &self,
        deadline: tokio::time::Instant,
        which: impl Fn(&Slot) -> bool,
    ) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let busy = self
                .lock()
                .slots
                .iter()
                .any(|s| which(s) && s.in_flight > 0);
            if !busy || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}
