//! Invoke against the fake runtime: headers, concurrency and scale-out, the queue, timeouts, event and
//! asynchronous invocations, logs and their attribution, billing.

use fcemu_control::testing::{assert_unhandled, first_event, header, json, shut_down};
use fcemu_control::{HookKind, InvocationKind, LogQuery, Options, full_body};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;

mod common;

use common::{built_in_project, get, plane, project, settle};

#[tokio::test(start_paused = true)]
async fn logs_are_attributed_to_requests_and_hooks() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/where").await;
    let rid = header(&r, "x-fc-request-id").to_string();
    let instance = header(&r, "x-fc-instance-id").to_string();
    settle().await;
    let lines = cp.logs().query(&LogQuery {
        request_id: Some(rid.clone()),
        ..Default::default()
    });
    let text: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    assert!(
        text.contains(&format!("invoke GET /where request {rid}").as_str()),
        "{text:#?}"
    );
    assert!(text.contains(&format!("FC Invoke Start RequestId: {rid}").as_str()));
    assert!(
        text.iter().any(
            |l| l.starts_with(&format!("RequestId: {rid} InstanceId: {instance}"))
                && l.contains("Max Memory Used: 21 MB Init Duration")
        ),
        "{text:#?}"
    );
    let init = cp.logs().query(&LogQuery {
        hook: Some(HookKind::Initialize),
        ..Default::default()
    });
    assert!(
        init.iter()
            .any(|l| l.line.starts_with("initializer called (1)")),
        "the function's own line is under Initialize"
    );
    assert!(
        init.iter()
            .any(|l| l.line.starts_with("FC Initialize End RequestId:"))
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    let prestop = cp.logs().query(&LogQuery {
        hook: Some(HookKind::PreStop),
        instance: Some(instance),
        ..Default::default()
    });
    assert!(
        prestop
            .iter()
            .any(|l| l.line.starts_with("pre-stop called")),
        "{prestop:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_instance_causes_scale_out_and_the_cap_makes_requests_wait() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=500"), get(&cp, "/sleep?ms=500"));
    assert_ne!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id"),
        "concurrency 1: two instances"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());

    let (cp, fake) = plane(
        project("", &[]),
        Options {
            max_instances: Some(1),
            ..Options::default()
        },
    );
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=500"), get(&cp, "/sleep?ms=500"));
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    assert_eq!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id"),
        "one instance serves both, one after the other"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000));
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn instance_concurrency_shares_one_instance() {
    let (cp, fake) = plane(
        project("      instanceConcurrency: 3", &[]),
        Options::default(),
    );
    get(&cp, "/").await;
    let results = futures_util::future::join_all((0..3).map(|_| get(&cp, "/sleep?ms=300"))).await;
    let ids: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| header(r, "x-fc-instance-id"))
        .collect();
    assert_eq!(ids.len(), 1, "three at a time fit one instance");
    shut_down(&cp, Duration::from_secs(1)).await;
    assert!(fake.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_429_resource_exhausted() {
    let (cp, _fake) = plane(
        project("", &[]),
        Options {
            max_instances: Some(1),
            queue_limit: 1,
            ..Options::default()
        },
    );
    let (a, b, c) = tokio::join!(
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300")
    );
    let mut statuses = [a.status(), b.status(), c.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let refused = [a, b, c]
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert_eq!(json(&refused)["Code"], "ResourceExhausted");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn function_timeout_answers_at_once_and_keeps_the_instance() {
    let (cp, fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/sleep?ms=8000").await;
    assert_unhandled(&r, "Function timed out after 5 seconds");
    assert_eq!(fake.live().len(), 1);
    // invoke.end says it was the timeout (the timeline colours it so); an answered request does not.
    let end = first_event(&cp, "invoke.end").expect("invoke.end");
    assert_eq!(end.extra["timedOut"], true, "{end:?}");
    get(&cp, "/state").await;
    let ends: Vec<_> = cp
        .events()
        .snapshot()
        .into_iter()
        .filter(|e| e.event == "invoke.end")
        .collect();
    assert!(ends[1].extra.get("timedOut").is_none(), "{:?}", ends[1]);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_built_in_runtime_that_times_out_is_restarted() {
    let (cp, fake) = plane(built_in_project(), Options::default());
    let r = get(&cp, "/sleep?ms=8000").await;
    assert_unhandled(&r, "Function timed out after 5 seconds");
    let timed_out = first_event(&cp, "instance.creating")
        .and_then(|e| e.instance_id.clone())
        .unwrap()
        .to_string();
    let mut waited = Duration::ZERO;
    while first_event(&cp, "instance.destroyed").is_none() {
        assert!(
            waited < Duration::from_secs(30),
            "the instance is destroyed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    let destroyed = first_event(&cp, "instance.destroyed").unwrap();
    assert_eq!(destroyed.instance_id.as_deref(), Some(timed_out.as_str()));
    assert_eq!(destroyed.reason.as_deref(), Some("timeout"));
    assert!(
        first_event(&cp, "prestop.start").is_none(),
        "its only worker is busy: no PreStop"
    );
    let next = get(&cp, "/where").await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_ne!(header(&next, "x-fc-instance-id"), timed_out);
    assert_eq!(fake.live().len(), 1);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_built_in_runtime_prints_fcs_start_and_end_lines_itself() {
    let (cp, _fake) = plane(built_in_project(), Options::default());
    let r = get(&cp, "/where").await;
    let rid = header(&r, "x-fc-request-id").to_string();
    settle().await;
    shut_down(&cp, Duration::from_secs(1)).await;
    let system: Vec<String> = cp
        .logs()
        .query(&LogQuery::default())
        .iter()
        .filter(|l| l.stream == "system")
        .map(|l| l.line.clone())
        .collect();
    for word in ["Invoke", "Initialize", "PreStop"] {
        assert!(
            !system
                .iter()
                .any(|l| l.starts_with(&format!("FC {word} Start"))
                    || l.starts_with(&format!("FC {word} End"))),
            "fcemu printed a {word} line of its own: {system:#?}"
        );
    }
    assert!(
        system
            .iter()
            .any(|l| l.starts_with(&format!("RequestId: {rid}"))),
        "the report line is fcemu's: {system:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn event_invoke_posts_to_invoke_with_its_control_path() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let req = Request::get("/ignored")
        .body(full_body("{\"k\":1}"))
        .unwrap();
    let resp = cp.invoke("f", req, InvocationKind::Event).await;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["path"], "/invoke");
    assert_eq!(seen["headers"]["x-fc-control-path"], "/invoke");
    assert_eq!(seen["headers"]["content-type"], "application/octet-stream");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn unknown_function_is_404_in_fc_shape() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let resp = cp
        .invoke(
            "nope",
            Request::get("/").body(full_body("")).unwrap(),
            InvocationKind::HttpTrigger,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["Code"], "FunctionNotFound");
    assert!(body["RequestId"].as_str().unwrap().starts_with("1-"));
}

#[tokio::test(start_paused = true)]
async fn a_cold_request_skips_warm_instances() {
    let (cp, fake) = plane(
        project("      instanceConcurrency: 5", &[]),
        Options::default(),
    );
    let warm = get(&cp, "/").await;
    let req = Request::get("/")
        .header(fcemu_control::COLD_START_HEADER, "true")
        .body(full_body(""))
        .unwrap();
    let resp = cp.invoke("f", req, InvocationKind::HttpTrigger).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(
        resp.headers()["x-fc-instance-id"],
        header(&warm, "x-fc-instance-id"),
        "a new instance"
    );
    assert!(
        resp.headers().contains_key("server-timing"),
        "with its cold start reported"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        body["headers"]
            .get(fcemu_control::COLD_START_HEADER)
            .is_none(),
        "fcemu's header is not passed on"
    );
    assert_eq!(fake.live().len(), 2);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn billing_counts_invocations_hooks_active_and_frozen_time() {
    let (cp, _fake) = plane(
        project("      instanceConcurrency: 2", &[]),
        Options::default(),
    );
    get(&cp, "/sleep?ms=100").await;
    tokio::time::sleep(Duration::from_secs(10)).await; // frozen meanwhile
    // Two overlapping requests on one instance: 200 ms of active time, not 400.
    let (a, b) = tokio::join!(get(&cp, "/sleep?ms=200"), get(&cp, "/sleep?ms=200"));
    assert_eq!(
        header(&a, "x-fc-instance-id"),
        header(&b, "x-fc-instance-id")
    );
    let bill = cp.billing().pop().unwrap();
    assert_eq!(bill.invocations, 3);
    assert_eq!(bill.hook_executions, 1, "the Initializer");
    let active = bill.active_seconds;
    assert!(
        (0.3..0.35).contains(&active),
        "100 ms + 200 ms of requests, plus the Initializer's moment: {active}"
    );
    assert!(
        (9.5..10.5).contains(&bill.frozen_seconds),
        "{}",
        bill.frozen_seconds
    );
    assert!(
        (bill.gb_seconds - active * 512.0 / 1024.0).abs() < 0.002,
        "{bill:?}"
    );
    assert!(
        (bill.vcpu_seconds - active * 0.35).abs() < 0.002,
        "{bill:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
    assert_eq!(
        cp.billing()[0].hook_executions,
        2,
        "PreStop is a hook execution too"
    );
}

#[tokio::test(start_paused = true)]
async fn an_asynchronous_invocation_runs_in_the_background_under_the_id_it_returned() {
    let (cp, fake) = plane(
        project("", &[("FIXTURE_INIT_DELAY_MS", "500")]),
        Options::default(),
    );
    let started = tokio::time::Instant::now();
    let rid = cp.enqueue("f", &http::HeaderMap::new(), "the event".into());
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the caller does not wait for the cold start"
    );
    assert!(
        cp.events()
            .snapshot()
            .iter()
            .all(|e| e.event != "invoke.end")
    );

    // It runs like any request: a cold start, then the event sent as POST /invoke.
    let mut end = None;
    for _ in 0..100 {
        settle().await;
        end = first_event(&cp, "invoke.end");
        if end.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = end.expect("the asynchronous invocation ran");
    assert_eq!(end.request_id.as_deref(), Some(&*rid));
    assert_eq!(end.status, Some(200));
    assert_eq!(end.extra["coldStart"], true);
    let lines = cp.logs().query(&LogQuery {
        request_id: Some(rid.to_string()),
        ..Default::default()
    });
    assert!(
        lines
            .iter()
            .any(|l| l.line == format!("invoke POST /invoke request {rid}")),
        "the function saw the event under the returned id: {lines:#?}"
    );
    let container = fake.live().pop().expect("the instance's container");
    let counters = fake.counters(&container).unwrap();
    assert_eq!(
        counters.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_log_tail_of_a_request_is_its_lines_in_order_cut_from_the_front() {
    let (cp, _fake) = plane(project("", &[]), Options::default());
    let r = get(&cp, "/tailed").await;
    let rid = header(&r, "x-fc-request-id").to_string();

    let tail = cp.log_tail(&rid, 4096).await;
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines[0], format!("FC Invoke Start RequestId: {rid}"));
    assert!(
        lines.contains(&format!("invoke GET /tailed request {rid}").as_str()),
        "{tail}"
    );
    let end = lines
        .iter()
        .position(|l| *l == format!("FC Invoke End RequestId: {rid}"))
        .expect("the End line");
    assert!(
        lines[end + 1].starts_with(&format!("RequestId: {rid} ")),
        "the report line closes it: {tail}"
    );
    assert!(
        !tail.contains("initializer called"),
        "only this request's lines"
    );

    let short = cp.log_tail(&rid, 40).await;
    assert!(short.len() <= 40 && tail.ends_with(&short), "{short:?}");
    shut_down(&cp, Duration::from_secs(1)).await;
}

/// A body that comes in `chunks` pieces, `every` apart, then (when `ends`) ends.
fn trickled(chunks: usize, every: Duration, ends: bool) -> fcemu_control::Body {
    let frames = futures_util::stream::unfold(0, move |sent| async move {
        if sent == chunks && !ends {
            std::future::pending::<()>().await;
        }
        if sent == chunks {
            return None;
        }
        tokio::time::sleep(every).await;
        let frame = http_body::Frame::data(bytes::Bytes::from_static(b"part "));
        Some((Ok::<_, fcemu_control::BoxError>(frame), sent + 1))
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}

#[tokio::test(start_paused = true)]
async fn a_body_trickled_past_the_functions_timeout_is_read_first_and_the_instance_untouched() {
    // The function's timeout is 5 s; the body takes 9 s to come, within the 60 s a client is given.
    let (cp, fake) = plane(project("", &[]), Options::default());
    let req = Request::post("/body")
        .body(trickled(3, Duration::from_secs(3), true))
        .unwrap();
    let r = cp.invoke("f", req, InvocationKind::HttpTrigger).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"part part part ");
    let end = first_event(&cp, "invoke.end").unwrap();
    assert!(
        end.duration_ms.unwrap() < 1000.0,
        "the function's time counts from when it got the request: {end:?}"
    );
    assert!(first_event(&cp, "instance.destroyed").is_none());

    // One that never ends is answered 408 once the limit is up, and no instance is asked for.
    let options = Options {
        body_read_timeout: Duration::from_secs(2),
        ..Options::default()
    };
    let (slow, slow_fake) = plane(project("", &[]), options);
    let req = Request::post("/body")
        .body(trickled(1, Duration::from_millis(100), false))
        .unwrap();
    let started = tokio::time::Instant::now();
    let r = slow.invoke("f", req, InvocationKind::HttpTrigger).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    let (parts, body) = r.into_parts();
    let r = http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes());
    assert_eq!(json(&r)["Code"], "RequestTimeout");
    assert_eq!(slow_fake.count("create"), 0);
    shut_down(&slow, Duration::from_secs(1)).await;
    assert_eq!(fake.count("create"), 1);
    shut_down(&cp, Duration::from_secs(1)).await;
}
