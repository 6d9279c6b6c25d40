//! GPU functions against the fake runtime: instances placed on cards by memory (best fit, never split), the
//! wait and the 429 when cards are full, slices returned on every destroy, provisioned instances in GPU idle
//! mode, and GPU billing.

mod common;

use common::{get, plane, project, settle};
use fcemu_control::testing::{first_event, header, json, shut_down};
use fcemu_control::{ControlPlane, GpuMode, Options};
use fcemu_gpu::Card;
use fcemu_runtime::fake::{ContainerState, FakeRuntime};
use http::StatusCode;
use std::time::Duration;

/// A function that asks for `mb` of an ada card.
fn gpu_function(mb: u32, extra: &str, env: &[(&str, &str)]) -> fcemu_spec::Project {
    project(
        &format!("      gpuConfig: {{ gpuType: fc.gpu.ada.1, gpuMemorySize: {mb} }}\n{extra}"),
        env,
    )
}

fn cards(memory_mb: &[u32], simulated: bool) -> GpuMode {
    GpuMode::Cards(
        memory_mb
            .iter()
            .enumerate()
            .map(|(i, mb)| Card {
                index: i as u32,
                name: "NVIDIA L40S".into(),
                uuid: format!("GPU-card-{i}"),
                memory_mb: *mb,
                simulated,
            })
            .collect(),
    )
}

fn with_cards(gpus: GpuMode) -> Options {
    Options {
        gpus,
        ..Options::default()
    }
}

/// The MB allotted on each card.
fn allotted(cp: &ControlPlane) -> Vec<u32> {
    cp.gpus().cards.iter().map(|c| c.allotted_mb).collect()
}

