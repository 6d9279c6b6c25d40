//! UpdateFunction: a function's configuration changed through the API, checked exactly as s.yaml is. The
//! function is written back as FC 3.0 props (the API's own field names), the body's fields are laid over
//! them, and the result is read by the same reader as an s.yaml, so every rule and message is the same.

use crate::fields::{Cx, Fields};
use crate::function::function;
use crate::model::*;
use serde_json::{Value as Json, json};
use std::path::Path;

/// The fields the s.yaml reader reads that UpdateFunction does not change here: the function's name and
/// place, its runtime (refused when changed), its code and layers (an update changes configuration), and
/// what has an API of its own (triggers, provisioned instances, scaling and concurrency), and the shared
/// storage.
const NOT_UPDATED: [&str; 14] = [
    "functionName",
    "region",
    "runtime",
    "code",
    "layers",
    "customRuntimeConfig",
    "triggers",
    "asyncInvokeConfig",
    "provisionConfig",
    "scalingConfig",
    "concurrencyConfig",
    // The folders standing in for them are made when `up` starts.
    "nasConfig",
    "ossMountConfig",
    // Whose credentials the requests carry is settled when `up` starts.
    "role",
];

/// Whether fcemu applies this field of UpdateFunction's body: every field the reader reads, but those.
fn applied(key: &str) -> bool {
    crate::function::reads_fc3(key) && !NOT_UPDATED.contains(&key)
}

/// A function changed by UpdateFunction, and the body's fields accepted that mean nothing locally.
pub type Updated = (FunctionSpec, Vec<String>);

/// Each problem of an UpdateFunction body as (field, message).
pub type UpdateErrors = Vec<(String, String)>;

/// The function with `body` applied; or what is wrong with the body.
pub fn update_function(
    spec: &FunctionSpec,
    body: &Json,
    dir: &Path,
) -> Result<Updated, UpdateErrors> {
    let Some(changes) = body.as_object() else {
        return Err(vec![(
            String::new(),
            "the body must be a JSON object of the function's fields, e.g. {\"memorySize\": 1024}"
                .into(),
        )]);
    };
    let mut props = to_props(spec);
    let mut ignored = Vec::new();
    for (key, value) in changes {
        if key == "runtime" && value.as_str() != Some(spec.runtime.name()) {
            return Err(vec![(
                key.clone(),
                format!(
                    "cannot change from {} (FC does not change a function's runtime either)",
                    spec.runtime.name()
                ),
            )]);
        }
        if !applied(key) {
            if key != "runtime" && key != "functionName" {
                ignored.push(key.clone());
            }
            continue;
        }
        match (props.get_mut(key), value) {
            // A nested configuration given in part keeps the rest (`{"customContainerConfig": {"image": ...}}`).
            (Some(Json::Object(current)), Json::Object(given)) if key != "environmentVariables" => {
                for (k, v) in given {
                    current.insert(k.clone(), v.clone());
                }
            }
            _ => {
                props[key] = value.clone();
            }
        }
    }
    let props: serde_yaml::Value = serde_yaml::to_value(&props).expect("JSON converts to YAML");
    let mut cx = Cx::default();
    let fields = Fields::new(&mut cx, Some(&props), String::new());
    let updated = function(
        &mut cx,
        Edition::Fc3,
        &spec.resource,
        &fields,
        None,
        &fields,
        dir,
    );
    // An update names code that is there: no action runs for it.
    cx.take_unbuilt(0, false);
    if !cx.errors.is_empty() {
        return Err(cx
            .errors
            .into_iter()
            .map(|e| (e.field.trim_start_matches('.').to_string(), e.message))
            .collect());
    }
    let mut updated = updated.expect("no error means a function");
    // What the API cannot change stays as the s.yaml had it.
    updated.edition = spec.edition;
    updated.region = spec.region.clone();
    updated.container.build = spec.container.build.clone();
    updated.container.runtime_files = spec.container.runtime_files.clone();
    updated.container.storage = spec.container.storage.clone();
    updated.container.nas_owner = spec.container.nas_owner;
    updated.role = spec.role.clone();
    Ok((updated, ignored))
}

