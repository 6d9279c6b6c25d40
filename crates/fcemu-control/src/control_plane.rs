//! The lifecycle of a whole project: one pool per function served, the versions an update retired while
//! their instances finish, idle reclamation, provisioned instances, reclaim and shutdown. Invoke
//! (`invoke.rs`), updates (`update.rs`) and the summary (`summary.rs`) add their methods where they live.

use crate::billing;
use crate::events::EventBus;
use crate::function::Function;
use crate::gpu::{self, GpuView};
use crate::instance::DestroyReason;
use crate::journal;
use crate::logs::LogStore;
use crate::options::Options;
use crate::pool::{InstanceInfo, Pool};
use crate::provision::{ProvisionStatus, TargetRefused};
use crate::shared::Shared;
use fcemu_runtime::ContainerRuntime;
use fcemu_spec::{CustomDomain, Project};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The lifecycle of every function of a project. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    pub(crate) shared: Arc<Shared>,
    pub(crate) functions: Arc<RwLock<Functions>>,
    /// One update at a time (`up --watch` and UpdateFunction may both ask).
    pub(crate) updating: Arc<tokio::sync::Mutex<()>>,
}

/// The functions served now, by name, and the versions an update retired whose instances are still going.
pub(crate) struct Functions {
    /// Replaced whole by an update, so a reader takes a snapshot with one reference count.
    serving: Arc<BTreeMap<String, Arc<Pool>>>,
    pub(crate) retiring: Vec<Arc<Pool>>,
    /// The one function with an HTTP trigger, when there is exactly one: it takes every path.
    single_trigger: Option<Arc<str>>,
    /// The project's custom domains, whose routes take trigger traffic before the rule above.
    pub(crate) domains: Arc<[CustomDomain]>,
}

impl Functions {
    pub(crate) fn new(
        serving: BTreeMap<String, Arc<Pool>>,
        retiring: Vec<Arc<Pool>>,
        domains: Arc<[CustomDomain]>,
    ) -> Self {
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
            domains,
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
            async_configs: Default::default(),
            async_tasks: Default::default(),
        });
        {
            let mut configs = shared.async_configs.lock().unwrap();
            for f in &shared.project.functions {
                if let Some(config) = &f.async_invoke {
                    configs.insert(
                        f.name.clone(),
                        crate::async_config::StoredAsyncConfig::new(config.clone()),
                    );
                }
            }
        }
        let functions = shared
            .project
            .functions
            .iter()
            .map(|spec| {
                let function = Arc::new(Function::new(spec.clone(), &shared.options));
                (spec.name.clone(), Arc::new(Pool::new(function, &shared)))
            })
            .collect();
        let project_domains = shared.project.domains.clone().into();
        let cp = ControlPlane {
            shared,
            functions: Arc::new(RwLock::new(Functions::new(
                functions,
                Vec::new(),
                project_domains,
            ))),
            updating: Default::default(),
        };
        cp.spawn_idle_reaper();
        if cp.shared.options.timers {
            cp.spawn_timers();
        }
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
                    f.expire_sessions();
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
    pub(crate) fn serving(&self) -> Arc<BTreeMap<String, Arc<Pool>>> {
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

    /// The custom domains whose routes are served now.
    pub fn domains(&self) -> Arc<[CustomDomain]> {
        self.functions.read().unwrap().domains.clone()
    }

    /// Serves these custom domains' routes from now on (a re-read s.yaml's).
    pub fn set_domains(&self, domains: Vec<CustomDomain>) {
        self.functions.write().unwrap().domains = domains.into();
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
