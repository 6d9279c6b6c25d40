//! fcemu-control: the FC instance lifecycle. Per function, a pool places requests on instances, runs
//! Creating (Instance Create, Runtime Init, Init Hook) when every instance is full, and destroys instances
//! through thaw, PreStop, stop and remove. It talks to containers only through [`ContainerRuntime`].

mod async_config;
mod async_invoke_config;
mod async_queue;
mod async_tasks;
pub mod billing;
pub mod client;
mod container_spec;
mod control_plane;
mod creating;
mod debugging;
mod destinations;
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
mod init_duration;
mod instance;
mod invoke;
pub mod journal;
pub mod logs;
mod options;
mod placement;
mod pool;
mod provision;
mod readiness;
mod record;
mod responses;
mod session_api;
mod session_binding;
mod session_placement;
mod session_table;
mod sessions;
mod shared;
mod source_events;
mod state;
pub mod summary;
mod task_record;
#[cfg(feature = "testing")]
pub mod testing;
mod triggers;
mod update;

pub use async_config::StoredAsyncConfig;
pub use async_queue::{Queued, TaskIdRefused};
pub use client::{Body, BoxError, empty_body, full_body};
pub use control_plane::ControlPlane;
pub use debugging::{custom_python, debug_unsupported, default_debug_port};
pub use events::{Event, EventBus, EventKind};
pub use function::Function;
pub use gpu::{GpuMode, GpuView};
pub use init_duration::{InitDuration, TimingMetric, parse_server_timing};
pub use instance::{DestroyReason, Instance, InstanceState};
pub use invoke::COLD_START_HEADER;
pub use logs::{HookKind, LogQuery, LogRecord, LogStore};
pub use options::{
    Credentials, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_MAX_INSTANCES, Debugged, LIFTED_TIMEOUT,
    MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_PATH_BYTES, Options,
};
pub use pool::InstanceInfo;
pub use provision::{ProvisionStatus, TargetRefused, provision_retry_delay};
pub use responses::InvocationKind;
pub use responses::{fc_error_response, function_error_response};
pub use session_api::{SessionRefused, SessionTimes};
pub use session_table::{SessionEnd, SessionInfo};
pub use task_record::{AsyncTask, StopRefused, TaskEvent, TaskFilter, TaskStatus, is_task_id};
pub use triggers::FireRefused;
pub use update::Rolled;
