//! `fcemu` as a user runs it: `fcemu up` as a process in a project folder, driven over HTTP, stopped with
//! signals; the client commands against it; the exit codes of the contract.

mod common;

use common::up::*;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_fixture_and_shuts_down_through_prestop() {
    let docker = docker().await;
    let project = TestProject::fixture(&[("FIXTURE_INIT_DELAY_MS", "100")], "");
    let up = Up::start(project.path(), &[]);
    let http = reqwest::Client::new();

    let health: serde_json::Value = up.get_json("/_fcemu/healthz").await;
    assert_eq!(health["status"], "ok");

    let resp = http
        .post(format!("{}/some/path?x=1", up.url))
        .header("x-fc-account-id", "evil")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-fc-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let instance_id = resp.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        resp.headers().contains_key("server-timing"),
        "the cold start is reported on the first response"
    );
    let echoed: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echoed["path"], "/some/path");
    assert_eq!(echoed["body"], "payload");
    assert_ne!(echoed["headers"]["x-fc-account-id"], "evil");

    let put = http.put(format!("{}/x", up.url)).send().await.unwrap();
    assert_eq!(put.status(), 405, "the trigger accepts GET and POST only");

    // The control API and the client commands see the same instance.
    // Idle between requests, it is frozen once docker pause has returned.
    let mut list = vec![];
    for _ in 0..100 {
        list = up.get_json("/_fcemu/instances").await["instances"]
            .as_array()
            .unwrap()
            .clone();
        if list.len() == 1 && list[0]["state"] == "frozen" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["instanceId"], instance_id.as_str());
    assert_eq!(list[0]["functionName"], "fixture");
    assert_eq!(list[0]["state"], "frozen", "idle between requests");
    let ps = fcemu(&["ps", "--endpoint", &up.url]);
    assert!(ps.status.success());
    assert!(
        text(&ps.stdout).contains(&instance_id),
        "{}",
        text(&ps.stdout)
    );

    // One report line per request, printed by up.
    wait_for_output(
        &up,
        &format!("RequestId: {request_id} InstanceId: {instance_id} Status: 200"),
    )
    .await;
    let report = up
        .output()
        .into_iter()
        .find(|l| l.contains(&format!("RequestId: {request_id} InstanceId")))
        .unwrap();
    let peak: u64 = report
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Max Memory Used in {report}"));
    assert!(
        (1..=128).contains(&peak),
        "a real reading within the 128 MB limit: {report}"
    );
    let logs = fcemu(&[
        "logs",
        "--endpoint",
        &up.url,
        "--request-id",
        &request_id,
        "--format",
        "json",
    ]);
    let lines = text(&logs.stdout);
    assert!(lines.contains("invoke POST /some/path"), "{lines}");
    let hooked = fcemu(&["logs", "--endpoint", &up.url, "--hook", "Initialize"]);
    assert!(
        text(&hooked.stdout).contains("initializer called (1)"),
        "{}",
        text(&hooked.stdout)
    );

    // Event invoke through the OpenAPI path.
    let invoked = fcemu(&[
        "invoke",
        "fixture",
        "-e",
        "{\"k\":42}",
        "--endpoint",
        &up.url,
    ]);
    assert!(invoked.status.success(), "{}", text(&invoked.stderr));
    let event: serde_json::Value = serde_json::from_slice(&invoked.stdout).unwrap();
    assert_eq!(event["path"], "/invoke");
    assert_eq!(event["body"], "{\"k\":42}");
    assert_eq!(event["headers"]["x-fc-control-path"], "/invoke");

    // --cold forces a new instance and prints its cold-start breakdown.
    let breakdown = invoke_cold(&up, "fixture");
    assert!(
        breakdown.contains("cold start: Init Duration")
            && breakdown.contains("Runtime Init")
            && breakdown.contains("Init Hook"),
        "{breakdown}"
    );
    let instances: serde_json::Value = up.get_json("/_fcemu/instances").await;
    assert_eq!(instances["instances"].as_array().unwrap().len(), 2);

    let events = fcemu(&["events", "--endpoint", &up.url, "--format", "json"]);
    let names: Vec<String> = text(&events.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for name in [
        "instance.creating",
        "instance.created",
        "instance.runtime_ready",
        "initializer.start",
        "initializer.end",
        "instance.ready",
        "invoke.start",
        "invoke.end",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }

    let billing: serde_json::Value = up.get_json("/_fcemu/billing").await;
    let bill = &billing["functions"][0];
    assert_eq!(bill["functionName"], "fixture");
    assert!(bill["invocations"].as_u64().unwrap() >= 3, "{billing}");
    assert!(
        bill["activeSeconds"].as_f64().unwrap() > 0.0 && bill["gbSeconds"].as_f64().unwrap() > 0.0,
        "{billing}"
    );

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    let all = output.join("\n");
    assert!(
        all.contains("INVOCATIONS") && all.contains("GB-s"),
        "the billing table at shutdown: {all}"
    );
    assert!(
        all.contains("pre-stop called (1)"),
        "PreStop ran at shutdown: {all}"
    );
    assert!(
        all.contains("FC Instance Destroyed") && all.contains("Reason: shutdown"),
        "{all}"
    );
    assert!(
        !project.path().join(".fcemu/endpoint").exists(),
        "the endpoint record is removed"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flask_example_is_served_unchanged() {
    let docker = docker().await;
    let (project, tag) = TestProject::example(
        "example",
        &["app.py", "Dockerfile"],
        "fcemu-flask-example:latest",
    );

    let up = Up::start(project.path(), &[]);
    // Printed before the endpoint was recorded; the reader of up's output may not have it yet.
    wait_for_output(&up, &format!("built image {tag}")).await;
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/greet", up.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let instance_id = resp.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "hello from /greet");
    assert_eq!(
        body["initialized"], true,
        "the Initializer ran before the first request"
    );
    assert_eq!(body["model"], "tiny-v1");
    assert_eq!(
        body["instance"],
        instance_id.as_str(),
        "FC_INSTANCE_ID is the instance id"
    );
    assert_eq!(body["function"], "hello-flask");

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    let all = output.join("\n");
    assert!(all.contains("FC Initialize: loading the model"), "{all}");
    assert!(all.contains("FC PreStop: flushing"), "{all}");
    assert_no_containers_left(&docker, project.path()).await;
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_removes_what_a_crashed_run_left_and_a_second_signal_forces_a_fast_exit() {
    let docker = docker().await;
    let project = TestProject::fixture(&[("FIXTURE_PRESTOP_DELAY_MS", "1500")], "");
    let http = reqwest::Client::new();

    // A run that dies without cleaning up leaves its container.
    let mut crashed = Up::start(project.path(), &[]);
    assert_eq!(
        http.get(format!("{}/", crashed.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    crashed.signal("KILL");
    crashed.wait(Duration::from_secs(10));
    assert_eq!(containers_of(&docker, project.path()).await.len(), 1);

    // The next run of the same project removes it before serving.
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "removed 1 container left by an earlier run").await;
    assert!(containers_of(&docker, project.path()).await.is_empty());

    // Ctrl-C starts the graceful stop (PreStop takes 1.5 s); a second one forces the exit at once.
    assert_eq!(
        http.get(format!("{}/", up.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut up = up;
    up.signal("INT");
    wait_for_output(&up, "FC PreStop Start").await;
    let forced_at = Instant::now();
    up.signal("INT");
    let (code, output) = up.wait(Duration::from_secs(20));
    assert_eq!(code, 130, "{output:#?}");
    assert!(forced_at.elapsed() < Duration::from_secs(5));
    assert!(
        output.iter().any(|l| l.contains("forced stop")),
        "{output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[test]
fn docker_unreachable_exits_3_and_says_how_to_start_it() {
    let project = TestProject::fixture(&[], "");
    let out = Command::new(FCEMU)
        .args([
            "up",
            project.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker engine") && err.contains("Start Docker"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_without_build_exits_1_and_says_what_to_do() {
    docker().await;
    let project = TestProject::with_yaml(
        "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom-container\n      customContainerConfig: { image: 'fcemu-no-such-image:1' }\n",
    );
    let out = fcemu(&[
        "up",
        project.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("fcemu-no-such-image:1") && err.contains("x-fcemu-build"),
        "{err}"
    );
}

#[test]
fn a_bad_s_yaml_exits_1_with_every_problem() {
    let project = TestProject::with_yaml(
        "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: dotnetcore3.1\n      memorySize: 1\n",
    );
    let out = fcemu(&["validate", project.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("has 2 problems"), "{err}");
    assert!(
        err.contains("resources.f.props.runtime") && err.contains("resources.f.props.memorySize"),
        "{err}"
    );
    let up = fcemu(&["up", project.path().to_str().unwrap()]);
    assert_eq!(
        up.status.code(),
        Some(1),
        "up refuses the same file before touching anything"
    );
}

#[test]
fn a_client_command_without_a_running_up_exits_3() {
    let out = fcemu(&["ps", "--endpoint", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("no fcemu up answers"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_instances_exist_frozen_at_up_and_follow_fcemu_provision() {
    let docker = docker().await;
    let project = TestProject::fixture(
        &[],
        "      provisionConfig: { defaultTarget: 1, alwaysAllocateCPU: false }",
    );
    let up = Up::start(project.path(), &[]);
    // Up records its endpoint only after provisioning: the instance is there, initialized and frozen.
    assert_eq!(paused_states(project.path()), [true], "{:#?}", up.output());
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/", up.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        !resp.headers().contains_key("server-timing"),
        "no cold start on a provisioned instance"
    );

    let out = fcemu(&[
        "provision",
        "fixture",
        "--target",
        "2",
        "--endpoint",
        &up.url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 provisioned instances (target 2)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(containers_of(&docker, project.path()).await.len(), 2);
    let config: serde_json::Value = http
        .get(format!(
            "{}/2023-03-30/functions/fixture/provision-config",
            up.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["target"], 2);
    assert_eq!(config["current"], 2);

    let out = fcemu(&[
        "provision",
        "fixture",
        "--target",
        "0",
        "--endpoint",
        &up.url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(containers_of(&docker, project.path()).await.is_empty());
    wait_for_output(&up, "Reason: provision").await;
    assert_eq!(
        up.output()
            .iter()
            .filter(|l| l.contains("pre-stop called"))
            .count(),
        2,
        "{:#?}",
        up.output()
    );

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_in_json_follow_and_reclaim() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(
        project.path(),
        &["--format", "json", "--idle-timeout", "1h"],
    );
    let http = reqwest::Client::new();

    // fcemu events --follow streams events as they happen.
    let mut follower = Command::new(FCEMU)
        .args([
            "events",
            "--follow",
            "--format",
            "json",
            "--endpoint",
            &up.url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let followed = Arc::new(Mutex::new(Vec::new()));
    collect(follower.stdout.take().unwrap(), followed.clone());

    let resp = http.get(format!("{}/", up.url)).send().await.unwrap();
    let instance_id = resp.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    let out = fcemu(&["reclaim", &instance_id, "--endpoint", &up.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        containers_of(&docker, project.path()).await.is_empty(),
        "reclaimed now"
    );

    let event_of = |line: &String| serde_json::from_str::<serde_json::Value>(line).ok();
    for _ in 0..100 {
        if followed
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("instance.destroyed"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let events: Vec<serde_json::Value> = followed
        .lock()
        .unwrap()
        .iter()
        .filter_map(event_of)
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let at = |n: &str| {
        names
            .iter()
            .position(|e| *e == n)
            .unwrap_or_else(|| panic!("{n} not followed: {names:?}"))
    };
    assert!(
        at("instance.creating") < at("invoke.end")
            && at("invoke.end") < at("prestop.start")
            && at("prestop.end") < at("instance.destroyed")
    );
    let destroyed = &events[at("instance.destroyed")];
    assert_eq!(destroyed["reason"], "reclaim");
    assert_eq!(destroyed["instanceId"], instance_id.as_str());
    let end = &events[at("invoke.end")];
    for field in [
        "ts",
        "functionName",
        "instanceId",
        "requestId",
        "status",
        "durationMs",
        "billedDurationMs",
        "coldStart",
    ] {
        assert!(end.get(field).is_some(), "invoke.end has {field}: {end}");
    }
    assert_eq!(end["coldStart"], true);

    let (code, output) = up.stop();
    assert_eq!(code, 0);
    // --format json: stdout is the event stream, one JSON object per line (people's lines go to stderr).
    let stdout_events = output
        .iter()
        .filter(|l| l.starts_with('{'))
        .filter_map(event_of)
        .count();
    assert!(stdout_events >= names.len(), "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freeze_and_idle_flags_of_up() {
    let docker = docker().await;
    let http = reqwest::Client::new();

    // By default an idle instance is frozen.
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    assert_eq!(
        http.get(format!("{}/", up.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    wait_for_output(&up, "Status: 200").await;
    wait_frozen(project.path()).await;
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;

    // --no-freeze keeps it running; --idle-timeout reclaims it through PreStop.
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &["--no-freeze", "--idle-timeout", "1500ms"]);
    assert_eq!(
        http.get(format!("{}/", up.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(paused_states(project.path()), [false]);
    wait_for_output(&up, "Reason: idle").await;
    // Idle until it was reclaimed, it was never frozen.
    let events: Vec<String> = up.get_json_lines("/_fcemu/events").await;
    assert!(
        events.iter().any(|e| e.contains("\"reason\":\"idle\"")),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("instance.frozen")),
        "{events:#?}"
    );
    assert!(up.printed("pre-stop called (1)"), "{:#?}", up.output());
    assert!(containers_of(&docker, project.path()).await.is_empty());
    assert_eq!(up.stop().0, 0);
}

#[test]
fn validate_finds_s_yml_or_a_template_and_lists_ignored_fields_when_verbose() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/syaml/valid");
    let cloudy = corpus.join("fc3-cloud-fields.yaml");
    let out = fcemu(&["validate", "-t", cloudy.to_str().unwrap(), "--verbose"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let notes = text(&out.stderr);
    for field in ["vpcConfig", "logConfig"] {
        assert!(
            notes.contains(&format!(
                "note: resources.f.props.{field}: accepted and ignored"
            )),
            "{notes}"
        );
    }
    // Shared storage is emulated (tests/storage.rs), so it is not among them.
    assert!(
        !notes.contains("nasConfig") && !notes.contains("ossMountConfig"),
        "{notes}"
    );
    assert!(
        notes.contains("warning: resources.f.props.provisionConfig.scheduledActions"),
        "{notes}"
    );
    let quiet = fcemu(&["validate", "-t", cloudy.to_str().unwrap()]);
    assert!(
        !text(&quiet.stderr).contains("note:"),
        "ignored fields are listed only with --verbose"
    );
    assert!(text(&quiet.stdout).contains("\"name\": \"cloudy\""));

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(corpus.join("fc3-minimal.yaml"), dir.path().join("s.yml")).unwrap();
    let out = fcemu(&["validate", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "an s.yml is found like an s.yaml: {}",
        text(&out.stderr)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = fcemu(&["validate", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no s.yaml or s.yml"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_function_asynchronously_and_with_its_log_tail() {
    use base64::Engine;
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    let http = reqwest::Client::new();
    let invocations = format!("{}/2023-03-30/functions/fixture/invocations", up.url);
    let header =
        |resp: &reqwest::Response, name: &str| resp.headers()[name].to_str().unwrap().to_string();

    // x-fc-log-type: Tail: the response carries the base64 of the request's log lines.
    let resp = http
        .post(&invocations)
        .header("x-fc-log-type", "Tail")
        .body("tailed event")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rid = header(&resp, "x-fc-request-id");
    let encoded = header(&resp, "x-fc-log-result");
    let echoed: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echoed["body"], "tailed event");
    let tail = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert!(
        tail.starts_with(&format!("FC Invoke Start RequestId: {rid}\n")),
        "{tail}"
    );
    assert!(
        tail.contains(&format!("invoke POST /invoke request {rid}\n")),
        "the function's own line, from Docker's log stream: {tail}"
    );
    assert!(
        tail.contains(&format!("FC Invoke End RequestId: {rid}\n")),
        "{tail}"
    );

    // x-fc-invocation-type: Async: 202 at once; the invocation runs under the id it returned.
    let resp = http
        .post(&invocations)
        .header("x-fc-invocation-type", "Async")
        .body("queued event")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let rid = header(&resp, "x-fc-request-id");
    assert!(resp.bytes().await.unwrap().is_empty());
    let mut seen = false;
    for _ in 0..100 {
        let logs = http
            .get(format!("{}/_fcemu/logs?requestId={rid}", up.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if logs.contains(&format!("invoke POST /invoke request {rid}")) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the asynchronous invocation reached the function");

    // What FC refuses, fcemu refuses, saying why.
    for (name, value, needle) in [
        ("x-fc-invocation-type", "Later", "must be Sync or Async"),
        ("x-fc-log-type", "Everything", "must be None or Tail"),
    ] {
        let resp = http
            .post(&invocations)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["Code"], "InvalidArgument");
        assert!(body["Message"].as_str().unwrap().contains(needle), "{body}");
    }
    let resp = http
        .post(&invocations)
        .header("x-fc-invocation-type", "Async")
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["Message"].as_str().unwrap().contains("128 KB"),
        "{body}"
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// Docker's own view of each container's pause.
fn engine_paused_states(project: &std::path::Path) -> Vec<bool> {
    container_ids(project)
        .iter()
        .map(|id| engine_paused(id))
        .collect()
}

async fn wait_frozen(project: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while paused_states(project) != [true] {
        assert!(
            Instant::now() < deadline,
            "the idle instance was not frozen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_freeze_through_the_cgroup_where_it_can_be_written_else_through_the_engine() {
    let docker = docker().await;
    // This machine's engine is local and fcemu may write its cgroups: the freezer is written directly, so
    // the engine does not know the instance is frozen. The fixture ticks every 20 ms while it runs.
    let project = TestProject::fixture(&[("FIXTURE_TICK_MS", "20")], "");
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "freezing through the cgroup freezer").await;
    assert_eq!(
        reqwest::get(format!("{}/", up.url)).await.unwrap().status(),
        200
    );
    wait_frozen(project.path()).await;
    assert_eq!(engine_paused_states(project.path()), [false]);
    let ticks = |body: serde_json::Value| body["ticks"].as_u64().unwrap();
    let before = ticks(
        reqwest::get(format!("{}/ticks", up.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    wait_frozen(project.path()).await;
    let frozen_at = Instant::now();
    while frozen_at.elapsed() < Duration::from_millis(500) {
        assert_eq!(paused_states(project.path()), [true]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = ticks(
        reqwest::get(format!("{}/ticks", up.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert!(
        after - before <= 2,
        "the ticker ran while frozen: {before} -> {after}"
    );
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;

    // A freezer fcemu cannot write: the engine's pause, said once.
    let elsewhere = tempfile::tempdir().unwrap();
    let project = TestProject::fixture(&[], "");
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("FCEMU_CGROUP_ROOT", elsewhere.path().to_str().unwrap())],
        &[],
    );
    wait_for_output(&up, "freezing through the engine's pause").await;
    assert_eq!(
        reqwest::get(format!("{}/", up.url)).await.unwrap().status(),
        200
    );
    wait_frozen(project.path()).await;
    assert_eq!(engine_paused_states(project.path()), [true]);
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
