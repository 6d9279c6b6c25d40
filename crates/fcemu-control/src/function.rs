//! What is fixed about a function while `up` runs: its resolved spec, its name as events share it, the
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
    pub billing: Billing,
}

impl Function {
    pub fn new(spec: FunctionSpec, options: &Options) -> Self {
        let headers = FcHeaders::new(&spec, &options.region_of(&spec), &options.account_id);
        Function {
            name: spec.name.as_str().into(),
            spec,
            headers,
            billing: Billing::default(),
        }
    }
}
