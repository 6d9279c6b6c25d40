//! Creating, in order: Instance Create (the container, made from `container_spec.rs`), Runtime Init (start,
//! until the server is ready: `readiness.rs`) and the Init Hook (the Initializer), each timed. Work that
//! holds a lease runs as a task of its own, so a caller that goes away leaves nothing half-made.

use crate::container_spec::container_spec;
use crate::error::{PlaceError, StartError};
use crate::hooks::{self, HookContext};
use crate::init_duration::InitDuration;
use crate::instance::DestroyReason;
use crate::pool::{Lease, Pool};
use crate::shared::Shared;
use crate::state::{Input, State};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

impl Pool {
    /// Creating, for a request that found every instance full.
    pub(crate) async fn create_for_request(
        self: &Arc<Self>,
        lease: Lease,
    ) -> Result<Lease, PlaceError> {
        let pool = self.clone();
        detached(&self.shared, async move { pool.create(lease).await }).await
    }

    /// Runs the Initializer again on an instance whose last attempt answered 400/404.
    pub(crate) async fn retry_initializer(
        self: &Arc<Self>,
        lease: Lease,
    ) -> Result<Lease, PlaceError> {
        let pool = self.clone();
        detached(
            &self.shared,
            async move { pool.initialize(lease, None).await },
        )
        .await
    }

    /// Creating, for the instance `lease` holds (its slot is in `Creating`). On success the lease holds the
    /// ready instance for whoever asked for it.
    pub(crate) async fn create(self: &Arc<Self>, lease: Lease) -> Result<Lease, PlaceError> {
        let shared = &self.shared;
        let instance = lease.instance.clone();
        let id = &instance.id;

        // Instance Create. The engine's call is not cut short at shutdown: a container it made is then
        // destroyed like any other, rather than left behind.
        let t0 = Instant::now();
        let spec = container_spec(
            &self.function.spec,
            &shared.options,
            &shared.project.dir,
            id,
            instance.gpu(),
        );
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

        // Runtime Init: start, then wait until the server is ready.
        let t1 = Instant::now();
        let started = tokio::select! {
            started = async {
                let started = shared
                    .runtime
                    .start(&container_id, self.function.spec.container.port)
                    .await
                    .map_err(StartError::Start)?;
                self.wait_until_ready(&instance, &container_id, started.addr)
                    .await?;
                Ok::<_, StartError>((started.addr, started.engine_start))
            } => Some(started),
            _ = shared.shutdown.cancelled() => None,
        };
        // Docker ends a log follow at once on a container that is not running yet, and following during
        // Runtime Init would compete with it for the engine: attach now (the log driver replays from the
        // start, so no line is missed, and a server that failed to start still has its output kept).
        self.spawn_log_pump(&instance);
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
            return Err(PlaceError::NotStarted {
                instance: id.clone(),
                error: StartError::DiedInitializing,
            });
        }
        self.spawn_exit_watch(&instance);

        // Init Hook.
        self.initialize(lease, Some(cold_start)).await
    }

    /// Creating failed: the instance is destroyed with the error, which is also the caller's answer.
    async fn not_started(self: &Arc<Self>, lease: Lease, e: StartError) -> PlaceError {
        let error = fcemu_runtime::error_chain(&e);
        let instance = lease.instance.id.clone();
        self.destroy_held(lease, DestroyReason::InitFailed, Some(error))
            .await;
        PlaceError::NotStarted { instance, error: e }
    }

    /// Runs the Initializer on an instance held by `lease`: the end of Creating (`cold_start` then carries
    /// the first two parts' times), or a retry. FC's rules: 400/404 keeps the instance for another try on
    /// the next request; any other failure destroys it.
    async fn initialize(
        self: &Arc<Self>,
        lease: Lease,
        cold_start: Option<InitDuration>,
    ) -> Result<Lease, PlaceError> {
        let shared = &self.shared;
        let instance = lease.instance.clone();
        let cx = HookContext {
            shared,
            function: &self.function,
            instance: &instance,
        };
        let outcome = tokio::select! {
            outcome = hooks::run_initializer(cx) => Some(outcome),
            _ = shared.shutdown.cancelled() => None,
        };
        match outcome {
            Some(Ok(init_hook)) => {
                let cold_start = cold_start.map(|creating| {
                    let init = InitDuration {
                        init_hook,
                        ..creating
                    };
                    instance.set_init_duration(init);
                    init
                });
                match self.apply(&instance.id, Input::InitializerSucceeded { cold_start }) {
                    Some(State::Busy { .. }) => {
                        if let Some(init) = cold_start {
                            shared.instance_line(
                                &self.function.name,
                                &instance,
                                format!(
                                    "FC Instance Ready InstanceId: {} {}",
                                    instance.id,
                                    init.describe()
                                ),
                            );
                        }
                        Ok(lease)
                    }
                    // It died while the Initializer ran: its exit is being handled.
                    _ => Err(PlaceError::NotStarted {
                        instance: instance.id.clone(),
                        error: StartError::DiedInitializing,
                    }),
                }
            }
            Some(Err(e)) if e.keeps_instance() && !shared.shutdown.is_cancelled() => {
                if let Some(creating) = cold_start {
                    instance.set_init_duration(creating);
                }
                self.apply(&instance.id, Input::InitializerRejected);
                // The lease drops with this answer: the instance idles, uninitialized, and is frozen.
                Err(PlaceError::Initialization {
                    instance: instance.id.clone(),
                    error: e,
                })
            }
            Some(Err(e)) => {
                let error = fcemu_runtime::error_chain(&e);
                self.destroy_held(lease, DestroyReason::InitFailed, Some(error))
                    .await;
                Err(PlaceError::Initialization {
                    instance: instance.id.clone(),
                    error: e,
                })
            }
            None => {
                self.destroy_held(lease, DestroyReason::Shutdown, None)
                    .await;
                Err(PlaceError::ShuttingDown)
            }
        }
    }
}

/// Runs work that holds a lease (Creating, an Initializer) as a task of its own and waits for it: a caller
/// that goes away does not leave a half-made or half-initialized instance behind (if it went away, the lease
/// the work returns is dropped, and the slot given back).
async fn detached(
    shared: &Shared,
    work: impl std::future::Future<Output = Result<Lease, PlaceError>> + Send + 'static,
) -> Result<Lease, PlaceError> {
    let (tx, rx) = oneshot::channel();
    shared.tasks.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.await.unwrap_or(Err(PlaceError::ShuttingDown))
}
