//! fcemu-control: the FC instance lifecycle. Per function, a pool places requests on instances, runs
//! Creating (Instance Create, Runtime Init, Init Hook) when every instance is full, and destroys instances
//! through thaw, PreStop, stop and remove. It talks to containers only through [`ContainerRuntime`].

pub mod billing;
pub mod client;
mod creating;
mod destroy;
mod engine;
pub mod error;
pub mod events;
pub mod files;
mod freezing;
mod function;
mod gpu;
mod headers;
mod hooks;
pub mod ids;
mod instance;
mod invoke;
pub mod journal;
pub mod logs;
mod placement;
mod pool;
mod provision;
mod readiness;
mod record;
mod responses;
mod state;
pub mod summary;
#[cfg(feature = "testing")]
pub mod testing;
mod update;

pub use client::{Body, BoxError, empty_body, full_body};
pub use events::{Event, EventBus, EventKind};
pub use function::Function;
pub use gpu::{GpuMode, GpuView};
pub use instance::{
    DestroyReason, InitDuration, Instance, InstanceState, TimingMetric, parse_server_timing,
};
pub use invoke::COLD_START_HEADER;
pub use logs::{HookKind, LogQuery, LogRecord, LogStore};
pub use provision::{ProvisionStatus, TargetRefused, provision_retry_delay};
pub use responses::InvocationKind;
pub use responses::{fc_error_response, function_error_response};
pub use update::Rolled;

use fcemu_runtime::ContainerRuntime;
use fcemu_spec::{FunctionSpec, Project};
use pool::Pool;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// FC's limits on a synchronous request, checked before any instance is touched.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_PATH_BYTES: usize = 4 * 1024;
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How `up` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cap on instances per function (`--max-instances`); `concurrencyConfig.reservedConcurrency` also caps.
    pub max_instances: Option<u32>,
    /// Requests that may wait for a free instance, per function, before 429 `ResourceExhausted`.
    pub queue_limit: usize,
    /// How long a client may take to send a request's whole body before it is answered 408.
    pub body_read_timeout: Duration,
    /// How long Runtime Init waits for the port (FC gives a server 120 s).
    pub runtime_init_timeout: Duration,
    /// SIGTERM-to-SIGKILL grace when an instance is stopped.
    pub stop_grace: Duration,
    /// Instances with no request for this long are destroyed (never provisioned ones).
    pub idle_timeout: Duration,
    /// Freeze instances between requests (`docker pause`); false with `--no-freeze`.
    pub freeze: bool,
    /// How long an instance stays thawed after its last request.
    pub freeze_grace: Duration,
    pub region_override: Option<String>,
    pub account_id: String,
    /// Log lines and events kept in memory (each); older ones go to the spill files when there are any.
    pub history: usize,
    /// The cards GPU functions' instances are placed on.
    pub gpus: GpuMode,
}

impl Options {
    /// The region a function's instances see: `--region`'s override, or the function's own.
    pub fn region_of(&self, spec: &FunctionSpec) -> String {
        self.region_override
            .clone()
            .unwrap_or_else(|| spec.region.clone())
    }
}

/// How long a client may take to send a request's whole body unless `--body-read-timeout` says otherwise:
/// FC's 32 MB at about 1 MB/s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Instances per function unless `--max-instances` says otherwise: FC's default quota of on-demand instances
/// for an account in a region. Without a cap one client could start a container per request.
pub const DEFAULT_MAX_INSTANCES: u32 = 100;

impl Default for Options {
    fn default() -> Self {
        Options {
            max_instances: Some(DEFAULT_MAX_INSTANCES),
            queue_limit: 1000,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            runtime_init_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(300),
            freeze: true,
            freeze_grace: Duration::ZERO,
            region_override: None,
            account_id: std::env::var("FCEMU_ACCOUNT_ID")
                .unwrap_or_else(|_| fcemu_spec::LOCAL_ACCOUNT_ID.into()),
            history: journal::DEFAULT_CAPACITY,
            gpus: GpuMode::Off,
        }
    }
}

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

