//! `up --debug` on Docker: a Node.js function under its inspector (the inspector's `/json/list` on the
//! published port names fcemu's runtime, and the instance is not frozen after its request), a custom container
//! with `--debug-args` (its command line carries them, the port is published on the listen host), and a
//! function that is not there refused with the list.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_runs_under_its_inspector_on_the_published_port() {
    let docker = docker_with(&["fcemu-runtime-nodejs:bookworm"]).await;
    let project = TestProject::copy_of(Path::new("node-example"));
    let port = free_port();
    let debug = format!("node-greeter={port}");
    let up = Up::start_on(project.path(), "127.0.0.1:0", &["--debug", &debug]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed(&format!(
            "node-greeter         under a debugger at 127.0.0.1:{port}: one instance, never frozen nor reclaimed, timeouts lifted"
        )),
        "{:#?}",
        up.output()
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/hello?name=Ada", up.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.status());
    let targets: Value = client
        .get(format!("http://127.0.0.1:{port}/json/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let target = &targets[0];
    assert!(
        target["url"]
            .as_str()
            .unwrap()
            .ends_with("/var/fcemu/runtime/bootstrap.js"),
        "{targets}"
    );
    assert!(
        target["webSocketDebuggerUrl"].as_str().is_some(),
        "{targets}"
    );
    // Answered, and not frozen under the debugger (a function that is not debugged is, at once).
    assert!(events_named(&up, "instance.frozen").await.is_empty());
    assert_eq!(paused_states(project.path()), [false]);
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_container_gets_its_debug_args_and_its_port_published() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: debug-args
resources:
  fixture:
    component: fc3
    props:
      functionName: fixture
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000, command: ["/usr/local/bin/fcemu-fixture"] }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
"#
    ));
    let port = free_port();
    let debug = format!("fixture={port}");
    let up = Up::start_on(
        project.path(),
        "127.0.0.1:0",
        &["--debug", &debug, "--debug-args", "--debugger-port 7777"],
    );
    wait_for_output(&up, "Ctrl-C").await;
    let r = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(r.status().is_success());
    let ids = container_ids(project.path());
    let inspect = |format: &str| {
        let out = Command::new("docker")
            .args(["inspect", "-f", format, &ids[0]])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(
        inspect("{{json .Args}}"),
        r#"["/usr/local/bin/fcemu-fixture","--debugger-port","7777"]"#
    );
    let bindings: Value =
        serde_json::from_str(&inspect("{{json .HostConfig.PortBindings}}")).unwrap();
    let binding = &bindings[format!("{port}/tcp")][0];
    assert_eq!(binding["HostIp"], "127.0.0.1", "{bindings}");
    assert_eq!(binding["HostPort"], port.to_string(), "{bindings}");
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[test]
fn a_function_to_debug_that_is_not_there_is_refused_with_the_list() {
    let project = TestProject::fixture(&[], "");
    let out = fcemu_in(
        project.path(),
        &["up", "--listen", "127.0.0.1:0", "--debug", "nobody"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("--debug nobody: no such function in this project, allowed: fixture"),
        "{}",
        text(&out.stderr)
    );
}
