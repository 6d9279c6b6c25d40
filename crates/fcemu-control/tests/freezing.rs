//! Freezing against the fake runtime: an idle instance is paused, thawed for the next request or hook, and
//! never left frozen by a race.

use fcemu_control::Options;
use fcemu_control::testing::{assert_unhandled, event_names, first_event, shut_down};
use fcemu_runtime::fake::ContainerState;
use http::StatusCode;
use std::time::Duration;

mod common;

use common::{built_in_project, get, plane, project, settle};

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
    assert_eq!(fake.count("pause"), 0);
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
    assert_eq!(fake.count("pause"), 1);
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

/// A request whose process dies slowly (`path` says how): its instance is destroyed as an exception (the
/// fixture's slow death reads as an OOM kill), without PreStop, and never frozen on its way out (a frozen
/// process never finishes exiting).
async fn a_dying_instance_is_destroyed_unfrozen(path: &str) {
    let (cp, fake) = plane(project("", &[]), Options::default());
    get(&cp, "/").await;
    let dying = get(&cp, path).await;
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
async fn an_instance_whose_process_died_is_not_frozen_before_its_container_exits() {
    // The process dies at once, the container exits 100 ms later, and never while paused: freezing it at
    // once would leave a frozen, dead instance behind forever.
    a_dying_instance_is_destroyed_unfrozen("/crash-slowly").await;
}

#[tokio::test(start_paused = true)]
async fn a_dying_process_whose_port_still_answers_is_not_frozen_before_its_container_exits() {
    // The request's connection breaks, but a new connection is still accepted for a moment: the instance
    // is not known to be dead, yet freezing it now would stop its exit half-way, for good.
    a_dying_instance_is_destroyed_unfrozen("/crash-slowly?port=open").await;
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
async fn a_built_in_runtime_whose_process_ends_after_its_answer_is_destroyed_unfrozen() {
    // fcemu's runtimes answer `Connection: close` when the handler ended the process (PHP's exit()): frozen
    // then, the container would never finish exiting, and a later thaw would find its port closed.
    let (cp, fake) = plane(built_in_project(), Options::default());
    let answered = get(&cp, "/exit-after-answer").await;
    assert_eq!(answered.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let destroyed =
        first_event(&cp, "instance.destroyed").expect("the ended instance is destroyed");
    assert_eq!(destroyed.reason.as_deref(), Some("exited"));
    assert!(first_event(&cp, "instance.frozen").is_none());
    assert!(first_event(&cp, "prestop.start").is_none());
    assert!(fake.live().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}
