//! One function of an s.yaml, in either edition: its settings, hooks, GPU and provisioned instances. How its
//! container is made is in `container.rs`, its triggers in `triggers.rs`.

use crate::container::container;
use crate::fields::{Cx, Fields, describe};
use crate::model::*;
use crate::vars;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// FC's size rule for environment variables.
const ENV_LIMIT_BYTES: usize = 4096;

/// The key that names a function in each edition.
fn name_key(edition: Edition) -> &'static str {
    match edition {
        Edition::Fc3 => "functionName",
        Edition::Fc2 => "name",
    }
}

/// Function keys fcemu reads in both editions; anything not read is accepted and listed as ignored.
const FUNCTION_KEYS: &[&str] = &[
    "runtime",
    "handler",
    "description",
    "cpu",
    "memorySize",
    "diskSize",
    "timeout",
    "instanceConcurrency",
    "environmentVariables",
    "customContainerConfig",
    "customRuntimeConfig",
    "instanceLifecycleConfig",
    "layers",
];
/// The keys only FC 3.0's props have.
const FC3_KEYS: &[&str] = &[
    "functionName",
    "region",
    "code",
    "gpuConfig",
    "provisionConfig",
    "scalingConfig",
    "concurrencyConfig",
    "triggers",
    "nasConfig",
    "ossMountConfig",
    "role",
    "asyncInvokeConfig",
    "sessionAffinity",
    "sessionAffinityConfig",
    "instanceIsolationMode",
];
/// Whether FC 3.0's reader reads `key` of a function's props.
pub(crate) fn reads_fc3(key: &str) -> bool {
    FUNCTION_KEYS.contains(&key) || FC3_KEYS.contains(&key)
}

/// The keys only FC 2.0's `function` has.
const FC2_KEYS: &[&str] = &[
    "name",
    "codeUri",
    "caPort",
    "initializer",
    "initializationTimeout",
    "instanceType",
    "gpuMemorySize",
    "asyncConfiguration",
];

pub(crate) fn note_ignored(cx: &mut Cx, fields: &Fields, known: &[&[&str]]) {
    if let Some(map) = fields.map {
        for key in map.keys().map(vars::scalar_text) {
            if !known.iter().any(|keys| keys.contains(&key.as_str())) {
                cx.ignored.push(fields.field(&key));
            }
        }
    }
}

