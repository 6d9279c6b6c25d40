//! A Go function on the go1 runtime, with `fcemu build` then `fcemu up` on Docker: an executable built with
//! (a stand-in for) FC's Go SDK, unchanged, through its whole lifecycle (common/example_walk.rs).

mod common;

use common::example_walk::{Example, built_example, walk_the_lifecycle};
use common::up::*;
use common::*;
use std::path::Path;

const GO_IMAGE: &str = "fcemu-runtime-go:bookworm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_function_built_with_fcs_sdk_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker_with(&[GO_IMAGE]).await;
    let project = built_example("go-example", "code/target/main");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fc2_go_http_function_gets_the_request_and_sends_its_status_headers_and_body() {
    let docker = docker_with(&[GO_IMAGE]).await;
    let project = TestProject::copy_of(Path::new("go-http-example"));
    // The copy takes go-example's stand-in for the SDK along, where its go.mod finds it.
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/go-example/sdk");
    let copied = std::process::Command::new("cp")
        .args([
            "-r",
            &sdk.display().to_string(),
            &project.path().display().to_string(),
        ])
        .status()
        .unwrap();
    assert!(copied.success());
    let go_mod = project.path().join("code/go.mod");
    let module = std::fs::read_to_string(&go_mod).unwrap();
    std::fs::write(&go_mod, module.replace("../../go-example/sdk", "../sdk")).unwrap();
    let built = fcemu(&["build", &project.path().display().to_string()]);
    assert!(built.status.success(), "{}", text(&built.stderr));

    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "Ctrl-C").await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/items/7?color=red&color=blue", up.url))
        .header("user-agent", "fcemu-test")
        .body("the body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:#?}", up.output());
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(
        cookies,
        ["visited=yes", "lang=go"],
        "each header value as the handler added it"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], 1, "the Initializer ran first: {body}");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/items/7");
    assert_eq!(body["query"]["color"], serde_json::json!(["red", "blue"]));
    assert_eq!(
        body["agent"], "fcemu-test",
        "the request's headers, by Go's names"
    );
    assert_eq!(body["body"], "the body");
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}
