//! fcemu in a CI job: `fcemu wait` for lifecycle events, past and to come, and its timeout.

mod common;

use common::up::*;
use common::*;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_for_events_past_and_to_come_and_says_what_came_instead_on_timeout() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    let r = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let instance = r.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();

    // Already past: at once.
    let out = fcemu(&[
        "wait",
        "instance.ready",
        "--function",
        "fixture",
        "--endpoint",
        &up.url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "1 instance.ready of function fixture: happened"
    );

    // To come: the PreStop of a reclaim started after the wait.
    let waiting = Command::new(FCEMU)
        .args([
            "wait",
            "prestop.end",
            "--instance",
            &instance,
            "--timeout",
            "30s",
            "--endpoint",
            &up.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = fcemu(&["reclaim", &instance, "--endpoint", &up.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A timeout says what was seen instead.
    let out = fcemu(&[
        "wait",
        "prestop.end",
        "--function",
        "fixture",
        "--count",
        "5",
        "--timeout",
        "300ms",
        "--endpoint",
        &up.url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "timed out after 300ms waiting for 5 prestop.end of function fixture: seen 1; instead:"
        ) && err.contains("1 instance.destroyed"),
        "{err}"
    );
    let out = fcemu(&["wait", "prestop.done", "--endpoint", &up.url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("prestop.end"),
        "{}",
        text(&out.stderr)
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// `fcemu ARGS` run in a project folder.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_detached_returns_ready_and_down_exits_with_the_verdict() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "      provisionConfig: { defaultTarget: 1 }\n");
    let listen = format!("127.0.0.1:{}", free_port());
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", &listen]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = pid_of(&text(&out.stdout));
    // The moment it returns, the provisioned instance has finished Creating.
    let url = format!("http://{listen}");
    let instances: serde_json::Value = reqwest::get(format!("{url}/_fcemu/instances"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = instances["instances"][0]["state"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(state == "ready" || state == "frozen", "{instances}");
    // A second one in the same folder is refused.
    let again = fcemu_in(project.path(), &["up", "-d", "--listen", "127.0.0.1:0"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already runs detached"),
        "{}",
        text(&again.stderr)
    );

    assert_eq!(
        reqwest::get(format!("{url}/x")).await.unwrap().status(),
        200
    );
    let junit = project.path().join("hooks.xml");
    let down = fcemu_in(
        project.path(),
        &["down", "--junit", junit.to_str().unwrap()],
    );
    assert!(
        down.status.success(),
        "{}\n{}",
        text(&down.stdout),
        text(&down.stderr)
    );
    assert!(
        text(&down.stdout).contains("verdict: passed (2 hook runs, 1 request;"),
        "{}",
        text(&down.stdout)
    );
    assert!(!alive(pid), "the detached up is gone");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join(".fcemu/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["invocations"]["200"], 1);
    assert_eq!(summary["instances"]["shutdown"], 1);
    assert_eq!(summary["coldStarts"].as_array().unwrap().len(), 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"0\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_after_a_failed_pre_stop_exits_1_and_names_it() {
    let docker = docker().await;
    let project = TestProject::fixture(&[("FIXTURE_PRESTOP_STATUS", "500")], "");
    let listen = format!("127.0.0.1:{}", free_port());
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", &listen]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = reqwest::get(format!("http://{listen}/x")).await.unwrap();
    let instance = r.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    let junit = project.path().join("hooks.xml");
    let down = fcemu_in(
        project.path(),
        &["down", "--junit", junit.to_str().unwrap()],
    );
    assert_eq!(down.status.code(), Some(1), "{}", text(&down.stdout));
    let err = text(&down.stderr);
    assert!(
        err.contains("verdict: failed (1 of 2 hook runs failed"),
        "{err}"
    );
    assert!(
        err.contains(&format!("PreStop of fixture on instance {instance}")) && err.contains("500"),
        "{err}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("<failure message="),
        "{xml}"
    );
    // The summary file holds the same verdict.
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join(".fcemu/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["passed"], false);

    // --no-verdict: the same failure, and exit 0.
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", &listen]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    reqwest::get(format!("http://{listen}/x")).await.unwrap();
    let down = fcemu_in(project.path(), &["down", "--no-verdict"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(
        text(&down.stdout).contains("verdict: failed"),
        "{}",
        text(&down.stdout)
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_detached_fails_on_a_bad_s_yaml_or_a_taken_port_leaving_nothing_running() {
    docker().await;
    let bad = TestProject::with_yaml(
        "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: dotnetcore3.1\n",
    );
    let out = fcemu_in(bad.path(), &["up", "-d", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("runtime: is \"dotnetcore3.1\""),
        "{}",
        text(&out.stderr)
    );
    assert!(!bad.path().join(".fcemu/up.pid").exists());

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let project = TestProject::fixture(&[], "");
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", &listen]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot listen on"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !project.path().join(".fcemu/up.pid").exists(),
        "nothing left running"
    );
    let docker = docker().await;
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_detached_fails_when_a_provisioned_initializer_fails() {
    let docker = docker().await;
    let project = TestProject::fixture(
        &[("FIXTURE_INIT_STATUS", "500")],
        "      provisionConfig: { defaultTarget: 1 }\n",
    );
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("provisioned instances did not come up: fixture (0 of 1)")
            && err.contains("HTTP 500"),
        "{err}"
    );
    assert!(
        !project.path().join(".fcemu/up.pid").exists(),
        "nothing left running"
    );
    assert_no_containers_left(&docker, project.path()).await;
}
