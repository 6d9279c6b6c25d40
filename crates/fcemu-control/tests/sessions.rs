//! Session affinity against the fake runtime (paused clock): requests of one session go to one instance,
//! a new session to an instance with room for it (`sessionConcurrencyPerInstance`) or a new one; the TTL
//! and the idle timeout end a session, a live session holds its instance from idle reclamation, a
//! session's request on a full instance is throttled, an instance that dies takes its sessions with it,
//! and each binding (header, cookie, MCP Streamable HTTP) as FC does it; the sessions API.

mod common;

use bytes::Bytes;
use common::*;
use fcemu_control::testing::{header, shut_down};
use fcemu_control::{ControlPlane, InvocationKind, Options, SessionTimes, full_body};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use std::collections::HashSet;
use std::time::Duration;

fn affinity(kind: &str, config: &str) -> fcemu_spec::Project {
    project(
        &format!("      sessionAffinity: {kind}\n      sessionAffinityConfig: {{ {config} }}"),
        &[],
    )
}

fn header_affinity(config: &str) -> fcemu_spec::Project {
    affinity(
        "HEADER_FIELD",
        &format!("affinityHeaderFieldName: x-session-id, {config}"),
    )
}

/// A request with these headers, answered whole.
async fn send(
    cp: &ControlPlane,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Bytes> {
    let mut req = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = cp
        .invoke(
            "f",
            req.body(full_body("")).unwrap(),
            InvocationKind::HttpTrigger,
        )
        .await;
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

async fn in_session(cp: &ControlPlane, id: &str) -> Response<Bytes> {
    send(cp, "GET", "/", &[("x-session-id", id)]).await
}

fn instance(r: &Response<Bytes>) -> String {
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
    header(r, "x-fc-instance-id").to_string()
}

fn events(cp: &ControlPlane, name: &str) -> Vec<std::sync::Arc<fcemu_control::Event>> {
    cp.events()
        .snapshot()
        .into_iter()
        .filter(|e| e.event == name)
        .collect()
}

fn ended_by(cp: &ControlPlane, session: &str) -> Option<String> {
    events(cp, "session.ended")
        .iter()
        .find(|e| e.extra["sessionId"] == session)
        .and_then(|e| e.reason.clone())
}

#[tokio::test(start_paused = true)]
async fn each_session_keeps_its_instance_and_a_full_instance_sends_new_sessions_to_another() {
    let (cp, _fake) = plane(
        header_affinity("sessionConcurrencyPerInstance: 2"),
        Options::default(),
    );
    // Sessions a and b share the first instance (two per instance); c finds it full and gets its own.
    let a = instance(&in_session(&cp, "a").await);
    let b = instance(&in_session(&cp, "b").await);
    let c = instance(&in_session(&cp, "c").await);
    assert_eq!(a, b, "two sessions fit on one instance");
    assert_ne!(a, c, "a third session goes to a new instance");
    // Requests of each session, interleaved and at once, stay where their session lives.
    let mut calls = Vec::new();
    for id in ["a", "b", "c"].repeat(5) {
        let cp = &cp;
        calls.push(async move { (id, instance(&in_session(cp, id).await)) });
    }
    for (id, on) in futures_util::future::join_all(calls).await {
        assert_eq!(&on, if id == "c" { &c } else { &a }, "session {id}");
    }
    let started = events(&cp, "session.started");
    assert_eq!(started.len(), 3, "one session.started per session");
    assert_eq!(started[2].extra["sessionId"], "c");
    assert_eq!(started[2].instance_id.as_deref(), Some(c.as_str()));
    assert_eq!(started[2].extra["sessionAffinity"], "HEADER_FIELD");
    let listed = cp.live_sessions(Some("f"));
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|s| s.session_status == "Active"));
    shut_down(&cp, Duration::from_secs(1)).await;
    // Shutting down destroys the instances, and their sessions end with them.
    assert_eq!(ended_by(&cp, "a").as_deref(), Some("instance_destroyed"));
}

