//! Instances reached through ports the engine publishes, as on Docker Desktop, a rootless or a remote engine
//! (where the bridge is not routable): here on the local engine with `--container-host 127.0.0.1`, so the
//! whole lifecycle goes through the published path.

mod common;

use common::up::*;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_goes_through_published_ports() {
    let docker = docker().await;
    // The fixture takes 300 ms to listen: the engine's proxy accepts connections long before, and Runtime
    // Init must not end before the server does.
    let project = TestProject::fixture(&[("FIXTURE_STARTUP_DELAY_MS", "300")], "");
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[],
        &["--container-host", "127.0.0.1", "--idle-timeout", "3s"],
    );
    wait_for_output(
        &up,
        "instances reached through ports published on 127.0.0.1",
    )
    .await;

    let first = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(first.status().is_success(), "{:#?}", up.output());
    let header = first.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    let function_start = server_timing(&header, "function-start").expect("a split Runtime Init");
    assert!(
        function_start >= 300.0,
        "Runtime Init ended before the server listened: {header}"
    );
    // The port is published on the loopback only, on an ephemeral port.
    let ids = container_ids(project.path());
    assert_eq!(ids.len(), 1);
    let ports = std::process::Command::new("docker")
        .args(["port", &ids[0], "9000/tcp"])
        .output()
        .unwrap();
    let ports = text(&ports.stdout);
    assert!(ports.trim().starts_with("127.0.0.1:"), "{ports}");

    // Frozen between requests, thawed for the next, the Initializer run once.
    wait_for_event(&up, "instance.frozen", 1).await;
    let second = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(second.status().is_success());
    assert!(
        second.headers().get("server-timing").is_none(),
        "a warm request"
    );
    assert_eq!(events_named(&up, "initializer.end").await.len(), 1);
    assert!(!events_named(&up, "instance.thawed").await.is_empty());

    // Reclaimed when idle, through PreStop.
    wait_for_event(&up, "instance.destroyed", 1).await;
    let destroyed = events_named(&up, "instance.destroyed").await;
    assert_eq!(destroyed[0]["reason"], "idle", "{destroyed:?}");
    assert_eq!(events_named(&up, "prestop.end").await[0]["status"], 200);

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// Polls the event history until `count` events named `name` happened (at most 20 s).
async fn wait_for_event(up: &Up, name: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events_named(up, name).await.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {name} within 20 s: {:#?}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
