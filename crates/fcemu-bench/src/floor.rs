//! The floor each case is measured against: the same containers and requests made straight on the Docker
//! API, with no emulator in between.

use crate::load::Connection;
use crate::{IMAGE, PATH};
use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub async fn container_addr(docker: &Docker, id: &str) -> Result<SocketAddr> {
    let info = docker.inspect_container(id, None).await?;
    let ip = info
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| {
            n.into_values()
                .find_map(|e| e.ip_address.filter(|ip| !ip.is_empty()))
        })
        .context("the container has no IP")?;
    Ok(format!("{ip}:9000").parse()?)
}

/// The bridge network the floor's containers are on: a network of their own, as fcemu's instances have one
/// per project. Made once, before anything is timed, and labelled so `fcemu down` removes it.
pub const NETWORK: &str = "fcemu-bench-floor";

pub async fn prepare_network(docker: &Docker) -> Result<()> {
    let request = bollard::models::NetworkCreateRequest {
        name: NETWORK.into(),
        driver: Some("bridge".into()),
        labels: Some(HashMap::from([("fcemu.managed".into(), "true".into())])),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A container of the fixture made straight on the Docker API, labelled so `fcemu down` can sweep it.
pub async fn floor_container(docker: &Docker, label_dir: &str) -> Result<String> {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        env: Some(vec!["FC_CUSTOM_LISTEN_PORT=9000".into()]),
        // As fcemu creates its instances, so the engine does the same work for both.
        exposed_ports: Some(vec!["9000/tcp".into()]),
        labels: Some(HashMap::from([
            ("fcemu.managed".into(), "true".into()),
            ("fcemu.project".into(), label_dir.into()),
        ])),
        host_config: Some(HostConfig {
            memory: Some(128 * 1024 * 1024),
            memory_swap: Some(128 * 1024 * 1024),
            nano_cpus: Some(1_000_000_000),
            init: Some(true),
            security_opt: Some(vec!["no-new-privileges".into()]),
            pids_limit: Some(4096),
            network_mode: Some(NETWORK.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(docker
        .create_container(None::<CreateContainerOptions>, body)
        .await?
        .id)
}

pub async fn remove(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
}

pub async fn wait_listening(addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{addr} never listened");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// A cold start with no emulator: create, start, poll the port every millisecond, `POST /initialize`, the
/// request. Returns the container, for removal, and its phases timed under fcemu's names (milliseconds).
pub async fn floor_cold_start(
    docker: &Docker,
    label: &str,
) -> Result<(String, Vec<(String, f64)>)> {
    let mut phases = vec![];
    let mut lap = Instant::now();
    let mut phase = |name: &str| {
        phases.push((name.to_string(), lap.elapsed().as_secs_f64() * 1000.0));
        lap = Instant::now();
    };
    let id = floor_container(docker, label).await?;
    phase("instance-create");
    docker.start_container(&id, None).await?;
    let addr = container_addr(docker, &id).await?;
    wait_listening(addr).await?;
    phase("runtime-init");
    let mut conn = Connection::open(addr).await?;
    let (status, _, _) = conn
        .request("POST", "/initialize", &[], bytes::Bytes::new())
        .await?;
    if status != 200 {
        bail!("the floor's POST /initialize answered {status}");
    }
    phase("init-hook");
    conn.get(PATH, &[]).await?;
    Ok((id, phases))
}