pub(crate) struct Shared {
    pub project: Project,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub options: Options,
    pub events: Arc<EventBus>,
    pub logs: Arc<LogStore>,
    /// Creations and destroys under way: shutdown waits for all of them.
    pub tasks: TaskTracker,
    /// Cancelled at shutdown: creations under way stop and clean up after themselves.
    pub shutdown: CancellationToken,
    /// Transitions the state machine refused: each is a bug in fcemu.
    illegal: pool::IllegalCount,
    /// The cards and their slices, when GPU functions get cards.
    pub(crate) gpus: Option<gpu::Gpus>,
    /// Woken on every instance transition of every function: a slot may have room, an instance may serve
    /// again or be gone, a GPU slice may be free (the cards are shared by all functions).
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

impl Shared {
    /// Fcemu's own lifecycle line, kept with the instance's logs.
    pub fn system_line(
        &self,
        function: &Arc<str>,
        instance: &Instance,
        request_id: Option<&Arc<str>>,
        hook: Option<HookKind>,
        line: impl Into<String>,
    ) {
        self.logs.push(LogRecord {
            ts: std::time::SystemTime::now(),
            function_name: function.clone(),
            instance_id: instance.id.clone(),
            request_id: request_id.cloned(),
            stream: "system",
            line: line.into(),
            hook,
        });
    }

    /// Fcemu's own line about an instance as a whole (not one of its requests).
    pub fn instance_line(&self, function: &Arc<str>, instance: &Instance, line: String) {
        self.system_line(function, instance, None, None, line);
    }

    /// Logs and counts a transition the state machine refused.
    pub(crate) fn illegal_transition(&self, what: &str) {
        self.illegal.add();
        tracing::error!("{what}: this is a bug in fcemu, please report it");
    }
}

/// The lifecycle of every function of a project. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    shared: Arc<Shared>,
    functions: Arc<RwLock<Functions>>,
    /// One update at a time (`up --watch` and UpdateFunction may both ask).
    updating: Arc<tokio::sync::Mutex<()>>,
}

/// The functions served now, by name, and the versions an update retired whose instances are still going.
struct Functions {
    /// Replaced whole by an update, so a reader takes a snapshot with one reference count.
    serving: Arc<BTreeMap<String, Arc<Pool>>>,
    retiring: Vec<Arc<Pool>>,
    /// The one function with an HTTP trigger, when there is exactly one: it takes every path.
    single_trigger: Option<Arc<str>>,
}

impl Functions {
    fn new(serving: BTreeMap<String, Arc<Pool>>, retiring: Vec<Arc<Pool>>) -> Self {
        let mut with_trigger = serving
            .values()
            .filter(|p| p.function.spec.http_trigger.is_some());
        let single_trigger = match (with_trigger.next(), with_trigger.next()) {
            (Some(only), None) => Some(only.function.name.clone()),
            _ => None,
        };
        Functions {
            serving: Arc::new(serving),
            retiring,
            single_trigger,
        }
    }
}

impl ControlPlane {
    pub fn new(project: Project, runtime: Arc<dyn ContainerRuntime>, options: Options) -> Self {
        let history = options.history;
        let options_gpus = options.gpus.clone();
        let shared = Arc::new(Shared {
            project,
            runtime,
            options,
            events: Arc::new(journal::Journal::new(history)),
            logs: Arc::new(journal::Journal::new(history)),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            illegal: Default::default(),
            gpus: gpu::Gpus::new(&options_gpus),
            changed: Default::default(),
        });
        let functions = shared
            .project
            .functions
            .iter()
            .map(|spec| {
                let function = Arc::new(Function::new(spec.clone(), &shared.options));
                (spec.name.clone(), Arc::new(Pool::new(function, &shared)))
            })
            .collect();
        let cp = ControlPlane {
            shared,
            functions: Arc::new(RwLock::new(Functions::new(functions, Vec::new()))),
            updating: Default::default(),
        };
        cp.spawn_idle_reaper();
        cp
    }

