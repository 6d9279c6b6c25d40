//! FC's asynchronous invocation queue against the fake runtime (paused clock): retries with
//! `x-fc-retry-count`, destinations (a function, and a sink for the services that do not run locally), the
//! event age limit, and a queue kept on disk that a new run resumes.

mod common;

use common::*;
use fcemu_control::testing::shut_down;
use fcemu_control::{ControlPlane, Options};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// `worker` (its first FAIL requests answer 500) with `config` as its asyncInvokeConfig, and `done`.
fn project_with(config: &str, fail: u32, delay_ms: u32) -> fcemu_spec::Project {
    let text = format!(
        r#"
edition: 3.0.0
name: async
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      timeout: 60
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
      environmentVariables: {{ FIXTURE_INVOKE_FAIL_TIMES: "{fail}", FIXTURE_INVOKE_DELAY_MS: "{delay_ms}" }}
      asyncInvokeConfig: {config}
  done:
    component: fc3
    props:
      functionName: done
      runtime: custom-container
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
"#
    );
    fcemu_spec::parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn events(cp: &ControlPlane, name: &str) -> Vec<Value> {
    cp.events()
        .snapshot()
        .iter()
        .filter(|e| e.event == name)
        .map(|e| serde_json::to_value(&**e).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_function_that_fails_twice_is_tried_again_and_its_success_goes_to_the_destination() {
    let config = r#"{ maxAsyncRetryAttempts: 3, destinationConfig: { onSuccess: { destination: "acs:fc:cn-hangzhou:1:functions/done" } } }"#;
    let (cp, _fake) = plane(project_with(config, 2, 0), Options::default());
    let id = cp.enqueue("worker", &http::HeaderMap::new(), "the event".into());
    until(&cp, |cp| {
        events(cp, "invoke.end")
            .iter()
            .any(|e| e["functionName"] == "done")
    })
    .await;
    let tries: Vec<Value> = events(&cp, "invoke.end")
        .into_iter()
        .filter(|e| e["functionName"] == "worker")
        .collect();
    assert_eq!(
        tries
            .iter()
            .map(|e| e["status"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [500, 500, 200],
        "{tries:?}"
    );
    assert!(
        tries.iter().all(|e| e["requestId"] == *id),
        "one request id for every try"
    );
    let retried = events(&cp, "async.retried");
    assert_eq!(
        retried
            .iter()
            .map(|e| e["retryCount"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let delivered = &events(&cp, "destination.delivered")[0];
    assert_eq!(
        delivered["destination"],
        "acs:fc:cn-hangzhou:1:functions/done"
    );
    assert_eq!(delivered["to"], "function");
    // What `done` got is FC's destination event, and the third try carried x-fc-retry-count 2.
    let enqueued = events(&cp, "async.enqueued");
    assert_eq!(
        enqueued.len(),
        2,
        "the event, then the destination's: {enqueued:?}"
    );
    assert_eq!(enqueued[1]["functionName"], "done");
    let summary = cp.summary().await;
    let counted = summary.asynchronous;
    assert_eq!(
        (
            counted.enqueued,
            counted.retried,
            counted.expired,
            counted.delivered
        ),
        (2, 2, 0, 1)
    );
    assert!(
        summary.passed,
        "tries that were tried again do not fail the run: {:?}",
        summary.failed_requests
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn spent_tries_go_to_the_failure_sink_with_fcs_destination_event() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        state_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let config = r#"{ maxAsyncRetryAttempts: 1, destinationConfig: { onFailure: { destination: "acs:mns:cn-hangzhou:1:/queues/dead/messages" } } }"#;
    let (cp, _fake) = plane(project_with(config, 5, 0), options);
    let id = cp.enqueue("worker", &http::HeaderMap::new(), "payload-7".into());
    until(&cp, |cp| !events(cp, "destination.delivered").is_empty()).await;
    assert_eq!(
        events(&cp, "invoke.end")
            .iter()
            .filter(|e| e["functionName"] == "worker")
            .count(),
        2,
        "the first try and one retry"
    );
    let sink = std::fs::read_to_string(dir.path().join("destinations/deliveries.jsonl")).unwrap();
    let line: Value = serde_json::from_str(sink.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["destination"],
        "acs:mns:cn-hangzhou:1:/queues/dead/messages"
    );
    let event = &line["event"];
    assert_eq!(event["requestContext"]["requestId"], *id);
    assert_eq!(
        event["requestContext"]["condition"],
        "UnhandledInvocationError"
    );
    assert_eq!(event["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        event["requestContext"]["functionArn"],
        "acs:fc:cn-hangzhou:1234567890123456:functions/worker"
    );
    assert_eq!(event["requestPayload"], "payload-7");
    assert_eq!(event["responseContext"]["statusCode"], 500);
    let responded: Value =
        serde_json::from_str(event["responsePayload"].as_str().unwrap()).unwrap();
    assert_eq!(responded["headers"]["x-fc-retry-count"], "1", "{responded}");
    let queued = std::fs::read_dir(dir.path().join("async")).unwrap().count();
    assert_eq!(queued, 0, "nothing is left queued");
    let failed = cp.summary().await.failed_requests;
    assert_eq!(
        failed.len(),
        1,
        "the last try, which spent them, fails the run: {failed:?}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn an_event_older_than_its_age_limit_is_dropped_to_the_failure_destination() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        state_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let config = r#"{ maxAsyncRetryAttempts: 8, maxAsyncEventAgeInSeconds: 5, destinationConfig: { onFailure: { destination: "acs:eventbridge:cn-hangzhou:1:eventbus/default" } } }"#;
    let (cp, _fake) = plane(project_with(config, 100, 0), options);
    cp.enqueue("worker", &http::HeaderMap::new(), "old".into());
    until(&cp, |cp| !events(cp, "async.expired").is_empty()).await;
    until(&cp, |cp| !events(cp, "destination.delivered").is_empty()).await;
    let sink = std::fs::read_to_string(dir.path().join("destinations/deliveries.jsonl")).unwrap();
    assert!(
        sink.contains("\"condition\":\"EventAgeExceeded\""),
        "{sink}"
    );
    let tries = events(&cp, "invoke.end").len();
    assert!(
        (2..8).contains(&tries),
        "tried until it was 5 s old (1 s, 2 s, 4 s apart): {tries}"
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn what_a_stopped_run_left_queued_runs_in_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        state_dir: Some(dir.path().to_path_buf()),
        max_instances: Some(1),
        ..Options::default()
    };
    let (cp, _fake) = plane(
        project_with("{ maxAsyncRetryAttempts: 0 }", 0, 1000),
        options(),
    );
    let ids: std::collections::BTreeSet<String> = (0..50)
        .map(|i| {
            cp.enqueue(
                "worker",
                &http::HeaderMap::new(),
                format!("event {i}").into(),
            )
            .to_string()
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    shut_down(&cp, Duration::from_secs(5)).await;
    let first: std::collections::BTreeSet<String> = events(&cp, "invoke.end")
        .iter()
        .map(|e| e["requestId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !first.is_empty() && first.len() < 50,
        "some ran before the stop: {}",
        first.len()
    );
    let left = std::fs::read_dir(dir.path().join("async")).unwrap().count();
    assert_eq!(
        left,
        50 - first.len(),
        "what did not finish is still queued"
    );

    let (cp, _fake) = plane(
        project_with("{ maxAsyncRetryAttempts: 0 }", 0, 1000),
        options(),
    );
    assert_eq!(cp.resume_async(), left);
    until(&cp, |cp| events(cp, "invoke.end").len() == left).await;
    let second: std::collections::BTreeSet<String> = events(&cp, "invoke.end")
        .iter()
        .map(|e| e["requestId"].as_str().unwrap().to_string())
        .collect();
    assert!(first.is_disjoint(&second), "none ran twice");
    assert_eq!(
        first
            .union(&second)
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("async")).unwrap().count(),
        0
    );
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_committed_queue_file_whose_id_is_a_path_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("state/async");
    std::fs::create_dir_all(&queue).unwrap();
    let outside = dir.path().join("precious.json");
    std::fs::write(&outside, "keep me").unwrap();
    let hostile = serde_json::json!({
        "requestId": "../../precious", "functionName": "worker", "payload": "",
        "headers": [], "enqueuedAt": 0, "failedTries": 0,
    });
    std::fs::write(queue.join("x.json"), hostile.to_string()).unwrap();
    let options = Options {
        state_dir: Some(dir.path().join("state")),
        ..Options::default()
    };
    let (cp, _fake) = plane(project_with("{ maxAsyncRetryAttempts: 0 }", 0, 0), options);
    assert_eq!(cp.resume_async(), 0);
    settle().await;
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(events(&cp, "invoke.end").is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}
