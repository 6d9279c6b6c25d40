//! Python and Node.js functions on the built-in runtimes, with `fcemu up` on Docker: the Initializer once
//! per instance, freezing that really stops a background thread, a handler's exception answered as FC
//! answers it, a timeout that restarts the runtime, PreStop at reclaim and at shutdown, code from a folder
//! and from a .zip, and an FC 2.0 web function with its initializer and preFreeze.

mod common;

use common::calls::*;
use common::up::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const PYTHON_IMAGE: &str = "fcemu-runtime-python:bookworm";
const NODEJS_IMAGE: &str = "fcemu-runtime-nodejs:bookworm";

/// Docker, with the built-in runtimes' images there.
async fn docker_with_runtimes() -> fcemu_runtime::DockerRuntime {
    docker_with(&[PYTHON_IMAGE, NODEJS_IMAGE]).await
}

/// A copy of an example project of `fixtures/` (its s.yaml and its code folder).
fn example(name: &str) -> TestProject {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    let project = TestProject::with_yaml(&std::fs::read_to_string(from.join("s.yaml")).unwrap());
    std::fs::create_dir(project.path().join("code")).unwrap();
    for entry in std::fs::read_dir(from.join("code")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            project.path().join("code").join(entry.file_name()),
        )
        .unwrap();
    }
    project
}

/// Frozen between requests, the function's background counter (ten beats a second while it runs) stands
/// still; the instance's id.
async fn assert_background_stops_while_frozen(up: &Up, function: &str) -> String {
    let (before, instance) = beats(up, function).await;
    stay_frozen_for_a_second(up).await;
    let (after, same) = beats(up, function).await;
    assert_eq!(same, instance);
    assert!(
        after - before < 5,
        "the background work ran while frozen: {before} -> {after}"
    );
    instance
}

