//! What is fixed about one version of a function: its resolved spec, its name as events share it, the
//! request headers every request carries, and its billing counters. Hooks and requests need only this.

use crate::Options;
use crate::billing::Billing;
use crate::headers::FcHeaders;
use fcemu_spec::FunctionSpec;
use std::sync::Arc;

pub struct Function {
    pub spec: FunctionSpec,
    /// `spec.name`, shared by the function's events and log lines.
    pub name: Arc<str>,
    pub headers: FcHeaders,
    /// Kept across updates: the function's bill is one whatever its versions.
    pub billing: Arc<Billing>,
    /// 1 at `up`, one more at each update.
    pub version: u32,
}

impl Function {
    pub fn new(spec: FunctionSpec, options: &Options) -> Self {
        Self::versioned(spec, options, 1, Arc::default())
    }

    /// The function's next version, with `spec`.
    pub fn next(&self, spec: FunctionSpec, options: &Options) -> Self {
        Self::versioned(spec, options, self.version + 1, self.billing.clone())
    }

    fn versioned(
        mut spec: FunctionSpec,
        options: &Options,
        version: u32,
        billing: Arc<Billing>,
    ) -> Self {
        // Under a debugger a breakpoint may hold the handler or a hook for as long as the developer looks.
        if options.lifts_timeouts(&spec.name) {
            spec.timeout = crate::options::LIFTED_TIMEOUT;
            for hook in [
                &mut spec.initializer,
                &mut spec.pre_stop,
                &mut spec.pre_freeze,
            ]
            .into_iter()
            .flatten()
            {
                hook.timeout = crate::options::LIFTED_TIMEOUT;
            }
        }
        let headers = FcHeaders::new(
            &spec,
            &options.region_of(&spec),
            &options.account_id,
            options.credentials_of(&spec),
        );
        Function {
            name: spec.name.as_str().into(),
            spec,
            headers,
            billing,
            version,
        }
    }
}
