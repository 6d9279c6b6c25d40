//! A Java function on the java11 runtime, with `fcemu build` then `fcemu up` on Docker: a jar built against
//! (a stand-in for) FC's fc-java-core, unchanged, through its whole lifecycle (common/example_walk.rs), on
//! Debian's OpenJDK.

mod common;

use common::example_walk::{
    Example, build_unbuilt, built_example, walk_the_exits, walk_the_lifecycle,
};
use common::up::*;
use common::*;
use std::path::Path;

const JAVA_IMAGE: &str = "fcemu-runtime-java:bookworm";
const JAR: &str = "code/target/java-fn.jar";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_jar_built_against_fc_java_core_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker_with(&[JAVA_IMAGE]).await;
    let project = built_example("java-example", JAR);
    let up = Up::start(project.path(), &[]);
    // `up` says which JDK serves the function.
    wait_for_output(&up, "runtime java11 runs on OpenJDK 17").await;
    walk_the_lifecycle(
        up,
        Example {
            function: "java-fn",
            greeting: "hello from java",
            error_type: "java.lang.IllegalStateException",
        },
    )
    .await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_handler_that_calls_system_exit_is_answered_and_its_instance_ends_unfrozen() {
    let docker = docker_with(&[JAVA_IMAGE]).await;
    let project = TestProject::copy_of(Path::new("java-example"));
    let _ = std::fs::remove_dir_all(project.path().join("code/target"));
    let app = project.path().join("code/src/main/java/example/App.java");
    let source = std::fs::read_to_string(&app).unwrap();
    let exits = source.replace(
        "        if (Boolean.TRUE.equals(event.get(\"fail\"))) {",
        "        if (Boolean.TRUE.equals(event.get(\"exit\"))) {\n            System.exit(3);\n        }\n        if (Boolean.TRUE.equals(event.get(\"fail\"))) {",
    );
    assert_ne!(
        exits, source,
        "the example's handler reads `fail` where the test adds `exit`"
    );
    std::fs::write(&app, exits).unwrap();
    build_unbuilt(&project, JAR);
    walk_the_exits(Up::start(project.path(), &[]), "java-fn").await;
    assert_no_containers_left(&docker, project.path()).await;
}
