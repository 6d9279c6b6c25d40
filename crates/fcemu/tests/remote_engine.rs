//! A remote engine (here the local one, reached over TCP as a remote one would be): fcemu cannot compare its
//! clock with this machine's, nor write its cgroups, so it shows Runtime Init whole and freezes through the
//! engine's pause, and says both.

mod common;

use common::up::*;
use common::*;

/// The local engine, reached over TCP as a remote one would be: fcemu cannot compare its clock, nor write
/// its cgroups.
async fn engine_over_tcp() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut engine) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    format!("tcp://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_engine_shows_runtime_init_whole_and_freezes_through_its_pause() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let host = engine_over_tcp().await;
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &host)],
        &[],
    );
    wait_for_output(&up, "Runtime Init shown whole: the engine is remote").await;
    assert!(
        up.printed("freezing through the engine's pause"),
        "{:#?}",
        up.output()
    );
    // Over the network, the engine's bridge is taken as not routable: ports are published.
    assert!(
        up.printed("instances reached through ports published on 127.0.0.1"),
        "{:#?}",
        up.output()
    );

    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(response.status().is_success());
    let header = response.headers()["server-timing"].to_str().unwrap();
    assert!(server_timing(header, "runtime-init").is_some(), "{header}");
    assert!(
        server_timing(header, "engine-start").is_none()
            && server_timing(header, "function-start").is_none(),
        "no split where the clock is not ours: {header}"
    );
    let ready = &events_named(&up, "instance.ready").await[0];
    assert!(ready.get("engineStartMs").is_none(), "{ready}");
    wait_for_output(&up, "FC Instance Ready").await;
    assert!(
        !up.output()
            .iter()
            .any(|l| l.contains("FC Instance Ready") && l.contains("engine start")),
        "{:#?}",
        up.output()
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// A docker CLI configuration folder whose current context is `name`, an engine at `host`, as `docker context
/// create NAME --docker host=HOST` and `docker context use NAME` leave it.
fn docker_config(name: &str, host: &str) -> tempfile::TempDir {
    use sha2::Digest;
    let config = tempfile::tempdir().unwrap();
    let id: String = sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = config.path().join("contexts/meta").join(id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        config.path().join("config.json"),
        serde_json::json!({"auths": {}, "currentContext": name}).to_string(),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_clis_current_context_names_the_engine_and_up_says_which() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let host = engine_over_tcp().await;
    let config = docker_config("lab", &host);
    let config_dir = config.path().display().to_string();
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", ""), ("DOCKER_CONFIG", &config_dir)],
        &[],
    );
    wait_for_output(&up, &format!("engine: {host} (docker context lab)")).await;
    // Reached over TCP, the engine is remote to fcemu: its clock is not compared.
    assert!(
        up.printed("Runtime Init shown whole: the engine is remote"),
        "{:#?}",
        up.output()
    );
    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(response.status().is_success());
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test]
async fn a_context_that_is_not_there_stops_up_naming_it_and_what_to_do() {
    let project = TestProject::fixture(&[], "");
    let config = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(FCEMU)
        .arg("up")
        .arg(project.path())
        .env("DOCKER_HOST", "")
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_CONTEXT", "gone")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the docker context `gone` (DOCKER_CONTEXT)")
            && err.contains("docker context ls"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_engine_that_does_not_share_the_disk_code_and_runtime_are_copied_in() {
    let docker = docker().await;
    assert!(
        docker
            .image_exists("fcemu-runtime-python:bookworm")
            .await
            .unwrap(),
        "the image fcemu-runtime-python:bookworm is missing: run scripts/build-fixtures.sh first"
    );
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: copied
resources:
  py:
    component: fc3
    props:
      region: cn-hangzhou
      functionName: py
      runtime: python3.10
      handler: index.handler
      code: ./code
      timeout: 5
      instanceLifecycleConfig:
        initializer: { handler: index.initialize, timeout: 3 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(
        project.path().join("code/index.py"),
        r#"
import json, os
state = {}

def initialize(context):
    state["initialized"] = True

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"initialized": state.get("initialized", False), "files": sorted(os.listdir("/code"))})}
"#,
    )
    .unwrap();
    let host = engine_over_tcp().await;
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &host)],
        &[],
    );
    let response = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status} {body}: {:#?}", up.output());
    assert_eq!(body["initialized"], true, "{body}");
    // (Copied, the code is writable, where FC mounts it read-only: Python leaves its __pycache__.)
    assert!(
        body["files"]
            .as_array()
            .is_some_and(|f| f.contains(&serde_json::json!("index.py"))),
        "{body}"
    );
    // Nothing of this machine's disk is mounted into the instance: it was copied.
    let ids = container_ids(project.path());
    let mounts = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{len .Mounts}}", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(text(&mounts.stdout).trim(), "0");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
