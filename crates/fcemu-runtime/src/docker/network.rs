//! A project's instances run on a bridge network of fcemu's own (`fcemu-<hash of the project folder>`),
//! labelled like its containers, made on first use and removed with them. On the default bridge every other
//! container of the machine could call an instance's port directly, with forged `x-fc-*` headers; the
//! engine keeps separate bridge networks apart, and fcemu, on the host, reaches each instance at its address
//! on the project's network.

use super::{DockerRuntime, engine};
use crate::{RuntimeError, labels};
use bollard::errors::Error as BollardError;
use bollard::models::{NetworkCreateRequest, NetworkDisconnectRequest};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use std::collections::{BTreeMap, HashMap};

/// Whether a failed create call says the container's network does not exist.
pub(super) fn is_missing(e: &BollardError) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code: 404, message }
        if message.contains("network"))
}

impl DockerRuntime {
    /// Makes the network `name` unless this runtime made or found it before. One at a time: the engine
    /// makes a second network of the same name if asked twice (its duplicate check is gone from the API),
    /// and then can use neither ("ambiguous").
    pub(super) async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> crate::Result<()> {
        if self.networks.lock().unwrap().contains(name) {
            return Ok(());
        }
        let _one_at_a_time = self.network_creation.lock().await;
        if self.networks.lock().unwrap().contains(name) {
            return Ok(());
        }
        if !self.network_exists(name).await? {
            self.create_network(name, labels).await?;
        }
        self.networks.lock().unwrap().insert(name.to_string());
        Ok(())
    }

    /// Whether a network of exactly this name is there (the engine's name filter matches parts of names).
    async fn network_exists(&self, name: &str) -> crate::Result<bool> {
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([(
                "name".to_string(),
                vec![name.to_string()],
            )])),
        };
        let found = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| RuntimeError::CreateNetwork {
                name: name.to_string(),
                source: engine(e),
            })?;
        Ok(found.iter().any(|n| n.name.as_deref() == Some(name)))
    }

    pub(super) fn forget_network(&self, name: &str) {
        self.networks.lock().unwrap().remove(name);
    }

    pub(super) fn forget_networks(&self) {
        self.networks.lock().unwrap().clear();
    }

    /// Makes the network `name` with the `fcemu.managed` and `fcemu.project` labels of `labels`; one made
    /// meanwhile (by a creation racing this one, or an earlier run) will do.
    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> crate::Result<()> {
        let labels = super::shared_labels(labels);
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::CreateNetwork {
                name: name.to_string(),
                source: engine(e),
            }),
        }
    }

    /// Removes fcemu's networks with these labels; a network some container is on stays.
    pub(super) async fn remove_managed_networks(
        &self,
        labels: &[(String, String)],
    ) -> crate::Result<usize> {
        let options = ListNetworksOptions {
            filters: Some(super::managed_filter(labels)),
        };
        let found = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| RuntimeError::RemoveUnused { source: engine(e) })?;
        let mut removed = 0;
        for network in found {
            // Never touch a network without the label, whatever the engine's filter did.
            let managed = network
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::MANAGED))
                .is_some_and(|v| v == "true");
            let Some(id) = network.id.filter(|_| managed) else {
                continue;
            };
            // Asked first, not left to the engine's refusal: Podman removes a network its containers use.
            if self.network_in_use(&id).await? {
                continue;
            }
            let mut result = self.docker.remove_network(&id).await;
            if is_in_use(&result) && self.disconnect_stale_endpoints(&id).await {
                result = self.docker.remove_network(&id).await;
            }
            let name = network.name.clone().unwrap_or_else(|| id.clone());
            if is_in_use(&result)
                && !self.network_in_use(&id).await?
                && LOST_COUNT_SAID.lock().unwrap().insert(name)
            {
                // No endpoint to disconnect, yet a count of them: Docker 20.10 loses count when a container
                // is killed mid-start. Only the engine's restart clears it; the next run reuses the network.
                tracing::warn!(
                    "the engine refuses to remove network {} (\"has active endpoints\") though no container is on it: its count of endpoints is wrong (a Docker bug). It stays, and the next `fcemu up` of this project reuses it; restarting the engine (`systemctl restart docker`) clears it",
                    network.name.as_deref().unwrap_or(&id)
                );
            }
            match result {
                Ok(()) => {
                    if let Some(name) = &network.name {
                        self.forget_network(name);
                    }
                    removed += 1
                }
                // Gone meanwhile, or taken by a container of a run that goes on since it was asked.
                Err(BollardError::DockerResponseServerError {
                    status_code: 404 | 409 | 403,
                    ..
                }) => {}
                Err(e) => return Err(RuntimeError::RemoveUnused { source: engine(e) }),
            }
        }
        Ok(removed)
    }

    /// Whether any container, running or not, is on the network.
    async fn network_in_use(&self, network: &str) -> crate::Result<bool> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "network".to_string(),
                vec![network.to_string()],
            )])),
            ..Default::default()
        };
        let on_it = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| RuntimeError::RemoveUnused { source: engine(e) })?;
        Ok(!on_it.is_empty())
    }

    /// Force-disconnects the endpoints of `network` whose container is gone; whether there were any. Docker
    /// can keep an endpoint of a removed container (seen on 20.10 after a container that failed to start or
    /// was killed mid-start), and then refuses to remove the network for ever ("has active endpoints"); a
    /// forced disconnect by the endpoint's name (the container's) clears it. Endpoints of containers that
    /// still exist are left: they belong to a run that goes on.
    async fn disconnect_stale_endpoints(&self, network: &str) -> bool {
        let Ok(inspected) = self.docker.inspect_network(network, None).await else {
            return false;
        };
        let mut disconnected = false;
        for (container, endpoint) in inspected.containers.unwrap_or_default() {
            let gone = match self.docker.inspect_container(&container, None).await {
                Err(e) => super::is_not_found(&e),
                Ok(_) => false,
            };
            let Some(name) = endpoint.name.filter(|_| gone) else {
                continue;
            };
            let request = NetworkDisconnectRequest {
                container: name,
                force: Some(true),
            };
            disconnected |= self
                .docker
                .disconnect_network(network, request)
                .await
                .is_ok();
        }
        disconnected
    }
}

/// The networks said to be held by the engine's lost count of endpoints: said once a run, not at each sweep.
static LOST_COUNT_SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Whether a network removal was refused because the engine counts endpoints on it.
fn is_in_use<T>(result: &Result<T, BollardError>) -> bool {
    matches!(result, Err(BollardError::DockerResponseServerError { status_code: 403 | 409, message })
        if message.contains("active endpoints"))
}
