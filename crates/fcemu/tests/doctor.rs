//! `fcemu doctor` against this machine's engine, and against one that is not there.

mod common;

use common::up::*;
use common::*;

#[tokio::test]
async fn doctor_passes_here_and_checks_the_projects_images() {
    let _docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let missing = TestProject::with_yaml(
        r#"edition: 3.0.0
name: t
resources:
  gone:
    component: fc3
    props:
      functionName: gone
      runtime: custom-container
      customContainerConfig: { image: "fcemu-no-such-image:1", port: 9000 }
"#,
    );
    let out = fcemu(&["doctor", &project.path().display().to_string()]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    for line in [
        "ok    engine     unix:///var/run/docker.sock (the default socket): Docker",
        "ok    reach      instances reached at their bridge addresses",
        "ok    freezing   freezing through the cgroup freezer",
        "ok    cold start Runtime Init split",
        "ok    image      fcemu-fixture:latest (function fixture): present",
    ] {
        assert!(said.contains(line), "{line:?} not in:\n{said}");
    }
    // No card here: said, and not a failure.
    assert!(said.contains("note  gpus"), "{said}");

    let out = fcemu(&["doctor", &missing.path().display().to_string()]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("FAIL  image      fcemu-no-such-image:1 (function gone): missing, and nothing to build it from")
            && said.contains("what to do: build it (`docker build -t fcemu-no-such-image:1 .`)"),
        "{said}"
    );
    assert!(text(&out.stderr).contains("1 check failed"));
}

#[tokio::test]
async fn doctor_fails_with_an_engine_that_is_not_there_saying_what_it_tried() {
    let out = std::process::Command::new(FCEMU)
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.starts_with("FAIL  engine     cannot reach the Docker engine (tried unix:///nonexistent/docker.sock (DOCKER_HOST))")
            && said.contains("/nonexistent/docker.sock does not exist")
            && said.contains("Start Docker"),
        "{said}"
    );
    // Nothing else can be checked without an engine.
    assert_eq!(said.lines().count(), 1, "{said}");
}
