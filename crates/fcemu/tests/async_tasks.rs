//! Async tasks with `fcemu up` on Docker, driven by the official SDK (alibabacloud-fc20230330, from PyPI): an
//! invocation that names its task, GetAsyncTask through its retries to Succeeded, ListAsyncTasks with a
//! status filter, StopAsyncTask of a task mid-run (Stopped, its instance destroyed), and `fcemu tasks`.

mod common;

use common::up::*;
use common::*;

fn yaml() -> String {
    format!(
        r#"edition: 3.0.0
name: async-tasks
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      timeout: 120
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      environmentVariables: {{ FIXTURE_INVOKE_FAIL_TIMES: "1" }}
      asyncInvokeConfig: {{ asyncTask: true, maxAsyncRetryAttempts: 2 }}
  slow:
    component: fc3
    props:
      functionName: slow
      runtime: custom-container
      timeout: 120
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      environmentVariables: {{ FIXTURE_INVOKE_DELAY_MS: "60000" }}
      asyncInvokeConfig: {{ asyncTask: true }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_names_follows_lists_and_stops_async_tasks() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml());
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;

    let out = sdk(
        &up,
        r#"
import time
from alibabacloud_tea_util.models import RuntimeOptions
def submit(task_id, function="worker"):
    r = client.invoke_function_with_options(function, fc.InvokeFunctionRequest(body=io.BytesIO(b"the task")),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id), RuntimeOptions())
    return r.status_code, r.headers.get("x-fc-async-task-id")
def get(task_id, function="worker"):
    return client.get_async_task(function, task_id, fc.GetAsyncTaskRequest()).body.to_map()
def until(task_id, done, function="worker"):
    for _ in range(600):
        t = get(task_id, function)
        if done(t["status"]):
            return t
        time.sleep(0.1)
    raise Exception("never: %s" % get(task_id, function))
out = {"submitted": submit("order-1")}
try:
    submit("order-1")
except ClientException as e:
    out["again"] = e.code
first = until("order-1", lambda s: s in ("Succeeded", "Failed"))
out["first"] = {k: first[k] for k in ("status", "alreadyRetriedTimes", "taskId", "requestId")}
out["steps"] = [e["status"] for e in first["events"]]
submit("long", "slow")
listed = client.list_async_tasks("worker", fc.ListAsyncTasksRequest(status="Succeeded", limit=10)).body.to_map()
out["listed"] = [t["taskId"] for t in listed["tasks"]]
print(json.dumps(out))
"#,
    );
    assert_eq!(out["submitted"][0], 202, "{out}");
    assert_eq!(out["submitted"][1], "order-1", "{out}");
    assert_eq!(out["again"], "AsyncTaskAlreadyExists", "{out}");
    assert_eq!(out["first"]["status"], "Succeeded", "{out}");
    assert_eq!(out["first"]["alreadyRetriedTimes"], 1, "{out}");
    assert_eq!(
        out["steps"],
        serde_json::json!(["Enqueued", "Running", "Retrying", "Running", "Succeeded"])
    );
    // The task that takes a minute, stopped once its instance runs it.
    let started = 'started: {
        for _ in 0..600 {
            let started = events_named(&up, "invoke.start").await;
            if let Some(e) = started.into_iter().find(|e| e["functionName"] == "slow") {
                break 'started e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("slow never started: {:#?}", up.output());
    };
    let stop = sdk(
        &up,
        r#"
import time
before = client.get_async_task("slow", "long", fc.GetAsyncTaskRequest()).body.to_map()["status"]
client.stop_async_task("slow", "long", fc.StopAsyncTaskRequest())
for _ in range(600):
    t = client.get_async_task("slow", "long", fc.GetAsyncTaskRequest()).body.to_map()
    if t["status"] == "Stopped":
        break
    time.sleep(0.1)
print(json.dumps({"before": before, "stopped": [t["status"], t["durationMs"], t["instanceId"]]}))
"#,
    );
    assert_eq!(stop["before"], "Running", "{stop}");
    assert_eq!(stop["stopped"][0], "Stopped", "{stop}");
    assert_eq!(stop["stopped"][2], started["instanceId"], "{stop}");
    assert!(
        stop["stopped"][1].as_u64().unwrap() < 60_000,
        "cut off: {stop}"
    );
    // The instance that ran it is destroyed.
    let destroyed = until_events(&up, "instance.destroyed", 1).await;
    assert_eq!(destroyed[0]["functionName"], "slow", "{destroyed:?}");
    assert_eq!(destroyed[0]["reason"], "reclaim", "{destroyed:?}");
    assert_eq!(out["listed"], serde_json::json!(["order-1"]), "{out}");

    // `fcemu tasks` lists both, with their states.
    let listed = fcemu_in(project.path(), &["tasks"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    assert!(
        table.contains("order-1") && table.contains("Succeeded"),
        "{table}"
    );
    assert!(
        table.contains("long") && table.contains("Stopped"),
        "{table}"
    );

    let (code, printed) = up.stop();
    assert_eq!(code, 0, "{printed:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}
