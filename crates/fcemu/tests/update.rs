//! Functions that change while `fcemu up` runs, on Docker: `--watch` rolls a function whose s.yaml entry or
//! code changed (the next response comes from a new instance on the new version while the old one ran
//! PreStop), a bad edit changes nothing until it is fixed, and without `--watch` a change is only noted.

mod common;

use common::up::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A copy of the Python example (its s.yaml and code).
fn python_example() -> TestProject {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/python-example");
    let project = TestProject::with_yaml(&std::fs::read_to_string(from.join("s.yaml")).unwrap());
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::copy(
        from.join("code/index.py"),
        project.path().join("code/index.py"),
    )
    .unwrap();
    project
}

/// Tags "a cat": the body, and the instance that answered.
async fn tag(up: &Up) -> (serde_json::Value, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/tags", up.url))
        .body("a cat")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let instance = r.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    (r.json().await.unwrap(), instance)
}

/// Tags until the answer shows `expected` at `key` (the roll is applied after the files are quiet).
async fn tag_until(up: &Up, key: &str, expected: serde_json::Value) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (body, instance) = tag(up).await;
        if body[key] == expected {
            return instance;
        }
        assert!(
            Instant::now() < deadline,
            "never {key} = {expected}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

/// Waits for the retired instance's PreStop lines (`fcemu logs --hook PreStop`).
async fn wait_for_pre_stop(up: &Up, instance: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs(up, &["--hook", "PreStop", "--instance", instance]).contains("] flushing: ") {
        assert!(
            Instant::now() < deadline,
            "the old instance's PreStop lines"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn logs(up: &Up, args: &[&str]) -> String {
    let out = fcemu(&[&["logs", "--endpoint", &up.url], args].concat());
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_rolls_a_function_whose_configuration_or_code_changed() {
    let docker = docker().await;
    let project = python_example();
    let up = Up::start(project.path(), &["--watch"]);
    let (body, first) = tag(&up).await;
    assert_eq!(body["model"], "tiny-tagger-v1");

    // An environment variable: the next response comes from a new instance that sees it, while the old
    // instance ran PreStop.
    edit(
        &project.path().join("s.yaml"),
        "MODEL: tiny-tagger-v1",
        "MODEL: tiny-tagger-v2",
    );
    let second = tag_until(&up, "model", "tiny-tagger-v2".into()).await;
    assert_ne!(second, first);
    wait_for_output(
        &up,
        "updated py-tagger to version 2 (environmentVariables.MODEL)",
    )
    .await;
    wait_for_pre_stop(&up, &first).await;
    let events = up.get_json_lines("/_fcemu/events").await;
    let parsed: Vec<serde_json::Value> = events
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let updated = parsed
        .iter()
        .find(|e| e["event"] == "function.updated")
        .unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(
        updated["changed"],
        serde_json::json!(["environmentVariables.MODEL"])
    );
    assert!(parsed.iter().any(|e| e["event"] == "instance.destroyed"
        && e["instanceId"] == first.as_str()
        && e["reason"] == "update"));

    // The code.
    edit(
        &project.path().join("code/index.py"),
        r#""cat": "animal""#,
        r#""cat": "pet""#,
    );
    let third = tag_until(&up, "tags", serde_json::json!(["pet:cat"])).await;
    assert_ne!(third, second);
    wait_for_output(&up, "updated py-tagger to version 3 (code)").await;

    // A bad edit changes nothing; fixing it is said.
    std::fs::write(
        project.path().join("s.yaml"),
        std::fs::read_to_string(project.path().join("s.yaml")).unwrap() + "  broken: [\n",
    )
    .unwrap();
    wait_for_output(&up, "not applied, the functions serve as before").await;
    assert_eq!(tag(&up).await.1, third, "the same instance serves on");
    edit(&project.path().join("s.yaml"), "  broken: [\n", "");
    wait_for_output(&up, "applied: the project is as it was").await;
    assert_eq!(tag(&up).await.1, third);

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watch_a_change_is_noted_once_and_not_applied() {
    let docker = docker().await;
    let project = python_example();
    let up = Up::start(project.path(), &[]);
    let (_, first) = tag(&up).await;
    edit(
        &project.path().join("s.yaml"),
        "MODEL: tiny-tagger-v1",
        "MODEL: tiny-tagger-v2",
    );
    wait_for_output(&up, "this run keeps the configuration it started with").await;
    let (body, same) = tag(&up).await;
    assert_eq!(
        (body["model"].as_str(), same),
        (Some("tiny-tagger-v1"), first)
    );
    let (code, output) = up.stop();
    assert_eq!(code, 0);
    assert_eq!(
        output
            .iter()
            .filter(|l| l.contains("this run keeps"))
            .count(),
        1,
        "{output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_function_over_the_api_rolls_the_function() {
    let docker = docker().await;
    let project = python_example();
    let up = Up::start(project.path(), &[]);
    let (_, first) = tag(&up).await;
    let client = reqwest::Client::new();
    let url = format!("{}/2023-03-30/functions/py-tagger", up.url);
    // As the official SDK sends UpdateFunctionInput: camelCase JSON.
    let r = client
        .put(&url)
        .json(&serde_json::json!({
            "environmentVariables": { "MODEL": "api-v3" },
            "memorySize": 512,
            "timeout": 5,
            "vpcConfig": { "vpcId": "vpc-1", "vSwitchIds": ["vsw-1"] },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-fcemu-ignored"], "vpcConfig");
    let function: serde_json::Value = r.json().await.unwrap();
    assert_eq!(function["memorySize"], 512);
    assert_eq!(function["environmentVariables"]["MODEL"], "api-v3");
    assert_eq!(
        function["instanceLifecycleConfig"]["preStop"]["handler"],
        "index.pre_stop"
    );

    let (body, second) = tag(&up).await;
    assert_eq!(body["model"], "api-v3");
    assert_ne!(second, first);
    wait_for_pre_stop(&up, &first).await;
    let got: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(got["timeout"], 5);

    // Bad values change nothing.
    let r = client
        .put(&url)
        .json(&serde_json::json!({ "memorySize": 100 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["Code"], "InvalidArgument");
    assert!(
        error["Message"]
            .as_str()
            .unwrap()
            .contains("memorySize: is `100`"),
        "{error}"
    );
    assert_eq!(tag(&up).await.1, second, "the same instance serves on");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_rebuilds_a_changed_build_context_and_keeps_the_old_image_when_the_build_fails() {
    let docker = docker().await;
    let (project, tag) = TestProject::example(
        "example",
        &["app.py", "Dockerfile"],
        "fcemu-flask-example:latest",
    );
    let up = Up::start(project.path(), &["--watch"]);
    let hello = || async {
        let r = reqwest::get(format!("{}/x", up.url)).await.unwrap();
        let instance = r.headers()["x-fc-instance-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body: serde_json::Value = r.json().await.unwrap();
        (body["message"].as_str().unwrap().to_string(), instance)
    };
    let (message, first) = hello().await;
    assert_eq!(message, "hello from /x");

    edit(
        &project.path().join("app.py"),
        "hello from",
        "greetings from",
    );
    let build = Duration::from_secs(120);
    wait_for_output_within(
        &up,
        "updated hello-flask to version 2 (image rebuilt)",
        build,
    )
    .await;
    let (message, second) = hello().await;
    assert_eq!(message, "greetings from /x");
    assert_ne!(second, first);

    // A Dockerfile that does not build: said, and the image that serves stays.
    edit(
        &project.path().join("Dockerfile"),
        "FROM ",
        "FROM fcemu-no-such-base:1 AS broken\nFROM ",
    );
    wait_for_output_within(&up, "fix the Dockerfile in", build).await;
    assert_eq!(hello().await, ("greetings from /x".to_string(), second));
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_rolls_a_custom_runtime_whose_code_folder_changed() {
    let docker = docker().await;
    let project = TestProject::with_yaml(
        "edition: 3.0.0\nname: custom\nresources:\n  web:\n    component: fc3\n    props:\n      functionName: web\n      runtime: custom.debian12\n      code: ./code\n      triggers:\n        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }\n",
    );
    let code = project.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("bootstrap"),
        "#!/bin/sh\nexec python3 -m http.server 9000 --directory /code\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(code.join("bootstrap"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(code.join("bootstrap"), perms).unwrap();
    std::fs::write(code.join("message.txt"), "first").unwrap();
    let up = Up::start(
        project.path(),
        &[
            "--watch",
            "--runtime-image",
            "custom.debian12=fcemu-debian-flask:bookworm",
        ],
    );
    let message = || async {
        let r = reqwest::get(format!("{}/message.txt", up.url))
            .await
            .unwrap();
        let instance = r.headers()["x-fc-instance-id"]
            .to_str()
            .unwrap()
            .to_string();
        (r.text().await.unwrap(), instance)
    };
    let (text_before, first) = message().await;
    assert_eq!(text_before, "first");
    std::fs::write(code.join("message.txt"), "second").unwrap();
    wait_for_output(&up, "updated web to version 2 (code)").await;
    let (text_after, second) = message().await;
    assert_eq!(text_after, "second");
    assert_ne!(second, first, "the code change rolled the function");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
