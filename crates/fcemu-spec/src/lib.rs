//! fcemu-spec: the Serverless Devs s.yaml, read into a resolved and validated function model.
//! Pure: no I/O beyond reading the project's files.

mod actions;
mod async_config;
mod auth;
mod container;
mod diff;
mod domain;
mod fields;
mod function;
mod layers;
mod load;
pub mod locate;
mod model;
mod mount;
mod routes;
mod session;
mod storage;
mod timer;
mod triggers;
mod update;
pub mod vars;

pub use async_config::{
    AsyncInvokeConfig, DEFAULT_MAX_ASYNC_EVENT_AGE_SECS, DEFAULT_MAX_ASYNC_RETRY_ATTEMPTS,
    Destination, parse_async_invoke_config, to_props as async_invoke_props,
};
pub use auth::{ClaimPass, JwtAuth, ParamKind, TokenSource, TriggerAuth};
pub use container::is_code_archive;
pub use diff::changed_fields;
pub use fields::SpecError;
pub use load::{SpecErrors, find_template, load_project, load_project_with_env, parse_project};
pub use model::*;
pub use mount::{StorageKind, StorageMount};
pub use routes::{CustomDomain, Rewrite, RewriteRule, Route, RoutePath, Routed, route};
pub use session::{
    AFFINITY_INSTANCE_CONCURRENCY, AffinityKind, IsolationMode, MCP_SESSION_HEADER, SESSION_COOKIE,
    SessionAffinity, valid_session_id,
};
pub use timer::Schedule;
pub use triggers::{EVENT_TRIGGER_TYPES, EventTrigger, Timer};
pub use update::{to_props, update_function};

/// The account id a local run reports (`x-fc-account-id`, `FC_ACCOUNT_ID`) unless `FCEMU_ACCOUNT_ID` is set.
pub const LOCAL_ACCOUNT_ID: &str = "1234567890123456";
