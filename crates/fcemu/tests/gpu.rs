//! GPU functions with `fcemu up` on Docker: placement on simulated cards, the 429 when they are full, slices
//! given back, `fcemu gpus`, and what a machine without NVIDIA cards says.

mod common;

use common::up::*;
use common::*;
use std::time::{Duration, Instant};

/// `hog` keeps two provisioned instances of 24 GB; `sd` asks for 24 GB per instance; both with a 2 s timeout.
fn two_gpu_functions() -> TestProject {
    let function = |name: &str, extra: &str| {
        format!(
            r#"
  {name}:
    component: fc3
    props:
      functionName: {name}
      runtime: custom-container
      memorySize: 128
      timeout: 2
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      gpuConfig: {{ gpuType: fc.gpu.ada.1, gpuMemorySize: 24576 }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
{extra}"#
        )
    };
    TestProject::with_yaml(&format!(
        "edition: 3.0.0\nname: fcemu-gpu-test\nresources:{}{}",
        function(
            "hog",
            "      provisionConfig: { defaultTarget: 2, alwaysAllocateGPU: true }\n"
        ),
        function("sd", "")
    ))
}

fn gpus(up: &Up) -> serde_json::Value {
    let out = fcemu(&["gpus", "--format", "json", "--endpoint", &up.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn docker_inspect(container: &str, format: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", format, container])
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_cards_are_sliced_filled_and_given_back() {
    let docker = docker().await;
    let project = two_gpu_functions();
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("FCEMU_SIMULATED_GPUS", "ada:49152")],
        &["--gpu", "simulate"],
    );
    wait_for_output(
        &up,
        "GPUs (simulated, FCEMU_SIMULATED_GPUS): #0 simulated NVIDIA ada (49152 MB)",
    )
    .await;

    // The provisioned instances hold the whole card.
    let view = gpus(&up);
    assert_eq!(view["mode"], "simulated");
    assert_eq!(view["cards"][0]["allottedMb"], 49152);
    let slices = view["cards"][0]["slices"].as_array().unwrap();
    assert!(slices.iter().all(|s| s["functionName"] == "hog"), "{view}");

    // No room for sd: it waits its 2 s timeout and is told GPU memory ran out.
    let started = Instant::now();
    let r = reqwest::get(format!("{}/sd/x", up.url)).await.unwrap();
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains("no GPU memory") && message.contains("24576 MB on one card"),
        "{message}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));

    // hog gives its slices back; sd gets a card, its size in the environment, and no device (simulated).
    assert!(
        fcemu(&["provision", "hog", "--target", "0", "--endpoint", &up.url])
            .status
            .success()
    );
    let r = reqwest::get(format!("{}/sd/x", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let instances = up.get_json("/_fcemu/instances").await;
    let sd = &instances["instances"][0];
    assert_eq!(sd["functionName"], "sd");
    assert_eq!(sd["gpu"]["memoryMb"], 24576);
    assert_eq!(sd["gpu"]["simulated"], true);
    let container = sd["containerId"].as_str().unwrap();
    assert!(docker_inspect(container, "{{json .Config.Env}}").contains("FC_GPU_MEMORY_SIZE=24576"));
    assert_eq!(
        docker_inspect(container, "{{json .HostConfig.DeviceRequests}}"),
        "null"
    );
    let ps = fcemu(&["ps", "--endpoint", &up.url]);
    assert!(
        text(&ps.stdout).contains("#0 24576 MB (simulated)"),
        "{}",
        text(&ps.stdout)
    );

    // Reclaimed, its slice is free again.
    assert!(
        fcemu(&["reclaim", "--all", "--endpoint", &up.url])
            .status
            .success()
    );
    assert_eq!(gpus(&up)["cards"][0]["allottedMb"], 0);
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(output.iter().any(|l| l.contains("GPU GB-s")), "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_asks_more_than_any_card_has_is_refused_at_its_field() {
    let project = two_gpu_functions();
    let out = std::process::Command::new(FCEMU)
        .args(["up", "--gpu", "simulate", "--listen", "127.0.0.1:0"])
        .arg(project.path())
        .env("FCEMU_SIMULATED_GPUS", "tesla:16384,tesla:16384")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("s.yaml:") && err.contains("resources.sd.props.gpuConfig.gpuMemorySize: is 24576, more than any card here has (the largest has 16384 MB): #0 simulated NVIDIA tesla (16384 MB), #1 simulated NVIDIA tesla (16384 MB)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nvidia_cards_gpus_says_why_and_auto_refuses_gpu_functions_while_off_runs_them() {
    let docker = docker().await;
    let listed = fcemu(&[
        "gpus",
        "--format",
        "json",
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    assert!(
        !listed.status.success(),
        "a named endpoint that does not answer is an error"
    );
    let here = std::process::Command::new(FCEMU)
        .args(["gpus", "--format", "json"])
        .current_dir(std::env::temp_dir())
        .env_remove("FCEMU_ENDPOINT")
        .output()
        .unwrap();
    assert!(here.status.success(), "{}", text(&here.stderr));
    let view: serde_json::Value = serde_json::from_slice(&here.stdout).unwrap();
    let project = two_gpu_functions();
    if view["mode"] == "none" {
        // This machine (CI) has no NVIDIA GPU: said in plain words, and `up` refuses GPU functions.
        assert!(
            view["reason"].as_str().unwrap().contains("NVIDIA"),
            "{view}"
        );
        let text_out = fcemu(&["gpus"]);
        assert!(text(&text_out.stdout).contains("--gpu simulate"));
        let out = std::process::Command::new(FCEMU)
            .args(["up", "--listen", "127.0.0.1:0"])
            .arg(project.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let err = text(&out.stderr);
        assert!(
            err.contains("hog, sd ask for a GPU")
                && err.contains("--gpu simulate")
                && err.contains("--gpu off"),
            "{err}"
        );
    } else {
        // A machine with NVIDIA cards lists them.
        assert!(!view["cards"].as_array().unwrap().is_empty(), "{view}");
    }
    // --gpu off runs GPU functions without a GPU, with one warning.
    let up = Up::start(project.path(), &["--gpu", "off"]);
    wait_for_output(&up, "warning: --gpu off: hog, sd run without a GPU").await;
    let r = reqwest::get(format!("{}/sd/x", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gpus(&up)["mode"], "off");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gpu_example_runs_on_simulated_cards() {
    let docker = docker().await;
    let (project, tag) = TestProject::example(
        "gpu-example",
        &["app.py", "Dockerfile"],
        "fcemu-sd-example:latest",
    );
    let up = Up::start(project.path(), &["--gpu", "simulate"]);
    wait_for_output(
        &up,
        "GPUs (simulated, FCEMU_SIMULATED_GPUS is not set: ada:49152)",
    )
    .await;
    // The provisioned instance was warmed by the command Initializer (curl and jq in the container), and
    // waits frozen in GPU idle mode.
    let logs = fcemu(&["logs", "--hook", "Initialize", "--endpoint", &up.url]);
    assert!(
        text(&logs.stdout).contains("model warmed"),
        "{}",
        text(&logs.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.get_json("/_fcemu/instances").await["instances"][0]["state"] != "frozen" {
        assert!(
            Instant::now() < deadline,
            "the idle GPU instance was not frozen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = reqwest::Client::new()
        .post(format!("{}/sdapi/v1/txt2img", up.url))
        .json(&serde_json::json!({ "prompt": "a lighthouse", "steps": 4 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("server-timing").is_none(),
        "provisioned: no cold start"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["images"].as_array().unwrap().len(), 1);
    assert_eq!(body["info"]["gpuMemoryMb"], 24576);
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    let all = output.join("\n");
    assert!(all.contains("PreStop: releasing the model"), "{all}");
    assert!(all.contains("GPU IDLE GB-s"), "{all}");
    assert_no_containers_left(&docker, project.path()).await;
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_card_on_an_engine_without_the_nvidia_runtime_is_function_not_started_naming_the_toolkit()
 {
    // A card as NVML would list it, on this engine: the container asks for it, and an engine without the
    // NVIDIA Container Toolkit refuses it at start.
    let docker = docker().await;
    let project = TestProject::fixture(
        &[],
        "      gpuConfig: { gpuType: fc.gpu.ada.1, gpuMemorySize: 24576 }\n",
    );
    let card = fcemu_gpu::Card {
        index: 0,
        name: "NVIDIA L40S".into(),
        uuid: "GPU-5f0c2a7e-0000-4000-8000-000000000000".into(),
        memory_mb: 49152,
        simulated: false,
    };
    let options = fcemu_control::Options {
        gpus: fcemu_control::GpuMode::Cards(vec![card]),
        ..Default::default()
    };
    let cp = fcemu_control::ControlPlane::new(
        project.load(),
        std::sync::Arc::new(docker.clone()),
        options,
    );
    let has_nvidia = std::process::Command::new("docker")
        .args(["info", "-f", "{{json .Runtimes}}"])
        .output()
        .map(|o| text(&o.stdout).contains("nvidia"))
        .unwrap_or(false);
    let r = fcemu_control::testing::call(&cp, "fixture", "GET", "/", "").await;
    // With the toolkit, the made-up UUID is what the engine refuses; the answer is the same kind.
    assert_eq!(
        fcemu_control::testing::header(&r, "x-fc-error-type"),
        "FunctionNotStarted"
    );
    assert_eq!(cp.gpus().cards[0].allotted_mb, 0, "the slice is given back");
    if !has_nvidia {
        let message = fcemu_control::testing::json(&r)["errorMessage"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("NVIDIA Container Toolkit") && message.contains("docker info"),
            "{message}"
        );
    }
    fcemu_control::testing::shut_down(&cp, Duration::from_secs(5)).await;
    assert_no_containers_left(&docker, project.path()).await;
}
