//! Instance Create's input: the container a function's instance runs in, made from its spec alone. FC's
//! environment (`FC_*`), fcemu's labels, the code and layer mounts, the limits, the network and the GPU.

use crate::options::Options;
use fcemu_gpu::Slice;
use fcemu_runtime::{ContainerSpec, GpuRequest, Mount, labels};
use fcemu_spec::{Edition, FunctionSpec, Hook, Language, RUNTIME_FILES_DIR};
use std::collections::BTreeMap;
use std::path::Path;

/// The container for instance `instance_id` of the function, holding `gpu` when it has a slice.
pub(crate) fn container_spec(
    spec: &FunctionSpec,
    options: &Options,
    project_dir: &Path,
    instance_id: &str,
    gpu: Option<&Slice>,
) -> ContainerSpec {
    let mut env: Vec<(String, String)> = spec
        .environment_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(
        [
            ("FC_FUNCTION_NAME", spec.name.clone()),
            ("FC_FUNCTION_HANDLER", spec.handler.clone()),
            ("FC_FUNCTION_MEMORY_SIZE", spec.memory_size_mb.to_string()),
            ("FC_FUNCTION_VERSION", "LATEST".into()),
            ("FC_REGION", options.region_of(spec)),
            ("FC_ACCOUNT_ID", options.account_id.clone()),
            ("FC_INSTANCE_ID", instance_id.to_string()),
            ("FC_CUSTOM_LISTEN_PORT", spec.container.port.to_string()),
            ("FC_FUNC_CODE_PATH", "/code/".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    if let Some(language) = spec.runtime.language() {
        env.extend(built_in_runtime_env(spec));
        // FC puts a built-in runtime's layer folders on its search paths (a custom runtime's s.yaml
        // names them itself).
        let search = match language {
            Language::Python => Some(("PYTHONPATH", "/opt/python")),
            Language::Nodejs => Some(("NODE_PATH", "/opt/nodejs/node_modules")),
            // A layer's shared libraries, for an executable linked against them.
            Language::Go => Some(("LD_LIBRARY_PATH", "/opt/lib")),
            // fcemu's PHP runtime puts /opt/php on the include path itself, its Java runtime a layer's
            // /opt/java/lib/*.jar on the code's class path.
            Language::Php | Language::Java => None,
        };
        if let Some((name, value)) = search
            && spec.container.opt.is_some()
            && !spec.environment_variables.contains_key(name)
        {
            env.push((name.into(), value.into()));
        }
    }
    // FC gives a function with a role its credentials in the environment too (its SDKs read them there).
    if let Some(c) = options.credentials_of(spec) {
        env.push((
            "ALIBABA_CLOUD_ACCESS_KEY_ID".into(),
            c.access_key_id.clone(),
        ));
        env.push((
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
            c.access_key_secret.clone(),
        ));
        if let Some(token) = &c.security_token {
            env.push(("ALIBABA_CLOUD_SECURITY_TOKEN".into(), token.clone()));
        }
    }
    if let Some(gpu) = &spec.gpu {
        env.push((
            "FC_GPU_MEMORY_SIZE".into(),
            gpu.gpu_memory_size_mb.to_string(),
        ));
    }
    let labels = BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (
            labels::PROJECT.to_string(),
            project_dir.display().to_string(),
        ),
        (labels::FUNCTION.to_string(), spec.name.clone()),
        (labels::INSTANCE_ID.to_string(), instance_id.to_string()),
    ]);
    let mut container = ContainerSpec {
        name: format!("fcemu-{}-{}", sanitize(&spec.name), &instance_id[2..]),
        image: spec.container.image.clone(),
        env,
        labels,
        memory_mb: spec.memory_size_mb,
        cpu: spec.cpu,
        port: spec.container.port,
        entrypoint: spec.container.entrypoint.clone(),
        command: spec.container.command.clone(),
        // Custom and built-in runtimes: the code folder, read-only, as FC mounts it, and the layers at
        // /opt; built-in ones also see fcemu's runtime for their language. Any runtime: the NAS and OSS
        // mount points, each a folder on this machine.
        mounts: [
            (&spec.container.code, "/code"),
            (&spec.container.runtime_files, RUNTIME_FILES_DIR),
            (&spec.container.opt, "/opt"),
        ]
        .into_iter()
        .filter_map(|(host, container)| {
            host.as_ref().map(|host| Mount {
                host: host.clone(),
                container: container.into(),
                read_only: true,
            })
        })
        .chain(spec.container.storage.iter().filter_map(|m| {
            m.host.as_ref().map(|host| Mount {
                host: host.clone(),
                container: m.mount_dir.clone(),
                read_only: m.read_only,
            })
        }))
        .collect(),
        working_dir: spec.container.code.as_ref().map(|_| "/code".to_string()),
        // A real card: the engine's NVIDIA driver makes it visible; a simulated one has no device.
        network: Some(fcemu_runtime::network_name(project_dir)),
        gpu: gpu
            .filter(|slice| !slice.simulated)
            .map(|slice| GpuRequest {
                device_ids: vec![slice.uuid.clone()],
            }),
        debug_port: None,
    };
    if let Some(debug) = options.debugged(&spec.name) {
        crate::debugging::under_debugger(spec, debug, &mut container);
    }
    container
}

/// What fcemu's runtime for a built-in runtime reads at start: its hooks' handlers (FC's request headers
/// carry only some), and the edition, which decides how HTTP trigger requests reach the handler.
fn built_in_runtime_env(spec: &FunctionSpec) -> Vec<(String, String)> {
    let handler = |hook: &Option<Hook>| {
        hook.as_ref()
            .and_then(Hook::handler)
            .unwrap_or_default()
            .to_string()
    };
    let (edition, service) = match spec.edition {
        Edition::Fc3 => ("3.0", ""),
        Edition::Fc2 => ("2.0", spec.resource.as_str()),
    };
    let shipped = spec
        .runtime
        .language()
        .map(|l| {
            l.shipped_libraries()
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    [
        ("FCEMU_SHIPPED_LIBRARIES", shipped),
        ("FCEMU_INITIALIZER", handler(&spec.initializer)),
        ("FCEMU_PRE_STOP", handler(&spec.pre_stop)),
        ("FCEMU_PRE_FREEZE", handler(&spec.pre_freeze)),
        ("FCEMU_EDITION", edition.to_string()),
        ("FCEMU_SERVICE_NAME", service.to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into()
}

/// Container names allow `[a-zA-Z0-9_.-]`; function names may hold more.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The one function of a project in `/p` (whose code folder, if any, is in `dir`).
    fn function_in(dir: &Path, resource: &str) -> FunctionSpec {
        let yaml = format!("edition: 3.0.0\nname: t\nresources:\n{resource}");
        let project = fcemu_spec::parse_project(&yaml, &dir.join("s.yaml"), dir, &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        project.functions.into_iter().next().expect("one function")
    }

    fn function(resource: &str) -> FunctionSpec {
        function_in(Path::new("/p"), resource)
    }

    fn env<'a>(spec: &'a ContainerSpec, key: &str) -> Option<&'a str> {
        spec.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    const CONTAINER: &str = r#"  web:
    component: fc3
    props:
      region: cn-beijing
      functionName: "my web/fn"
      runtime: custom-container
      handler: index.handler
      memorySize: 1024
      cpu: 1
      environmentVariables: { GREETING: hi }
      customContainerConfig: { image: "web:1", port: 8080, command: ["/serve"] }
"#;

    #[test]
    fn a_custom_container_gets_fc_environment_labels_and_limits_and_no_mounts() {
        let spec = function(CONTAINER);
        let options = Options {
            region_override: Some("cn-local".into()),
            account_id: "123".into(),
            ..Options::default()
        };
        let c = container_spec(&spec, &options, Path::new("/p"), "c-0123abcd", None);
        assert_eq!(c.image, "web:1");
        assert_eq!(c.port, 8080);
        assert_eq!(c.memory_mb, 1024);
        assert_eq!(c.command, Some(vec!["/serve".to_string()]));
        // The name keeps to the engine's characters and ends with the instance's id.
        assert_eq!(c.name, "fcemu-my-web-fn-0123abcd");
        for (key, value) in [
            ("GREETING", "hi"),
            ("FC_FUNCTION_NAME", "my web/fn"),
            ("FC_REGION", "cn-local"),
            ("FC_ACCOUNT_ID", "123"),
            ("FC_INSTANCE_ID", "c-0123abcd"),
            ("FC_CUSTOM_LISTEN_PORT", "8080"),
            ("FC_FUNCTION_MEMORY_SIZE", "1024"),
        ] {
            assert_eq!(env(&c, key), Some(value), "{key}");
        }
        // Only a built-in runtime is told its hooks' handlers.
        assert_eq!(env(&c, "FCEMU_INITIALIZER"), None);
        assert_eq!(c.labels[labels::MANAGED], "true");
        assert_eq!(c.labels[labels::PROJECT], "/p");
        assert_eq!(c.labels[labels::FUNCTION], "my web/fn");
        assert_eq!(c.labels[labels::INSTANCE_ID], "c-0123abcd");
        assert!(c.mounts.is_empty());
        assert_eq!(c.working_dir, None);
        assert_eq!(
            c.network,
            Some(fcemu_runtime::network_name(Path::new("/p")))
        );
        assert!(c.gpu.is_none());
    }

    #[test]
    fn a_built_in_runtime_mounts_code_runtime_and_layers_read_only_and_searches_opt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        let mut spec = function_in(
            dir.path(),
            r#"  py:
    component: fc3
    props:
      region: cn-hangzhou
      functionName: py
      runtime: python3.10
      handler: index.handler
      code: ./code
      instanceLifecycleConfig:
        initializer: { handler: index.init, timeout: 3 }
"#,
        );
        // What `up` fills in: fcemu's runtime for the language, and the layers merged.
        spec.container.runtime_files = Some(PathBuf::from("/runtime/python"));
        spec.container.opt = Some(PathBuf::from("/layers/merged"));
        let c = container_spec(&spec, &Options::default(), Path::new("/p"), "c-1", None);
        assert_eq!(env(&c, "FC_REGION"), Some("cn-hangzhou"));
        assert_eq!(env(&c, "FCEMU_INITIALIZER"), Some("index.init"));
        assert_eq!(env(&c, "FCEMU_EDITION"), Some("3.0"));
        assert_eq!(env(&c, "PYTHONPATH"), Some("/opt/python"));
        let mounted: Vec<(&str, bool)> = c
            .mounts
            .iter()
            .map(|m| (m.container.as_str(), m.read_only))
            .collect();
        assert_eq!(
            mounted,
            [("/code", true), (RUNTIME_FILES_DIR, true), ("/opt", true)]
        );
        assert_eq!(c.working_dir.as_deref(), Some("/code"));
    }

    #[test]
    fn only_a_real_card_is_asked_of_the_engine() {
        let spec = function(CONTAINER);
        let slice = |simulated| Slice {
            card: 0,
            uuid: "GPU-1".into(),
            memory_mb: 4096,
            simulated,
        };
        let options = Options::default();
        let on =
            |slice: &Slice| container_spec(&spec, &options, Path::new("/p"), "c-1", Some(slice));
        assert_eq!(
            on(&slice(false)).gpu.map(|g| g.device_ids),
            Some(vec!["GPU-1".to_string()])
        );
        assert!(on(&slice(true)).gpu.is_none());
    }
}
