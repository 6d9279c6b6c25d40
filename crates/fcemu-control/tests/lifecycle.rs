//! The lifecycle against the fake runtime: every rule of Creating, Invoke and Destroy, in milliseconds,
//! with tokio's paused clock (the fake's pipes are in memory, so timeouts fire only when time is due).

use bytes::Bytes;
use fcemu_control::testing::{
    assert_initialization_error, assert_unhandled, event_names, first_event, header, json,
    shut_down,
};
use fcemu_control::{ControlPlane, HookKind, InvocationKind, LogQuery, Options, full_body};
use fcemu_runtime::fake::{ContainerState, FakeRuntime};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;

mod common;

use common::{get, plane, project, settle};

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
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        1,
        "no second instance"
    );
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

    // The fake counts per container, so the new instance's first Initializer call fails too: FIXTURE_INIT_FAIL_TIMES
    // is per process, like the real fixture. Its second creation is what matters here.
    let second = get(&cp, "/").await;
    assert_initialization_error(&second, "HTTP 503");
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        2,
        "a new instance was created"
    );
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
async fn shutdown_runs_prestop_then_removes_and_a_failing_prestop_does_not_block() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_PRESTOP_STATUS", "500")]),
        Options::default(),
    );
    let r = get(&cp, "/").await;
    settle().await;
    assert!(
        first_event(&cp, "instance.frozen").is_some(),
        "frozen once idle"
    );
    assert_eq!(r.status(), StatusCode::OK);
    let container = fake.live().pop().unwrap();
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(
        fake.counters(&container)
            .unwrap()
            .pre_stop
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(fake.state(&container), Some(ContainerState::Removed));
    let names = event_names(&cp);
    let pos = |n: &str| names.iter().position(|e| *e == n).unwrap();
    assert!(
        pos("prestop.start") < pos("prestop.end") && pos("prestop.end") < pos("instance.destroyed")
    );
    let end = first_event(&cp, "prestop.end").unwrap();
    assert_eq!(end.status, Some(500));
    assert!(end.error.as_deref().unwrap().contains("destroyed anyway"));
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("shutdown"));
    // Frozen after the request, thawed before PreStop, stopped before removed.
    let order: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.ends_with(&container))
        .collect();
    let idx = |op: &str| order.iter().position(|c| c.starts_with(op)).unwrap();
    assert!(
        idx("pause") < idx("unpause")
            && idx("unpause") < idx("stop")
            && idx("stop") < idx("remove"),
        "{order:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn prestop_timeout_does_not_block_the_destroy() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_PRESTOP_DELAY_MS", "60000")]),
        Options::default(),
    );
    get(&cp, "/").await;
    let started = tokio::time::Instant::now();
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by PreStop's 1 s timeout"
    );
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn logs_are_attributed_to_requests_and_hooks() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/where").await;
    let rid = header(&r, "x-fc-request-id").to_string();
    let instance = header(&r, "x-fc-instance-id").to_string();
    settle().await;
    let lines = cp.logs().query(&LogQuery {
        request_id: Some(rid.clone()),
        ..Default::default()
    });
    let text: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    assert!(
        text.contains(&format!("invoke GET /where request {rid}").as_str()),
        "{text:#?}"
    );
    assert!(text.contains(&format!("FC Invoke Start RequestId: {rid}").as_str()));
    assert!(
        text.iter().any(
            |l| l.starts_with(&format!("RequestId: {rid} InstanceId: {instance}"))
                && l.contains("Max Memory Used: 21 MB Init Duration")
        ),
        "{text:#?}"
    );
    let init = cp.logs().query(&LogQuery {
        hook: Some(HookKind::Initialize),
        ..Default::default()
    });
    assert!(
        init.iter()
            .any(|l| l.line.starts_with("initializer called (1)")),
        "the function's own line is under Initialize"
    );
    assert!(
        init.iter()
            .any(|l| l.line.starts_with("FC Initialize End RequestId:"))
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    let prestop = cp.logs().query(&LogQuery {
        hook: Some(HookKind::PreStop),
        instance: Some(instance),
        ..Default::default()
    });
    assert!(
        prestop
            .iter()
            .any(|l| l.line.starts_with("pre-stop called")),
        "{prestop:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_instance_causes_scale_out_and_the_cap_makes_requests_wait() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=500"), get(&cp, "/sleep?ms=500"));
    assert_ne!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id"),
        "concurrency 1: two instances"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());

    let (cp, fake) = plane(
        project("", &[]),
        Options {
            max_instances: Some(1),
            ..Options::default()
        },
    );
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=500"), get(&cp, "/sleep?ms=500"));
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    assert_eq!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id"),
        "one instance serves both, one after the other"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000));
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn instance_concurrency_shares_one_instance() {
    let (cp, fake) = plane(
        project("      instanceConcurrency: 3", &[]),
        Options::default(),
    );
    get(&cp, "/").await;
    let results = futures_util::future::join_all((0..3).map(|_| get(&cp, "/sleep?ms=300"))).await;
    let ids: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| header(r, "x-fc-instance-id"))
        .collect();
    assert_eq!(ids.len(), 1, "three at a time fit one instance");
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_429_resource_exhausted() {
    let (cp, _fake) = plane(
        project("", &[]),
        Options {
            max_instances: Some(1),
            queue_limit: 1,
            ..Options::default()
        },
    );
    let (a, b, c) = tokio::join!(
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300")
    );
    let mut statuses = [a.status(), b.status(), c.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let refused = [a, b, c]
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert_eq!(json(&refused)["Code"], "ResourceExhausted");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_crashed_instance_answers_unhandled_and_is_replaced() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let first = get(&cp, "/").await;
    let crashed = get(&cp, "/crash").await;
    assert_unhandled(
        &crashed,
        "Process exited unexpectedly before completing request",
    );
    // Let the exit watcher remove it.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let destroyed = first_event(&cp, "instance.destroyed").expect("destroyed");
    assert_eq!(destroyed.reason.as_deref(), Some("exited"));
    let next = get(&cp, "/").await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_ne!(
        header(&next, "x-fc-instance-id"),
        header(&first, "x-fc-instance-id")
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn function_timeout_answers_at_once_and_keeps_the_instance() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/sleep?ms=8000").await;
    assert_unhandled(&r, "Function timed out after 5 seconds");
    assert_eq!(fake.live().len(), 1);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn event_invoke_posts_to_invoke_with_its_control_path() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let req = Request::get("/ignored")
        .body(full_body("{\"k\":1}"))
        .unwrap();
    let resp = cp.invoke("f", req, InvocationKind::Event).await;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["path"], "/invoke");
    assert_eq!(seen["headers"]["x-fc-control-path"], "/invoke");
    assert_eq!(seen["headers"]["content-type"], "application/octet-stream");
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
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn unknown_function_is_404_in_fc_shape() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let resp = cp
        .invoke(
            "nope",
            Request::get("/").body(full_body("")).unwrap(),
            InvocationKind::HttpTrigger,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["Code"], "FunctionNotFound");
    assert!(body["RequestId"].as_str().unwrap().starts_with("1-"));
}

#[tokio::test(start_paused = true)]
async fn an_idle_instance_is_frozen_and_thawed_for_the_next_request() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    get(&cp, "/").await;
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(
        fake.state(&container),
        Some(ContainerState::Paused),
        "frozen when its last request completed"
    );
    assert_eq!(
        cp.instances()[0].state,
        fcemu_control::InstanceState::Frozen
    );
    // The fake holds requests while paused: this one is answered only because the instance is thawed first.
    let again = get(&cp, "/again").await;
    assert_eq!(again.status(), StatusCode::OK);
    let names = event_names(&cp);
    let thawed = names
        .iter()
        .position(|e| *e == "instance.thawed")
        .expect("thawed");
    let second_invoke = names.iter().rposition(|e| *e == "invoke.start").unwrap();
    assert!(thawed < second_invoke, "{names:?}");
    let thaw = first_event(&cp, "instance.thawed").unwrap();
    assert!(thaw.extra["frozenMs"].as_f64().is_some());
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_freeze_keeps_instances_running() {
    let (cp, fake) = plane(
        project("", &[]),
        Options {
            freeze: false,
            ..Options::default()
        },
    );
    get(&cp, "/").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let container = fake.live().pop().unwrap();
    assert_eq!(fake.state(&container), Some(ContainerState::Running));
    assert!(!fake.calls().iter().any(|c| c.starts_with("pause")));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_freeze_grace_delays_the_freeze_and_a_request_within_it_cancels_it() {
    let options = Options {
        freeze_grace: Duration::from_millis(500),
        ..Options::default()
    };
    let (cp, fake) = plane(project("", &[]), options);
    get(&cp, "/").await;
    let container = fake.live().pop().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.state(&container),
        Some(ContainerState::Running),
        "still within the grace"
    );
    get(&cp, "/").await; // a new idle period begins: the first freeze is void
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.state(&container),
        Some(ContainerState::Running),
        "the grace restarted with the request"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.state(&container), Some(ContainerState::Paused));
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("pause"))
            .count(),
        1
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn idle_instances_are_reclaimed_through_thaw_and_prestop() {
    let options = Options {
        idle_timeout: Duration::from_secs(10),
        ..Options::default()
    };
    let (cp, fake) = plane(project("", &[]), options);
    get(&cp, "/").await;
    let container = fake.live().pop().unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(fake.live().len(), 1, "not idle long enough yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert!(fake.live().is_empty(), "reclaimed after the idle timeout");
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("idle"));
    // PreStop reached the function: it was thawed first (the fake would hold the call while paused).
    let end = first_event(&cp, "prestop.end").unwrap();
    assert_eq!(end.status, Some(200), "{end:?}");
    assert_eq!(
        fake.counters(&container)
            .unwrap()
            .pre_stop
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // The next request gets a new instance.
    let next = get(&cp, "/").await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        2
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn requests_racing_freezes_are_all_served() {
    let (cp, fake) = plane(
        project("      instanceConcurrency: 2", &[]),
        Options::default(),
    );
    for round in 0..30 {
        // Each request ends an idle period that a freeze may be in the middle of.
        let (a, b) = tokio::join!(get(&cp, "/"), async {
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
            get(&cp, "/").await
        });
        assert_eq!(a.status(), StatusCode::OK);
        assert_eq!(b.status(), StatusCode::OK);
    }
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(
        fake.state(&container),
        Some(ContainerState::Paused),
        "frozen at the end, not stuck thawed"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

fn containers_in(fake: &FakeRuntime, state: ContainerState) -> usize {
    fake.live()
        .iter()
        .filter(|id| fake.state(id) == Some(state))
        .count()
}

#[tokio::test(start_paused = true)]
async fn provisioned_instances_are_ready_and_frozen_before_any_request_and_never_cold() {
    let extra = "      provisionConfig: { defaultTarget: 2, alwaysAllocateCPU: false }";
    let options = Options {
        idle_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    let (cp, fake) = plane(project(extra, &[]), options);
    cp.start_provisioned().await;
    settle().await;
    assert_eq!(fake.live().len(), 2);
    assert_eq!(
        containers_in(&fake, ContainerState::Paused),
        2,
        "initialized, then frozen"
    );
    for id in fake.live() {
        assert_eq!(
            fake.counters(&id)
                .unwrap()
                .initialize
                .load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    }
    assert!(cp.instances().iter().all(|i| i.provisioned));
    let status = cp.provision_status("f").unwrap();
    assert_eq!((status.target, status.current), (2, 2));

    let r = get(&cp, "/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("server-timing").is_none(),
        "a provisioned instance serves without a cold start"
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        2,
        "no new instance"
    );

    // Provisioned instances are never reclaimed for idleness.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(fake.live().len(), 2);
    assert!(first_event(&cp, "instance.destroyed").is_none());
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn always_allocate_cpu_keeps_provisioned_instances_unfrozen() {
    let extra = "      provisionConfig: { defaultTarget: 1, alwaysAllocateCPU: true }";
    let (cp, fake) = plane(project(extra, &[]), Options::default());
    cp.start_provisioned().await;
    get(&cp, "/").await;
    settle().await;
    assert_eq!(containers_in(&fake, ContainerState::Running), 1);
    assert!(!fake.calls().iter().any(|c| c.starts_with("pause")));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn lowering_the_target_destroys_the_excess_through_prestop_idle_ones_first() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let status = cp.set_provision_target("f", 3).await.unwrap();
    assert_eq!((status.target, status.current), (3, 3));
    let changed = first_event(&cp, "provision.changed").unwrap();
    assert_eq!(changed.extra["target"], 3);
    assert_eq!(changed.extra["previous"], 0);

    // One instance is busy while the target drops to 1: the two idle ones go.
    let busy = tokio::spawn({
        let cp = cp.clone();
        async move { get(&cp, "/sleep?ms=2000").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy_instance = cp
        .instances()
        .into_iter()
        .find(|i| i.in_flight == 1)
        .unwrap()
        .instance_id;
    let status = cp.set_provision_target("f", 1).await.unwrap();
    assert_eq!((status.target, status.current), (1, 1));
    assert_eq!(fake.live().len(), 1);
    assert_eq!(
        cp.instances()[0].instance_id,
        busy_instance,
        "the busy instance stays"
    );
    let destroyed: Vec<_> = cp
        .events()
        .snapshot()
        .into_iter()
        .filter(|e| e.event == "instance.destroyed")
        .collect();
    assert_eq!(destroyed.len(), 2);
    assert!(
        destroyed
            .iter()
            .all(|e| e.reason.as_deref() == Some("provision"))
    );
    assert_eq!(
        cp.events()
            .snapshot()
            .iter()
            .filter(|e| e.event == "prestop.end")
            .count(),
        2
    );
    assert_eq!(busy.await.unwrap().status(), StatusCode::OK);

    // Down to zero: the last one waits for its request, then goes.
    cp.set_provision_target("f", 0).await.unwrap();
    assert!(fake.live().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_cold_request_skips_warm_instances() {
    let (cp, fake) = plane(
        project("      instanceConcurrency: 5", &[]),
        Options::default(),
    );
    let warm = get(&cp, "/").await;
    let req = Request::get("/")
        .header(fcemu_control::COLD_START_HEADER, "true")
        .body(full_body(""))
        .unwrap();
    let resp = cp.invoke("f", req, InvocationKind::HttpTrigger).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(
        resp.headers()["x-fc-instance-id"],
        header(&warm, "x-fc-instance-id"),
        "a new instance"
    );
    assert!(
        resp.headers().contains_key("server-timing"),
        "with its cold start reported"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        body["headers"]
            .get(fcemu_control::COLD_START_HEADER)
            .is_none(),
        "fcemu's header is not passed on"
    );
    assert_eq!(fake.live().len(), 2);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn billing_counts_invocations_hooks_active_and_frozen_time() {
    let (cp, _fake) = plane(
        project("      instanceConcurrency: 2", &[]),
        Options::default(),
    );
    get(&cp, "/sleep?ms=100").await;
    tokio::time::sleep(Duration::from_secs(10)).await; // frozen meanwhile
    // Two overlapping requests on one instance: 200 ms of active time, not 400.
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=200"), get(&cp, "/sleep?ms=200"));
    assert_eq!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id")
    );
    let bill = cp.billing().pop().unwrap();
    assert_eq!(bill.invocations, 3);
    assert_eq!(bill.hook_executions, 1, "the Initializer");
    let active = bill.active_seconds;
    assert!(
        (0.3..0.35).contains(&active),
        "100 ms + 200 ms of requests, plus the Initializer's moment: {active}"
    );
    assert!(
        (9.5..10.5).contains(&bill.frozen_seconds),
        "{}",
        bill.frozen_seconds
    );
    assert!(
        (bill.gb_seconds - active * 512.0 / 1024.0).abs() < 0.002,
        "{bill:?}"
    );
    assert!(
        (bill.vcpu_seconds - active * 0.35).abs() < 0.002,
        "{bill:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(
        cp.billing()[0].hook_executions,
        2,
        "PreStop is a hook execution too"
    );
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
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        1,
        "three fit the one being created"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_arriving_while_its_instance_is_reclaimed_gets_a_new_one() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_PRESTOP_DELAY_MS", "500")]),
        Options::default(),
    );
    let first = get(&cp, "/").await;
    let old = header(&first, "x-fc-instance-id").to_string();
    let reclaim = tokio::spawn({
        let cp = cp.clone();
        let old = old.clone();
        async move { cp.reclaim_instance(&old).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await; // PreStop is running
    assert_eq!(
        cp.instances()
            .iter()
            .find(|i| i.instance_id == old)
            .unwrap()
            .state,
        fcemu_control::InstanceState::Stopping
    );
    let during = get(&cp, "/").await;
    assert_eq!(during.status(), StatusCode::OK);
    assert_ne!(
        header(&during, "x-fc-instance-id"),
        old,
        "never routed to a stopping instance"
    );
    assert!(reclaim.await.unwrap());
    assert_eq!(
        first_event(&cp, "instance.destroyed")
            .unwrap()
            .reason
            .as_deref(),
        Some("reclaim")
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_request_arriving_while_its_instance_is_provisioned_away_is_served() {
    let extra = "      provisionConfig: { defaultTarget: 1, alwaysAllocateCPU: false }";
    let (cp, fake) = plane(
        project(extra, &[("FIXTURE_PRESTOP_DELAY_MS", "500")]),
        Options::default(),
    );
    cp.start_provisioned().await;
    let adjust = tokio::spawn({
        let cp = cp.clone();
        async move { cp.set_provision_target("f", 0).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = get(&cp, "/").await;
    assert_eq!(during.status(), StatusCode::OK);
    assert_eq!(adjust.await.unwrap().unwrap().current, 0);
    let on_demand = cp.instances();
    assert_eq!(on_demand.len(), 1, "the request got an on-demand instance");
    assert!(!on_demand[0].provisioned);
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
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
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        1
    );
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
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
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
async fn prefreeze_runs_before_each_freeze() {
    let mut p = project("", &[]);
    p.functions[0].pre_freeze = Some(fcemu_spec::Hook {
        action: fcemu_spec::HookAction::Handler("index.preFreeze".into()),
        timeout: Duration::from_secs(1),
    });
    let (cp, fake) = plane(p, Options::default());
    get(&cp, "/").await;
    settle().await;
    get(&cp, "/").await;
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(
        fake.counters(&container)
            .unwrap()
            .pre_freeze
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    let names = event_names(&cp);
    let pairs: Vec<_> = names
        .iter()
        .filter(|n| n.starts_with("prefreeze.end") || **n == "instance.frozen")
        .collect();
    assert_eq!(
        pairs,
        [
            &"prefreeze.end",
            &"instance.frozen",
            &"prefreeze.end",
            &"instance.frozen"
        ]
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_instance_whose_process_died_is_not_frozen_before_its_container_exits() {
    // The process dies at once, the container exits 100 ms later, and never while paused: freezing it at
    // once would leave a frozen, dead instance behind forever.
    let (cp, fake) = plane(project("", &[]), Options::default());
    get(&cp, "/").await;
    let dying = get(&cp, "/crash-slowly").await;
    assert_unhandled(
        &dying,
        "Process exited unexpectedly before completing request",
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let destroyed = first_event(&cp, "instance.destroyed").expect("the dead instance is destroyed");
    assert_eq!(destroyed.reason.as_deref(), Some("oom"));
    assert!(fake.live().is_empty());
    assert!(first_event(&cp, "prestop.start").is_none());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_request_does_not_delay_the_freeze_of_its_healthy_instance() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    get(&cp, "/sleep?ms=8000").await; // times out after 5 s; the function goes on
    tokio::time::sleep(Duration::from_secs(4)).await; // its request ends; then the instance idles
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(fake.state(&container), Some(ContainerState::Paused));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_asynchronous_invocation_runs_in_the_background_under_the_id_it_returned() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_INIT_DELAY_MS", "500")]),
        Options::default(),
    );
    let req = Request::post("/ignored")
        .body(full_body("the event"))
        .unwrap();
    let started = tokio::time::Instant::now();
    let rid = cp.invoke_async("f", req);
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the caller does not wait for the cold start"
    );
    assert!(
        cp.events()
            .snapshot()
            .iter()
            .all(|e| e.event != "invoke.end")
    );

    // It runs like any request: a cold start, then the event sent as POST /invoke.
    let mut end = None;
    for _ in 0..100 {
        settle().await;
        end = first_event(&cp, "invoke.end");
        if end.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = end.expect("the asynchronous invocation ran");
    assert_eq!(end.request_id.as_deref(), Some(&*rid));
    assert_eq!(end.status, Some(200));
    assert_eq!(end.extra["coldStart"], true);
    let lines = cp.logs().query(&LogQuery {
        request_id: Some(rid.to_string()),
        ..Default::default()
    });
    assert!(
        lines
            .iter()
            .any(|l| l.line == format!("invoke POST /invoke request {rid}")),
        "the function saw the event under the returned id: {lines:#?}"
    );
    let container = fake.live().pop().expect("the instance's container");
    let counters = fake.counters(&container).unwrap();
    assert_eq!(
        counters.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_log_tail_of_a_request_is_its_lines_in_order_cut_from_the_front() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/tailed").await;
    let rid = header(&r, "x-fc-request-id").to_string();

    let tail = cp.log_tail(&rid, 4096).await;
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines[0], format!("FC Invoke Start RequestId: {rid}"));
    assert!(
        lines.contains(&format!("invoke GET /tailed request {rid}").as_str()),
        "{tail}"
    );
    let end = lines
        .iter()
        .position(|l| *l == format!("FC Invoke End RequestId: {rid}"))
        .expect("the End line");
    assert!(
        lines[end + 1].starts_with(&format!("RequestId: {rid} ")),
        "the report line closes it: {tail}"
    );
    assert!(
        !tail.contains("initializer called"),
        "only this request's lines"
    );

    let short = cp.log_tail(&rid, 40).await;
    assert!(short.len() <= 40 && tail.ends_with(&short), "{short:?}");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_provisioned_instance_that_dies_is_created_again() {
    let extra = "      provisionConfig: { defaultTarget: 1, alwaysAllocateCPU: true }";
    let (cp, fake) = plane(project(extra, &[]), Options::default());
    cp.start_provisioned().await;
    settle().await;
    let first = fake.live().pop().expect("the provisioned container");
    fake.kill(&first, 137, true);
    settle().await;
    assert_eq!(cp.provision_status("f").unwrap().current, 0);

    // A second later (the first wait of the back-off) the count is made good.
    tokio::time::sleep(fcemu_control::provision_retry_delay(1)).await;
    settle().await;
    let status = cp.provision_status("f").unwrap();
    assert_eq!((status.target, status.current), (1, 1));
    let live = fake.live();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0], first, "a new container");
    assert!(cp.instances().iter().all(|i| i.provisioned));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_provisioned_instance_that_cannot_start_is_retried_with_growing_waits() {
    let extra = "      provisionConfig: { defaultTarget: 1, alwaysAllocateCPU: true }";
    let (cp, fake) = plane(
        project(extra, &[("FIXTURE_INIT_STATUS", "500")]),
        Options::default(),
    );
    let started = tokio::time::Instant::now();
    cp.start_provisioned().await;
    // Failures at 0 s, then after waits of 1, 2, 4 and 8 s: five tries within 16 s, and no sixth before 31 s.
    let mut failed_at = vec![];
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let failures = cp
            .events()
            .snapshot()
            .iter()
            .filter(|e| {
                e.event == "instance.destroyed" && e.reason.as_deref() == Some("init_failed")
            })
            .count();
        if failures > seen {
            seen = failures;
            failed_at.push(started.elapsed().as_secs());
        }
    }
    assert_eq!(failed_at, vec![0, 1, 3, 7, 15], "{failed_at:?}");
    assert!(fake.live().is_empty(), "each failed container is removed");

    // Lowering the target ends the retries.
    cp.set_provision_target("f", 0).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    settle().await;
    let tries = cp
        .events()
        .snapshot()
        .iter()
        .filter(|e| e.event == "instance.creating")
        .count();
    assert_eq!(tries, 5);
    shut_down(&cp, Duration::from_secs(1)).await;
}