/// The function as FC 3.0 props, the names UpdateFunction and GetFunction use.
pub fn to_props(spec: &FunctionSpec) -> serde_json::Map<String, Json> {
    let hook = |hook: &Option<Hook>| match hook {
        Some(Hook {
            action: HookAction::Handler(h),
            timeout,
        }) => json!({ "handler": h, "timeout": timeout.as_secs() }),
        Some(Hook {
            action: HookAction::Command(c),
            timeout,
        }) => json!({ "command": c, "timeout": timeout.as_secs() }),
        None => Json::Null,
    };
    let c = &spec.container;
    let mut props = json!({
        "functionName": spec.name,
        "region": spec.region,
        "runtime": spec.runtime.name(),
        "handler": spec.handler,
        "description": spec.description,
        "cpu": spec.cpu,
        "memorySize": spec.memory_size_mb,
        "diskSize": spec.disk_size_mb,
        "timeout": spec.timeout.as_secs(),
        "instanceConcurrency": spec.instance_concurrency,
        "environmentVariables": spec.environment_variables,
        "instanceLifecycleConfig": {
            "initializer": hook(&spec.initializer),
            "preStop": hook(&spec.pre_stop),
            "preFreeze": hook(&spec.pre_freeze),
        },
        "provisionConfig": {
            "defaultTarget": spec.provision.target,
            "alwaysAllocateCPU": spec.provision.always_allocate_cpu,
            "alwaysAllocateGPU": spec.provision.always_allocate_gpu,
        },
    });
    let health = c.health_check.as_ref().map(|h| {
        json!({
            "httpGetUrl": h.http_get_url,
            "initialDelaySeconds": h.initial_delay.as_secs(),
            "periodSeconds": h.period.as_secs(),
            "timeoutSeconds": h.timeout.as_secs(),
            "failureThreshold": h.failure_threshold,
            "successThreshold": h.success_threshold,
        })
    });
    let container = match &spec.runtime {
        Runtime::CustomContainer => Some((
            "customContainerConfig",
            json!({ "image": c.image, "port": c.port, "entrypoint": c.entrypoint, "command": c.command,
                    "healthCheckConfig": health }),
        )),
        Runtime::Custom(_) => Some((
            "customRuntimeConfig",
            json!({ "port": c.port, "command": c.entrypoint, "args": c.command, "healthCheckConfig": health }),
        )),
        Runtime::BuiltIn { .. } => None,
    };
    if let Some((key, config)) = container {
        props[key] = config;
    }
    if let Some(code) = &c.code {
        props["code"] = json!(code);
    }
    if let Some(gpu) = &spec.gpu {
        props["gpuConfig"] =
            json!({ "gpuType": gpu.gpu_type, "gpuMemorySize": gpu.gpu_memory_size_mb });
    }
    if let Some(n) = spec.reserved_concurrency {
        props["concurrencyConfig"] = json!({ "reservedConcurrency": n });
    }
    let mut triggers: Vec<Json> = spec.event_triggers.iter().map(|t| t.to_props()).collect();
    if let Some(t) = &spec.http_trigger {
        let mut config = json!({ "methods": t.methods });
        crate::auth::write_auth(&t.auth, &mut config);
        triggers.insert(
            0,
            json!({ "triggerName": t.name, "triggerType": "http",
                                   "triggerConfig": config }),
        );
    }
    if !triggers.is_empty() {
        props["triggers"] = Json::Array(triggers);
    }
    if let Some(a) = &spec.async_invoke {
        props["asyncInvokeConfig"] = crate::async_config::to_props(a);
    }
    crate::session::write_props(spec, &mut props);
    strip_nulls(&mut props);
    match props {
        Json::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}

/// An absent field is left out, as the s.yaml would leave it.
fn strip_nulls(v: &mut Json) {
    if let Json::Object(map) = v {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_applies_the_configuration_and_lists_what_it_does_not_change() {
        let applied_keys: Vec<&str> = [
            "description",
            "handler",
            "cpu",
            "memorySize",
            "diskSize",
            "timeout",
            "instanceConcurrency",
            "environmentVariables",
            "customContainerConfig",
            "instanceLifecycleConfig",
            "gpuConfig",
        ]
        .into_iter()
        .filter(|k| applied(k))
        .collect();
        assert_eq!(applied_keys.len(), 11, "{applied_keys:?}");
        for key in NOT_UPDATED
            .iter()
            .chain(&["nasConfig", "vpcConfig", "role"])
        {
            assert!(!applied(key), "{key}");
        }
    }
}
