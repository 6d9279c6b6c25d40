//! PutAsyncInvokeConfig, GetAsyncInvokeConfig, DeleteAsyncInvokeConfig and ListAsyncInvokeConfigs on the run's
//! stored configs, and the rules the queue runs each function's events by.

use crate::async_config::StoredAsyncConfig;
use crate::control_plane::ControlPlane;
use fcemu_spec::AsyncInvokeConfig;
use std::time::SystemTime;

impl ControlPlane {
    /// The function's stored `asyncInvokeConfig`, if it has one.
    pub fn async_invoke_config(&self, function: &str) -> Option<StoredAsyncConfig> {
        self.shared
            .async_configs
            .lock()
            .unwrap()
            .get(function)
            .cloned()
    }

    /// Every stored one, by function name.
    pub fn async_invoke_configs(&self) -> Vec<(String, StoredAsyncConfig)> {
        let configs = self.shared.async_configs.lock().unwrap();
        configs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// PutAsyncInvokeConfig: applies from the next try of every event on.
    pub fn put_async_invoke_config(
        &self,
        function: &str,
        config: AsyncInvokeConfig,
    ) -> StoredAsyncConfig {
        let mut configs = self.shared.async_configs.lock().unwrap();
        let stored = match configs.get(function) {
            Some(old) => StoredAsyncConfig {
                config,
                created: old.created,
                modified: SystemTime::now(),
            },
            None => StoredAsyncConfig::new(config),
        };
        configs.insert(function.to_string(), stored.clone());
        stored
    }

    /// DeleteAsyncInvokeConfig; false when there was none.
    pub fn delete_async_invoke_config(&self, function: &str) -> bool {
        self.shared
            .async_configs
            .lock()
            .unwrap()
            .remove(function)
            .is_some()
    }

    /// What runs the function's events now: its stored config, or FC's defaults.
    pub(crate) fn async_rules(&self, function: &str) -> AsyncInvokeConfig {
        self.async_invoke_config(function)
            .map(|s| s.config)
            .unwrap_or_default()
    }
}