#[tokio::test(start_paused = true)]
async fn a_request_without_an_id_gets_one_made_and_sent_back_in_the_header() {
    let (cp, _fake) = plane(header_affinity(""), Options::default());
    let first = send(&cp, "GET", "/", &[]).await;
    let id = header(&first, "x-session-id").to_string();
    assert_eq!(id.len(), 32, "FC's shape of a session id: {id:?}");
    let again = in_session(&cp, &id).await;
    assert_eq!(instance(&again), instance(&first));
    assert_eq!(
        header(&again, "x-session-id"),
        "",
        "a named session's id is not sent back"
    );
    // An id FC would not take is no session's: a new one is made.
    let odd = send(&cp, "GET", "/", &[("x-session-id", "a b/c")]).await;
    assert_ne!(header(&odd, "x-session-id"), "a b/c");
    assert_eq!(header(&odd, "x-session-id").len(), 32);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_and_the_ttl_end_a_session_and_it_starts_anew() {
    let (cp, _fake) = plane(
        header_affinity("sessionTTLInSeconds: 10, sessionIdleTimeoutInSeconds: 3"),
        Options::default(),
    );
    in_session(&cp, "idle").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    in_session(&cp, "idle").await; // 2 s of idleness: still live, and its idle time starts again
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ended_by(&cp, "idle"), None, "2.5 s since its last request");
    until(&cp, |cp| ended_by(cp, "idle").is_some()).await;
    assert_eq!(ended_by(&cp, "idle").as_deref(), Some("idle"));
    assert!(cp.live_sessions(None).is_empty());
    // A request every 2 s keeps it from idling: the TTL, 10 s from its start, ends it.
    in_session(&cp, "busy").await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        in_session(&cp, "busy").await;
    }
    assert_eq!(ended_by(&cp, "busy"), None, "8 s old");
    until(&cp, |cp| ended_by(cp, "busy").is_some()).await;
    assert_eq!(ended_by(&cp, "busy").as_deref(), Some("ttl"));
    // The same id starts a new session (disableSessionIdReuse is false).
    assert_eq!(in_session(&cp, "busy").await.status(), StatusCode::OK);
    let started: Vec<_> = events(&cp, "session.started")
        .iter()
        .filter(|e| e.extra["sessionId"] == "busy")
        .map(|e| e.ts)
        .collect();
    assert_eq!(started.len(), 2, "busy began twice");
    let info = cp.list_sessions("f").unwrap();
    assert!(
        info.iter().any(|s| s.session_id == "idle"
            && s.session_status == "Expired"
            && s.ended_by == Some("idle")),
        "{info:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_expired_id_is_refused_when_reuse_is_disabled() {
    let (cp, _fake) = plane(
        header_affinity("sessionTTLInSeconds: 2, disableSessionIdReuse: true"),
        Options::default(),
    );
    in_session(&cp, "once").await;
    until(&cp, |cp| ended_by(cp, "once").is_some()).await;
    let refused = in_session(&cp, "once").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body = fcemu_control::testing::json(&refused);
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("disableSessionIdReuse"),
        "{body}"
    );
    assert_eq!(in_session(&cp, "other").await.status(), StatusCode::OK);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_live_session_holds_its_instance_from_idle_reclamation() {
    let options = Options {
        idle_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let (cp, _fake) = plane(header_affinity("sessionIdleTimeoutInSeconds: 6"), options);
    let held = instance(&in_session(&cp, "s").await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        cp.instances().iter().any(|i| i.instance_id == held),
        "4 s idle, past the 1 s idle timeout: its session still lives"
    );
    assert!(events(&cp, "instance.destroyed").is_empty());
    until(&cp, |cp| !events(cp, "instance.destroyed").is_empty()).await;
    assert_eq!(ended_by(&cp, "s").as_deref(), Some("idle"));
    assert_eq!(
        events(&cp, "instance.destroyed")[0].reason.as_deref(),
        Some("idle")
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_session_whose_instance_is_full_is_throttled() {
    // A built-in runtime serves one request at a time: one session per instance, and a second request of
    // that session at once finds its instance full.
    // (What the s.yaml reader makes of a built-in runtime with affinity: fcemu-spec's tests.)
    let mut project = header_affinity("");
    let f = &mut project.functions[0];
    f.runtime = fcemu_spec::Runtime::parse("python3.10").unwrap();
    f.instance_concurrency = 1;
    f.session_affinity.as_mut().unwrap().per_instance = 1;
    let (cp, _fake) = plane(project, Options::default());
    in_session(&cp, "s").await;
    let slow = send(&cp, "GET", "/sleep?ms=2000", &[("x-session-id", "s")]);
    let throttled = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        in_session(&cp, "s").await
    };
    let other = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        in_session(&cp, "t").await
    };
    let (slow, throttled, other) = tokio::join!(slow, throttled, other);
    assert_eq!(slow.status(), StatusCode::OK);
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        fcemu_control::testing::json(&throttled)["Code"],
        "ResourceThrottled"
    );
    assert_ne!(
        instance(&other),
        instance(&slow),
        "another session, another instance"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_instance_that_dies_takes_its_sessions_and_the_next_request_starts_anew() {
    let (cp, _fake) = plane(header_affinity(""), Options::default());
    let first = instance(&in_session(&cp, "s").await);
    let crashed = send(&cp, "GET", "/crash", &[("x-session-id", "s")]).await;
    assert_eq!(crashed.status(), StatusCode::BAD_GATEWAY);
    until(&cp, |cp| ended_by(cp, "s").is_some()).await;
    assert_eq!(ended_by(&cp, "s").as_deref(), Some("instance_destroyed"));
    let next = instance(&in_session(&cp, "s").await);
    assert_ne!(next, first, "served by a new instance");
    assert_eq!(cp.live_sessions(None)[0].container_id, next);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_generated_cookie_is_set_with_the_ttl_as_its_max_age() {
    let (cp, _fake) = plane(
        affinity("GENERATED_COOKIE", "sessionTTLInSeconds: 3600"),
        Options::default(),
    );
    let first = send(&cp, "GET", "/", &[]).await;
    let cookie = header(&first, "set-cookie").to_string();
    let (pair, attributes) = cookie.split_once("; ").unwrap();
    assert_eq!(attributes, "Max-Age=3600");
    let (name, id) = pair.split_once('=').unwrap();
    assert_eq!(name, "x-fc-cookie-session-id");
    // A browser sends it back among its other cookies.
    let jar = format!("theme=dark; {pair}");
    let mut on = HashSet::new();
    for _ in 0..3 {
        let r = send(&cp, "GET", "/", &[("cookie", &jar)]).await;
        assert_eq!(
            header(&r, "set-cookie"),
            "",
            "an existing session is not set again"
        );
        on.insert(instance(&r));
    }
    assert_eq!(on, HashSet::from([instance(&first)]));
    assert_eq!(cp.live_sessions(None)[0].session_id, id);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn mcp_streamable_sessions_are_named_by_the_server_and_end_with_delete() {
    let project = affinity("MCP_STREAMABLE", "sessionConcurrencyPerInstance: 1");
    let (cp, _fake) = plane(project, Options::default());
    let one = send(&cp, "POST", "/mcp", &[]).await;
    let two = send(&cp, "POST", "/mcp", &[]).await;
    let (s1, s2) = (
        header(&one, "mcp-session-id"),
        header(&two, "mcp-session-id"),
    );
    assert!(!s1.is_empty() && s1 != s2);
    assert_ne!(instance(&one), instance(&two), "one session per instance");
    for _ in 0..3 {
        for (s, r) in [(s1, &one), (s2, &two)] {
            let call = send(&cp, "POST", "/mcp", &[("mcp-session-id", s)]).await;
            assert_eq!(instance(&call), instance(r), "session {s}");
        }
    }
    let bye = send(&cp, "DELETE", "/mcp", &[("mcp-session-id", s1)]).await;
    assert_eq!(bye.status(), StatusCode::OK);
    assert_eq!(ended_by(&cp, s1).as_deref(), Some("deleted"));
    let live: Vec<String> = cp
        .live_sessions(None)
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(live, vec![s2.to_string()]);
    // A request naming an ended session goes anywhere (the server says it knows no such session).
    assert_eq!(
        send(&cp, "POST", "/mcp", &[("mcp-session-id", s1)])
            .await
            .status(),
        StatusCode::OK
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_sessions_api_creates_reads_updates_and_deletes() {
    let (cp, _fake) = plane(
        affinity("GENERATED_COOKIE", "sessionTTLInSeconds: 600"),
        Options::default(),
    );
    let made = cp
        .create_session(
            "f",
            SessionTimes {
                ttl: Some(Duration::from_secs(120)),
                idle_timeout: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(made.session_affinity_type, "GENERATED_COOKIE");
    assert_eq!(made.session_ttl_in_seconds, 120);
    assert!(
        cp.instances()
            .iter()
            .any(|i| i.instance_id == made.container_id),
        "its instance was made for it"
    );
    // Its requests go to the instance made for it.
    let cookie = format!("x-fc-cookie-session-id={}", made.session_id);
    let r = send(&cp, "GET", "/", &[("cookie", &cookie)]).await;
    assert_eq!(instance(&r), made.container_id);
    let updated = cp
        .update_session(
            "f",
            &made.session_id,
            SessionTimes {
                ttl: None,
                idle_timeout: Some(Duration::from_secs(30)),
            },
        )
        .unwrap();
    assert_eq!(updated.session_idle_timeout_in_seconds, 30);
    assert!(
        cp.update_session(
            "f",
            &made.session_id,
            SessionTimes {
                ttl: None,
                idle_timeout: Some(Duration::from_secs(200))
            }
        )
        .is_err(),
        "idle past the TTL"
    );
    assert_eq!(
        cp.get_session("f", &made.session_id)
            .unwrap()
            .session_status,
        "Active"
    );
    cp.delete_session("f", &made.session_id).unwrap();
    let gone = cp.get_session("f", &made.session_id).unwrap();
    assert_eq!(
        (gone.session_status, gone.ended_by),
        ("Expired", Some("deleted"))
    );
    assert!(cp.delete_session("f", &made.session_id).is_err());
    assert!(cp.get_session("f", "nope").is_err());
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_sessions_api_is_refused_where_fc_has_none() {
    let (cp, _fake) = plane(affinity("MCP_STREAMABLE", ""), Options::default());
    let refused = cp.list_sessions("f").unwrap_err().to_string();
    assert!(
        refused.contains("HEADER_FIELD and GENERATED_COOKIE"),
        "{refused}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}
