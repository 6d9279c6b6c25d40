//! Real users' files served end to end: an FC 2.0 project, several functions in one project, a custom
//! runtime on a mapped base image, and the gateway's request limits over real HTTP.

mod common;

use common::up::*;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fc2_project_is_served_with_its_port_hooks_and_trigger() {
    let docker = docker().await;
    let project = TestProject::with_yaml(&format!(
        r#"edition: 1.0.0
name: legacy
services:
  svc:
    component: fc
    props:
      region: cn-shanghai
      service: {{ name: legacy-svc, logConfig: auto }}
      function:
        name: legacy
        runtime: custom-container
        memorySize: 128
        timeout: 10
        caPort: 8000
        initializer: index.initialize
        initializationTimeout: 5
        instanceLifecycleConfig:
          preStop: {{ handler: index.preStop, timeout: 3 }}
          preFreeze: {{ handler: index.preFreeze, timeout: 3 }}
        customContainerConfig:
          image: {FIXTURE_IMAGE}
          command: '["/usr/local/bin/fcemu-fixture"]'
          args: '[]'
      triggers:
        - name: http
          type: http
          config: {{ authType: anonymous, methods: [GET] }}
"#
    ));
    let validated = fcemu(&["validate", project.path().to_str().unwrap()]);
    assert!(validated.status.success(), "{}", text(&validated.stderr));
    assert!(
        text(&validated.stdout).contains("\"port\": 8000"),
        "{}",
        text(&validated.stdout)
    );

    let up = Up::start(project.path(), &[]);
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/state", up.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let state: serde_json::Value = r.json().await.unwrap();
    assert_eq!(state["initialize"], 1, "the FC 2.0 initializer ran");
    let echo: serde_json::Value = up.get_json("/echo").await;
    assert_eq!(
        echo["headers"]["host"]
            .as_str()
            .map(|h| h.ends_with(":8000")),
        Some(false),
        "the client's Host is kept"
    );
    assert_eq!(
        echo["headers"]["x-fc-function-initializer"],
        "index.initialize"
    );
    assert_eq!(echo["headers"]["x-fc-initialization-timeout"], "5");
    assert_eq!(echo["headers"]["x-fc-region"], "cn-shanghai");
    assert_eq!(
        http.post(format!("{}/", up.url))
            .send()
            .await
            .unwrap()
            .status(),
        405,
        "the trigger accepts GET only"
    );
    // PreFreeze runs before each freeze.
    wait_for_output(&up, "pre-freeze called (1)").await;

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        output.iter().any(|l| l.contains("pre-stop called (1)")),
        "{output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_functions_are_served_by_first_path_segment() {
    let docker = docker().await;
    let function = |name: &str, extra: &str| {
        format!(
            r#"  {name}:
    component: fc3
    props:
      functionName: {name}
      runtime: custom-container
      memorySize: 128
      environmentVariables: {{ WHO: {name} }}
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}" }}
{extra}"#
        )
    };
    let http_trigger = "      triggers: [{ triggerName: http, triggerType: http, triggerConfig: { methods: [GET, POST] } }]\n";
    let timer = "      triggers: [{ triggerName: t, triggerType: timer, triggerConfig: { cronExpression: '0 * * * * *' } }]\n";
    let project = TestProject::with_yaml(&format!(
        "edition: 3.0.0\nname: multi\nresources:\n{}{}{}",
        function("alpha", http_trigger),
        function("beta", http_trigger),
        function("cron", timer)
    ));
    // The timer would fire at the top of a minute the test may span, and its instance would be counted
    // below: it is not this test's subject (tests/triggers.rs fires timers).
    let up = Up::start(project.path(), &["--no-timers"]);
    // The endpoint is recorded just before the banner is printed.
    wait_for_output(&up, "Ctrl-C to stop").await;
    let banner = up.output().join("\n");
    assert!(
        banner.contains(&format!("{}/alpha/", up.url))
            && banner.contains(&format!("{}/beta/", up.url)),
        "{banner}"
    );
    assert!(
        banner.contains("cron") && banner.contains("no HTTP trigger"),
        "{banner}"
    );

    let http = reqwest::Client::new();
    let a: serde_json::Value = up.get_json("/alpha/items/1?x=2").await;
    assert_eq!(
        a["path"], "/items/1",
        "the function sees the path below its segment"
    );
    assert_eq!(a["query"], "x=2");
    assert_eq!(a["headers"]["x-fc-function-name"], "alpha");
    let b: serde_json::Value = up.get_json("/beta").await;
    assert_eq!(b["path"], "/");
    assert_eq!(b["headers"]["x-fc-function-name"], "beta");

    for missing in ["/gamma/x", "/cron/x", "/"] {
        let r = http
            .get(format!("{}{missing}", up.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["Code"], "FunctionNotFound");
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .contains("/alpha/, /beta/"),
            "{body}"
        );
    }
    // The cron function is still invocable as an event.
    let invoked = fcemu(&["invoke", "cron", "-e", "{}", "--endpoint", &up.url]);
    assert!(invoked.status.success(), "{}", text(&invoked.stderr));

    // Instances, logs and billing per function.
    let instances = up.get_json("/_fcemu/instances").await;
    let mut names: Vec<&str> = instances["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["functionName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["alpha", "beta", "cron"]);
    let logs = fcemu(&[
        "logs",
        "--function",
        "beta",
        "--format",
        "json",
        "--endpoint",
        &up.url,
    ]);
    let lines = text(&logs.stdout);
    assert!(
        lines.lines().count() > 0
            && lines
                .lines()
                .all(|l| l.contains("\"functionName\":\"beta\"")),
        "{lines}"
    );
    let billing = up.get_json("/_fcemu/billing").await;
    let invocations: Vec<(String, u64)> = billing["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["functionName"].as_str().unwrap().to_string(),
                f["invocations"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        invocations,
        [("alpha".into(), 1), ("beta".into(), 1), ("cron".into(), 1)]
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_runtime_runs_its_code_folder_on_the_mapped_image() {
    let docker = docker().await;
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: py
resources:
  site:
    component: fc3
    props:
      functionName: site
      runtime: custom.debian12
      code: ./code
      memorySize: 256
      customRuntimeConfig:
        command: [python3]
        args: [-m, http.server, "9000"]
        healthCheckConfig: { httpGetUrl: /ready.txt, periodSeconds: 1, failureThreshold: 10 }
      triggers: [{ triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }]
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/hello.txt"), "hello from /code\n").unwrap();
    std::fs::write(project.path().join("code/ready.txt"), "ok\n").unwrap();

    // A mapped image that is not here: up says how to give one.
    let out = fcemu(&[
        "up",
        project.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--runtime-image",
        "custom.debian12=fcemu-no-such-image:none",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--runtime-image custom.debian12=IMAGE"),
        "{err}"
    );

    // Debian 12 with Python (the Flask base image) stands in for FC's custom.debian12.
    let up = Up::start(
        project.path(),
        &[
            "--runtime-image",
            "custom.debian12=fcemu-debian-flask:bookworm",
        ],
    );
    let r = reqwest::get(format!("{}/hello.txt", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "hello from /code\n",
        "served from the mounted code folder"
    );
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        output.iter().any(|l| l.contains("GET /ready.txt")),
        "the health check probed: {output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

/// Sends a raw HTTP/1.1 request head (so declared sizes need not be sent) and returns status and body.
fn raw_request(url: &str, head: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_fc_limits_are_refused_before_any_instance() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    let big_header = "x".repeat(9 * 1024);
    let long_path = "a".repeat(5 * 1024);
    let cases = [
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big_header}\r\nConnection: close\r\n\r\n"),
        format!("GET /{long_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\nConnection: close\r\n\r\n"
            .to_string(),
    ];
    for (head, what) in cases.iter().zip(["headers", "path", "body"]) {
        let (status, body) = raw_request(&up.url, head);
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body.contains("\"Code\":\"InvalidArgument\"") && body.contains(what),
            "{what}: {body}"
        );
    }
    assert!(
        up.get_json("/_fcemu/instances").await["instances"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no instance touched"
    );
    assert!(containers_of(&docker, project.path()).await.is_empty());
    let (code, _) = up.stop();
    assert_eq!(code, 0);
}
