//! Calls a test makes of a running `fcemu up`: requests, its logs, its destroy events.

use super::up::*;
use std::time::{Duration, Instant};

pub async fn send(method: reqwest::Method, url: String, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, url)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

pub async fn get(url: String) -> reqwest::Response {
    send(reqwest::Method::GET, url, "").await
}

pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `fcemu logs` of the running `up`, with more arguments.
pub fn logs(up: &Up, args: &[&str]) -> String {
    let out = fcemu(&[&["logs", "--endpoint", &up.url], args].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A finished request's log lines, once its `FC Invoke End` line is in: the function's output reaches fcemu
/// through the engine's log stream, which may lag behind the answer.
pub async fn request_logs(up: &Up, rid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = logs(up, &["--request-id", rid]);
        if lines.contains(&format!("FC Invoke End RequestId: {rid}")) {
            return lines;
        }
        assert!(Instant::now() < deadline, "no End line for {rid}: {lines}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `instance.destroyed` events so far.
pub async fn destroyed(up: &Up) -> Vec<serde_json::Value> {
    up.get_json_lines("/_fcemu/events")
        .await
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "instance.destroyed")
        .collect()
}

pub async fn wait_destroyed(up: &Up, count: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = destroyed(up).await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{count} instance(s) were not destroyed: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reclaims `instance` with `fcemu reclaim`, waits until `destroyed` instances in all are gone, and returns
/// its PreStop hook's logs, which end with FC's PreStop End line.
pub async fn reclaim_through_pre_stop(up: &Up, instance: &str, destroyed: usize) -> String {
    let out = fcemu(&["reclaim", instance, "--endpoint", &up.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_destroyed(up, destroyed).await;
    let pre_stop = logs(up, &["--hook", "PreStop", "--instance", instance]);
    assert!(pre_stop.contains("FC PreStop End RequestId"), "{pre_stop}");
    pre_stop
}
