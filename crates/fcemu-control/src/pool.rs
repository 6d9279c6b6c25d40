//! One function's instances: placing requests, Creating new instances when every one is full, and Destroy.

use crate::hooks::{self, InitFailure};
use crate::instance::{DestroyReason, InitDuration, Instance, InstanceState, ms};
use crate::logs::{HookKind, LogRecord};
use crate::{Event, InstanceInfo, Shared, ids};
use fcemu_runtime::{ContainerRuntime, ContainerSpec, OutputStream, labels};
use fcemu_spec::{FunctionSpec, HookAction};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// Why a request could not be placed on an instance.
#[derive(Debug)]
pub enum PlaceError {
    /// The Initializer failed for the instance this request was to run on (FC's InitializationError).
    Initialization(String),
    /// The instance could not be created or its server never came up (FC's FunctionNotStarted).
    NotStarted(String),
    /// Every instance is busy, no more may be created, and the wait queue is full.
    Exhausted {
        limit: u32,
    },
    ShuttingDown,
}

/// Permission to read an instance's memory: only one reading is under way per instance.
pub struct MemoryReading;

/// What a request does next, decided under the pool's lock.
enum Placement {
    Serve(Arc<Instance>),
    RetryInitializer(Arc<Instance>),
    Create(Arc<Instance>),
    Wait,
    Refuse(PlaceError),
}

/// An instance's place in the pool: what routing reads and changes under the pool's lock.
struct Slot {
    instance: Arc<Instance>,
    state: InstanceState,
    in_flight: u32,
    /// The Initializer answered 400/404: run it again before the next request (FC keeps such instances).
    needs_init: bool,
    last_request_at: Option<SystemTime>,
    provisioned: bool,
    /// Bumped each time the instance becomes idle: a freeze scheduled for an older idle period is void.
    idle_since: u64,
    /// When the instance last finished a request or was created (monotonic: idle reclamation reads it).
    last_active: Instant,
}

#[derive(Default)]
struct PoolState {
    slots: Vec<Slot>,
    /// Creations under way (their slots exist, in `creating`/`initializing`).
    creating: u32,
    /// Requests waiting for a free instance.
    waiting: u32,
    /// Provisioned instances wanted (`provisionConfig`, `scalingConfig.minInstances`, `fcemu provision`).
    provision_target: u32,
    /// Provisioned instances in a row that failed to come up or died: sets the wait before the next try.
    provision_failures: u32,
}

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

pub struct Function {
    pub spec: FunctionSpec,
    /// `spec.name`, shared by the function's events and log lines.
    pub name: Arc<str>,
    /// The `x-fc-*` request headers that are the same for every request of this function.
    common_headers: HeaderMap,
    shared: Weak<Shared>,
    state: Mutex<PoolState>,
    /// Woken whenever a slot may have become free (a release, a ready instance, a destroy).
    changed: Notify,
    pub billing: crate::billing::Billing,
}

/// A request's hold on one slot of one instance; dropping it gives the slot back.
pub struct Lease {
    pub instance: Arc<Instance>,
    function: Arc<Function>,
    /// The request lost its connection to the instance: its process may be exiting.
    lost_connection: bool,
}

impl Lease {
    fn new(instance: Arc<Instance>, function: Arc<Function>) -> Self {
        Lease {
            instance,
            function,
            lost_connection: false,
        }
    }

    pub(crate) fn lost_connection(&mut self) {
        self.lost_connection = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.function
            .release(&self.instance.id, self.lost_connection);
    }
}

/// How long an instance whose connection broke stays unfrozen, so a container that is exiting can finish
/// (a frozen container never does) and be seen to have exited.
const EXIT_SETTLE: Duration = Duration::from_secs(2);