/// One function, from FC 3.0 props or from FC 2.0's `function` (with the service's region and triggers).
pub(crate) fn function(
    cx: &mut Cx,
    edition: Edition,
    resource: &str,
    f: &Fields,
    region: Option<String>,
    triggers_of: &Fields,
    dir: &Path,
) -> Option<FunctionSpec> {
    note_ignored(
        cx,
        f,
        &[
            FUNCTION_KEYS,
            if edition == Edition::Fc3 {
                FC3_KEYS
            } else {
                FC2_KEYS
            },
        ],
    );
    let name_key = name_key(edition);
    let name = f.required_string(
        cx,
        name_key,
        &format!("the function's name, e.g. {name_key}: my-func"),
    );
    let region = region
        .or_else(|| f.string(cx, "region"))
        .unwrap_or_else(|| "cn-hangzhou".into());
    let runtime = f
        .required_string(
            cx,
            "runtime",
            "custom-container, custom.debian12, python3.10, nodejs18, ...",
        )
        .and_then(|name| {
            Runtime::parse(&name)
                .map_err(|e| cx.error(&f.field("runtime"), e.to_string()))
                .ok()
        });
    let handler = f
        .string(cx, "handler")
        .unwrap_or_else(|| "index.handler".into());
    let language = runtime.as_ref().and_then(Runtime::language);
    let built_in = language.is_some();
    if let Some(language) = language {
        check_handler(cx, &f.field("handler"), &handler, language);
    }
    let description = f.string(cx, "description").unwrap_or_default();
    let cpu = f.number(cx, "cpu", (0.05, 16.0), 0.35);
    let memory = f.integer(cx, "memorySize", (128, 32768), 512) as u32;
    if memory % 64 != 0 {
        cx.error(
            &f.field("memorySize"),
            format!("is {memory}, allowed: a multiple of 64 (MB)"),
        );
    }
    let disk = f.integer(cx, "diskSize", (512, 10240), 512) as u32;
    if disk != 512 && disk != 10240 {
        cx.error(
            &f.field("diskSize"),
            format!("is {disk}, allowed: 512 or 10240 (MB)"),
        );
    }
    let timeout = f.integer(cx, "timeout", (1, 86400), 3);
    let mut concurrency = f.integer(cx, "instanceConcurrency", (1, 200), 1) as u32;
    if built_in && concurrency > 1 {
        cx.warnings.push(format!(
            "{}: is {concurrency}, but a built-in runtime serves one request at a time per instance, as FC's do; fcemu uses 1 (use a custom runtime or container for concurrent requests)",
            f.field("instanceConcurrency")
        ));
        concurrency = 1;
    }
    let sessions = match edition {
        Edition::Fc3 => crate::session::sessions(
            cx,
            f,
            runtime.as_ref(),
            Duration::from_secs(timeout),
            &mut concurrency,
        ),
        Edition::Fc2 => crate::session::Sessions {
            affinity: None,
            isolation: Default::default(),
        },
    };
    let environment = environment(cx, f);

    // The container is read whatever the runtime, so its own mistakes are reported too.
    let container = container(cx, edition, f, runtime.as_ref(), dir);
    let service = (edition == Edition::Fc2).then(|| triggers_of.sub(cx, "service"));
    let (storage, nas_owner) = crate::storage::storage(cx, edition, f, service.as_ref());
    let role = match &service {
        Some(service) => service.string(cx, "role"),
        None => f.string(cx, "role"),
    }
    .filter(|r| !r.is_empty());
    let container = container.map(|c| ContainerConfig {
        storage,
        nas_owner,
        ..c
    });

    let lifecycle = f.sub(cx, "instanceLifecycleConfig");
    let initializer = match edition {
        Edition::Fc3 => hook(cx, &lifecycle, "initializer"),
        Edition::Fc2 => f
            .string(cx, "initializer")
            .filter(|h| !h.is_empty())
            .map(|handler| Hook {
                action: HookAction::Handler(handler),
                timeout: Duration::from_secs(f.integer(cx, "initializationTimeout", (1, 86400), 3)),
            }),
    };
    let pre_stop = hook(cx, &lifecycle, "preStop");
    let pre_freeze = hook(cx, &lifecycle, "preFreeze");
    // Go's hooks are the functions its executable registered: any handler name turns them on, as on FC.
    if let Some(language) = language.filter(|l| *l != Language::Go) {
        let hooks = [
            ("initializer", &initializer),
            ("preStop", &pre_stop),
            ("preFreeze", &pre_freeze),
        ];
        for (key, hook) in hooks {
            if let Some(handler) = hook.as_ref().and_then(Hook::handler) {
                check_handler(cx, &lifecycle.field(key), handler, language);
            }
        }
    }
    if pre_freeze.is_some() && edition == Edition::Fc3 {
        cx.warnings.push(format!(
            "{}.preFreeze: runs here, but FC 3.0 has no PreFreeze hook",
            lifecycle.path
        ));
    }

    let gpu = gpu(cx, edition, f);
    if initializer
        .as_ref()
        .is_some_and(|h| matches!(h.action, HookAction::Command(_)))
        && gpu.is_none()
    {
        cx.warnings.push(format!(
            "{}.initializer: a command Initializer runs here, but FC accepts it only on GPU functions (with gpuConfig)",
            lifecycle.path
        ));
    }

    let provision = {
        let pc = f.sub(cx, "provisionConfig");
        for unapplied in ["scheduledActions", "targetTrackingPolicies"] {
            if pc.get(unapplied).is_some() {
                cx.warnings.push(format!(
                    "{}: accepted, not applied locally (the target stays fixed)",
                    pc.field(unapplied)
                ));
            }
        }
        let target = pc.integer(cx, "target", (0, 10000), 0);
        let target = pc.integer(cx, "defaultTarget", (0, 10000), target);
        let min_instances = f
            .sub(cx, "scalingConfig")
            .integer(cx, "minInstances", (0, 10000), 0);
        ProvisionConfig {
            target: target.max(min_instances) as u32,
            always_allocate_cpu: pc.boolean(cx, "alwaysAllocateCPU", true),
            always_allocate_gpu: pc.boolean(cx, "alwaysAllocateGPU", true),
        }
    };
    let reserved_concurrency = f
        .get("concurrencyConfig")
        .is_some()
        .then(|| {
            f.sub(cx, "concurrencyConfig")
                .integer(cx, "reservedConcurrency", (0, 100000), 0) as u32
        })
        .filter(|n| *n > 0);
    let triggers = crate::triggers::triggers(cx, edition, triggers_of);
    let async_key = match edition {
        Edition::Fc3 => "asyncInvokeConfig",
        Edition::Fc2 => "asyncConfiguration",
    };
    let async_invoke = crate::async_config::async_invoke_config(cx, f, async_key);
    if let (Some(a), Some(t)) = (&sessions.affinity, &triggers.http) {
        crate::session::check_trigger(cx, f, a, t);
    }

    Some(FunctionSpec {
        name: name?,
        resource: resource.to_string(),
        region,
        runtime: runtime?,
        edition,
        handler,
        description,
        cpu,
        memory_size_mb: memory,
        disk_size_mb: disk,
        timeout: Duration::from_secs(timeout),
        instance_concurrency: concurrency,
        environment_variables: environment,
        container: container?,
        initializer,
        pre_stop,
        pre_freeze,
        gpu,
        provision,
        reserved_concurrency,
        http_trigger: triggers.http,
        event_triggers: triggers.events,
        role,
        async_invoke,
        session_affinity: sessions.affinity,
        instance_isolation_mode: sessions.isolation,
    })
}

