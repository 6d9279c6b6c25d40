//! Creating against the fake runtime: the three timed phases, the Initializer by FC's rules, Runtime Init and
//! its health check, and scale-out while instances are being made.

use bytes::Bytes;
use fcemu_control::testing::{
    assert_initialization_error, event_names, first_event, header, json, shut_down,
};
use fcemu_control::{ControlPlane, Options};
use fcemu_runtime::fake::{ContainerState, FakeRuntime};
use http::{Response, StatusCode};
use std::time::Duration;

mod common;

use common::{get, plane, project};

#[tokio::test(start_paused = true)]
async fn cold_start_runs_three_phases_and_the_initializer_once() {
    let (cp, fake) = plane(
        project(
            "",
            &[
                ("FIXTURE_STARTUP_DELAY_MS", "300"),
                ("FIXTURE_INIT_DELAY_MS", "200"),
            ],
        ),
        Options::default(),
    );
    let first = get(&cp, "/hello?x=1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let instance_id = header(&first, "x-fc-instance-id").to_string();
    assert!(instance_id.starts_with("c-"));
    assert!(header(&first, "x-fc-request-id").starts_with("1-"));
    // The cold start is reported on the first response, with the three parts.
    let timing = header(&first, "server-timing");
    assert!(
        timing.contains("instance-create;dur=")
            && timing.contains("runtime-init;dur=")
            && timing.contains("init-hook;dur="),
        "{timing}"
    );
    let ready = first_event(&cp, "instance.ready").unwrap();
    let runtime_init = ready.extra["runtimeInitMs"].as_f64().unwrap();
    let init_hook = ready.extra["initHookMs"].as_f64().unwrap();
    assert!(
        (300.0..340.0).contains(&runtime_init),
        "Runtime Init is the server's startup time: {runtime_init}"
    );
    assert!(
        (200.0..240.0).contains(&init_hook),
        "Init Hook is the Initializer's time: {init_hook}"
    );

    // Headers in: FC's own, the client's x-fc-* removed.
    let seen = &json(&first)["headers"];
    assert_eq!(seen["x-fc-function-name"], "f");
    assert_eq!(seen["x-fc-control-path"], "/http-invoke");
    assert_eq!(seen["x-fc-request-id"], header(&first, "x-fc-request-id"));
    assert_eq!(seen["x-fc-function-initializer"], "index.init");
    assert!(
        seen.get("x-fc-custom").is_none(),
        "client-sent x-fc-* headers are removed"
    );

    for _ in 0..3 {
        let again = get(&cp, "/again").await;
        assert_eq!(
            header(&again, "x-fc-instance-id"),
            instance_id,
            "the instance is reused"
        );
        assert!(
            again.headers().get("server-timing").is_none(),
            "only the first response reports the cold start"
        );
    }
    let container = fake.live().pop().unwrap();
    let counters = fake.counters(&container).unwrap();
    assert_eq!(
        counters
            .initialize
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the Initializer runs once per instance"
    );
    let spec = fake.spec(&container).unwrap();
    for var in [
        "FC_FUNCTION_NAME",
        "FC_INSTANCE_ID",
        "FC_CUSTOM_LISTEN_PORT",
        "FC_REGION",
        "FC_ACCOUNT_ID",
        "FC_FUNCTION_MEMORY_SIZE",
    ] {
        assert!(spec.env.iter().any(|(k, _)| k == var), "{var} is set");
    }
    assert_eq!(spec.labels["fcemu.managed"], "true");
    assert_eq!(spec.labels["fcemu.instance-id"], instance_id);
    assert!(spec.name.starts_with("fcemu-f-"));

    assert_eq!(
        &event_names(&cp)[..7],
        [
            "instance.creating",
            "instance.created",
            "instance.runtime_ready",
            "initializer.start",
            "initializer.end",
            "instance.ready",
            "invoke.start"
        ]
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn initializer_400_keeps_the_instance_and_retries_on_the_next_request() {
    let (cp, fake) = plane(
        project(
            "",
            &[
                ("FIXTURE_INIT_STATUS", "404"),
                ("FIXTURE_INIT_FAIL_TIMES", "1"),
            ],
        ),
        Options::default(),
    );
    let first = get(&cp, "/").await;
    assert_initialization_error(&first, "HTTP 404");
    assert_eq!(fake.live().len(), 1, "the instance is kept");

    let second = get(&cp, "/").await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(header(&second, "x-fc-error-type"), "");
    let container = fake.live().pop().unwrap();
    assert_eq!(
        fake.counters(&container)
            .unwrap()
            .initialize
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(fake.count("create"), 1, "no second instance");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn initializer_5xx_destroys_the_instance_without_prestop_and_the_next_request_gets_a_new_one()
{
    let (cp, fake) = plane(
        project(
            "",
            &[
                ("FIXTURE_INIT_STATUS", "503"),
                ("FIXTURE_INIT_FAIL_TIMES", "1"),
            ],
        ),
        Options::default(),
    );
    let first = get(&cp, "/").await;
    assert_initialization_error(&first, "HTTP 503");
    let calls = fake.calls();
    let first_container = calls
        .iter()
        .find_map(|c| c.strip_prefix("start "))
        .unwrap()
        .to_string();
    assert_eq!(fake.state(&first_container), Some(ContainerState::Removed));
    assert_eq!(
        fake.counters(&first_container)
            .unwrap()
            .pre_stop
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no PreStop: it never became ready"
    );
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("init_failed"));
    // The request is on the failed instance's record, from its arrival, as an InitializationError.
    let request_id = header(&first, "x-fc-request-id").to_string();
    let start = first_event(&cp, "invoke.start").expect("invoke.start");
    let end = first_event(&cp, "invoke.end").expect("invoke.end");
    assert_eq!(start.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(end.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(end.instance_id, destroyed.instance_id);
    assert_eq!(end.extra["errorType"], "InitializationError", "{end:?}");
    assert!(
        end.error.as_deref().is_some_and(|e| e.contains("503")),
        "{end:?}"
    );
    assert!(
        start.ts <= end.ts && start.ts < destroyed.ts,
        "{start:?} {destroyed:?}"
    );

    // The fake counts per container, so the new instance's first Initializer call fails too: FIXTURE_INIT_FAIL_TIMES
    // is per process, like the real fixture. Its second creation is what matters here.
    let second = get(&cp, "/").await;
    assert_initialization_error(&second, "HTTP 503");
    assert_eq!(fake.count("create"), 2, "a new instance was created");
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn initializer_timeout_destroys_the_instance() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_INIT_DELAY_MS", "5000")]),
        Options::default(),
    );
    let first = get(&cp, "/").await;
    let message = assert_initialization_error(&first, "");
    assert!(message.contains("timeout of 2 s"), "{message}");
    assert!(fake.live().is_empty(), "destroyed");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn command_initializer_failure_carries_stderr_and_destroys() {
    let extra = "";
    let mut p = project(extra, &[]);
    p.functions[0].initializer = Some(fcemu_spec::Hook {
        action: fcemu_spec::HookAction::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo oops >&2; exit 7".into(),
        ]),
        timeout: Duration::from_secs(3),
    });
    let (cp, fake) = plane(p, Options::default());
    let first = get(&cp, "/").await;
    let message = assert_initialization_error(&first, "");
    assert!(
        message.contains("exited with code 7") && message.contains("oops"),
        "{message}"
    );
    assert!(fake.live().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_container_that_never_listens_fails_runtime_init_and_is_removed() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_STARTUP_DELAY_MS", "200000")]),
        Options::default(),
    );
    let r = get(&cp, "/").await;
    assert_eq!(header(&r, "x-fc-error-type"), "FunctionNotStarted");
    assert!(
        json(&r)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("within 120 s")
    );
    assert!(fake.live().is_empty());
    // The request is on the record of the instance it failed on, and fails the run's verdict.
    let summary = cp.summary().await;
    assert!(!summary.passed);
    assert_eq!(
        summary.failed_requests.len(),
        1,
        "{:?}",
        summary.failed_requests
    );
    assert_eq!(summary.failed_requests[0]["status"], 502);
    assert!(
        summary.failed_requests[0]["instanceId"]
            .as_str()
            .is_some_and(|id| id.starts_with("c-"))
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn simultaneous_requests_each_start_an_instance_when_concurrency_is_1() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_STARTUP_DELAY_MS", "400")]),
        Options::default(),
    );
    let started = tokio::time::Instant::now();
    let answers = futures_util::future::join_all((0..4).map(|_| get(&cp, "/sleep?ms=300"))).await;
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|r| header(r, "x-fc-instance-id"))
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "in parallel: {:?}",
        started.elapsed()
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn waiting_requests_fill_an_instance_being_created_up_to_its_concurrency() {
    let (cp, fake) = plane(
        project(
            "      instanceConcurrency: 3",
            &[("FIXTURE_STARTUP_DELAY_MS", "400")],
        ),
        Options::default(),
    );
    let answers = futures_util::future::join_all((0..3).map(|_| get(&cp, "/sleep?ms=100"))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(fake.count("create"), 1, "three fit the one being created");
    shut_down(&cp, Duration::from_secs(1)).await;
}

/// One instance at most, whose first Initializer call answers `status` after 200 ms; a second request comes
/// 50 ms after the first and waits behind it. Returns both answers.
async fn queued_behind_a_failing_initializer(
    status: &str,
) -> (ControlPlane, FakeRuntime, Response<Bytes>, Response<Bytes>) {
    let env = [
        ("FIXTURE_INIT_STATUS", status),
        ("FIXTURE_INIT_FAIL_TIMES", "1"),
        ("FIXTURE_INIT_DELAY_MS", "200"),
    ];
    let (cp, fake) = plane(
        project("", &env),
        Options {
            max_instances: Some(1),
            ..Options::default()
        },
    );
    let (first, queued) = tokio::join!(get(&cp, "/"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        get(&cp, "/queued").await
    });
    (cp, fake, first, queued)
}

#[tokio::test(start_paused = true)]
async fn a_request_queued_behind_a_failing_initializer_is_served_by_the_retry() {
    // 404 keeps the instance; the retry succeeds.
    let (cp, fake, first, queued) = queued_behind_a_failing_initializer("404").await;
    assert_initialization_error(&first, "HTTP 404");
    assert_eq!(queued.status(), StatusCode::OK, "served, not dropped");
    assert_eq!(json(&queued)["path"], "/queued");
    assert_eq!(fake.count("create"), 1);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_queued_behind_an_initializer_that_destroys_gets_a_new_instance_or_the_error() {
    // 503 destroys the instance; the queued request then creates its own (which fails the same way, as
    // each fixture process fails its first call): it is answered, never dropped.
    let (cp, fake, first, queued) = queued_behind_a_failing_initializer("503").await;
    assert_initialization_error(&first, "HTTP 503");
    assert_initialization_error(&queued, "HTTP 503");
    assert_eq!(
        fake.count("create"),
        2,
        "a new instance for the queued request"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_health_check_defines_runtime_init() {
    let with_check = |env: &[(&str, &str)], delay: u64, failures: u32| {
        let mut p = project("", env);
        p.functions[0].container.health_check = Some(fcemu_spec::HealthCheck {
            http_get_url: "/healthz".into(),
            initial_delay: Duration::from_secs(delay),
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            failure_threshold: failures,
            success_threshold: 1,
        });
        p
    };
    // The port opens at once, but /healthz is healthy only after 2.5 s: Runtime Init waits for the probe,
    // which runs every second after a 1 s initial delay (passing at 3 s).
    let (cp, _fake) = plane(
        with_check(&[("FIXTURE_HEALTHY_AFTER_MS", "2500")], 1, 5),
        Options::default(),
    );
    let r = get(&cp, "/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let runtime_init = first_event(&cp, "instance.ready").unwrap().extra["runtimeInitMs"]
        .as_f64()
        .unwrap();
    assert!((3000.0..3100.0).contains(&runtime_init), "{runtime_init}");
    shut_down(&cp, Duration::from_secs(1)).await;

    // Never healthy: after failureThreshold probes, FunctionNotStarted, and the container goes.
    let (cp, fake) = plane(
        with_check(&[("FIXTURE_HEALTHY_AFTER_MS", "999999")], 0, 2),
        Options::default(),
    );
    let r = get(&cp, "/").await;
    assert_eq!(header(&r, "x-fc-error-type"), "FunctionNotStarted");
    let message = json(&r)["errorMessage"].as_str().unwrap().to_string();
    assert!(
        message.contains("GET /healthz failed 2 times in a row (last: HTTP 503)"),
        "{message}"
    );
    assert!(fake.live().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_built_in_runtime_sees_its_code_fcemus_runtime_and_its_hooks() {
    let mut p = project("", &[]);
    let f = &mut p.functions[0];
    f.runtime = fcemu_spec::Runtime::parse("nodejs18").unwrap();
    f.container.code = Some("/src/code".into());
    f.container.runtime_files = Some("/cache/runtime/nodejs".into());
    let (cp, fake) = plane(p, Options::default());
    assert_eq!(get(&cp, "/").await.status(), http::StatusCode::OK);
    let spec = fake.spec(&fake.live().pop().unwrap()).unwrap();
    let mounts: Vec<(String, &str, bool)> = spec
        .mounts
        .iter()
        .map(|m| {
            (
                m.host.display().to_string(),
                m.container.as_str(),
                m.read_only,
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("/src/code".to_string(), "/code", true),
            (
                "/cache/runtime/nodejs".to_string(),
                "/var/fcemu/runtime",
                true
            )
        ]
    );
    let env = |k: &str| {
        spec.env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(env("FCEMU_INITIALIZER"), Some("index.init"));
    assert_eq!(env("FCEMU_PRE_STOP"), Some("index.preStop"));
    assert_eq!(env("FCEMU_PRE_FREEZE"), Some(""));
    assert_eq!(env("FCEMU_EDITION"), Some("3.0"));
    assert_eq!(spec.working_dir.as_deref(), Some("/code"));
    shut_down(&cp, Duration::from_secs(1)).await;
}