    /// Idle reclamation: checks often enough that an instance goes within a tenth of the idle timeout
    /// (at most a second) after it expires.
    fn spawn_idle_reaper(&self) {
        let timeout = self.shared.options.idle_timeout;
        let tick = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let cp = self.clone();
        let shutdown = self.shared.shutdown.clone();
        self.shared.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = shutdown.cancelled() => return,
                }
                for f in cp.serving().values() {
                    f.reap_idle(timeout);
                }
            }
        });
    }

    pub fn project(&self) -> &Project {
        &self.shared.project
    }

    pub fn events(&self) -> &Arc<EventBus> {
        &self.shared.events
    }

    pub fn logs(&self) -> &Arc<LogStore> {
        &self.shared.logs
    }

    /// The functions served now.
    fn serving(&self) -> Arc<BTreeMap<String, Arc<Pool>>> {
        self.functions.read().unwrap().serving.clone()
    }

    /// Every pool with instances: the functions served now and the versions still retiring.
    fn all_pools(&self) -> Vec<Arc<Pool>> {
        let functions = self.functions.read().unwrap();
        functions
            .serving
            .values()
            .chain(functions.retiring.iter())
            .cloned()
            .collect()
    }

    /// The one function with an HTTP trigger, when there is exactly one: every path goes to it.
    pub fn single_trigger(&self) -> Option<Arc<str>> {
        self.functions.read().unwrap().single_trigger.clone()
    }

    /// The function served under that name now (its spec, version and billing).
    pub fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.serving().get(name).map(|f| f.function.clone())
    }

    pub fn functions(&self) -> Vec<Arc<Function>> {
        self.serving()
            .values()
            .map(|f| f.function.clone())
            .collect()
    }

    /// The cards, and which instance holds which slice.
    pub fn gpus(&self) -> GpuView {
        self.shared.gpus.as_ref().map_or(
            GpuView {
                mode: "off",
                cards: Vec::new(),
            },
            |g| g.view(),
        )
    }

    /// How many transitions the state machine refused in this run: each is a bug in fcemu.
    pub fn illegal_transitions(&self) -> u64 {
        self.shared.illegal.get()
    }

    pub fn instances(&self) -> Vec<InstanceInfo> {
        self.all_pools()
            .iter()
            .flat_map(|f| f.instance_infos())
            .collect()
    }

    pub(crate) fn function_pool(&self, name: &str) -> Option<Arc<Pool>> {
        self.serving().get(name).cloned()
    }

    /// Destroys one instance now, through the normal path (PreStop included). False if there is no such
    /// instance serving (one still being created is not reclaimed).
    pub async fn reclaim_instance(&self, instance_id: &str) -> bool {
        for f in self.all_pools() {
            let serving = f.state_of(instance_id).is_some_and(|s| s.is_serving());
            if serving && f.begin_destroy(instance_id, DestroyReason::Reclaim) {
                f.destroy(instance_id, None).await;
                return true;
            }
        }
        false
    }

    /// Destroys every idle instance of a function now; returns how many.
    pub async fn reclaim_function(&self, name: &str) -> Option<usize> {
        let f = self.function_pool(name)?;
        let ids = f.begin_destroy_all(DestroyReason::Reclaim, false);
        let n = ids.len();
        futures_util::future::join_all(ids.iter().map(|id| f.destroy(id, None))).await;
        Some(n)
    }

    /// Creates every function's provisioned instances (`provisionConfig.defaultTarget`,
    /// `scalingConfig.minInstances`) and returns when they are initialized (and frozen, where they freeze).
    pub async fn start_provisioned(&self) {
        let serving = self.serving();
        futures_util::future::join_all(
            serving
                .values()
                .map(|f| (f, f.function.spec.provision.target))
                .filter(|(_, target)| *target > 0)
                .map(|(f, target)| f.set_provision_target(target)),
        )
        .await;
    }

    /// Provisioned instance adjustment (the API's and `fcemu provision`'s): a target over the function's cap
    /// on instances is refused, not created in part.
    pub async fn set_provision_target(
        &self,
        function: &str,
        target: u32,
    ) -> Result<ProvisionStatus, TargetRefused> {
        let pool = self
            .function_pool(function)
            .ok_or(TargetRefused::NoFunction)?;
        if let Some(cap) = pool.instance_cap().filter(|cap| target > *cap) {
            return Err(TargetRefused::OverCap { target, cap });
        }
        Ok(pool.set_provision_target(target).await)
    }

    pub fn provision_status(&self, function: &str) -> Option<ProvisionStatus> {
        self.function_pool(function).map(|f| f.provision_status())
    }

    /// The billing view of every function.
    pub fn billing(&self) -> Vec<billing::BillingView> {
        self.serving()
            .values()
            .map(|f| f.function.billing.view(&f.function.spec))
            .collect()
    }

    pub fn provision_statuses(&self) -> Vec<ProvisionStatus> {
        self.serving()
            .values()
            .map(|f| f.provision_status())
            .collect()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Destroys every instance through PreStop and waits until every container is gone. Requests still in
    /// flight get up to `drain` to finish first.
    pub async fn shutdown(&self, drain: Duration) {
        // Creations under way stop and remove their containers themselves.
        self.shared.shutdown.cancel();
        let pools = self.all_pools();
        for f in &pools {
            f.wake_waiters();
        }
        let deadline = tokio::time::Instant::now() + drain;
        futures_util::future::join_all(pools.iter().map(|f| async move {
            f.wait_no_request(deadline, |_| true).await;
            let ids = f.begin_destroy_all(DestroyReason::Shutdown, true);
            futures_util::future::join_all(ids.iter().map(|id| f.destroy(id, None))).await;
        }))
        .await;
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        // Followers of the event stream and the logs end once they have read the last entries.
        self.shared.events.close();
        self.shared.logs.close();
    }
}
