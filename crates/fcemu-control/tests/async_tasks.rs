//! FC's async tasks (`asyncTask: true`) against the fake runtime (paused clock): a task's states and events
//! through its retries, StopAsyncTask between tries and during one, ListAsyncTasks' filters and pages, and
//! the records a new run of the project reads back.

mod common;

use common::*;
use fcemu_control::testing::shut_down;
use fcemu_control::{ControlPlane, Options, StopRefused, TaskFilter, TaskIdRefused, TaskStatus};
use std::path::Path;
use std::time::Duration;

/// `worker` with asyncTask (its first FAIL requests answer 500, each takes DELAY_MS), failures to a sink.
fn project(fail: u32, delay_ms: u32) -> fcemu_spec::Project {
    let text = format!(
        r#"
edition: 3.0.0
name: tasks
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      timeout: 600
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
      environmentVariables: {{ FIXTURE_INVOKE_FAIL_TIMES: "{fail}", FIXTURE_INVOKE_DELAY_MS: "{delay_ms}" }}
      asyncInvokeConfig:
        asyncTask: true
        maxAsyncRetryAttempts: 8
        destinationConfig: {{ onFailure: {{ destination: "acs:mns:cn-hangzhou:1:/queues/dead/messages" }} }}
"#
    );
    fcemu_spec::parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn with_state(dir: &Path) -> Options {
    Options {
        state_dir: Some(dir.to_path_buf()),
        ..Options::default()
    }
}

fn submit(cp: &ControlPlane, task_id: Option<&str>) -> Result<String, TaskIdRefused> {
    cp.enqueue_task(
        "worker",
        &http::HeaderMap::new(),
        "the task".into(),
        task_id,
    )
    .map(|q| q.task_id.expect("a function with asyncTask queues tasks"))
}

fn status(cp: &ControlPlane, id: &str) -> TaskStatus {
    cp.async_task("worker", id).unwrap().status
}

#[tokio::test(start_paused = true)]
async fn a_task_that_fails_twice_goes_through_running_and_retrying_to_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _fake) = plane(project(2, 0), with_state(dir.path()));
    let id = submit(&cp, Some("order-42")).unwrap();
    assert_eq!(id, "order-42");
    // The id is the function's: a second use is refused, and so is one that is not an id.
    assert_eq!(submit(&cp, Some("order-42")), Err(TaskIdRefused::Taken));
    assert_eq!(submit(&cp, Some("../etc")), Err(TaskIdRefused::Invalid));
    until(&cp, |cp| status(cp, &id).is_final()).await;
    let task = cp.async_task("worker", &id).unwrap();
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert_eq!(task.already_retried_times, 2);
    let steps: Vec<&str> = task.events.iter().map(|e| e.status.name()).collect();
    assert_eq!(
        steps,
        [
            "Enqueued",
            "Running",
            "Retrying",
            "Running",
            "Retrying",
            "Running",
            "Succeeded"
        ]
    );
    assert_eq!(task.task_payload, "the task");
    assert!(
        task.return_payload
            .as_deref()
            .is_some_and(|p| p.contains("\"path\"")),
        "{task:?}"
    );
    assert!(
        task.instance_id
            .as_deref()
            .is_some_and(|i| i.starts_with("c-"))
    );
    assert_eq!(
        task.duration_ms,
        Some(task.end_time.unwrap() - task.started_time)
    );
    assert_eq!(
        task.destination_status, None,
        "a success has no destination here"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_task_stopped_between_tries_is_not_tried_again_nor_sent_to_its_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _fake) = plane(project(100, 0), with_state(dir.path()));
    let id = submit(&cp, None).unwrap();
    until(&cp, |cp| status(cp, &id) == TaskStatus::Retrying).await;
    assert_eq!(
        cp.stop_async_task("worker", &id).unwrap(),
        TaskStatus::Stopping
    );
    until(&cp, |cp| status(cp, &id) == TaskStatus::Stopped).await;
    let tries = |cp: &ControlPlane| {
        cp.events()
            .snapshot()
            .iter()
            .filter(|e| e.event == "invoke.end")
            .count()
    };
    let tried = tries(&cp);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(tries(&cp), tried, "no try after the stop");
    assert!(!dir.path().join("destinations/deliveries.jsonl").exists());
    assert!(matches!(
        cp.stop_async_task("worker", &id),
        Err(StopRefused::Ended(TaskStatus::Stopped))
    ));
    assert!(matches!(
        cp.stop_async_task("worker", "nobody"),
        Err(StopRefused::NoTask)
    ));
    assert_eq!(
        std::fs::read_dir(dir.path().join("async")).unwrap().count(),
        0,
        "it left the queue"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_task_stopped_while_it_runs_is_cut_off_and_its_instance_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _fake) = plane(project(0, 300_000), with_state(dir.path()));
    let id = submit(&cp, None).unwrap();
    until(&cp, |cp| {
        cp.events()
            .snapshot()
            .iter()
            .any(|e| e.event == "invoke.start")
    })
    .await;
    assert_eq!(status(&cp, &id), TaskStatus::Running);
    cp.stop_async_task("worker", &id).unwrap();
    until(&cp, |cp| status(cp, &id) == TaskStatus::Stopped).await;
    until(&cp, |cp| {
        cp.events()
            .snapshot()
            .iter()
            .any(|e| e.event == "instance.destroyed" && e.reason.as_deref() == Some("reclaim"))
    })
    .await;
    let task = cp.async_task("worker", &id).unwrap();
    let steps: Vec<&str> = task.events.iter().map(|e| e.status.name()).collect();
    assert_eq!(steps, ["Enqueued", "Running", "Stopping", "Stopped"]);
    assert!(
        task.instance_id.is_some(),
        "the instance that ran it: {task:?}"
    );
    // Stopped long before the function's five minutes were up.
    assert!(task.duration_ms.unwrap() < 300_000, "{task:?}");
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn tasks_are_listed_by_their_filters_a_page_at_a_time_and_kept_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _fake) = plane(project(0, 0), with_state(dir.path()));
    for n in 0..5 {
        submit(&cp, Some(&format!("batch-{n}"))).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    submit(&cp, Some("other")).unwrap();
    until(&cp, |cp| {
        cp.async_tasks(
            "worker",
            &TaskFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .0
        .iter()
        .all(|t| t.status == TaskStatus::Succeeded)
    })
    .await;
    let page = |next: Option<String>| {
        cp.async_tasks(
            "worker",
            &TaskFilter {
                prefix: Some("batch-".into()),
                limit: 2,
                ascending: true,
                next_token: next,
                ..Default::default()
            },
        )
    };
    let (first, next) = page(None);
    let (second, next) = page(next);
    let (third, last) = page(next);
    let ids: Vec<String> = [first, second, third]
        .concat()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(ids, ["batch-0", "batch-1", "batch-2", "batch-3", "batch-4"]);
    assert_eq!(last, None, "the last page has no next");
    let (without, _) = page(None);
    assert!(
        without[0].task_payload.is_empty(),
        "payloads only when asked"
    );
    let failed = TaskFilter {
        status: Some(TaskStatus::Failed),
        limit: 100,
        ..Default::default()
    };
    assert!(cp.async_tasks("worker", &failed).0.is_empty());
    shut_down(&cp, Duration::from_secs(5)).await;

    // The next run of the project reads the records back.
    let (again, _fake) = plane(project(0, 0), with_state(dir.path()));
    again.resume_async();
    let kept = again.async_task("worker", "batch-3").unwrap();
    assert_eq!(kept.status, TaskStatus::Succeeded);
    assert_eq!(kept.task_payload, "the task");
    shut_down(&again, Duration::from_secs(5)).await;
}
