//! A Go function on the go1 runtime, with `fcemu build` then `fcemu up` on Docker: an executable built with
//! (a stand-in for) FC's Go SDK, unchanged, through its whole lifecycle. The Initializer once per instance,
//! an HTTP trigger request and an event, freezing between them, an error answered as FC answers it with the
//! instance kept, a timeout that restarts it, PreStop at reclaim and at shutdown.

mod common;

use common::calls::*;
use common::up::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const GO_IMAGE: &str = "fcemu-runtime-go:bookworm";

async fn invoke(up: &Up, event: &str) -> reqwest::Response {
    let url = format!("{}/2023-03-30/functions/go-fn/invocations", up.url);
    send(reqwest::Method::POST, url, event).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_function_built_with_fcs_sdk_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker().await;
    assert!(
        docker.image_exists(GO_IMAGE).await.unwrap(),
        "the image {GO_IMAGE} is missing: run scripts/build-fixtures.sh first"
    );
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

    // Through the HTTP trigger: the SDK's handler gets FC's HTTP trigger event and its response is sent.
    let r = get(format!("{}/hello", up.url)).await;
    assert_eq!(r.status(), 200, "{:#?}", up.output());
    let rid = header(&r, "x-fc-request-id");
    let instance = header(&r, "x-fc-instance-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], 1, "{body}");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/hello");
    assert_eq!(body["requestId"], rid.as_str(), "the context's request id");
    assert_eq!(body["function"], "go-fn");
    assert_eq!(body["greeting"], "hello from go");
    let mine = logs(&up, &["--request-id", &rid]);
    assert_eq!(
        mine.matches(&format!("FC Invoke Start RequestId: {rid}"))
            .count(),
        1,
        "{mine}"
    );
    assert!(mine.contains(&format!("{rid} [INFO] handling ")), "{mine}");

    // Frozen once the request is done; thawed for an event, on the same instance, initialized once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.get_json("/_fcemu/instances").await["instances"][0]["state"] != "frozen" {
        assert!(
            Instant::now() < deadline,
            "never frozen: {:#?}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = invoke(&up, r#"{"sleepMs": 0}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-fc-instance-id"), instance);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], 1, "{body}");
    assert_eq!(body["memory"], "128");

    // The handler's error is FC's UnhandledInvocationError, and the instance serves on.
    let r = invoke(&up, r#"{"fail": true}"#).await;
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorMessage"], "the event asked to fail", "{body}");
    assert_eq!(body["errorType"], "*errors.errorString", "{body}");
    let r = invoke(&up, "{}").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-fc-instance-id"), instance);

    // Past its timeout (3 s): FC's answer, and a new instance, initialized again, serves the next.
    let r = invoke(&up, r#"{"sleepMs": 30000}"#).await;
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorMessage"], "Function timed out after 3 seconds");
    let events = wait_destroyed(&up, 1).await;
    assert_eq!(events[0]["reason"], "timeout");
    let r = invoke(&up, "{}").await;
    let restarted = header(&r, "x-fc-instance-id");
    assert_ne!(restarted, instance);
    let init = logs(&up, &["--hook", "Initialize"]);
    assert_eq!(
        init.matches("go-fn initialized 1").count(),
        2,
        "once per instance: {init}"
    );

    // PreStop at reclaim, then at shutdown.
    let pre_stop = reclaim_through_pre_stop(&up, &restarted, 2).await;
    assert!(pre_stop.contains("go-fn pre-stop"), "{pre_stop}");
    get(format!("{}/again", up.url)).await;
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_eq!(
        output
            .iter()
            .filter(|l| l.contains("go-fn pre-stop"))
            .count(),
        2,
        "PreStop at reclaim and at shutdown: {output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}
