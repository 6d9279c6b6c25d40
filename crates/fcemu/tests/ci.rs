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
