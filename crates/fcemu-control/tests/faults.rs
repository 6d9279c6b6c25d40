//! The edges of an instance's life under faults, against the fake runtime with tokio's paused clock: a
//! process that dies before the engine says so, an Initializer that keeps rejecting, requests that cannot be
//! placed, and a shutdown that lands in the middle of Creating. Each of these lost a request or a record
//! once.

mod common;

use common::{get, plane, project, settle};
use fcemu_control::testing::{
    assert_initialization_error, assert_unhandled, first_event, header, json, shut_down,
};
use fcemu_control::{InstanceState, Options};
use fcemu_runtime::fake::ContainerState;
use http::StatusCode;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn an_instance_whose_process_died_leaves_service_before_the_engine_reports_it() {
    // /crash-slowly ends the process at once; the container exits (OOM-killed) 100 ms later.
    let (cp, fake) = plane(project("", &[]), Options::default());
    let first = get(&cp, "/").await;
    let dead = header(&first, "x-fc-instance-id").to_string();
    let crashed = get(&cp, "/crash-slowly").await;
    assert_unhandled(
        &crashed,
        "Process exited unexpectedly before completing request",
    );
    // At once, before the engine's exit event: twenty requests, none of them sent to the dead instance.
    let answers = futures_util::future::join_all((0..20).map(|_| get(&cp, "/after"))).await;
    for r in &answers {
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
        assert_ne!(header(r, "x-fc-instance-id"), dead);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.instance_id.as_deref(), Some(dead.as_str()));
    assert_eq!(
        destroyed.reason.as_deref(),
        Some("oom"),
        "the engine's word decides the reason"
    );
    assert!(
        first_event(&cp, "prestop.start").is_none_or(|e| e.instance_id.as_deref() != Some(&dead))
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_request_that_never_reached_a_dead_instance_is_served_by_another() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let first = get(&cp, "/").await;
    let dead = header(&first, "x-fc-instance-id").to_string();
    settle().await;
    // Its process goes away and the engine never says so (a child outlives it, say).
    let container = fake.live().pop().unwrap();
    fake.process_gone(&container);
    let next = get(&cp, "/next").await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_ne!(header(&next, "x-fc-instance-id"), dead, "placed again");
    assert_eq!(
        json(&next)["headers"]["x-fc-retry-count"],
        "1",
        "the function sees it is the second placement"
    );
    assert!(
        cp.events()
            .snapshot()
            .iter()
            .filter(|e| e.event == "invoke.start")
            .all(|e| e.instance_id.as_deref() != Some(&dead)
                || e.request_id.as_deref() != Some(header(&next, "x-fc-request-id"))),
        "it never started on the dead instance"
    );
    // No exit comes: after a while the instance is destroyed as unhealthy, without PreStop.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.instance_id.as_deref(), Some(dead.as_str()));
    assert_eq!(destroyed.reason.as_deref(), Some("unhealthy"));
    assert_eq!(fake.live().len(), 1);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_instance_kept_after_a_rejected_initializer_is_frozen_between_requests() {
    let (cp, fake) = plane(
        project(
            "",
            &[
                ("FIXTURE_INIT_STATUS", "404"),
                ("FIXTURE_INIT_FAIL_TIMES", "2"),
            ],
        ),
        Options::default(),
    );
    assert_initialization_error(&get(&cp, "/").await, "HTTP 404");
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(
        fake.state(&container),
        Some(ContainerState::Paused),
        "kept, and frozen like any idle instance"
    );
    assert_eq!(cp.instances()[0].state, InstanceState::Frozen);
    // The next request thaws it and runs the Initializer again (rejected once more), then the third is served.
    assert_initialization_error(&get(&cp, "/").await, "HTTP 404");
    settle().await;
    assert_eq!(fake.state(&container), Some(ContainerState::Paused));
    let served = get(&cp, "/").await;
    assert_eq!(served.status(), StatusCode::OK);
    let counters = fake.counters(&container).unwrap();
    assert_eq!(
        counters
            .initialize
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(fake.live().len(), 1, "one instance throughout");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_waits_for_an_instance_at_most_its_function_timeout() {
    // One instance at most; two 4 s requests hold it for 8 s; a third, queued at once, gives up after the
    // function's 5 s timeout with FC's throttling error.
    let (cp, _fake) = plane(
        project("", &[]),
        Options {
            max_instances: Some(1),
            ..Options::default()
        },
    );
    get(&cp, "/").await;
    let started = tokio::time::Instant::now();
    let (a, b, c) = tokio::join!(
        get(&cp, "/sleep?ms=4000"),
        async {
            settle().await;
            get(&cp, "/sleep?ms=4000").await
        },
        async {
            settle().await;
            settle().await;
            let r = get(&cp, "/late").await;
            (r, started.elapsed())
        }
    );
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    let (late, waited) = c;
    assert_eq!(late.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json(&late)["Code"], "ResourceExhausted");
    let message = json(&late)["Message"].as_str().unwrap().to_string();
    assert!(
        message.contains("had no free instance for 5.0 s, its timeout")
            && message.contains("at most 1"),
        "{message}"
    );
    assert!(
        (Duration::from_secs(5)..Duration::from_millis(5100)).contains(&waited),
        "{waited:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_instance_create_ends_with_instance_destroyed() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    fake.slow("create", Duration::from_millis(500));
    let request = tokio::spawn({
        let cp = cp.clone();
        async move { get(&cp, "/").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(first_event(&cp, "instance.creating").is_some());
    shut_down(&cp, Duration::from_secs(1)).await;
    let answer = request.await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let destroyed = first_event(&cp, "instance.destroyed").expect("the instance's end is recorded");
    assert_eq!(destroyed.reason.as_deref(), Some("shutdown"));
    assert!(
        fake.live().is_empty(),
        "the container the engine made is removed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_runtime_init_ends_with_instance_destroyed() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_STARTUP_DELAY_MS", "60000")]),
        Options::default(),
    );
    let request = tokio::spawn({
        let cp = cp.clone();
        async move { get(&cp, "/").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cp.instances()[0].state, InstanceState::Creating);
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(
        request.await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("shutdown"));
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_create_is_destroyed_with_its_reason_and_error() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    fake.fail("create");
    let r = get(&cp, "/").await;
    assert_eq!(header(&r, "x-fc-error-type"), "FunctionNotStarted");
    let message = json(&r)["errorMessage"].as_str().unwrap().to_string();
    assert!(
        message.contains("could not be made") && message.contains("fails on purpose"),
        "{message}"
    );
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("init_failed"));
    assert!(
        destroyed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("fails on purpose")),
        "{destroyed:?}"
    );
    assert!(cp.instances().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_frozen_instance_killed_behind_fcemus_back_is_destroyed_without_a_thaw() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let first = get(&cp, "/").await;
    settle().await;
    let container = fake.live().pop().unwrap();
    assert_eq!(fake.state(&container), Some(ContainerState::Paused));
    fake.kill(&container, 137, false);
    settle().await;
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.reason.as_deref(), Some("exited"));
    assert!(
        !fake.calls().contains(&format!("unpause {container}")),
        "an exited container is not thawed: {:?}",
        fake.calls()
    );
    assert!(first_event(&cp, "instance.thawed").is_none());
    let next = get(&cp, "/").await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_ne!(
        header(&next, "x-fc-instance-id"),
        header(&first, "x-fc-instance-id")
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}
