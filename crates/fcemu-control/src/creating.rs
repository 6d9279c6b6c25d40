//! Creating: Instance Create (the container, with the function's limits), Runtime Init (start, until the
//! server accepts connections) and the Init Hook, each timed.

use crate::error::{PlaceError, StartError};
use crate::instance::{InitDuration, Instance};
use crate::pool::{Lease, Pool};
use crate::state::{Input, State};
use crate::{DestroyReason, Shared};
use fcemu_runtime::{ContainerSpec, GpuRequest, Mount, labels};
use fcemu_spec::{Edition, FunctionSpec, Hook, Language, RUNTIME_FILES_DIR};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl Pool {
    /// Creating, for the instance `lease` holds (its slot is in `Creating`). On success the lease holds the
    /// ready instance for whoever asked for it.
    pub(crate) async fn create(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        lease: Lease,
    ) -> Result<Lease, PlaceError> {
        let instance = lease.instance.clone();
        let id = &instance.id;

        // Instance Create. The engine's call is not cut short at shutdown: a container it made is then
        // destroyed like any other, rather than left behind.
        let t0 = Instant::now();
        let spec = self.container_spec(shared, &instance);
        let container_id = match shared.runtime.create(&spec).await {
            Ok(container_id) => container_id,
            Err(e) => return Err(self.not_started(lease, StartError::Create(e)).await),
        };
        instance.set_container(container_id.clone());
        let instance_create = t0.elapsed();
        self.apply(
            id,
            Input::ContainerCreated {
                took: instance_create,
            },
        );
        if shared.shutdown.is_cancelled() {
            self.destroy_held(lease, DestroyReason::Shutdown, None)
                .await;
            return Err(PlaceError::ShuttingDown);
        }

        // Runtime Init: start, then wait until the port accepts connections.
        let t1 = Instant::now();
        let started = tokio::select! {
            started = async {
                let started = shared
                    .runtime
                    .start(&container_id, self.function.spec.container.port)
                    .await
                    .map_err(StartError::Start)?;
                self.wait_until_ready(shared, &instance, &container_id, started.addr)
                    .await
                    .map(|addr| (addr, started.engine_start))
            } => Some(started),
            _ = shared.shutdown.cancelled() => None,
        };
        // Docker ends a log follow at once on a container that is not running yet, and following during
        // Runtime Init would compete with it for the engine: attach now (the log driver replays from the
        // start, so no line is missed, and a server that failed to start still has its output kept).
        self.spawn_log_pump(shared, &instance);
        let (addr, engine_start) = match started {
            Some(Ok(ready)) => ready,
            Some(Err(e)) => return Err(self.not_started(lease, e).await),
            None => {
                self.destroy_held(lease, DestroyReason::Shutdown, None)
                    .await;
                return Err(PlaceError::ShuttingDown);
            }
        };
        instance.set_addr(addr);
        let cold_start = InitDuration {
            instance_create,
            runtime_init: t1.elapsed(),
            engine_start,
            init_hook: Duration::ZERO,
        };
        if self.apply(id, Input::RuntimeReady { cold_start })
            != Some(State::Initializing { first: true })
        {
            return Err(PlaceError::NotStarted(StartError::DiedInitializing));
        }
        self.spawn_exit_watch(shared, &instance);

        // Init Hook.
        self.initialize(shared, lease, Some(cold_start)).await
    }

    /// Creating failed: the instance is destroyed with the error, which is also the caller's answer.
    async fn not_started(self: &Arc<Self>, lease: Lease, e: StartError) -> PlaceError {
        let error = fcemu_runtime::error_chain(&e);
        self.destroy_held(lease, DestroyReason::InitFailed, Some(error))
            .await;
        PlaceError::NotStarted(e)
    }

    fn container_spec(&self, shared: &Shared, instance: &Instance) -> ContainerSpec {
        let instance_id = &*instance.id;
        let spec = &self.function.spec;
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
                ("FC_REGION", shared.options.region_of(spec)),
                ("FC_ACCOUNT_ID", shared.options.account_id.clone()),
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
                Language::Python => ("PYTHONPATH", "/opt/python"),
                Language::Nodejs => ("NODE_PATH", "/opt/nodejs/node_modules"),
            };
            if spec.container.opt.is_some() && !spec.environment_variables.contains_key(search.0) {
                env.push((search.0.into(), search.1.into()));
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
                shared.project.dir.display().to_string(),
            ),
            (labels::FUNCTION.to_string(), spec.name.clone()),
            (labels::INSTANCE_ID.to_string(), instance_id.to_string()),
        ]);
        ContainerSpec {
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
            // /opt; built-in ones also see fcemu's runtime for their language.
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
            .collect(),
            working_dir: spec.container.code.as_ref().map(|_| "/code".to_string()),
            // A real card: the engine's NVIDIA driver makes it visible; a simulated one has no device.
            network: Some(fcemu_runtime::network_name(&shared.project.dir)),
            gpu: instance
                .gpu()
                .filter(|slice| !slice.simulated)
                .map(|slice| GpuRequest {
                    device_ids: vec![slice.uuid.clone()],
                }),
        }
    }
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
