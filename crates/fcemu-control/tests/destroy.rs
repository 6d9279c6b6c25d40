//! Destroy against the fake runtime: shutdown and idle reclamation through PreStop, instance exceptions
//! without it, and requests that arrive while an instance goes.

use fcemu_control::Options;
use fcemu_control::testing::{assert_unhandled, event_names, first_event, header, shut_down};
use fcemu_runtime::fake::ContainerState;
use http::StatusCode;
use std::time::Duration;

mod common;

use common::{get, plane, project, settle};

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
    assert_eq!(fake.count("create"), 2);
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
async fn the_time_an_instance_spends_frozen_until_it_is_destroyed_is_counted() {
    // Reclaimed after 10 s idle (thawed first; the reaper looks every second, so 10 to 11 s frozen), and
    // killed after 5 s frozen (never thawed): 15 to 16 s frozen in all.
    let options = Options {
        idle_timeout: Duration::from_secs(10),
        ..Options::default()
    };
    let (cp, fake) = plane(project("", &[]), options);
    get(&cp, "/").await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    settle().await;
    assert_eq!(
        first_event(&cp, "instance.destroyed")
            .unwrap()
            .reason
            .as_deref(),
        Some("idle")
    );
    get(&cp, "/").await;
    settle().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let container = fake.live().pop().unwrap();
    fake.kill(&container, 137, false);
    settle().await;
    let frozen = cp.billing()[0].frozen_seconds;
    assert!((15.0..16.1).contains(&frozen), "{frozen}");
    shut_down(&cp, Duration::from_secs(1)).await;
}