fn environment(cx: &mut Cx, p: &Fields) -> BTreeMap<String, String> {
    let env = p.sub(cx, "environmentVariables");
    let mut out = BTreeMap::new();
    let Some(map) = env.map else { return out };
    for (k, v) in map {
        let key = vars::scalar_text(k);
        if key.starts_with("FC_") {
            cx.error(
                &env.field(&key),
                "names starting with FC_ are reserved by Function Compute; rename the variable"
                    .into(),
            );
        }
        match v {
            Value::Mapping(_) | Value::Sequence(_) => cx.error(
                &env.field(&key),
                format!("must be a string, found {}", describe(v)),
            ),
            _ => {
                out.insert(key, vars::scalar_text(v));
            }
        }
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ENV_LIMIT_BYTES {
        cx.error(
            &env.path,
            format!(
                "hold {size} bytes together, allowed: at most {ENV_LIMIT_BYTES} bytes (FC's limit)"
            ),
        );
    }
    out
}

fn gpu(cx: &mut Cx, edition: Edition, f: &Fields) -> Option<GpuConfig> {
    let (g, type_key, size_key) = match edition {
        Edition::Fc3 => (f.sub(cx, "gpuConfig"), "gpuType", "gpuMemorySize"),
        Edition::Fc2 => (
            Fields {
                map: f.map,
                path: f.path.clone(),
            },
            "instanceType",
            "gpuMemorySize",
        ),
    };
    let gpu_type = g.string(cx, type_key)?;
    if edition == Edition::Fc2 && !gpu_type.starts_with("fc.gpu.") {
        return None; // FC 2.0's instanceType also names CPU instance kinds (e.g. e1, c1).
    }
    let types = GPU_TYPES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ");
    let Some((_, card_mb)) = GPU_TYPES.iter().find(|(t, _)| *t == gpu_type) else {
        cx.error(
            &g.field(type_key),
            format!("is \"{gpu_type}\", allowed: {types}"),
        );
        return None;
    };
    if g.get(size_key).is_none() {
        cx.error(&g.field(size_key), format!("is required with {type_key}: the GPU memory in MB, a multiple of 1024 up to {card_mb}"));
        return None;
    }
    let size = g.integer(cx, size_key, (0, u64::MAX), 0);
    if size < 1024 || size > u64::from(*card_mb) || size % 1024 != 0 {
        cx.error(
            &g.field(size_key),
            format!("is {size}, allowed: a multiple of 1024 from 1024 to {card_mb} (MB; a {gpu_type} card has {card_mb})"),
        );
        return None;
    }
    Some(GpuConfig {
        gpu_type,
        gpu_memory_size_mb: size as u32,
        memory_field: g.field(size_key),
    })
}

fn hook(cx: &mut Cx, lifecycle: &Fields, key: &str) -> Option<Hook> {
    let h = lifecycle.sub(cx, key);
    h.map?;
    let handler = h.string(cx, "handler").filter(|s| !s.is_empty());
    let command = h.string_list(cx, "command").filter(|c| !c.is_empty());
    let timeout = Duration::from_secs(h.integer(cx, "timeout", (1, 86400), 3));
    match (handler, command) {
        (Some(_), Some(_)) => {
            cx.error(
                &h.path,
                "sets both `handler` and `command`, allowed: one of them".into(),
            );
            None
        }
        (Some(handler), None) => Some(Hook {
            action: HookAction::Handler(handler),
            timeout,
        }),
        (None, Some(command)) if key == "initializer" => Some(Hook {
            action: HookAction::Command(command),
            timeout,
        }),
        (None, Some(_)) => {
            cx.error(&h.field("command"), format!("is only allowed on the initializer, allowed here: a `handler` ({key} is an HTTP call)"));
            None
        }
        (None, None) => None,
    }
}

/// A built-in runtime's handler names a module and a function in it: `index.handler` is `handler` in
/// `index.py`, `index.js` or `index.php`. Go's names the function's executable in the code folder; Java's a
/// class and its method, `example.App::handleRequest`.
fn check_handler(cx: &mut Cx, field: &str, handler: &str, language: Language) {
    let ok = match language {
        Language::Go => !handler.is_empty() && !handler.contains('/'),
        Language::Java => handler
            .split_once("::")
            .is_some_and(|(class, method)| !class.is_empty() && !method.is_empty()),
        Language::Python | Language::Nodejs | Language::Php => handler
            .rsplit_once('.')
            .is_some_and(|(module, function)| !module.is_empty() && !function.is_empty()),
    };
    if !ok {
        let allowed = match language {
            Language::Go => "the name of the function's executable in the code folder, e.g. main",
            Language::Java => {
                "package.Class::method, e.g. example.App::handleRequest for the method handleRequest of class example.App"
            }
            Language::Python | Language::Nodejs | Language::Php => {
                "MODULE.FUNCTION, e.g. index.handler for the function `handler` in index.py, index.js or index.php"
            }
        };
        cx.error(field, format!("is \"{handler}\", allowed: {allowed}"));
    }
}
