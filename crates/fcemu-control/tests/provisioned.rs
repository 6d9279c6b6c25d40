//! Provisioned instances against the fake runtime: made before any request, never reclaimed for idleness,
//! adjusted at once, made good again when they fail.

use fcemu_control::Options;
use fcemu_control::testing::{first_event, shut_down};
use fcemu_runtime::fake::{ContainerState, FakeRuntime};
use http::StatusCode;
use std::time::Duration;

mod common;

use common::{get, plane, project, settle};

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
    assert_eq!(fake.count("create"), 2, "no new instance");

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
    assert_eq!(fake.count("pause"), 0);
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
    let _ = cp.set_provision_target("f", 0).await;
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
