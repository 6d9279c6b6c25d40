//! One walk through a built-in runtime's whole lifecycle, on the examples that answer alike
//! (fixtures/go-example, fixtures/php-example): the Initializer once per instance, an HTTP trigger request
//! and an event, freezing between them, an error answered as FC answers it with the instance kept, a
//! timeout that restarts it, PreStop at reclaim and at shutdown.
//!
//! Each example's function `NAME` answers its HTTP trigger with `{initialized, method, path, requestId,
//! function, greeting}`, an event with `{initialized, memory, requestId}`, fails on `{"fail": true}` with
//! "the event asked to fail", sleeps `{"sleepMs": N}`, has a 3 s timeout and 128 MB, and prints
//! "NAME initialized N" and "NAME pre-stop" from its hooks.
//!
//! Also: an example built by its own actions as a fresh clone has it, and a handler that ends its process.

use super::TestProject;
use super::calls::*;
use super::up::{Up, fcemu, text, wait_for_output};
use std::path::Path;
use std::time::{Duration, Instant};

/// fixtures/NAME as a fresh clone has it (nothing under code/target), built by its own actions with
/// `fcemu build` after `up` refused it for want of them; `made` is a file the build makes.
pub fn built_example(name: &str, made: &str) -> TestProject {
    let project = TestProject::copy_of(Path::new(name));
    let _ = std::fs::remove_dir_all(project.path().join("code/target"));
    build_unbuilt(&project, made);
    project
}

/// `up` refuses the project until `fcemu build` has run its actions; then `made` is there.
pub fn build_unbuilt(project: &TestProject, made: &str) {
    let unbuilt = fcemu(&["up", &project.path().display().to_string()]);
    assert_eq!(unbuilt.status.code(), Some(1), "{}", text(&unbuilt.stderr));
    assert!(
        text(&unbuilt.stderr).contains("its actions make it: run `fcemu build` first"),
        "{}",
        text(&unbuilt.stderr)
    );
    let built = fcemu(&["build", &project.path().display().to_string()]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(project.path().join(made).is_file(), "{made} is built");
}

/// The example's handler, changed to end its process on `{"exit": true}`: each such event is answered
/// ProcessExited, its instance goes (reason "exited"), and a new one, initialized again, serves the next
/// request; an instance that ended was never frozen on its way out, so nothing is left to run PreStop on,
/// and the run's verdict is clean. `up` is stopped at the end.
pub async fn walk_the_exits(up: Up, function: &str) {
    wait_for_output(&up, "Ctrl-C").await;
    let url = format!("{}/2023-03-30/functions/{function}/invocations", up.url);
    for round in 1..=3 {
        let ended = send(reqwest::Method::POST, url.clone(), r#"{"exit":true}"#).await;
        assert_eq!(
            header(&ended, "x-fc-error-type"),
            "UnhandledInvocationError"
        );
        let error: serde_json::Value = ended.json().await.unwrap();
        assert_eq!(error["errorType"], "ProcessExited", "{error}");
        let destroyed = wait_destroyed(&up, round).await;
        assert!(
            destroyed.iter().all(|e| e["reason"] == "exited"),
            "{destroyed:?}"
        );
        let served = send(reqwest::Method::POST, url.clone(), "{}").await;
        assert_eq!(served.status(), 200);
        let body: serde_json::Value = served.json().await.unwrap();
        assert_eq!(
            body["initialized"], 1,
            "a new instance ran its Initializer: {body}"
        );
    }
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        !output.iter().any(|l| l.contains("PreStop Failed")),
        "{output:#?}"
    );
}

/// What differs between the examples.
pub struct Example<'a> {
    pub function: &'a str,
    pub greeting: &'a str,
    /// The errorType the language gives the example's error.
    pub error_type: &'a str,
}

async fn invoke(up: &Up, function: &str, event: &str) -> reqwest::Response {
    let url = format!("{}/2023-03-30/functions/{function}/invocations", up.url);
    send(reqwest::Method::POST, url, event).await
}

/// The walk, on `up` serving the example; `up` is stopped at its end (its exit code checked).
pub async fn walk_the_lifecycle(up: Up, example: Example<'_>) {
    let function = example.function;
    // Through the HTTP trigger: the handler gets FC's HTTP trigger event and its response is sent.
    let r = get(format!("{}/hello", up.url)).await;
    assert_eq!(r.status(), 200, "{:#?}", up.output());
    let rid = header(&r, "x-fc-request-id");
    let instance = header(&r, "x-fc-instance-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], 1, "{body}");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/hello");
    assert_eq!(body["requestId"], rid.as_str(), "the context's request id");
    assert_eq!(body["function"], function);
    assert_eq!(body["greeting"], example.greeting);
    let mine = request_logs(&up, &rid).await;
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
    let r = invoke(&up, function, r#"{"sleepMs": 0}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-fc-instance-id"), instance);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], 1, "{body}");
    // Go's SDK gives the memory as a string, PHP's context as a number.
    assert_eq!(
        body["memory"].to_string().trim_matches('"'),
        "128",
        "{body}"
    );

    // The handler's error is FC's UnhandledInvocationError, and the instance serves on.
    let r = invoke(&up, function, r#"{"fail": true}"#).await;
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorMessage"], "the event asked to fail", "{body}");
    assert_eq!(body["errorType"], example.error_type, "{body}");
    let r = invoke(&up, function, "{}").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-fc-instance-id"), instance);

    // Past its timeout (3 s): FC's answer, and a new instance, initialized again, serves the next.
    let r = invoke(&up, function, r#"{"sleepMs": 30000}"#).await;
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorMessage"], "Function timed out after 3 seconds");
    let events = wait_destroyed(&up, 1).await;
    assert_eq!(events[0]["reason"], "timeout");
    let r = invoke(&up, function, "{}").await;
    let restarted = header(&r, "x-fc-instance-id");
    assert_ne!(restarted, instance);
    let init = logs(&up, &["--hook", "Initialize"]);
    assert_eq!(
        init.matches(&format!("{function} initialized 1")).count(),
        2,
        "once per instance: {init}"
    );

    // PreStop at reclaim, then at shutdown.
    let pre_stop_line = format!("{function} pre-stop");
    let pre_stop = reclaim_through_pre_stop(&up, &restarted, 2).await;
    assert!(pre_stop.contains(&pre_stop_line), "{pre_stop}");
    get(format!("{}/again", up.url)).await;
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_eq!(
        output.iter().filter(|l| l.contains(&pre_stop_line)).count(),
        2,
        "PreStop at reclaim and at shutdown: {output:#?}"
    );
}