fn env_of(fake: &FakeRuntime, container: &str, name: &str) -> Option<String> {
    fake.spec(container)?
        .env
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[tokio::test(start_paused = true)]
async fn two_slices_share_a_card_and_a_third_goes_to_the_next_one_with_room() {
    let (cp, fake) = plane(
        gpu_function(24576, "", &[]),
        with_cards(cards(&[49152, 49152], false)),
    );
    let answers = futures_util::future::join_all((0..3).map(|_| get(&cp, "/sleep?ms=500"))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(allotted(&cp), [49152, 24576]);
    let mut cards_used: Vec<u32> = cp
        .instances()
        .iter()
        .map(|i| i.gpu.as_ref().unwrap().card)
        .collect();
    cards_used.sort();
    assert_eq!(cards_used, [0, 0, 1]);
    for container in fake.live() {
        let spec = fake.spec(&container).unwrap();
        let device = spec.gpu.expect("a real card is asked of the engine");
        assert!(device.device_ids[0].starts_with("GPU-card-"));
        assert_eq!(
            env_of(&fake, &container, "FC_GPU_MEMORY_SIZE").as_deref(),
            Some("24576")
        );
    }
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(allotted(&cp), [0, 0], "every slice is back after shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_simulated_card_is_placed_on_but_no_device_is_asked_of_the_engine() {
    let (cp, fake) = plane(
        gpu_function(8192, "", &[]),
        with_cards(cards(&[16384], true)),
    );
    assert_eq!(get(&cp, "/").await.status(), StatusCode::OK);
    assert_eq!(cp.gpus().mode, "simulated");
    let container = fake.live().pop().unwrap();
    assert!(fake.spec(&container).unwrap().gpu.is_none());
    assert_eq!(
        env_of(&fake, &container, "FC_GPU_MEMORY_SIZE").as_deref(),
        Some("8192")
    );
    assert_eq!(allotted(&cp), [8192]);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_slice_is_never_split_across_cards() {
    // Two 16 GB cards, 12 GB per instance: 8 GB are free in all after two, but never 12 on one card, so a
    // third request waits for one of the two instances instead of getting a third.
    let (cp, fake) = plane(
        gpu_function(12288, "", &[]),
        with_cards(cards(&[16384, 16384], false)),
    );
    let started = tokio::time::Instant::now();
    let (a, b, c) = tokio::join!(
        get(&cp, "/sleep?ms=4000"),
        get(&cp, "/sleep?ms=4000"),
        async {
            settle().await;
            get(&cp, "/third").await
        }
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(
        [
            header(&a, "x-fc-instance-id"),
            header(&b, "x-fc-instance-id")
        ]
        .contains(&header(&c, "x-fc-instance-id")),
        "served by one of the two"
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(fake.count("create"), 2);
    assert_eq!(allotted(&cp), [12288, 12288]);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_that_needs_a_card_waits_for_one_and_is_told_gpu_memory_ran_out() {
    // Function a holds the only card with a provisioned instance; function b asks for a card too.
    let text = |name: &str, extra: &str| {
        format!(
            r#"
  {name}:
    component: fc3
    props:
      functionName: {name}
      runtime: custom-container
      timeout: 5
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
      gpuConfig: {{ gpuType: fc.gpu.ada.1, gpuMemorySize: 32768 }}
{extra}"#
        )
    };
    let yaml = format!(
        "edition: 3.0.0\nname: test\nresources:{}{}",
        text(
            "a",
            "      provisionConfig: { defaultTarget: 1, alwaysAllocateGPU: true }\n"
        ),
        text("b", "")
    );
    let project = fcemu_spec::parse_project(
        &yaml,
        std::path::Path::new("/t/s.yaml"),
        std::path::Path::new("/t"),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (cp, _fake) = plane(project, with_cards(cards(&[49152], false)));
    cp.start_provisioned().await;
    assert_eq!(allotted(&cp), [32768]);
    let started = tokio::time::Instant::now();
    let r = common::call_function(&cp, "b", "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let message = json(&r)["Message"].as_str().unwrap().to_string();
    assert!(
        message.contains("had no GPU memory for a new instance for 5.0 s")
            && message.contains("it needs 32768 MB on one card")
            && message.contains("#0 16384 MB"),
        "{message}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(5));

    // Once a's instance gives its slice back, b's request gets the card.
    let waiting = tokio::spawn({
        let cp = cp.clone();
        async move { common::call_function(&cp, "b", "/").await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = cp.set_provision_target("a", 0).await;
    let served = waiting.await.unwrap();
    assert_eq!(served.status(), StatusCode::OK, "{:?}", served.body());
    assert_eq!(allotted(&cp), [32768]);
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(allotted(&cp), [0]);
}

#[tokio::test(start_paused = true)]
async fn a_slice_is_given_back_whatever_ends_its_instance() {
    let options = || Options {
        idle_timeout: Duration::from_secs(10),
        ..with_cards(cards(&[49152], false))
    };
    let (cp, fake) = plane(gpu_function(24576, "", &[]), options());
    // Crash, OOM kill, idle reclamation, explicit reclaim: each instance's slice comes back.
    get(&cp, "/").await;
    get(&cp, "/crash").await;
    settle().await;
    assert_eq!(allotted(&cp), [0], "exited");
    get(&cp, "/").await;
    get(&cp, "/crash-slowly").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(allotted(&cp), [0], "oom");
    get(&cp, "/").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(allotted(&cp), [0], "idle");
    let r = get(&cp, "/").await;
    assert!(cp.reclaim_instance(header(&r, "x-fc-instance-id")).await);
    assert_eq!(allotted(&cp), [0], "reclaim");
    // Provisioned away.
    let _ = cp.set_provision_target("f", 1).await;
    assert_eq!(allotted(&cp), [24576]);
    let _ = cp.set_provision_target("f", 0).await;
    assert_eq!(allotted(&cp), [0], "provision");
    assert!(fake.live().is_empty());
    let reasons: Vec<String> = cp
        .events()
        .snapshot()
        .iter()
        .filter(|e| e.event == "instance.destroyed")
        .filter_map(|e| e.reason.clone())
        .collect();
    assert_eq!(reasons, ["exited", "oom", "idle", "reclaim", "provision"]);
    // And shutdown.
    get(&cp, "/").await;
    assert_eq!(allotted(&cp), [24576]);
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(allotted(&cp), [0], "shutdown");

    // A failed Initializer gives it back too.
    let (cp, _fake) = plane(
        gpu_function(24576, "", &[("FIXTURE_INIT_STATUS", "500")]),
        options(),
    );
    get(&cp, "/").await;
    assert_eq!(
        first_event(&cp, "instance.destroyed")
            .unwrap()
            .reason
            .as_deref(),
        Some("init_failed")
    );
    assert_eq!(allotted(&cp), [0], "init_failed");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn provisioned_gpu_instances_get_their_slices_at_up_and_idle_mode_freezes_and_bills_them() {
    let idle_mode = "      provisionConfig: { defaultTarget: 2, alwaysAllocateGPU: false }\n";
    let (cp, fake) = plane(
        gpu_function(24576, idle_mode, &[]),
        with_cards(cards(&[49152], false)),
    );
    cp.start_provisioned().await;
    settle().await;
    assert_eq!(allotted(&cp), [49152], "both slices at up");
    assert!(
        fake.live()
            .iter()
            .all(|c| fake.state(c) == Some(ContainerState::Paused)),
        "GPU idle mode: frozen between requests"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    get(&cp, "/").await; // thaws one: its 10 s of idle are billed
    let bill = cp.billing().pop().unwrap();
    assert!(
        (bill.gpu_idle_gb_seconds - 10.0 * 24.0).abs() < 1.0,
        "{bill:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    let bill = cp.billing().pop().unwrap();
    assert!(
        bill.gpu_idle_gb_seconds > 20.0 * 24.0 - 1.0,
        "both instances' idle time: {bill:?}"
    );

    // alwaysAllocateGPU (FC's default): they stay active.
    let active = "      provisionConfig: { defaultTarget: 1, alwaysAllocateGPU: true }\n";
    let (cp, fake) = plane(
        gpu_function(24576, active, &[]),
        with_cards(cards(&[49152], false)),
    );
    cp.start_provisioned().await;
    settle().await;
    assert_eq!(fake.count("pause"), 0);
    let r = get(&cp, "/sleep?ms=1000").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bill = cp.billing().pop().unwrap();
    assert!(
        (bill.gpu_gb_seconds - 24.0).abs() < 0.5 && bill.gpu_idle_gb_seconds == 0.0,
        "1 s active on 24 GB, nothing idle: {bill:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}
