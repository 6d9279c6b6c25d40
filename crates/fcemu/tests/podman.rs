//! fcemu on Podman (rootful, through its Docker-compatible socket, as `scripts/podman-engine.sh` serves
//! it): the lifecycle end to end, freezing through Podman's pause. The runtime contract suite runs on it
//! too (scripts/test.sh runs `tests/contract.rs` with DOCKER_HOST at that socket).

mod common;

use common::engines::*;
use common::up::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_podman() {
    let podman = podman_engine();
    let line = format!("engine: {} (DOCKER_HOST): Podman", podman.socket);
    the_lifecycle_on(&podman, &[("DOCKER_HOST", &podman.socket)], &line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_in_runtime_function_on_podman_sees_its_code_mounted() {
    let podman = podman_engine();
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: on-podman
resources:
  py:
    component: fc3
    props:
      functionName: py
      runtime: python3.10
      handler: index.handler
      code: ./code
      timeout: 5
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(
        project.path().join("code/index.py"),
        "def handler(event, context):\n    print('served on podman')\n    return {'statusCode': 200, 'body': 'ok'}\n",
    )
    .unwrap();
    let _sweep = SweepOnDrop(&podman, project.path());
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &podman.socket)],
        &[],
    );
    let response = reqwest::get(format!("{}/", up.url)).await.unwrap();
    assert_eq!(response.status(), 200, "{:#?}", up.output());
    assert_eq!(response.text().await.unwrap(), "ok");
    wait_for_output(&up, "served on podman").await;
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_eq!(
        output
            .iter()
            .filter(|l| l.contains("served on podman"))
            .count(),
        1,
        "the line once: {output:#?}"
    );
    assert!(podman.containers(project.path()).is_empty());
}
