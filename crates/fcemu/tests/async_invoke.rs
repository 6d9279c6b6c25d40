//! Asynchronous invocation with `fcemu up` on Docker, driven by the official SDK (alibabacloud-fc20230330,
//! from PyPI): its async-invoke-config calls, an `Async` InvokeFunction of a function that fails twice
//! (tried again with `x-fc-retry-count`, its success sent to a destination function), FC's 400 for a payload
//! over 128 KB, and events left queued by a stopped `up` run by the next one.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;
use std::process::Command;

fn yaml(fail: u32, delay_ms: u32) -> String {
    format!(
        r#"edition: 3.0.0
name: async-invoke
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      timeout: 30
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      environmentVariables: {{ FIXTURE_INVOKE_FAIL_TIMES: "{fail}", FIXTURE_INVOKE_DELAY_MS: "{delay_ms}" }}
  done:
    component: fc3
    props:
      functionName: done
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_configures_async_invocation_and_a_failing_function_is_retried_to_its_destination()
{
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml(2, 0));
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;

    let configured = sdk(
        &up,
        r#"
out = {}
try:
    client.get_async_invoke_config("worker", fc.GetAsyncInvokeConfigRequest())
except ClientException as e:
    out["before"] = e.code
put = client.put_async_invoke_config("worker", fc.PutAsyncInvokeConfigRequest(body=fc.PutAsyncInvokeConfigInput(
    max_async_retry_attempts=3, max_async_event_age_in_seconds=300,
    destination_config=fc.DestinationConfig(on_success=fc.Destination(destination="acs:fc:cn-hangzhou:1:functions/done")))))
out["put"] = put.body.to_map()
out["get"] = client.get_async_invoke_config("worker", fc.GetAsyncInvokeConfigRequest()).body.to_map()
out["list"] = client.list_async_invoke_configs(fc.ListAsyncInvokeConfigsRequest()).body.to_map()
r = client.invoke_function_with_options("worker", fc.InvokeFunctionRequest(body=io.BytesIO(b"the event")),
    fc.InvokeFunctionHeaders(x_fc_invocation_type="Async"), __import__("alibabacloud_tea_util.models", fromlist=["RuntimeOptions"]).RuntimeOptions())
out["status"] = r.status_code
out["requestId"] = r.headers.get("x-fc-request-id")
print(json.dumps(out))
"#,
    );
    assert_eq!(configured["before"], "AsyncConfigNotExists", "{configured}");
    assert_eq!(
        configured["get"]["maxAsyncRetryAttempts"], 3,
        "{configured}"
    );
    assert_eq!(
        configured["get"]["destinationConfig"]["onSuccess"]["destination"],
        "acs:fc:cn-hangzhou:1:functions/done"
    );
    assert!(
        configured["get"]["functionArn"]
            .as_str()
            .unwrap()
            .ends_with(":functions/worker")
    );
    assert_eq!(configured["list"]["configs"].as_array().unwrap().len(), 1);
    assert_eq!(configured["status"], 202, "{configured}");
    let id = configured["requestId"].as_str().unwrap().to_string();

    let delivered = until_events(&up, "destination.delivered", 1).await;
    assert_eq!(delivered[0]["requestId"], id.as_str(), "{delivered:?}");
    assert_eq!(delivered[0]["to"], "function");
    let retried = events_named(&up, "async.retried").await;
    assert_eq!(retried.len(), 2, "{retried:?}");
    let done = until_events(&up, "invoke.end", 4).await;
    let statuses: Vec<(String, i64)> = done
        .iter()
        .map(|e| {
            (
                e["functionName"].as_str().unwrap().to_string(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("worker".into(), 500),
            ("worker".into(), 500),
            ("worker".into(), 200),
            ("done".into(), 200)
        ]
    );
    // Three tries, under the one request id.
    let lines = common::calls::logs(&up, &["--request-id", &id]);
    assert_eq!(
        lines.matches("invoke POST /invoke request").count(),
        3,
        "{lines}"
    );

    // FC's limit on an asynchronous payload.
    let big = "x".repeat(129 * 1024);
    let r = reqwest::Client::new()
        .post(format!(
            "{}/2023-03-30/functions/worker/invocations",
            up.url
        ))
        .header("x-fc-invocation-type", "Async")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["Code"], "EntityTooLarge");

    let deleted = sdk(
        &up,
        r#"
client.delete_async_invoke_config("worker", fc.DeleteAsyncInvokeConfigRequest())
try:
    client.get_async_invoke_config("worker", fc.GetAsyncInvokeConfigRequest())
    print(json.dumps({"after": "still there"}))
except ClientException as e:
    print(json.dumps({"after": e.code}))
"#,
    );
    assert_eq!(deleted["after"], "AsyncConfigNotExists");
    let (_, printed) = up.stop();
    assert!(
        printed.iter().any(|l| l.contains(
            "asynchronous: 2 queued, 2 tried again, 0 dropped for their age, 1 sent to a destination"
        )),
        "{printed:#?}"
    );
    // Its failed tries were tried again until one succeeded: the request did not fail.
    assert!(
        printed.iter().any(|l| l.starts_with("verdict: passed")),
        "{printed:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_stopped_up_left_queued_runs_when_it_starts_again() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml(0, 400));
    let up = Up::start_on(project.path(), "127.0.0.1:0", &["--max-instances", "1"]);
    wait_for_output(&up, "Ctrl-C").await;
    let client = reqwest::Client::new();
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..20 {
        let r = client
            .post(format!(
                "{}/2023-03-30/functions/worker/invocations",
                up.url
            ))
            .header("x-fc-invocation-type", "Async")
            .body(format!("event {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        ids.insert(r.headers()["x-fc-request-id"].to_str().unwrap().to_string());
    }
    until_events(&up, "invoke.end", 2).await;
    let (code, printed) = up.stop();
    assert_eq!(code, 0, "{printed:#?}");
    let queued = std::fs::read_dir(project.path().join(".fcemu/async"))
        .unwrap()
        .count();
    assert!(
        queued > 0 && queued < 20,
        "{queued} left queued: {printed:#?}"
    );

    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed(&format!("resuming {queued} asynchronous invocation")),
        "{:#?}",
        up.output()
    );
    until_events(&up, "invoke.end", queued).await;
    let ran: std::collections::BTreeSet<String> = events_named(&up, "invoke.end")
        .await
        .iter()
        .map(|e| e["requestId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran.len(), queued);
    assert!(ran.is_subset(&ids));
    assert_eq!(
        std::fs::read_dir(project.path().join(".fcemu/async"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[test]
fn fcemu_destinations_prints_what_went_to_the_sink_and_follows_it() {
    let project = tempfile::tempdir().unwrap();
    let sink = project.path().join(".fcemu/destinations");
    std::fs::create_dir_all(&sink).unwrap();
    let line = |id: &str, condition: &str| {
        format!(
            "{}\n",
            serde_json::json!({
                "ts": "2026-12-03T10:00:00.000Z", "destination": "acs:mns:cn-hangzhou:1:/queues/dead/messages",
                "functionName": "worker",
                "event": { "requestContext": { "requestId": id, "condition": condition } },
            })
        )
    };
    std::fs::write(
        sink.join("deliveries.jsonl"),
        line("r-1", "UnhandledInvocationError"),
    )
    .unwrap();
    let dir = project.path().to_str().unwrap();
    let text = fcemu(&["destinations", dir]);
    let printed = String::from_utf8_lossy(&text.stdout);
    assert!(
        printed.contains(
            "acs:mns:cn-hangzhou:1:/queues/dead/messages  worker  UnhandledInvocationError  r-1"
        ),
        "{printed}"
    );
    let json = fcemu(&["destinations", dir, "--format", "json"]);
    let first: Value =
        serde_json::from_slice(json.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["event"]["requestContext"]["requestId"], "r-1");

    // --follow prints what comes after it started, a line at a time.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_fcemu"))
        .args(["destinations", dir, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut seen = String::new();
    std::io::BufRead::read_line(&mut out, &mut seen).unwrap();
    assert!(seen.contains("r-1"), "{seen}");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(sink.join("deliveries.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut file, line("r-2", "").as_bytes()).unwrap();
    seen.clear();
    std::io::BufRead::read_line(&mut out, &mut seen).unwrap();
    assert!(seen.contains("success  r-2"), "{seen}");
    follow.kill().unwrap();
    let _ = follow.wait();
}
