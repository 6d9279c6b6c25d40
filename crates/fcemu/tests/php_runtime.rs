//! A PHP function on the php8.x runtime with `fcemu up` on Docker: index.php written as FC documents it,
//! unchanged, through its whole lifecycle (common/example_walk.rs), on Debian's php-cli.

mod common;

use common::example_walk::{Example, walk_the_exits, walk_the_lifecycle};
use common::up::*;
use common::*;
use std::path::Path;

const PHP_IMAGE: &str = "fcemu-runtime-php:bookworm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_php_function_written_as_fc_documents_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker_with(&[PHP_IMAGE]).await;
    let project = TestProject::copy_of(Path::new("php-example"));
    let up = Up::start(project.path(), &[]);
    // `up` says which PHP serves the function.
    wait_for_output(&up, "runtime php8.x runs on PHP 8").await;
    walk_the_lifecycle(
        up,
        Example {
            function: "php-fn",
            greeting: "hello from php",
            error_type: "Exception",
        },
    )
    .await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_php_handler_that_calls_exit_is_answered_and_its_instance_ends_unfrozen() {
    let docker = docker_with(&[PHP_IMAGE]).await;
    let project = TestProject::copy_of(Path::new("php-example"));
    let code = project.path().join("code/index.php");
    let source = std::fs::read_to_string(&code).unwrap();
    let exits = source.replace(
        "    if (!empty($request['fail'])) {",
        "    if (!empty($request['exit'])) {\n        exit(3);\n    }\n    if (!empty($request['fail'])) {",
    );
    assert_ne!(
        exits, source,
        "the example's handler reads `fail` where the test adds `exit`"
    );
    std::fs::write(&code, exits).unwrap();
    walk_the_exits(Up::start(project.path(), &[]), "php-fn").await;
    assert_no_containers_left(&docker, project.path()).await;
}
