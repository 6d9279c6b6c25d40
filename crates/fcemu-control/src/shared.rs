//! What every function's pool shares in one run: the project, the engine, the options, the event and log
//! stores, the tasks under way and the shutdown signal, the cards, and the wake-up for every transition.

use crate::events::EventBus;
use crate::gpu;
use crate::instance::Instance;
use crate::logs::{HookKind, LogRecord, LogStore};
use crate::options::Options;
use fcemu_runtime::ContainerRuntime;
use fcemu_spec::Project;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    pub(crate) illegal: IllegalCount,
    /// The cards and their slices, when GPU functions get cards.
    pub(crate) gpus: Option<gpu::Gpus>,
    /// Woken on every instance transition of every function: a slot may have room, an instance may serve
    /// again or be gone, a GPU slice may be free (the cards are shared by all functions).
    pub(crate) changed: Arc<tokio::sync::Notify>,
    /// Each function's `asyncInvokeConfig`, as the s.yaml or PutAsyncInvokeConfig left it.
    pub(crate) async_configs: std::sync::Mutex<
        std::collections::BTreeMap<String, crate::async_config::StoredAsyncConfig>,
    >,
    /// The async tasks of functions with `asyncTask`, and the stop signal of each not yet ended.
    pub(crate) async_tasks: std::sync::Mutex<crate::task_record::Tasks>,
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

/// Counts illegal transitions: each is a bug, logged, and tests fail on any.
#[derive(Default)]
pub(crate) struct IllegalCount(AtomicU64);

impl IllegalCount {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