/// Waits until the one instance is frozen, then holds for a second while checking it stays so.
async fn stay_frozen_for_a_second(up: &Up) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.get_json("/_fcemu/instances").await["instances"][0]["state"] != "frozen" {
        assert!(
            Instant::now() < deadline,
            "the instance was not frozen between requests"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let frozen_at = Instant::now();
    while frozen_at.elapsed() < Duration::from_secs(1) {
        assert_eq!(
            up.get_json("/_fcemu/instances").await["instances"][0]["state"],
            "frozen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The function's background beats so far, and the instance that counted them.
async fn beats(up: &Up, function: &str) -> (u64, String) {
    let r: serde_json::Value = get(format!("{}/{function}/beats", up.url))
        .await
        .json()
        .await
        .unwrap();
    (
        r["beats"].as_u64().unwrap(),
        r["instance"].as_str().unwrap().to_string(),
    )
}

/// A handler's exception: the HTTP trigger answers 502 with FC's error body, and the instance lives on.
async fn assert_exception(up: &Up, function: &str, error_type: &str, frame: &str) {
    let r = get(format!("{}/{function}/fail", up.url)).await;
    assert_eq!(r.status(), 502);
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorType"], error_type, "{body}");
    let stack = body["stackTrace"].to_string();
    assert!(stack.contains(frame), "{body}");
}

/// A handler past the function's timeout: FC's timeout answer, and the runtime is restarted (a new instance
/// serves the next request, its Initializer run again).
async fn assert_timeout_restarts(up: &Up, function: &str, before: usize) -> String {
    let (_, old) = beats(up, function).await;
    let r = get(format!("{}/{function}/sleep?seconds=30", up.url)).await;
    assert_eq!(header(&r, "x-fc-error-type"), "UnhandledInvocationError");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errorMessage"], "Function timed out after 3 seconds");
    let events = wait_destroyed(up, before + 1).await;
    let last = events.last().unwrap();
    assert_eq!(last["reason"], "timeout");
    assert_eq!(last["instanceId"], old.as_str());
    let (_, new) = beats(up, function).await;
    assert_ne!(new, old, "a new instance serves after the timeout");
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_function_lives_through_its_hooks_freezes_and_restarts() {
    let docker = docker_with_runtimes().await;
    let project = example("python-example");
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "runtime python3.10 runs on Python 3.").await;

    let r = send(
        reqwest::Method::POST,
        format!("{}/py-tagger/tags", up.url),
        "the lighthouse keeper fed the cat",
    )
    .await;
    assert_eq!(r.status(), 200);
    let rid = header(&r, "x-fc-request-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["tags"],
        serde_json::json!(["animal:cat", "person:keeper", "place:lighthouse"])
    );
    assert_eq!(
        body["requestId"],
        rid.as_str(),
        "the context's request id is FC's"
    );
    let mine = request_logs(&up, &rid).await;
    assert_eq!(
        mine.matches(&format!("FC Invoke Start RequestId: {rid}"))
            .count(),
        1,
        "the runtime prints FC's Start line, and fcemu no copy: {mine}"
    );
    assert!(
        mine.contains(&format!("{rid} [INFO] tagging 33 characters")),
        "{mine}"
    );

    // Frozen between requests: the background thread counts ten beats a second while it runs.
    let instance = assert_background_stops_while_frozen(&up, "py-tagger").await;

    assert_exception(&up, "py-tagger", "ValueError", "index.py").await;
    assert_eq!(
        beats(&up, "py-tagger").await.1,
        instance,
        "the instance lives on after an exception"
    );

    // An event through InvokeFunction.
    let out = fcemu(&[
        "invoke",
        "py-tagger",
        "-e",
        r#"{"text": "a dog at sea"}"#,
        "--endpoint",
        &up.url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"tags": ["animal:dog", "place:sea"]}"#
    );

    let restarted = assert_timeout_restarts(&up, "py-tagger", 0).await;
    let r = send(
        reqwest::Method::POST,
        format!("{}/py-tagger/tags", up.url),
        "a cat",
    )
    .await;
    assert_eq!(header(&r, "x-fc-instance-id"), restarted);
    let init = logs(&up, &["--hook", "Initialize"]);
    assert_eq!(
        init.matches("model tiny-tagger-v1 loaded").count(),
        2,
        "once per instance: {init}"
    );

    // PreStop at reclaim, then at shutdown.
    let pre_stop = reclaim_through_pre_stop(&up, &restarted, 2).await;
    assert!(
        pre_stop.contains("[INFO] flushing: 1 texts tagged by this instance"),
        "{pre_stop}"
    );
    get(format!("{}/py-tagger/beats", up.url)).await;
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        output.iter().any(|l| l.contains("flushing: 0 texts")),
        "PreStop at shutdown: {output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_from_a_zip_lives_through_its_hooks_and_restarts() {
    let docker = docker_with_runtimes().await;
    let project = example("node-example");
    // The code as a .zip, as FC 2.0 projects often ship it.
    let zip = std::fs::File::create(project.path().join("code.zip")).unwrap();
    let mut w = zip::ZipWriter::new(zip);
    w.start_file("index.js", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(
        &mut w,
        &std::fs::read(project.path().join("code/index.js")).unwrap(),
    )
    .unwrap();
    w.finish().unwrap();
    std::fs::remove_dir_all(project.path().join("code")).unwrap();
    let yaml = std::fs::read_to_string(project.path().join("s.yaml")).unwrap();
    std::fs::write(
        project.path().join("s.yaml"),
        yaml.replace("code: ./code", "code: ./code.zip"),
    )
    .unwrap();

    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "runtime nodejs18 runs on Node.js v").await;
    let r = get(format!("{}/node-greeter/hello?name=Ada", up.url)).await;
    assert_eq!(r.status(), 200);
    let rid = header(&r, "x-fc-request-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["greeting"], "hello, Ada");
    assert_eq!(body["requestId"], rid.as_str());
    let mine = request_logs(&up, &rid).await;
    assert!(
        mine.contains(&format!("{rid} [verbose] greeting Ada")),
        "{mine}"
    );
    let init = logs(&up, &["--hook", "Initialize"]);
    assert!(
        init.contains("[info] pool of 4 opened for node-greeter"),
        "{init}"
    );

    assert_background_stops_while_frozen(&up, "node-greeter").await;

    assert_exception(&up, "node-greeter", "TypeError", "index.js").await;
    let out = fcemu(&[
        "invoke",
        "node-greeter",
        "-e",
        r#"{"name": "Grace"}"#,
        "--endpoint",
        &up.url,
    ]);
    assert_eq!(text(&out.stdout).trim(), r#"{"greeting":"hello, Grace"}"#);

    assert_timeout_restarts(&up, "node-greeter", 0).await;
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        output
            .iter()
            .any(|l| l.contains("[info] closing the pool after 0 greetings")),
        "PreStop at shutdown: {output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fc2_python_web_function_runs_its_initializer_and_pre_freeze() {
    let docker = docker_with_runtimes().await;
    let project = TestProject::with_yaml(
        r#"edition: 1.0.0
name: legacy-web
services:
  web:
    component: fc
    props:
      region: cn-shanghai
      service: { name: web }
      function:
        name: legacy-wsgi
        runtime: python3
        handler: index.handler
        codeUri: ./code
        timeout: 3
        initializer: index.initializer
        initializationTimeout: 5
        instanceLifecycleConfig:
          preFreeze: { handler: index.pre_freeze, timeout: 2 }
          preStop: { handler: index.pre_stop, timeout: 2 }
      triggers:
        - name: http
          type: http
          config: { authType: anonymous, methods: [GET, POST] }
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(
        project.path().join("code/index.py"),
        r#"
def initializer(context):
    print("initializer for", context.function.name, "in", context.region)

def pre_freeze(context):
    print("pre-freeze", context.request_id)

def pre_stop(context):
    print("pre-stop")

def handler(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi ", environ["REQUEST_METHOD"].encode(), b" ", environ["PATH_INFO"].encode(), b" ", body]
"#,
    )
    .unwrap();
    let up = Up::start(project.path(), &[]);
    let r = send(
        reqwest::Method::POST,
        format!("{}/orders/7", up.url),
        "qty=2",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "wsgi POST /orders/7 qty=2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs(&up, &["--hook", "PreFreeze"]).contains("pre-freeze 1-") {
        assert!(
            Instant::now() < deadline,
            "PreFreeze did not run before the freeze"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let init = logs(&up, &["--hook", "Initialize"]);
    assert!(
        init.contains("initializer for legacy-wsgi in cn-shanghai"),
        "{init}"
    );
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(output.iter().any(|l| l.contains("pre-stop")), "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[test]
fn a_dotnet_function_is_refused_with_the_way_to_run_it() {
    let project = TestProject::with_yaml(
        "edition: 3.0.0\nname: d\nresources:\n  d:\n    component: fc3\n    props:\n      functionName: d\n      runtime: dotnet6\n      handler: App::App.Handler::Handle\n      code: ./target\n",
    );
    let out = fcemu(&["validate", &project.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"runtime: is "dotnet6": fcemu has no .NET runtime"#),
        "{err}"
    );
    assert!(err.contains("runtime: custom-container"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_image_runs_a_python_function_on_the_users_own_image() {
    let docker = docker_with_runtimes().await;
    let project = example("python-example");
    // Any local image with python3 will do: the Flask base has one.
    let up = Up::start(
        project.path(),
        &["--runtime-image", "python3.10=fcemu-debian-flask:bookworm"],
    );
    wait_for_output(&up, "runtime python3.10 runs on Python 3.").await;
    assert!(
        up.printed("(fcemu-debian-flask:bookworm)"),
        "{:#?}",
        up.output()
    );
    let r = send(reqwest::Method::POST, format!("{}/tags", up.url), "a cat").await;
    assert_eq!(r.status(), 200);
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;

    // An image that is not there: said, with what it needs.
    let out = fcemu(&[
        "up",
        &project.path().display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--runtime-image",
        "python3.10=fcemu-no-such-python:1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("fcemu-no-such-python:1") && err.contains("needs python3"),
        "{err}"
    );
    let bad = fcemu(&["up", "--runtime-image", "dotnet6=x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("python3.10"),
        "{}",
        text(&bad.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_function_gets_what_fcs_runtime_ships_when_it_imports_it() {
    let docker = docker_with_runtimes().await;
    let project = TestProject::with_yaml(
        "edition: 3.0.0\nname: shipped\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: uses-oss2\n      runtime: python3.10\n      code: ./code\n",
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(
        project.path().join("code/index.py"),
        "import oss2\n\n\ndef handler(event, context):\n    return oss2.__file__\n",
    )
    .unwrap();
    let up = Up::start(project.path(), &[]);
    assert!(up.printed("imports what FC's Python runtime ships (oss2)"));
    let out = fcemu(&["invoke", "uses-oss2", "--endpoint", &up.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Last on the path, beside fcemu's runtime: the function's own copy would come first.
    assert!(
        text(&out.stdout).starts_with("/var/fcemu/runtime/fc-libraries/oss2/"),
        "{}",
        text(&out.stdout)
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
