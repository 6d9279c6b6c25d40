//! The cap on a function's instances against the fake runtime: a default one, provisioned targets and
//! forced cold starts held to it, asynchronous invocations queued behind it instead of each asking for an
//! instance.

use fcemu_control::testing::{call, shut_down};
use fcemu_control::{DEFAULT_MAX_INSTANCES, Options, TargetRefused, full_body};
use http::{Request, StatusCode};
use std::time::Duration;

mod common;

use common::{plane, project, settle};

fn ended(cp: &fcemu_control::ControlPlane) -> Vec<String> {
    cp.events()
        .snapshot()
        .iter()
        .filter(|e| e.event == "invoke.end")
        .map(|e| serde_json::to_string(&**e).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_provisioned_target_over_the_cap_is_refused_and_nothing_is_created() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let refused = cp.set_provision_target("f", u32::MAX).await;
    assert_eq!(
        refused.unwrap_err(),
        TargetRefused::OverCap {
            target: u32::MAX,
            cap: DEFAULT_MAX_INSTANCES
        }
    );
    settle().await;
    assert_eq!(fake.count("create"), 0);
    assert_eq!(cp.provision_status("f").unwrap().target, 0);
    // reservedConcurrency caps too, below --max-instances.
    let (capped, _) = plane(
        project("      concurrencyConfig: { reservedConcurrency: 2 }", &[]),
        Options::default(),
    );
    assert!(matches!(
        capped.set_provision_target("f", 3).await,
        Err(TargetRefused::OverCap { cap: 2, .. })
    ));
    assert_eq!(
        capped.set_provision_target("f", 2).await.unwrap().current,
        2
    );
    shut_down(&capped, Duration::from_secs(5)).await;
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn forced_cold_starts_stop_at_the_default_cap() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let calls = (0..DEFAULT_MAX_INSTANCES + 20).map(|_| {
        let req = Request::get("/")
            .header(fcemu_control::COLD_START_HEADER, "true")
            .body(full_body(""))
            .unwrap();
        cp.invoke("f", req, fcemu_control::InvocationKind::HttpTrigger)
    });
    let answers = futures_util::future::join_all(calls).await;
    let refused = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        refused, 20,
        "the ones past the cap are refused, not created"
    );
    assert_eq!(fake.count("create"), DEFAULT_MAX_INSTANCES as usize);
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn five_hundred_async_invocations_wait_their_turn_behind_the_cap_and_all_run() {
    // Each takes 2 s and the function's timeout is 5 s: had they all asked for an instance at once, those
    // queued behind the 100 would have given up (429) long before their turn.
    let (cp, fake) = plane(
        project("", &[("FIXTURE_INVOKE_DELAY_MS", "2000")]),
        Options::default(),
    );
    for _ in 0..500 {
        cp.enqueue("f", &http::HeaderMap::new(), "the event".into());
    }
    for _ in 0..200 {
        settle().await;
        if ended(&cp).len() == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ended = ended(&cp);
    assert_eq!(ended.len(), 500, "every asynchronous invocation ran");
    assert!(
        ended.iter().all(|e| e.contains("\"status\":200")),
        "none gave up waiting: {:?}",
        ended.iter().find(|e| !e.contains("\"status\":200"))
    );
    assert_eq!(fake.count("create"), DEFAULT_MAX_INSTANCES as usize);
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_plain_request_beside_queued_async_work_still_gets_an_instance_in_turn() {
    let options = Options {
        max_instances: Some(1),
        ..Options::default()
    };
    let (cp, _fake) = plane(project("", &[("FIXTURE_INVOKE_DELAY_MS", "100")]), options);
    for _ in 0..5 {
        cp.enqueue("f", &http::HeaderMap::new(), "e".into());
    }
    let r = call(&cp, "f", "GET", "/", "").await;
    assert_eq!(r.status(), StatusCode::OK);
    shut_down(&cp, Duration::from_secs(5)).await;
}
