//! `asyncInvokeConfig` (FC 2.0: the function's `asyncConfiguration`): how FC's queue runs a function's
//! asynchronous invocations: how often a failed one is tried again, how old an event may grow, where the
//! outcome goes, and whether each is a task with a record of its own.

use crate::fields::{Cx, Fields};
use serde::Serialize;

/// FC's defaults: 3 retries, a day's age.
pub const DEFAULT_MAX_ASYNC_RETRY_ATTEMPTS: u32 = 3;
pub const DEFAULT_MAX_ASYNC_EVENT_AGE_SECS: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncInvokeConfig {
    /// Tries after the first when the function fails (0..8).
    pub max_async_retry_attempts: u32,
    /// An event not finished this long after it was queued is dropped to the failure destination.
    pub max_async_event_age_in_seconds: u64,
    pub on_success: Option<Destination>,
    pub on_failure: Option<Destination>,
    /// `asyncTask`: each invocation is a task that can be listed and stopped.
    pub async_task: bool,
}

impl Default for AsyncInvokeConfig {
    fn default() -> Self {
        AsyncInvokeConfig {
            max_async_retry_attempts: DEFAULT_MAX_ASYNC_RETRY_ATTEMPTS,
            max_async_event_age_in_seconds: DEFAULT_MAX_ASYNC_EVENT_AGE_SECS,
            on_success: None,
            on_failure: None,
            async_task: false,
        }
    }
}

/// Where an outcome goes: a function of the project, or a service that does not run locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Destination {
    /// `acs:fc:{region}:{uid}:functions/{name}`: invoked asynchronously with FC's destination event.
    Function { arn: String, name: String },
    /// MNS queues and topics, EventBridge, RocketMQ: written to a local sink.
    Sink { arn: String, service: String },
}

impl Destination {
    pub fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.splitn(5, ':').collect();
        let [acs, service, _region, _uid, resource] = parts.as_slice() else {
            return Err("a destination is an ARN, acs:SERVICE:REGION:ACCOUNT:RESOURCE".into());
        };
        if *acs != "acs" {
            return Err("a destination ARN starts with acs:".into());
        }
        match *service {
            "fc" => match resource.strip_prefix("functions/") {
                Some(name) if !name.is_empty() => Ok(Destination::Function {
                    arn: arn.into(),
                    name: name.split('/').next().unwrap_or(name).into(),
                }),
                _ => Err(
                    "an fc destination names a function: acs:fc:REGION:ACCOUNT:functions/NAME"
                        .into(),
                ),
            },
            "mns" | "eventbridge" | "rocketmq" => Ok(Destination::Sink {
                arn: arn.into(),
                service: service.to_string(),
            }),
            other => Err(format!(
                "{other} is not a destination FC sends to, allowed: fc, mns, eventbridge, rocketmq"
            )),
        }
    }

    pub fn arn(&self) -> &str {
        match self {
            Destination::Function { arn, .. } | Destination::Sink { arn, .. } => arn,
        }
    }
}

/// PutAsyncInvokeConfig's body read as the s.yaml's `asyncInvokeConfig` is: Err says each thing wrong.
pub fn parse_async_invoke_config(body: &serde_json::Value) -> Result<AsyncInvokeConfig, String> {
    let wrapped = serde_json::json!({ "asyncInvokeConfig": body });
    let yaml: serde_yaml::Value = serde_yaml::to_value(&wrapped).map_err(|e| e.to_string())?;
    let mut cx = Cx::default();
    let fields = Fields::new(&mut cx, Some(&yaml), "body".into());
    let config = async_invoke_config(&mut cx, &fields, "asyncInvokeConfig").unwrap_or_default();
    if cx.errors.is_empty() {
        Ok(config)
    } else {
        Err(cx
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.field.trim_start_matches("body.asyncInvokeConfig."),
                    e.message
                )
            })
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Says which function destinations name no function of the project: their deliveries go to the sink.
pub(crate) fn check_destinations(cx: &mut Cx, functions: &[&mut crate::FunctionSpec]) {
    for f in functions {
        let Some(a) = &f.async_invoke else { continue };
        for d in [&a.on_success, &a.on_failure].into_iter().flatten() {
            if let Destination::Function { name, arn } = d {
                if !functions.iter().any(|g| g.name == *name) {
                    cx.warnings.push(format!(
                        "function {}: destination {arn} names function {name}, which this project does not declare: what goes there is written to .fcemu/destinations/ instead",
                        f.name
                    ));
                }
            }
        }
    }
}

/// FC 3.0's shape of it (what the API's PutAsyncInvokeConfig takes and GetAsyncInvokeConfig gives, less the
/// times and the function's ARN).
pub fn to_props(a: &AsyncInvokeConfig) -> serde_json::Value {
    let destination = |d: &Option<Destination>| {
        d.as_ref()
            .map(|d| serde_json::json!({ "destination": d.arn() }))
    };
    let mut config = serde_json::json!({
        "maxAsyncRetryAttempts": a.max_async_retry_attempts,
        "maxAsyncEventAgeInSeconds": a.max_async_event_age_in_seconds,
        "asyncTask": a.async_task,
    });
    let mut destinations = serde_json::Map::new();
    if let Some(d) = destination(&a.on_success) {
        destinations.insert("onSuccess".into(), d);
    }
    if let Some(d) = destination(&a.on_failure) {
        destinations.insert("onFailure".into(), d);
    }
    if !destinations.is_empty() {
        config["destinationConfig"] = destinations.into();
    }
    config
}

/// Reads one, FC 3.0's or FC 2.0's shape: `destinationConfig.onSuccess.destination` (3.0) or
/// `destination.onSuccess` (2.0).
pub(crate) fn async_invoke_config(cx: &mut Cx, f: &Fields, key: &str) -> Option<AsyncInvokeConfig> {
    let c = f.sub(cx, key);
    c.map?;
    let retries = c.integer(
        cx,
        "maxAsyncRetryAttempts",
        (0, 8),
        DEFAULT_MAX_ASYNC_RETRY_ATTEMPTS as u64,
    ) as u32;
    let age = c.integer(
        cx,
        "maxAsyncEventAgeInSeconds",
        (1, 86_400),
        DEFAULT_MAX_ASYNC_EVENT_AGE_SECS,
    );
    let async_task =
        c.boolean(cx, "asyncTask", false) || c.boolean(cx, "statefulInvocation", false);
    let mut destination = |which: &str| -> Option<Destination> {
        let (path, arn) = if c.get("destinationConfig").is_some() {
            let d = c.sub(cx, "destinationConfig");
            let w = d.sub(cx, which);
            (w.field("destination"), w.string(cx, "destination")?)
        } else {
            let d = c.sub(cx, "destination");
            (d.field(which), d.string(cx, which)?)
        };
        match Destination::parse(&arn) {
            Ok(d) => Some(d),
            Err(why) => {
                cx.error(&path, format!("is \"{arn}\": {why}"));
                None
            }
        }
    };
    let on_success = destination("onSuccess");
    let on_failure = destination("onFailure");
    Some(AsyncInvokeConfig {
        max_async_retry_attempts: retries,
        max_async_event_age_in_seconds: age,
        on_success,
        on_failure,
        async_task,
    })
}
