//! A remote engine, for real: the dockerd that `scripts/remote-engine.sh` runs in a network namespace of its
//! own, reached over TCP and over SSH. Its containers' addresses are not routable from here and its disk is
//! not this machine's, so instances are reached through the ports it publishes, code is copied in, freezing
//! is the engine's pause, and Runtime Init is shown whole (its clock is not ours). The same lifecycle the
//! local engine's tests check, end to end.

mod common;

use common::engines::*;
use common::up::*;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_a_remote_engine_over_tcp() {
    let remote = remote_engine();
    let line = format!("engine: {} (DOCKER_HOST)", remote.tcp);
    the_lifecycle_on(&remote, &[("DOCKER_HOST", &remote.tcp)], &line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_a_remote_engine_over_ssh_through_shared_master_connections() {
    let remote = remote_engine();
    let line = format!("engine: {} (DOCKER_HOST)", remote.ssh);
    let env = [
        ("DOCKER_HOST", remote.ssh.as_str()),
        ("FCEMU_SSH_CONFIG", remote.ssh_config.as_str()),
    ];
    assert_eq!(
        ssh_masters(remote.address()),
        0,
        "a master left from before"
    );
    // The most masters seen at once while up runs: the event stream, log follows and every create of
    // one instance at a time share one.
    let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = tokio::spawn({
        let (most, address) = (most.clone(), remote.address().to_string());
        async move {
            loop {
                most.fetch_max(ssh_masters(&address), std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    the_lifecycle_on(&remote, &env, &line).await;
    watch.abort();
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
    wait_for_no_ssh_master(&remote).await;

    // More sessions at once than sshd lets one connection carry (10: here 12 instances' log follows, the
    // event stream and their creates): another master takes the rest, and every request is answered.
    let project = TestProject::fixture(&[], "");
    let _sweep = SweepOnDrop(&remote, project.path());
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &env,
        &["--max-instances", "12"],
    );
    let http = reqwest::Client::new();
    let requests: Vec<_> = (0..12)
        .map(|_| {
            let (http, url) = (http.clone(), format!("{}/sleep?ms=1000", up.url));
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap().map_err(|e| e.to_string()));
    }
    assert!(
        statuses.iter().all(|s| s == &Ok(200)),
        "{statuses:?}: {:#?}",
        up.output()
    );
    assert!(
        ssh_masters(remote.address()) > 1,
        "the sessions did not fit one master"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert!(remote.containers(project.path()).is_empty());
    wait_for_no_ssh_master(&remote).await;
}

/// The ssh masters go with up.
async fn wait_for_no_ssh_master(remote: &TestEngine) {
    for _ in 0..200 {
        if ssh_masters(remote.address()) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("an ssh master outlived fcemu up");
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
    let remote = remote_engine();
    let project = TestProject::fixture(&[], "");
    let _sweep = SweepOnDrop(&remote, project.path());
    let config = docker_config("lab", &remote.tcp);
    let config_dir = config.path().display().to_string();
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", ""), ("DOCKER_CONFIG", &config_dir)],
        &[],
    );
    wait_for_output(&up, &format!("engine: {} (docker context lab)", remote.tcp)).await;
    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(response.status().is_success());
    assert_eq!(remote.containers(project.path()).len(), 1);
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert!(remote.containers(project.path()).is_empty());
}

#[tokio::test]
async fn doctor_on_the_remote_engine_says_how_instances_are_reached_and_freezing_is_done() {
    let remote = remote_engine();
    let project = TestProject::fixture(&[], "");
    let out = std::process::Command::new(FCEMU)
        .args(["doctor", &project.path().display().to_string()])
        .env("DOCKER_HOST", &remote.tcp)
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    for line in [
        format!("ok    engine     {} (DOCKER_HOST): Docker", remote.tcp),
        format!(
            "note  reach      instances reached through ports published on {}",
            remote.address()
        ),
        "freezing through the engine's pause".to_string(),
        "ok    image      fcemu-fixture:latest (function fixture): present".to_string(),
    ] {
        assert!(said.contains(&line), "{line:?} not in:\n{said}");
    }
}

/// An engine behind a socket of this machine whose containers live elsewhere (a VM's engine with its
/// socket forwarded here: Colima, Lima, Rancher Desktop): its facts say nothing of it, and trying its bridge
/// finds it. Here: the namespaced engine through its own socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_on_a_socket_whose_bridge_does_not_answer_here_is_reached_through_published_ports()
 {
    let remote = remote_engine();
    let project = TestProject::fixture(&[], "");
    let _sweep = SweepOnDrop(&remote, project.path());
    let doctor = std::process::Command::new(FCEMU)
        .args(["doctor", &project.path().display().to_string()])
        .env("DOCKER_HOST", &remote.socket)
        .output()
        .unwrap();
    let said = text(&doctor.stdout);
    let line = "note  reach      instances reached through ports published on 127.0.0.1 (the engine's bridge (10.204.0.1) does not answer from here)";
    assert!(said.contains(line), "{line:?} not in:\n{said}");

    // The ports it publishes on its own machine are reached at that machine's address.
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &remote.socket)],
        &["--container-host", remote.address()],
    );
    wait_for_output(
        &up,
        &format!(
            "instances reached through ports published on {} (--container-host)",
            remote.address()
        ),
    )
    .await;
    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert_eq!(response.status(), 200, "{:#?}", up.output());
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(remote.containers(project.path()).is_empty());
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
async fn on_an_engine_that_does_not_share_the_disk_code_and_runtime_are_volumes_filled_once() {
    let remote = remote_engine();
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
    return {"statusCode": 200, "body": json.dumps({"initialized": state.get("initialized", False), "files": sorted(os.listdir("/code")), "writable": os.access("/code", os.W_OK)})}
"#,
    )
    .unwrap();
    let _sweep = SweepOnDrop(&remote, project.path());
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &remote.tcp)],
        &[],
    );
    let response = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status} {body}: {:#?}", up.output());
    assert_eq!(body["initialized"], true, "{body}");
    assert!(
        body["files"]
            .as_array()
            .is_some_and(|f| f.contains(&serde_json::json!("index.py"))),
        "{body}"
    );
    assert_eq!(body["writable"], false, "read-only, as FC mounts code");
    // A second instance mounts the same volumes: they were filled once.
    invoke_cold(&up, "py");
    let ids = remote.containers(project.path());
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mounts: Vec<String> = ids
        .iter()
        .map(|id| {
            remote.inspect(
                id,
                "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} rw={{.RW}};{{end}}",
            )
        })
        // The engine lists a container's mounts in an order of its own, not the same each time.
        .map(|listed| {
            let mut mounts: Vec<&str> = listed.split_inclusive(';').collect();
            mounts.sort_unstable();
            mounts.concat()
        })
        .collect();
    assert_eq!(mounts[0], mounts[1]);
    assert!(
        mounts[0].contains(" /code rw=false;")
            && mounts[0]
                .split(';')
                .filter(|m| !m.is_empty())
                .all(|m| m.starts_with("volume fcemu-") && m.ends_with("rw=false")),
        "nothing of this machine's disk is mounted, every folder is a volume: {mounts:?}"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert!(remote.containers(project.path()).is_empty());
    let filter = format!("label=fcemu.project={}", project.path().display());
    let volumes = remote.docker(&["volume", "ls", "-q", "--filter", &filter]);
    assert_eq!(
        text(&volumes.stdout).trim(),
        "",
        "the volumes go with the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_to_build_is_built_by_the_remote_engine_from_the_context_sent_there() {
    let remote = remote_engine();
    let tag = format!("fcemu-remote-built:{}", std::process::id());
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: built
resources:
  built:
    component: fc3
    props:
      functionName: built
      runtime: custom-container
      timeout: 5
      customContainerConfig:
        image: {tag}
        port: 9000
        x-fcemu-build: {{ context: ., dockerfile: Dockerfile }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
"#
    ));
    // The context carries a file the image needs: only a context sent to that engine has it.
    std::fs::write(
        project.path().join("Dockerfile"),
        "FROM fcemu-fixture:latest\nCOPY marker.txt /marker.txt\n",
    )
    .unwrap();
    std::fs::write(project.path().join("marker.txt"), "built remotely\n").unwrap();
    let _sweep = SweepOnDrop(&remote, project.path());
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &remote.tcp)],
        &[],
    );
    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(response.status().is_success(), "{:#?}", up.output());
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    let there = remote.docker(&["image", "inspect", &tag]);
    let here = std::process::Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .unwrap();
    remote.docker(&["rmi", "-f", &tag]);
    assert!(there.status.success(), "the image is on the remote engine");
    assert!(!here.status.success(), "and was not built here");
}
