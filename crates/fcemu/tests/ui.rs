//! The timeline page in a real browser: headless Chromium opens `/_fcemu/ui` of a running `fcemu up` after a
//! cold start with an Initializer, requests, a freeze, a thaw and a reclaim through PreStop, and what the page
//! rendered is read back (the DOM after its scripts ran, and a screenshot under `target/` for people).
//!
//! Needs `chromium` (scripts/test.sh installs it); without it the test fails and says so.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn chromium() -> &'static str {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(candidate).arg("--version").output().is_ok() {
            return candidate;
        }
    }
    panic!(
        "this test needs a Chromium browser: `apt-get install chromium` (scripts/test.sh installs it)"
    );
}

/// Runs the page in headless Chromium with `extra` (`--dump-dom`, `--screenshot=...`) and returns stdout.
/// The virtual time budget lets the page's scripts read the event stream and draw before the dump.
fn browse(url: &str, extra: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--virtual-time-budget=4000",
        ])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Waits until `up` has published an event named `name` (for the instance, when given) `count` times.
async fn wait_event(up: &Up, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = events_named(up, name).await;
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "no {count} {name} events");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `<li>` the page wrote for an instance's lane.
fn lane_of<'a>(dom: &'a str, instance: &str) -> &'a str {
    let start = dom
        .find(&format!("<li data-instance=\"{instance}\""))
        .unwrap_or_else(|| panic!("no lane for {instance} in the page: {dom}"));
    let end = dom[start..].find("</li>").expect("the lane's end") + start;
    &dom[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_page_draws_an_instance_life_from_creating_to_its_destroy() {
    let docker = docker().await;
    let project = TestProject::fixture(
        &[
            ("FIXTURE_STARTUP_DELAY_MS", "150"),
            ("FIXTURE_INIT_DELAY_MS", "100"),
        ],
        "      instanceConcurrency: 2\n",
    );
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "/_fcemu/ui").await;
    let client = reqwest::Client::new();

    // A cold start with the Initializer, then requests, two of them at once.
    let first = client
        .get(format!("{}/state", up.url))
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    let instance = first.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (a, b) = tokio::join!(
        client.get(format!("{}/sleep?ms=50", up.url)).send(),
        client.get(format!("{}/sleep?ms=50", up.url)).send()
    );
    assert!(a.unwrap().status().is_success() && b.unwrap().status().is_success());
    // Frozen, thawed by a request, frozen again, then reclaimed through PreStop.
    wait_event(&up, "instance.frozen", 1).await;
    let thawing = client
        .get(format!("{}/state", up.url))
        .send()
        .await
        .unwrap();
    assert!(thawing.status().is_success());
    wait_event(&up, "instance.thawed", 1).await;
    wait_event(&up, "instance.frozen", 2).await;
    let reclaimed = client
        .post(format!("{}/_fcemu/instances/{instance}/reclaim", up.url))
        .send()
        .await
        .unwrap();
    assert!(reclaimed.status().is_success());
    wait_event(&up, "instance.destroyed", 1).await;
    let ready = &wait_event(&up, "instance.ready", 1).await[0];
    // An asynchronous invocation (on a new instance): the page counts what the queue did per function.
    let queued = client
        .post(format!(
            "{}/2023-03-30/functions/fixture/invocations",
            up.url
        ))
        .header("x-fc-invocation-type", "Async")
        .body("an event")
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status().as_u16(), 202);
    wait_event(&up, "invoke.end", 5).await;

    let url = format!("{}/_fcemu/ui", up.url);
    let dom = browse(&url, &["--dump-dom"]);
    let lane = lane_of(&dom, &instance);
    assert!(lane.contains("data-function=\"fixture\""), "{lane}");
    // Its three Creating segments, each with the figure of the instance.ready event.
    for (segment, field) in [
        ("instance-create", "instanceCreateMs"),
        ("runtime-init", "runtimeInitMs"),
        ("init-hook", "initHookMs"),
    ] {
        let ms = ready[field].as_f64().unwrap();
        let expected = format!("data-segment=\"{segment}\" data-ms=\"{ms}\"");
        assert!(lane.contains(&expected), "{expected} in {lane}");
    }
    assert!(
        ready["initHookMs"].as_f64().unwrap() >= 100.0,
        "the Initializer's 100 ms: {ready}"
    );
    // Four request bars, all ok; PreStop; the destroy with its reason.
    assert!(lane.contains("data-requests=\"4\""), "{lane}");
    assert!(lane.contains("\"ok\":4"), "{lane}");
    // As many frozen spans and thaws as the events say (a reclaim thaws the instance for its PreStop).
    let of_instance = |events: Vec<Value>| {
        events
            .iter()
            .filter(|e| e["instanceId"] == *instance)
            .count()
    };
    let frozen = of_instance(events_named(&up, "instance.frozen").await);
    let thawed = of_instance(events_named(&up, "instance.thawed").await);
    assert!(
        frozen >= 2 && thawed >= 1,
        "{frozen} freezes, {thawed} thaws"
    );
    let spans = format!("data-frozen=\"{frozen}\" data-thaws=\"{thawed}\"");
    assert!(lane.contains(&spans), "{spans} in {lane}");
    assert!(lane.contains("data-prestop="), "{lane}");
    assert!(lane.contains("data-destroyed=\"reclaim\""), "{lane}");
    assert!(
        dom.contains("<tr data-async-function=\"fixture\" data-enqueued=\"1\" data-retried=\"0\""),
        "the asynchronous table counts the queued invocation: {dom}"
    );
    // The cold-start table has its row; the page says it is live.
    assert!(
        dom.contains(&format!("<tr data-instance=\"{instance}\"")),
        "{dom}"
    );
    assert!(
        dom.contains("live ·"),
        "the page follows the event stream: {dom}"
    );

    // A picture for people: target/ui-timeline.png.
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-timeline.png");
    let _ = std::fs::remove_file(&shot);
    browse(&url, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot at {}",
        shot.display()
    );

    // Opening the page did not reach the function (a browser asks for /favicon.ico unless told otherwise).
    assert_eq!(
        events_named(&up, "instance.creating").await.len(),
        2,
        "only the test's requests created instances (the first, and the asynchronous one's)"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// Sessions on the page: the band on the lane of the instance that held each, and the sessions table with
/// how each ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_page_shows_which_instance_held_which_session() {
    let docker = docker().await;
    let project = TestProject::fixture(
        &[],
        "      sessionAffinity: HEADER_FIELD\n      sessionAffinityConfig: { affinityHeaderFieldName: x-user-session, sessionConcurrencyPerInstance: 1 }\n",
    );
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "/_fcemu/ui").await;
    let client = reqwest::Client::new();
    let mut held = Vec::new();
    for session in ["ann", "ben"] {
        let r = client
            .get(format!("{}/state", up.url))
            .header("x-user-session", session)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        held.push(
            r.headers()["x-fc-instance-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_ne!(held[0], held[1], "one session per instance");
    let reclaimed = client
        .post(format!("{}/_fcemu/instances/{}/reclaim", up.url, held[0]))
        .send()
        .await
        .unwrap();
    assert!(reclaimed.status().is_success());
    wait_event(&up, "session.ended", 1).await;

    let dom = browse(&format!("{}/_fcemu/ui", up.url), &["--dump-dom"]);
    assert!(
        lane_of(&dom, &held[0]).contains("data-sessions=\"ann\""),
        "{dom}"
    );
    assert!(
        lane_of(&dom, &held[1]).contains("data-sessions=\"ben\""),
        "{dom}"
    );
    let row = |id: &str, instance: &str, ended: &str| {
        format!(
            "<tr data-session-id=\"{id}\" data-instance-id=\"{instance}\" data-ended=\"{ended}\""
        )
    };
    assert!(
        dom.contains(&row("ann", &held[0], "instance_destroyed")),
        "{dom}"
    );
    assert!(dom.contains(&row("ben", &held[1], "")), "{dom}");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
