//! The lifecycle on real Docker with the fixture image: cold start with its three phases, the Initializer
//! once, headers in and out, Initializer failures, PreStop at shutdown, the log query, and no container
//! left behind.

mod common;

use bytes::Bytes;
use common::*;
use fcemu_control::testing::{
    assert_initialization_error, assert_unhandled, event_names, first_event, header, json,
    shut_down,
};
use fcemu_control::{ControlPlane, HookKind, LogQuery, Options};
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

async fn plane(project: &TestProject) -> (ControlPlane, fcemu_runtime::DockerRuntime) {
    let docker = docker().await;
    let cp = ControlPlane::new(project.load(), Arc::new(docker.clone()), Options::default());
    (cp, docker)
}

async fn call(cp: &ControlPlane, method: &str, path: &str, body: &str) -> Response<Bytes> {
    fcemu_control::testing::call(cp, "fixture", method, path, body).await
}

/// Lines reach the store through Docker's log stream a moment after they are printed.
async fn wait_for_line(cp: &ControlPlane, q: &LogQuery, needle: &str) -> Vec<String> {
    for _ in 0..100 {
        let lines: Vec<String> = cp.logs().query(q).iter().map(|l| l.line.clone()).collect();
        if lines.iter().any(|l| l.contains(needle)) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no line with {needle:?} for {q:?}; all lines: {:#?}",
        cp.logs().snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_headers_initializer_once_prestop_and_logs() {
    let project = TestProject::fixture(
        &[
            ("FIXTURE_STARTUP_DELAY_MS", "300"),
            ("FIXTURE_INIT_DELAY_MS", "200"),
        ],
        "",
    );
    let (cp, docker) = plane(&project).await;

    let first = call(&cp, "POST", "/echo/path?q=1", "hello body").await;
    assert_eq!(first.status(), StatusCode::OK, "{:?}", first.body());
    let instance_id = header(&first, "x-fc-instance-id").to_string();
    let request_id = header(&first, "x-fc-request-id").to_string();
    assert!(instance_id.starts_with("c-") && request_id.starts_with("1-"));

    // Cold start: three phases, each truthful to the fixture's own delays.
    let ready = first_event(&cp, "instance.ready").expect("instance.ready");
    let part = |k: &str| ready.extra[k].as_f64().unwrap();
    assert!(part("instanceCreateMs") > 0.0);
    assert!(
        (300.0..2000.0).contains(&part("runtimeInitMs")),
        "Runtime Init covers the 300 ms startup: {ready:?}"
    );
    assert!(
        (200.0..1500.0).contains(&part("initHookMs")),
        "Init Hook covers the 200 ms Initializer: {ready:?}"
    );
    let timing = header(&first, "server-timing");
    assert!(timing.starts_with("instance-create;dur="), "{timing}");

    // Headers in: passed through, FC's set, the client's x-fc-* replaced.
    let seen = json(&first);
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/echo/path");
    assert_eq!(seen["query"], "q=1");
    assert_eq!(seen["body"], "hello body");
    let h = &seen["headers"];
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(
        h["x-fc-region"], "cn-hangzhou",
        "the client's x-fc-region was removed"
    );
    assert_eq!(h["x-fc-request-id"], request_id.as_str());
    assert_eq!(h["x-fc-function-name"], "fixture");
    assert_eq!(h["x-fc-function-memory"], "128");
    assert_eq!(h["x-fc-control-path"], "/http-invoke");
    assert_eq!(h["x-fc-qualifier"], "LATEST");

    // Logs by request id. A line is stamped when Docker reads it: it is waited for before the next request,
    // which would otherwise be a candidate for it too (see Instance::attribute).
    let by_request = LogQuery {
        request_id: Some(request_id.clone()),
        ..Default::default()
    };
    wait_for_line(
        &cp,
        &by_request,
        &format!("invoke POST /echo/path request {request_id}"),
    )
    .await;

    // The instance is reused; the Initializer ran once.
    for _ in 0..3 {
        let again = call(&cp, "GET", "/state", "").await;
        assert_eq!(header(&again, "x-fc-instance-id"), instance_id);
        assert!(again.headers().get("server-timing").is_none());
        assert_eq!(json(&again)["initialize"], 1);
    }
    let creates = cp
        .events()
        .snapshot()
        .iter()
        .filter(|e| e.event == "instance.creating")
        .count();
    assert_eq!(creates, 1);

    // The container is labelled as the contract says and has the function's limits (128 MB, 0.5 vCPU).
    let left = containers_of(&docker, project.path()).await;
    assert_eq!(left.len(), 1, "{left:?}");
    let name = format!("fcemu-fixture-{}", &instance_id[2..]);
    let inspect = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{index .Config.Labels \"fcemu.managed\"}} {{index .Config.Labels \"fcemu.function\"}} {{index .Config.Labels \"fcemu.instance-id\"}}", &name])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        format!("{} 500000000 true fixture {instance_id}", 128 * 1024 * 1024),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(left[0].starts_with(&format!("/{name}")), "{left:?}");

    let init = LogQuery {
        hook: Some(HookKind::Initialize),
        instance: Some(instance_id.clone()),
        ..Default::default()
    };
    wait_for_line(&cp, &init, "initializer called (1)").await;

    shut_down(&cp, Duration::from_secs(5)).await;
    let prestop = LogQuery {
        hook: Some(HookKind::PreStop),
        instance: Some(instance_id.clone()),
        ..Default::default()
    };
    let lines = wait_for_line(&cp, &prestop, "pre-stop called (1)").await;
    assert!(
        lines.iter().any(|l| l.starts_with("FC PreStop End")),
        "{lines:#?}"
    );
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("shutdown"));
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initializer_500_answers_initialization_error_and_destroys_the_instance() {
    let project = TestProject::fixture(&[("FIXTURE_INIT_STATUS", "500")], "");
    let (cp, docker) = plane(&project).await;
    let r = call(&cp, "GET", "/", "").await;
    assert_initialization_error(&r, "HTTP 500");
    assert_no_containers_left(&docker, project.path()).await;
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("init_failed"));
    assert!(
        !cp.events()
            .snapshot()
            .iter()
            .any(|e| e.event == "prestop.start"),
        "no PreStop for an instance that never became ready"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initializer_404_keeps_the_instance_and_retries() {
    let project = TestProject::fixture(
        &[
            ("FIXTURE_INIT_STATUS", "404"),
            ("FIXTURE_INIT_FAIL_TIMES", "1"),
        ],
        "",
    );
    let (cp, docker) = plane(&project).await;
    let first = call(&cp, "GET", "/state", "").await;
    assert_initialization_error(&first, "HTTP 404");
    assert_eq!(
        containers_of(&docker, project.path()).await.len(),
        1,
        "kept"
    );
    let second = call(&cp, "GET", "/state", "").await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        json(&second)["initialize"],
        2,
        "the Initializer ran again on the same instance"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initializer_timeout_is_an_initialization_error() {
    let project = TestProject::fixture(&[("FIXTURE_INIT_DELAY_MS", "4000")], "");
    let (cp, docker) = plane(&project).await;
    let started = std::time::Instant::now();
    let r = call(&cp, "GET", "/", "").await;
    assert_initialization_error(&r, "timeout of 2 s");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered when the 2 s timeout passed"
    );
    assert_no_containers_left(&docker, project.path()).await;
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_initializer_runs_in_the_container() {
    let extra = "";
    let project = TestProject::fixture(&[], extra);
    let mut spec = project.load();
    spec.functions[0].initializer = Some(fcemu_spec::Hook {
        action: fcemu_spec::HookAction::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo warming >&2; exit 3".into(),
        ]),
        timeout: Duration::from_secs(5),
    });
    let docker = docker().await;
    let cp = ControlPlane::new(spec, Arc::new(docker.clone()), Options::default());
    let r = call(&cp, "GET", "/", "").await;
    let message = assert_initialization_error(&r, "");
    assert!(
        message.contains("exited with code 3") && message.contains("warming"),
        "{message}"
    );
    assert_no_containers_left(&docker, project.path()).await;
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_prestop_does_not_block_the_destroy() {
    let project = TestProject::fixture(&[("FIXTURE_PRESTOP_STATUS", "500")], "");
    let (cp, docker) = plane(&project).await;
    assert_eq!(call(&cp, "GET", "/", "").await.status(), StatusCode::OK);
    shut_down(&cp, Duration::from_secs(5)).await;
    let end = first_event(&cp, "prestop.end").unwrap();
    assert_eq!(end.status, Some(500));
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_response_bodies_pass_through() {
    let project = TestProject::fixture(&[], "");
    let (cp, docker) = plane(&project).await;
    let big = "x".repeat(3 * 1024 * 1024);
    let r = call(&cp, "POST", "/body", &big).await;
    assert_eq!(r.body().len(), big.len(), "a 3 MB body goes there and back");
    let streamed = call(&cp, "GET", "/stream?chunks=4&ms=10", "").await;
    assert_eq!(
        String::from_utf8_lossy(streamed.body()),
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_listens_is_function_not_started() {
    // The fixture listens on 9000; the function says 9100, so nothing ever answers there. The container
    // keeps running, so only Runtime Init's deadline ends the wait.
    let project = TestProject::fixture(&[("FIXTURE_PORT", "9000")], "");
    let mut spec = project.load();
    spec.functions[0].container.port = 9100;
    let docker = docker().await;
    let options = Options {
        runtime_init_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let cp = ControlPlane::new(spec, Arc::new(docker.clone()), options);
    let r = call(&cp, "GET", "/", "").await;
    assert_eq!(header(&r, "x-fc-error-type"), "FunctionNotStarted");
    assert!(
        json(&r)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("port 9100")
    );
    assert_no_containers_left(&docker, project.path()).await;
    shut_down(&cp, Duration::from_secs(5)).await;
}

/// Ticks the fixture's background thread counted while the test slept between two requests.
async fn ticks_between_requests(cp: &ControlPlane, pause: Duration) -> i64 {
    let before = json(&call(cp, "GET", "/ticks", "").await)["ticks"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(pause).await;
    let after = json(&call(cp, "GET", "/ticks", "").await)["ticks"]
        .as_i64()
        .unwrap();
    after - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_really_stops_and_no_freeze_keeps_it_running() {
    let docker = docker().await;
    // A thread in the function counts every 10 ms; between requests the instance is frozen.
    let project = TestProject::fixture(&[("FIXTURE_TICK_MS", "10")], "");
    let cp = ControlPlane::new(project.load(), Arc::new(docker.clone()), Options::default());
    call(&cp, "GET", "/", "").await;
    let frozen_ticks = ticks_between_requests(&cp, Duration::from_millis(1000)).await;
    assert!(
        frozen_ticks < 25,
        "the ticker advanced {frozen_ticks} times in 1 s while frozen"
    );
    assert!(
        first_event(&cp, "instance.frozen").is_some()
            && first_event(&cp, "instance.thawed").is_some()
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;

    let project = TestProject::fixture(&[("FIXTURE_TICK_MS", "10")], "");
    let options = Options {
        freeze: false,
        ..Options::default()
    };
    let cp = ControlPlane::new(project.load(), Arc::new(docker.clone()), options);
    call(&cp, "GET", "/", "").await;
    let running_ticks = ticks_between_requests(&cp, Duration::from_millis(1000)).await;
    assert!(
        running_ticks >= 50,
        "the ticker advanced only {running_ticks} times in 1 s unfrozen"
    );
    assert!(first_event(&cp, "instance.frozen").is_none());
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_reclaimed_through_prestop() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let options = Options {
        idle_timeout: Duration::from_millis(800),
        ..Options::default()
    };
    let cp = ControlPlane::new(project.load(), Arc::new(docker.clone()), options);
    let r = call(&cp, "GET", "/", "").await;
    let instance_id = header(&r, "x-fc-instance-id").to_string();
    for _ in 0..100 {
        if first_event(&cp, "instance.destroyed").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let destroyed = first_event(&cp, "instance.destroyed").expect("reclaimed within 5 s");
    assert_eq!(destroyed.reason.as_deref(), Some("idle"));
    assert_no_containers_left(&docker, project.path()).await;
    // It was frozen while idle, thawed for PreStop, and PreStop ran in it.
    let prestop = LogQuery {
        hook: Some(HookKind::PreStop),
        instance: Some(instance_id),
        ..Default::default()
    };
    wait_for_line(&cp, &prestop, "pre-stop called (1)").await;
    let names = event_names(&cp);
    let at = |n: &str| {
        names
            .iter()
            .position(|e| *e == n)
            .unwrap_or_else(|| panic!("{n} missing: {names:?}"))
    };
    assert!(
        at("instance.frozen") < at("instance.thawed")
            && at("instance.thawed") < at("prestop.start"),
        "{names:?}"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_or_an_oom_kill_answers_unhandled_and_the_instance_is_replaced_without_prestop() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let (cp, _) = plane(&project).await;
    let destroyed_reasons = |cp: &ControlPlane| -> Vec<String> {
        cp.events()
            .snapshot()
            .iter()
            .filter(|e| e.event == "instance.destroyed")
            .filter_map(|e| e.reason.clone())
            .collect()
    };
    let wait_destroyed = |n: usize| {
        let cp = cp.clone();
        async move {
            for _ in 0..100 {
                if destroyed_reasons(&cp).len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no instance.destroyed #{n}: {:?}", cp.events().snapshot());
        }
    };

    let first = call(&cp, "GET", "/", "").await;
    let crashed = call(&cp, "GET", "/crash?code=9", "").await;
    assert_unhandled(
        &crashed,
        "Process exited unexpectedly before completing request",
    );
    wait_destroyed(1).await;
    assert_eq!(destroyed_reasons(&cp), ["exited"]);

    // 128 MB is the function's memory size: asking for 400 MB meets the OOM killer.
    let replaced = call(&cp, "GET", "/", "").await;
    assert_ne!(
        header(&replaced, "x-fc-instance-id"),
        header(&first, "x-fc-instance-id"),
        "replaced on demand"
    );
    let killed = call(&cp, "GET", "/alloc?mb=400", "").await;
    assert_unhandled(
        &killed,
        "Process exited unexpectedly before completing request",
    );
    wait_destroyed(2).await;
    assert_eq!(destroyed_reasons(&cp), ["exited", "oom"]);
    assert!(
        first_event(&cp, "prestop.start").is_none(),
        "nothing to run PreStop in"
    );
    assert!(
        containers_of(&docker, project.path()).await.is_empty(),
        "removed"
    );

    let after = call(&cp, "GET", "/", "").await;
    assert_eq!(after.status(), StatusCode::OK);
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_instances_scale_out_in_parallel_and_caps_queue_then_refuse() {
    let docker = docker().await;
    // Each instance takes at least 400 ms to start.
    let project = TestProject::fixture(&[("FIXTURE_STARTUP_DELAY_MS", "400")], "");
    let (cp, _) = plane(&project).await;
    let answers =
        futures_util::future::join_all((0..4).map(|_| call(&cp, "GET", "/sleep?ms=300", ""))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    let instances: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|r| header(r, "x-fc-instance-id"))
        .collect();
    assert_eq!(
        instances.len(),
        4,
        "concurrency 1: one instance per simultaneous request"
    );
    // In parallel: all four were being created before the first was ready (timing-free, so a busy machine
    // cannot make it flaky).
    let names = event_names(&cp);
    let first_ready = names.iter().position(|n| *n == "instance.ready").unwrap();
    let creating_before = names[..first_ready]
        .iter()
        .filter(|n| **n == "instance.creating")
        .count();
    assert_eq!(creating_before, 4, "{names:?}");
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;

    // reservedConcurrency 2 caps the instances; two more requests wait; beyond the queue, 429.
    let project = TestProject::fixture(&[], "      concurrencyConfig: { reservedConcurrency: 2 }");
    let docker = common::docker().await;
    let options = Options {
        queue_limit: 2,
        ..Options::default()
    };
    let cp = ControlPlane::new(project.load(), Arc::new(docker.clone()), options);
    let answers = futures_util::future::join_all((0..5).map(|i| {
        let cp = cp.clone();
        async move {
            // The last one arrives when two run and two wait: sent with the first two, the waiting two
            // are queued by the time both instances have started a request.
            if i == 4 {
                while cp
                    .events()
                    .snapshot()
                    .iter()
                    .filter(|e| e.event == "invoke.start")
                    .count()
                    < 2
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            call(&cp, "GET", "/sleep?ms=800", "").await
        }
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 429], "{statuses:?}");
    assert_eq!(json(&answers[4])["Code"], "ResourceExhausted");
    let served_by: std::collections::BTreeSet<&str> = answers[..4]
        .iter()
        .map(|r| header(r, "x-fc-instance-id"))
        .collect();
    assert_eq!(
        served_by.len(),
        2,
        "no more than reservedConcurrency instances"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_function_timeout_the_caller_is_answered_and_the_instance_stays() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let mut spec = project.load();
    spec.functions[0].timeout = Duration::from_secs(1);
    let cp = ControlPlane::new(spec, Arc::new(docker.clone()), Options::default());
    let first = call(&cp, "GET", "/", "").await;
    let started = std::time::Instant::now();
    let slow = call(&cp, "GET", "/sleep?ms=6000", "").await;
    assert!(
        started.elapsed() < Duration::from_millis(5000),
        "answered at the timeout, not when the function finished"
    );
    assert_unhandled(&slow, "Function timed out after 1 seconds");
    let after = call(&cp, "GET", "/", "").await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(
        header(&after, "x-fc-instance-id"),
        header(&first, "x-fc-instance-id"),
        "the healthy instance stays"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_initializer_that_exits_0_runs_once_in_the_container() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let mut spec = project.load();
    // The command leaves a mark inside the container; the function then serves it back.
    spec.functions[0].initializer = Some(fcemu_spec::Hook {
        action: fcemu_spec::HookAction::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo warmed >> /tmp/initialized; echo initializer command ran".into(),
        ]),
        timeout: Duration::from_secs(5),
    });
    // Not frozen between requests, so the test can look inside the container afterwards.
    let options = Options {
        freeze: false,
        ..Options::default()
    };
    let cp = ControlPlane::new(spec, Arc::new(docker.clone()), options);
    for _ in 0..3 {
        let r = call(&cp, "GET", "/", "").await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
    }
    let end = first_event(&cp, "initializer.end").unwrap();
    assert_eq!(end.status, Some(0), "exit code 0");
    assert_eq!(
        cp.events()
            .snapshot()
            .iter()
            .filter(|e| e.event == "initializer.start")
            .count(),
        1,
        "not re-run"
    );
    let container = cp.instances()[0].container_id.clone();
    let marks = std::process::Command::new("docker")
        .args(["exec", &container, "cat", "/tmp/initialized"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&marks.stdout),
        "warmed\n",
        "ran once, inside the container"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}
