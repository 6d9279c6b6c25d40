//! Function updates, as FC does them: a function whose configuration or code changed is rolled. From that
//! moment its new requests go to new instances on the new version; each old instance finishes the requests
//! it serves (never cut), then is destroyed through thaw, PreStop, stop and remove with reason `update`. A
//! provisioned target is made ready on the new version before traffic moves. Unchanged functions keep their
//! instances; a function added starts serving, one removed is retired the same way.

use crate::control_plane::{ControlPlane, Functions};
use crate::events::{Event, EventKind};
use crate::function::Function;
use crate::instance::DestroyReason;
use crate::pool::Pool;
use fcemu_spec::FunctionSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One function an update changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rolled {
    pub function_name: String,
    /// The function's local version after the update (0 once removed).
    pub version: u32,
    /// What changed: field paths (`environmentVariables.MODEL`), or why (`code`, `image rebuilt`,
    /// `added`, `removed`).
    pub changed: Vec<String>,
}

impl ControlPlane {
    /// Serves `specs` from now on: the project's functions as a re-read s.yaml or UpdateFunction has them.
    /// `forced` names functions to roll although their spec is the same (their code folder or image
    /// changed), with why. Returns what was rolled, added and removed.
    pub async fn update(
        &self,
        specs: Vec<FunctionSpec>,
        forced: &BTreeMap<String, Vec<String>>,
    ) -> Vec<Rolled> {
        let _one_at_a_time = self.updating.lock().await;
        if self.is_shutting_down() {
            return Vec::new();
        }
        let current = self.serving();
        let mut serving = BTreeMap::new();
        let mut retired = Vec::new();
        let mut rolled = Vec::new();
        for spec in specs {
            let name = spec.name.clone();
            let (function, changed) = match current.get(&name) {
                Some(old) => {
                    let mut changed = fcemu_spec::changed_fields(&old.function.spec, &spec);
                    changed.extend(forced.get(&name).into_iter().flatten().cloned());
                    if changed.is_empty() {
                        serving.insert(name, old.clone());
                        continue;
                    }
                    retired.push(old.clone());
                    (old.function.next(spec, &self.shared.options), changed)
                }
                None => (
                    Function::new(spec, &self.shared.options),
                    vec!["added".to_string()],
                ),
            };
            let pool = Arc::new(Pool::new(Arc::new(function), &self.shared));
            // Provisioned instances are ready on the new version before its traffic moves to it.
            let target = pool.function.spec.provision.target;
            if target > 0 {
                pool.set_provision_target(target).await;
            }
            rolled.push(Rolled {
                function_name: name.clone(),
                version: pool.function.version,
                changed,
            });
            serving.insert(name, pool);
        }
        for (name, old) in current.iter() {
            if !serving.contains_key(name) && !retired.iter().any(|r| Arc::ptr_eq(r, old)) {
                retired.push(old.clone());
                rolled.push(Rolled {
                    function_name: name.clone(),
                    version: 0,
                    changed: vec!["removed".to_string()],
                });
            }
        }
        {
            let mut functions = self.functions.write().unwrap();
            let mut retiring = std::mem::take(&mut functions.retiring);
            retiring.extend(retired.iter().cloned());
            let domains = functions.domains.clone();
            *functions = Functions::new(serving, retiring, domains);
        }
        for r in &rolled {
            self.shared.events.emit(
                Event::new(
                    EventKind::FunctionUpdated,
                    &Arc::from(r.function_name.as_str()),
                    None,
                )
                .with("version", r.version)
                .with("changed", r.changed.clone()),
            );
        }
        for pool in retired {
            self.spawn_retire(pool);
        }
        rolled
    }

    /// Destroys a retired version's instances as each becomes free of requests, through PreStop, until none
    /// is left; then forgets the version. At shutdown, what is left is shutdown's to destroy.
    fn spawn_retire(&self, pool: Arc<Pool>) {
        let cp = self.clone();
        let shutdown = self.shared.shutdown.clone();
        self.shared.tasks.spawn(async move {
            // Nothing is re-created for it: not its provisioned instances, not one that dies.
            pool.lock().provision_target = 0;
            loop {
                let changed = pool.changed.notified();
                let ids = pool.begin_destroy_all(DestroyReason::Update, false);
                futures_util::future::join_all(ids.iter().map(|id| pool.destroy(id, None))).await;
                if pool.lock().slots.is_empty() {
                    break;
                }
                tokio::select! {
                    _ = changed => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            let mut functions = cp.functions.write().unwrap();
            functions.retiring.retain(|p| !Arc::ptr_eq(p, &pool));
        });
    }

    /// The project's functions with one of them replaced: what UpdateFunction serves.
    pub fn specs_with(&self, spec: FunctionSpec) -> Vec<FunctionSpec> {
        self.functions()
            .iter()
            .map(|f| {
                if f.spec.name == spec.name {
                    spec.clone()
                } else {
                    f.spec.clone()
                }
            })
            .collect()
    }
}
