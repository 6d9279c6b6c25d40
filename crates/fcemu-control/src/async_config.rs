//! A function's asynchronous invocation configuration as the run keeps it: what the s.yaml or
//! PutAsyncInvokeConfig set, and when (the API's calls on it are in `async_invoke_config.rs`, the queue that
//! follows it in `async_queue.rs`).

use fcemu_spec::AsyncInvokeConfig;
use std::time::SystemTime;

/// A function's `asyncInvokeConfig` as PutAsyncInvokeConfig (or the s.yaml) left it, with its times.
#[derive(Debug, Clone)]
pub struct StoredAsyncConfig {
    pub config: AsyncInvokeConfig,
    pub created: SystemTime,
    pub modified: SystemTime,
}

impl StoredAsyncConfig {
    pub(crate) fn new(config: AsyncInvokeConfig) -> Self {
        let now = SystemTime::now();
        StoredAsyncConfig {
            config,
            created: now,
            modified: now,
        }
    }
}
