//! A Go function on the go1 runtime, with `fcemu build` then `fcemu up` on Docker: an executable built with
//! (a stand-in for) FC's Go SDK, unchanged, through its whole lifecycle (common/example_walk.rs).

mod common;

use common::example_walk::{Example, walk_the_lifecycle};
use common::up::*;
use common::*;
use std::path::Path;

const GO_IMAGE: &str = "fcemu-runtime-go:bookworm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_function_built_with_fcs_sdk_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker_with(&[GO_IMAGE]).await;
    let project = TestProject::copy_of(Path::new("go-example"));
    // As a fresh clone has it: the code folder (`code: ./code/target`) is what the build makes.
    let _ = std::fs::remove_dir_all(project.path().join("code/target"));
    let unbuilt = fcemu(&["up", &project.path().display().to_string()]);
    assert_eq!(unbuilt.status.code(), Some(1), "{}", text(&unbuilt.stderr));
    assert!(
        text(&unbuilt.stderr).contains("its actions make it: run `fcemu build` first"),
        "{}",
        text(&unbuilt.stderr)
    );
    let built = fcemu(&["build", &project.path().display().to_string()]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(project.path().join("code/target/main").is_file());

    let up = Up::start(project.path(), &[]);
    wait_for_output(
        &up,
        "which serves FC's runtime API to the handler's executable",
    )
    .await;

    walk_the_lifecycle(
        up,
        Example {
            function: "go-fn",
            greeting: "hello from go",
            error_type: "*errors.errorString",
        },
    )
    .await;
    assert_no_containers_left(&docker, project.path()).await;
}