/// The handler of an HTTP hook, or "" when there is none (FC's header value for "no hook").
fn handler_of(hook: &Option<fcemu_spec::Hook>) -> &str {
    hook.as_ref().and_then(|h| h.handler()).unwrap_or("")
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Function {
    pub fn new(spec: FunctionSpec, shared: &Arc<Shared>) -> Self {
        let opts = &shared.options;
        let region = opts
            .region_override
            .clone()
            .unwrap_or_else(|| spec.region.clone());
        let mut h = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            h.insert(HeaderName::from_static(name), header(value));
        };
        set("x-fc-function-name", &spec.name);
        set("x-fc-function-memory", &spec.memory_size_mb.to_string());
        set("x-fc-function-timeout", &spec.timeout.as_secs().to_string());
        set("x-fc-function-handler", &spec.handler);
        set("x-fc-function-initializer", handler_of(&spec.initializer));
        let init_timeout = spec
            .initializer
            .as_ref()
            .map(|h| h.timeout.as_secs())
            .unwrap_or(0);
        set("x-fc-initialization-timeout", &init_timeout.to_string());
        set(
            "x-fc-instance-lifecycle-pre-stop-handler",
            handler_of(&spec.pre_stop),
        );
        set("x-fc-region", &region);
        set("x-fc-account-id", &opts.account_id);
        set("x-fc-qualifier", "LATEST");
        set("x-fc-version-id", "LATEST");
        set("x-fc-retry-count", "0");
        Function {
            name: spec.name.as_str().into(),
            spec,
            common_headers: h,
            shared: Arc::downgrade(shared),
            state: Mutex::default(),
            changed: Notify::new(),
            billing: Default::default(),
        }
    }

    /// FC's request headers for the instance: the function's, the request id and the control path. The
    /// map must hold no x-fc-* header already (a client's are removed first).
    pub fn set_fc_headers(
        &self,
        headers: &mut HeaderMap,
        request_id: &str,
        control_path: &'static str,
    ) {
        // Room for them all at once, rather than a rehash each time the map outgrows itself.
        headers.reserve(self.common_headers.len() + 2);
        for (name, value) in &self.common_headers {
            headers.append(name.clone(), value.clone());
        }
        headers.insert(
            crate::headers::REQUEST_ID,
            HeaderValue::from_str(request_id).expect("ids are ASCII"),
        );
        headers.insert(
            crate::headers::CONTROL_PATH,
            HeaderValue::from_static(control_path),
        );
    }

    fn shared(&self) -> Arc<Shared> {
        self.shared
            .upgrade()
            .expect("the control plane outlives its functions")
    }

    fn max_instances(&self) -> u32 {
        let shared = self.shared();
        [shared.options.max_instances, self.spec.reserved_concurrency]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(u32::MAX)
    }

    pub fn instance_infos(&self) -> Vec<InstanceInfo> {
        let st = self.state.lock().unwrap();
        st.slots
            .iter()
            .map(|s| InstanceInfo {
                instance_id: s.instance.id.to_string(),
                function_name: self.spec.name.clone(),
                state: s.state,
                container_id: s.instance.container_id().unwrap_or_default(),
                in_flight: s.in_flight,
                created_at: crate::events::timestamp(s.instance.created_at),
                last_request_at: s.last_request_at.map(crate::events::timestamp),
                provisioned: s.provisioned,
                init_duration_ms: s
                    .instance
                    .init_duration()
                    .map(|d| crate::events::round_ms(ms(d.total()))),
            })
            .collect()
    }

    pub fn wake_waiters(&self) {
        self.changed.notify_waiters();
    }

    /// Places a request on an instance with a free slot, creating one when every instance is full.
    /// With `cold`, warm instances are passed over and a new one is created (`fcemu invoke --cold`).
    pub async fn acquire(self: &Arc<Self>, cold: bool) -> Result<Lease, PlaceError> {
        let shared = self.shared();
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Decide under the lock; act (await) after it is released.
            let step = self.place(&shared, notified.as_mut(), cold);
            match step {
                Placement::Serve(instance) => {
                    let lease = Lease::new(instance, self.clone());
                    self.thaw(&shared, &lease.instance).await;
                    return Ok(lease);
                }
                Placement::RetryInitializer(instance) => {
                    self.thaw(&shared, &instance).await;
                    return self.retry_initializer(&shared, instance).await;
                }
                Placement::Create(instance) => {
                    return self.create_for_request(&shared, instance).await;
                }
                Placement::Refuse(e) => return Err(e),
                Placement::Wait => {
                    let _waiting = WaitingGuard(self);
                    notified.await;
                }
            }
        }
    }

    fn place(
        &self,
        shared: &Shared,
        notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        cold: bool,
    ) -> Placement {
        let concurrency = self.spec.instance_concurrency;
        let mut st = self.state.lock().unwrap();
        if shared.shutdown.is_cancelled() {
            return Placement::Refuse(PlaceError::ShuttingDown);
        }
        // Fill the busiest instance that still has room, so idle ones stay idle (and get reclaimed).
        let best = st
            .slots
            .iter_mut()
            .filter(|_| !cold)
            .filter(|s| {
                matches!(
                    s.state,
                    InstanceState::Ready | InstanceState::Busy | InstanceState::Frozen
                ) && s.in_flight < concurrency
            })
            .max_by_key(|s| s.in_flight);
        if let Some(slot) = best {
            slot.in_flight += 1;
            slot.last_request_at = Some(SystemTime::now());
            if slot.needs_init {
                // Only this request runs the retried Initializer; others wait for its outcome.
                slot.needs_init = false;
                slot.state = InstanceState::Initializing;
                return Placement::RetryInitializer(slot.instance.clone());
            }
            slot.state = InstanceState::Busy;
            return Placement::Serve(slot.instance.clone());
        }
        let live = st
            .slots
            .iter()
            .filter(|s| s.state != InstanceState::Stopping)
            .count() as u32;
        let cap = self.max_instances();
        // Create only for demand that instances already being created will not absorb: each of them is
        // claimed by the request that started it, so it has room for `concurrency - 1` more.
        let absorbed = st.creating * (concurrency - 1);
        if live < cap && (cold || absorbed <= st.waiting) {
            st.creating += 1;
            // The slot exists from now on, so the cap counts it before its container does.
            let instance = Arc::new(Instance::new(
                ids::instance_id(),
                self.spec.name.clone(),
                SystemTime::now(),
            ));
            st.slots.push(Slot {
                instance: instance.clone(),
                state: InstanceState::Creating,
                in_flight: 1,
                needs_init: false,
                last_request_at: Some(SystemTime::now()),
                provisioned: false,
                idle_since: 0,
                last_active: Instant::now(),
            });
            return Placement::Create(instance);
        }
        if cold || st.waiting as usize >= shared.options.queue_limit {
            return Placement::Refuse(PlaceError::Exhausted {
                limit: cap.min(live),
            });
        }
        st.waiting += 1;
        notified.enable();
        Placement::Wait
    }

    /// Runs the Initializer again on an instance whose last attempt answered 400/404.
    async fn retry_initializer(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        instance: Arc<Instance>,
    ) -> Result<Lease, PlaceError> {
        let lease = Lease::new(instance.clone(), self.clone());
        match hooks::run_initializer(shared, self, &instance).await {
            Ok(_) => {
                self.set_state(&instance.id, InstanceState::Busy);
                Ok(lease)
            }
            Err(InitFailure::Keep(message)) => {
                self.with_slot(&instance.id, |s| s.needs_init = true);
                self.set_state(&instance.id, InstanceState::Ready);
                Err(PlaceError::Initialization(message))
            }
            Err(InitFailure::Destroy(message)) => {
                self.begin_destroy_by_id(&instance.id);
                drop(lease);
                self.destroy(&instance.id, DestroyReason::InitFailed).await;
                Err(PlaceError::Initialization(message))
            }
        }
    }

    fn with_slot(&self, id: &str, f: impl FnOnce(&mut Slot)) {
        let mut st = self.state.lock().unwrap();
        if let Some(slot) = st.slots.iter_mut().find(|s| &*s.instance.id == id) {
            f(slot);
        }
    }

    fn set_state(&self, id: &str, state: InstanceState) {
        self.with_slot(id, |s| {
            if s.state != InstanceState::Stopping {
                s.state = state;
            }
        });
        self.changed.notify_waiters();
    }

    fn release(self: &Arc<Self>, id: &str, lost_connection: bool) {
        let mut idle = None;
        self.with_slot(id, |s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_request_at = Some(SystemTime::now());
            s.last_active = Instant::now();
            if s.in_flight == 0 && s.state == InstanceState::Busy {
                s.state = InstanceState::Ready;
                s.idle_since += 1;
                idle = Some((s.idle_since, s.provisioned));
            }
        });
        self.changed.notify_waiters();
        if let Some((idle_since, provisioned)) = idle {
            let wait = if lost_connection {
                EXIT_SETTLE
            } else {
                Duration::ZERO
            };
            self.schedule_freeze(id, idle_since, provisioned, wait);
        }
    }

    /// Whether this instance is frozen when idle: not with `--no-freeze`, and not when it is provisioned
    /// with `alwaysAllocateCPU` (FC keeps its CPU allocated).
    fn freezes(&self, provisioned: bool) -> bool {
        let shared = self.shared();
        shared.options.freeze && !(provisioned && self.spec.provision.always_allocate_cpu)
    }

    /// Freezes the instance after the freeze grace, unless a request reaches it first.
    fn schedule_freeze(
        self: &Arc<Self>,
        id: &str,
        idle_since: u64,
        provisioned: bool,
        at_least: Duration,
    ) {
        if !self.freezes(provisioned) {
            return;
        }
        let shared = self.shared();
        let this = self.clone();
        let id = id.to_string();
        let grace = shared.options.freeze_grace.max(at_least);
        let tasks = shared.tasks.clone();
        tasks.spawn(async move {
            if !grace.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = shared.shutdown.cancelled() => return,
                }
            }
            this.freeze_if_idle(&shared, &id, idle_since).await;
        });
    }

    /// `docker pause`, if the instance is still in the same idle period. Freeze and thaw of one instance
    /// are serialized, so a request that picks the instance while it is being frozen thaws it after.
    async fn freeze_if_idle(&self, shared: &Shared, id: &str, idle_since: u64) {
        let Some(instance) = self.instance(id) else {
            return;
        };
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let mut paused = instance.freezer.lock().await;
        let still_idle = |st: &PoolState| {
            st.slots.iter().any(|s| {
                &*s.instance.id == id
                    && s.state == InstanceState::Ready
                    && s.in_flight == 0
                    && s.idle_since == idle_since
            })
        };
        if *paused || !still_idle(&self.state.lock().unwrap()) {
            return;
        }
        hooks::run_pre_freeze(shared, self, &instance).await;
        if let Err(e) = shared.runtime.pause(&container_id).await {
            tracing::warn!("{e}");
            return;
        }
        *paused = true;
        instance.frozen_at(Some(Instant::now()));
        // Shown as frozen only once it is: a request that came during the pause stays busy and thaws it
        // as soon as this returns (it waits for the freezer).
        {
            let mut st = self.state.lock().unwrap();
            if still_idle(&st) {
                if let Some(s) = st.slots.iter_mut().find(|s| &*s.instance.id == id) {
                    s.state = InstanceState::Frozen;
                }
            }
        }
        shared.events.emit(Event::new(
            "instance.frozen",
            &self.name,
            Some(&instance.id),
        ));
    }

    /// `docker unpause` if the instance is frozen (before a request, a hook, or removal).
    async fn thaw(&self, shared: &Shared, instance: &Instance) {
        let mut paused = instance.freezer.lock().await;
        if !*paused {
            return;
        }
        let Some(container_id) = instance.container_id() else {
            return;
        };
        if let Err(e) = shared.runtime.unpause(&container_id).await {
            tracing::warn!("{e}");
        }
        *paused = false;
        let frozen_for = instance.frozen_at(None);
        if let Some(d) = frozen_for {
            self.billing.frozen(d);
        }
        let mut event = Event::new("instance.thawed", &self.name, Some(&instance.id));
        if let Some(d) = frozen_for {
            event = event.with("frozenMs", crate::events::round_ms(ms(d)));
        }
        shared.events.emit(event);
    }

    /// The last reading of the container's peak memory in MB, if it is recent (200 ms).
    pub fn fresh_memory_peak_mb(&self, instance: &Instance) -> Option<u64> {
        const FRESH: Duration = Duration::from_millis(200);
        instance
            .memory_sample
            .lock()
            .unwrap()
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, peak)| peak)
    }

    /// The last reading, however old (None before the first).
    pub fn last_memory_peak_mb(&self, instance: &Instance) -> Option<u64> {
        instance.memory_sample.lock().unwrap().map(|(_, peak)| peak)
    }

    /// Starts a reading of the container's peak memory unless one is under way: None when one is (the
    /// engine answers a stats call slowly, and one call per request would pile up by the thousand).
    pub fn begin_memory_reading(&self, instance: &Instance) -> Option<MemoryReading> {
        (!instance
            .memory_reading
            .swap(true, std::sync::atomic::Ordering::SeqCst))
        .then_some(MemoryReading)
    }

    /// The container's peak memory in MB (the cgroup's max usage), read now.
    pub async fn read_memory_peak_mb(
        &self,
        shared: &Shared,
        instance: &Instance,
        _reading: MemoryReading,
    ) -> Option<u64> {
        let peak = async {
            let container_id = instance.container_id()?;
            let bytes = shared
                .runtime
                .memory_peak(&container_id)
                .await
                .ok()
                .flatten()?;
            Some(bytes.div_ceil(1024 * 1024))
        }
        .await;
        if let Some(peak) = peak {
            *instance.memory_sample.lock().unwrap() = Some((Instant::now(), peak));
        }
        instance
            .memory_reading
            .store(false, std::sync::atomic::Ordering::SeqCst);
        peak.or_else(|| self.last_memory_peak_mb(instance))
    }

    fn instance(&self, id: &str) -> Option<Arc<Instance>> {
        self.state
            .lock()
            .unwrap()
            .slots
            .iter()
            .find(|s| &*s.instance.id == id)
            .map(|s| s.instance.clone())
    }

    fn is_provisioned(&self, id: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .slots
            .iter()
            .any(|s| &*s.instance.id == id && s.provisioned)
    }

    pub fn provision_status(&self) -> ProvisionStatus {
        let st = self.state.lock().unwrap();
        ProvisionStatus {
            function_name: self.spec.name.clone(),
            target: st.provision_target,
            current: st
                .slots
                .iter()
                .filter(|s| s.provisioned && s.state != InstanceState::Stopping)
                .count() as u32,
            always_allocate_cpu: self.spec.provision.always_allocate_cpu,
            always_allocate_gpu: self.spec.provision.always_allocate_gpu,
        }
    }

    /// Provisioned instance adjustment: sets the target and creates or destroys instances until the count
    /// matches. Returns when every creation and destroy it started is done.
    pub async fn set_provision_target(self: &Arc<Self>, target: u32) -> ProvisionStatus {
        let previous = std::mem::replace(&mut self.state.lock().unwrap().provision_target, target);
        if previous != target {
            self.shared().events.emit(
                Event::new("provision.changed", &self.name, None)
                    .with("target", target)
                    .with("previous", previous),
            );
        }
        self.reconcile_provision().await;
        self.provision_status()
    }

    /// Creates the missing provisioned instances (initialized, then frozen unless alwaysAllocateCPU), or
    /// destroys the excess through PreStop, idle ones first.
    pub async fn reconcile_provision(self: &Arc<Self>) {
        let shared = self.shared();
        let (create, destroy) = {
            let mut st = self.state.lock().unwrap();
            let target = st.provision_target as usize;
            let mut live: Vec<&mut Slot> = st
                .slots
                .iter_mut()
                .filter(|s| s.provisioned && s.state != InstanceState::Stopping)
                .collect();
            let mut destroy = vec![];
            if live.len() > target {
                // Keep the busiest; the excess comes from the idle end.
                live.sort_by_key(|s| std::cmp::Reverse(s.in_flight));
                for s in live.into_iter().skip(target) {
                    s.state = InstanceState::Stopping;
                    destroy.push(s.instance.id.clone());
                }
            }
            let missing = target.saturating_sub(
                st.slots
                    .iter()
                    .filter(|s| s.provisioned && s.state != InstanceState::Stopping)
                    .count(),
            );
            let create: Vec<Arc<Instance>> = (0..missing)
                .map(|_| {
                    let instance = Arc::new(Instance::new(
                        ids::instance_id(),
                        self.spec.name.clone(),
                        SystemTime::now(),
                    ));
                    // Requests to a provisioned instance are never cold starts.
                    instance.take_cold_start();
                    st.slots.push(Slot {
                        instance: instance.clone(),
                        state: InstanceState::Creating,
                        // Held by the provisioner until Creating is done; released, it becomes idle.
                        in_flight: 1,
                        needs_init: false,
                        last_request_at: None,
                        provisioned: true,
                        idle_since: 0,
                        last_active: Instant::now(),
                    });
                    instance
                })
                .collect();
            (create, destroy)
        };
        let creations = create.into_iter().map(|instance| {
            let this = self.clone();
            let shared = shared.clone();
            // Tracked, so shutdown waits for creations it interrupts to clean up.
            shared.tasks.clone().spawn(async move {
                match this.create_instance(&shared, instance).await {
                    Ok(_lease) => this.state.lock().unwrap().provision_failures = 0,
                    Err(PlaceError::ShuttingDown) => {}
                    Err(_) => this.retry_provision(&shared),
                }
            })
        });
        let destroys = destroy
            .iter()
            .map(|id| self.destroy(id, DestroyReason::Provision));
        let (_, _) = tokio::join!(
            futures_util::future::join_all(creations),
            futures_util::future::join_all(destroys)
        );
    }

    /// A provisioned instance failed to come up or died: the count is made good again after a wait that
    /// grows with the failures in a row.
    fn retry_provision(self: &Arc<Self>, shared: &Arc<Shared>) {
        let delay = {
            let mut st = self.state.lock().unwrap();
            st.provision_failures += 1;
            provision_retry_delay(st.provision_failures)
        };
        let (this, shared2) = (self.clone(), shared.clone());
        shared.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shared2.shutdown.cancelled() => return,
            }
            // Boxed: the adjustment can lead back here, and a future cannot contain itself.
            let again: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(this.reconcile_provision());
            again.await;
        });
    }

    /// Waits until no request is in flight on one instance, or the deadline passes.
    async fn wait_slot_drained(&self, id: &str, deadline: Instant) {
        self.wait_no_request(deadline, |s| &*s.instance.id == id)
            .await;
    }

    /// Waits until no request is in flight on the instances `which` picks, or the deadline passes.
    async fn wait_no_request(&self, deadline: Instant, which: impl Fn(&Slot) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let busy = self
                .state
                .lock()
                .unwrap()
                .slots
                .iter()
                .any(|s| which(s) && s.in_flight > 0);
            if !busy || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Destroys the instances that had no request for the idle timeout (never provisioned ones).
    pub fn reap_idle(self: &Arc<Self>, idle_timeout: Duration) {
        let now = Instant::now();
        let idle: Vec<Arc<str>> = {
            let mut st = self.state.lock().unwrap();
            st.slots
                .iter_mut()
                .filter(|s| !s.provisioned && s.in_flight == 0)
                .filter(|s| matches!(s.state, InstanceState::Ready | InstanceState::Frozen))
                .filter(|s| now.duration_since(s.last_active) >= idle_timeout)
                .map(|s| {
                    s.state = InstanceState::Stopping;
                    s.instance.id.clone()
                })
                .collect()
        };
        let tasks = self.shared().tasks.clone();
        for id in idle {
            let this = self.clone();
            tasks.spawn(async move { this.destroy(&id, DestroyReason::Idle).await });
        }
    }

    /// Creating, for a request that found every instance full. The creation runs as its own task, so a
    /// caller that goes away does not leave a half-made container behind.
    async fn create_for_request(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        instance: Arc<Instance>,
    ) -> Result<Lease, PlaceError> {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let shared2 = shared.clone();
        shared.tasks.spawn(async move {
            let outcome = this.create_instance(&shared2, instance).await;
            {
                let mut st = this.state.lock().unwrap();
                st.creating = st.creating.saturating_sub(1);
            }
            this.changed.notify_waiters();
            // If the caller went away, its lease drops here and the slot is given back.
            let _ = tx.send(outcome);
        });
        rx.await.unwrap_or(Err(PlaceError::ShuttingDown))
    }

    fn container_spec(&self, shared: &Shared, instance_id: &str) -> ContainerSpec {
        let spec = &self.spec;
        let region = shared
            .options
            .region_override
            .clone()
            .unwrap_or_else(|| spec.region.clone());
        let mut env: Vec<(String, String)> = spec
            .environment_variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(
            [
                ("FC_FUNCTION_NAME", spec.name.clone()),
                ("FC_FUNCTION_HANDLER", spec.handler.clone()),
                ("FC_FUNCTION_MEMORY_SIZE", spec.memory_size_mb.to_string()),
                ("FC_FUNCTION_VERSION", "LATEST".into()),
                ("FC_REGION", region),
                ("FC_ACCOUNT_ID", shared.options.account_id.clone()),
                ("FC_INSTANCE_ID", instance_id.to_string()),
                ("FC_CUSTOM_LISTEN_PORT", spec.container.port.to_string()),
                ("FC_FUNC_CODE_PATH", "/code/".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        let labels = BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (
                labels::PROJECT.to_string(),
                shared.project.dir.display().to_string(),
            ),
            (labels::FUNCTION.to_string(), spec.name.clone()),
            (labels::INSTANCE_ID.to_string(), instance_id.to_string()),
        ]);
        ContainerSpec {
            name: format!("fcemu-{}-{}", sanitize(&spec.name), &instance_id[2..]),
            image: spec.container.image.clone(),
            env,
            labels,
            memory_mb: spec.memory_size_mb,
            cpu: spec.cpu,
            port: spec.container.port,
            entrypoint: spec.container.entrypoint.clone(),
            command: spec.container.command.clone(),
            // Custom runtimes: the code folder, read-only, as FC mounts it.
            binds: spec
                .container
                .code
                .iter()
                .map(|dir| format!("{}:/code:ro", dir.display()))
                .collect(),
            working_dir: spec.container.code.as_ref().map(|_| "/code".to_string()),
        }
    }

    /// Creating: Instance Create, Runtime Init, Init Hook, each timed. On success the new instance holds
    /// one slot for the request that asked for it.
    async fn create_instance(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        instance: Arc<Instance>,
    ) -> Result<Lease, PlaceError> {
        let instance_id = instance.id.clone();
        let name = self.name.clone();
        let emit = |e: Event| shared.events.emit(e);
        let provisioned = self.is_provisioned(&instance_id);
        emit(
            Event::new("instance.creating", &name, Some(&instance_id))
                .with("provisioned", provisioned),
        );

        // Instance Create.
        let t0 = Instant::now();
        let container_spec = self.container_spec(shared, &instance_id);
        let created = tokio::select! {
            r = shared.runtime.create(&container_spec) => r,
            _ = shared.shutdown.cancelled() => {
                // The create call may still land: sweep by instance label at the end of shutdown.
                self.forget(&instance_id);
                return Err(PlaceError::ShuttingDown);
            }
        };
        let container_id = match created {
            Ok(id) => id,
            Err(e) => {
                self.forget(&instance_id);
                emit(
                    Event::new("instance.destroyed", &name, Some(&instance_id))
                        .reason("init_failed")
                        .error(e.to_string()),
                );
                return Err(PlaceError::NotStarted(e.to_string()));
            }
        };
        instance.set_container(container_id.clone());
        let instance_create = t0.elapsed();
        emit(
            Event::new("instance.created", &name, Some(&instance_id)).duration(ms(instance_create)),
        );

        // Runtime Init: start, then wait until the port accepts connections.
        let t1 = Instant::now();
        let started = tokio::select! {
                    r = async {
        let addr = shared.runtime.start(&container_id, self.spec.container.port).await.map_err(|e| e.to_string())?;
                        self.wait_until_ready(shared, &instance, &container_id, addr).await
                    } => r,
                    _ = shared.shutdown.cancelled() => Err("fcemu is shutting down".to_string()),
                };
        // Docker ends a log follow at once on a container that is not running yet, and following during
        // Runtime Init would compete with it for the engine: attach now (the log driver replays from the
        // start, so no line is missed, and a server that failed to start still has its output kept).
        self.spawn_log_pump(shared, &instance);
        let addr = match started {
            Ok(addr) => addr,
            Err(message) => {
                self.begin_destroy_by_id(&instance_id);
                self.destroy(&instance_id, DestroyReason::InitFailed).await;
                return Err(if shared.shutdown.is_cancelled() {
                    PlaceError::ShuttingDown
                } else {
                    PlaceError::NotStarted(message)
                });
            }
        };
        instance.set_addr(addr);
        let runtime_init = t1.elapsed();
        emit(
            Event::new("instance.runtime_ready", &name, Some(&instance_id))
                .duration(ms(runtime_init)),
        );
        self.spawn_exit_watch(shared, &instance);

        // Init Hook.
        self.set_state(&instance_id, InstanceState::Initializing);
        let lease = Lease::new(instance.clone(), self.clone());
        let init = tokio::select! {
            r = hooks::run_initializer(shared, self, &instance) => r,
            _ = shared.shutdown.cancelled() => Err(InitFailure::Destroy("fcemu is shutting down".into())),
        };
        let init_hook = match init {
            Ok(d) => d,
            Err(failure) => {
                let keep = matches!(failure, InitFailure::Keep(_));
                let message = failure.message().to_string();
                instance.set_init_duration(InitDuration {
                    instance_create,
                    runtime_init,
                    init_hook: Duration::ZERO,
                });
                if keep && !shared.shutdown.is_cancelled() {
                    self.with_slot(&instance_id, |s| s.needs_init = true);
                    self.set_state(&instance_id, InstanceState::Ready);
                    return Err(PlaceError::Initialization(message));
                }
                self.begin_destroy_by_id(&instance_id);
                drop(lease);
                self.destroy(&instance_id, DestroyReason::InitFailed).await;
                return Err(PlaceError::Initialization(message));
            }
        };
        let init_duration = InitDuration {
            instance_create,
            runtime_init,
            init_hook,
        };
        instance.set_init_duration(init_duration);
        emit(
            Event::new("instance.ready", &name, Some(&instance_id))
                .with(
                    "initDurationMs",
                    crate::events::round_ms(ms(init_duration.total())),
                )
                .with(
                    "instanceCreateMs",
                    crate::events::round_ms(ms(instance_create)),
                )
                .with("runtimeInitMs", crate::events::round_ms(ms(runtime_init)))
                .with("initHookMs", crate::events::round_ms(ms(init_hook))),
        );
        self.system_line(
            shared,
            &instance,
            None,
            None,
            format!(
                "FC Instance Ready InstanceId: {instance_id} {}",
                init_duration.describe()
            ),
        );
        self.set_state(&instance_id, InstanceState::Busy);
        Ok(lease)
    }

    /// Runtime Init's readiness: with a `healthCheckConfig`, its HTTP probe; otherwise the port accepting a
    /// connection, polled every few milliseconds (with a little backoff) so the time is truthful.
    async fn wait_until_ready(
        &self,
        shared: &Shared,
        instance: &Instance,
        container_id: &str,
        addr: SocketAddr,
    ) -> Result<SocketAddr, String> {
        let port = self.spec.container.port;
        let exited = shared.runtime.wait_exit(container_id);
        tokio::pin!(exited);
        let exited_error = |exit: fcemu_runtime::Result<fcemu_runtime::ContainerExit>| {
            let code = exit.map(|e| e.exit_code).unwrap_or(-1);
            format!(
                "the container exited with code {code} before its server was ready on port {port} (FunctionNotStarted); `fcemu logs --function {}` shows what it printed",
                self.spec.name
            )
        };
        if let Some(check) = &self.spec.container.health_check {
            tokio::select! {
                exit = &mut exited => return Err(exited_error(exit)),
                _ = tokio::time::sleep(check.initial_delay) => {}
            }
            let (mut passed, mut failed) = (0, 0);
            loop {
                match self
                    .probe(shared, instance, addr, &check.http_get_url, check.timeout)
                    .await
                {
                    Ok(()) => {
                        passed += 1;
                        failed = 0;
                        if passed >= check.success_threshold {
                            return Ok(addr);
                        }
                    }
                    Err(e) => {
                        passed = 0;
                        failed += 1;
                        if failed >= check.failure_threshold {
                            return Err(format!(
                                "the health check GET {} failed {failed} times in a row (last: {e}) (FunctionNotStarted)",
                                check.http_get_url
                            ));
                        }
                    }
                }
                tokio::select! {
                    exit = &mut exited => return Err(exited_error(exit)),
                    _ = tokio::time::sleep(check.period) => {}
                }
            }
        }
        let deadline = Instant::now() + shared.options.runtime_init_timeout;
        // Every millisecond: a refused connect costs next to nothing, and Runtime Init is then exact to 1 ms.
        let pause = Duration::from_millis(1);
        loop {
            if shared.runtime.connect(addr).await.is_ok() {
                return Ok(addr);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the function's server did not accept connections on port {port} within {} s (FunctionNotStarted): check that it listens on 0.0.0.0:{port}",
                    shared.options.runtime_init_timeout.as_secs()
                ));
            }
            tokio::select! {
                exit = &mut exited => return Err(exited_error(exit)),
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One health-check probe: a GET that must answer 2xx within `timeout`.
    async fn probe(
        &self,
        shared: &Shared,
        instance: &Instance,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let req = http::Request::get(path)
            .body(crate::client::empty_body())
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(
            timeout,
            instance
                .connections
                .call(shared.runtime.as_ref(), addr, req),
        )
        .await
        {
            Ok(Ok((status, _))) if status.is_success() => Ok(()),
            Ok(Ok((status, _))) => Err(format!("HTTP {}", status.as_u16())),
            Ok(Err(e)) => Err(crate::hooks::error_chain(&*e)),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
    }

    /// Follows everything the container prints into the log store, attributed to request and hook.
    fn spawn_log_pump(&self, shared: &Arc<Shared>, instance: &Arc<Instance>) {
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let mut lines = shared.runtime.logs(&container_id);
        let instance2 = instance.clone();
        let shared2 = shared.clone();
        let function = self.name.clone();
        let pump = tokio::spawn(async move {
            while let Some(item) = lines.next().await {
                let Ok(line) = item else { break };
                let attributed = instance2.attribute(line.ts);
                shared2.logs.push(LogRecord {
                    ts: line.ts,
                    function_name: function.clone(),
                    instance_id: instance2.id.clone(),
                    request_id: attributed.as_ref().map(|a| a.0.clone()),
                    stream: match line.stream {
                        OutputStream::Stdout => "stdout",
                        OutputStream::Stderr => "stderr",
                    },
                    line: line.line,
                    hook: attributed.map(|a| a.1),
                });
            }
        });
        instance.set_log_pump(pump);
    }

    /// An instance whose container ends by itself is an instance exception: it is removed without PreStop.
    fn spawn_exit_watch(self: &Arc<Self>, shared: &Arc<Shared>, instance: &Arc<Instance>) {
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let this = self.clone();
        let shared2 = shared.clone();
        let id = instance.id.clone();
        shared.tasks.spawn(async move {
            let exit = tokio::select! {
                e = shared2.runtime.wait_exit(&container_id) => e,
                _ = shared2.shutdown.cancelled() => return,
            };
            let provisioned = this.is_provisioned(&id);
            if !this.begin_destroy_by_id(&id) {
                return; // fcemu stopped it itself.
            }
            let oom = exit.as_ref().map(|e| e.oom_killed).unwrap_or(false);
            let reason = if oom {
                DestroyReason::Oom
            } else {
                DestroyReason::Exited
            };
            this.destroy(&id, reason).await;
            if provisioned {
                this.retry_provision(&shared2);
            }
        });
    }

    /// Fcemu's own lifecycle line, kept with the instance's logs.
    pub fn system_line(
        &self,
        shared: &Shared,
        instance: &Instance,
        request_id: Option<&Arc<str>>,
        hook: Option<HookKind>,
        line: impl Into<String>,
    ) {
        let now = SystemTime::now();
        shared.logs.push(LogRecord {
            ts: now,
            function_name: self.name.clone(),
            instance_id: instance.id.clone(),
            request_id: request_id.cloned(),
            stream: "system",
            line: line.into(),
            hook,
        });
    }

    /// Takes an instance out of the pool (its container is gone, or never came to exist).
    fn forget(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .slots
            .retain(|s| &*s.instance.id != id);
        self.changed.notify_waiters();
    }

    /// Marks an instance as stopping so no request is routed to it. False if it is not here or already
    /// stopping (someone else is destroying it).
    pub fn begin_destroy_by_id(&self, id: &str) -> bool {
        let mut st = self.state.lock().unwrap();
        match st.slots.iter_mut().find(|s| &*s.instance.id == id) {
            Some(s) if s.state != InstanceState::Stopping => {
                s.state = InstanceState::Stopping;
                true
            }
            _ => false,
        }
    }

    /// Marks every instance that is not being created as stopping; with `busy_too` false, only idle ones.
    pub fn begin_destroy_all(&self, busy_too: bool) -> Vec<Arc<str>> {
        let mut st = self.state.lock().unwrap();
        st.slots
            .iter_mut()
            .filter(|s| {
                matches!(
                    s.state,
                    InstanceState::Ready | InstanceState::Frozen | InstanceState::Busy
                )
            })
            .filter(|s| busy_too || s.in_flight == 0)
            .map(|s| {
                s.state = InstanceState::Stopping;
                s.instance.id.clone()
            })
            .collect()
    }

    /// Waits until no request is in flight on any instance, or the deadline passes.
    pub async fn wait_drained(&self, deadline: tokio::time::Instant) {
        self.wait_no_request(deadline, |_| true).await;
    }

    /// Destroy, for an instance already marked stopping: thaw if frozen, PreStop (unless the reason rules it
    /// out), stop, wait for the last log lines, remove.
    pub async fn destroy(self: &Arc<Self>, id: &str, reason: DestroyReason) {
        let shared = self.shared();
        let instance = {
            let st = self.state.lock().unwrap();
            st.slots
                .iter()
                .find(|s| &*s.instance.id == id)
                .map(|s| s.instance.clone())
        };
        let Some(instance) = instance else { return };
        if reason.runs_pre_stop() {
            // Requests already on the instance may finish (no new one is routed to it), within the
            // function's timeout.
            self.wait_slot_drained(id, Instant::now() + self.spec.timeout)
                .await;
        }
        let runtime: &dyn ContainerRuntime = shared.runtime.as_ref();
        if let Some(container_id) = instance.container_id() {
            // A frozen container can neither run PreStop nor always be removed cleanly.
            self.thaw(&shared, &instance).await;
            if reason.runs_pre_stop() && instance.addr().is_some() {
                hooks::run_pre_stop(&shared, self, &instance).await;
            }
            if let Err(e) = runtime.stop(&container_id, shared.options.stop_grace).await {
                tracing::warn!("{e}");
            }
            instance.wait_log_pump(Duration::from_secs(2)).await;
            if let Err(e) = runtime.remove(&container_id).await {
                tracing::warn!("{e}");
            }
        }
        self.forget(id);
        shared.events.emit(
            Event::new("instance.destroyed", &self.name, Some(&instance.id))
                .reason(reason.as_str()),
        );
        self.system_line(
            &shared,
            &instance,
            None,
            None,
            format!(
                "FC Instance Destroyed InstanceId: {id} Reason: {}",
                reason.as_str()
            ),
        );
    }

    /// Runs a command hook (`initializer.command`) inside the container.
    pub async fn exec(
        &self,
        shared: &Shared,
        instance: &Instance,
        command: &[String],
    ) -> Result<fcemu_runtime::ExecOutput, String> {
        let container_id = instance
            .container_id()
            .ok_or("the instance has no container")?;
        shared
            .runtime
            .exec(&container_id, command)
            .await
            .map_err(|e| e.to_string())
    }

    pub fn hook_action_label(action: &HookAction) -> String {
        match action {
            HookAction::Handler(h) => h.clone(),
            HookAction::Command(c) => c.join(" "),
        }
    }
}

/// Counts a request as waiting for exactly as long as it waits (also when its caller goes away).
struct WaitingGuard<'a>(&'a Function);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap();
        st.waiting = st.waiting.saturating_sub(1);
    }
}

/// Container names allow `[a-zA-Z0-9_.-]`; function names may hold more.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
