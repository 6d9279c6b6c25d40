//! FC's async tasks (`asyncTask: true` in `asyncInvokeConfig`): each asynchronous invocation of such a
//! function is a task whose life is recorded (Enqueued, Running, Retrying, then Succeeded, Failed, Expired or
//! Stopped, with a timestamped event for each step), read by GetAsyncTask and ListAsyncTasks and ended by
//! StopAsyncTask. A client may name its task (`x-fc-async-task-id`); otherwise the request id names it. The
//! records are kept under `.fcemu/tasks/`, so those of a stopped `up` are there for the next one.

use crate::async_queue::QueuedEvent;
use crate::control_plane::ControlPlane;
use crate::task_record::{AsyncTask, StopRefused, TaskFilter, TaskStatus, is_task_id, now_ms};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

impl ControlPlane {
    fn tasks_dir(&self) -> Option<PathBuf> {
        self.shared
            .options
            .state_dir
            .as_ref()
            .map(|d| d.join("tasks"))
    }

    /// Records a queued event as a new task, Enqueued; false when the function has a task of its id already
    /// (an event that is not a task is always let through).
    pub(crate) fn open_task(&self, event: &QueuedEvent, payload: &[u8]) -> bool {
        let Some(task_id) = &event.task_id else {
            return true;
        };
        let now = now_ms();
        let mut task = AsyncTask {
            task_id: task_id.clone(),
            request_id: event.request_id.clone(),
            function_name: event.function_name.clone(),
            function_arn: self.function_arn(&event.function_name),
            qualifier: "LATEST".into(),
            status: TaskStatus::Enqueued,
            already_retried_times: 0,
            started_time: now,
            end_time: None,
            duration_ms: None,
            instance_id: None,
            task_payload: String::from_utf8_lossy(payload).into_owned(),
            return_payload: None,
            task_error_message: None,
            destination_status: None,
            events: Vec::new(),
        };
        task.record_step(TaskStatus::Enqueued, "queued", now);
        let key = (task.function_name.clone(), task_id.clone());
        let mut tasks = self.shared.async_tasks.lock().unwrap();
        if tasks.records.contains_key(&key) {
            return false;
        }
        tasks.records.insert(key, task.clone());
        drop(tasks);
        self.keep_task(&task);
        true
    }

    /// The event's stop signal: cancelled by StopAsyncTask (never, for an event that is not a task).
    pub(crate) fn task_stop(&self, event: &QueuedEvent) -> CancellationToken {
        let Some(task_id) = &event.task_id else {
            return CancellationToken::new();
        };
        let key = (event.function_name.clone(), task_id.clone());
        let mut tasks = self.shared.async_tasks.lock().unwrap();
        let stopped = tasks
            .records
            .get(&key)
            .is_some_and(|t| matches!(t.status, TaskStatus::Stopping | TaskStatus::Stopped));
        let token = tasks.stops.entry(key).or_default().clone();
        if stopped {
            token.cancel();
        }
        token
    }

    /// A step of the task's life: its new state, what happened, and the instance when one ran it.
    pub(crate) fn task_step(
        &self,
        event: &QueuedEvent,
        status: TaskStatus,
        detail: &str,
        instance: Option<&str>,
    ) {
        let Some(task_id) = &event.task_id else {
            return;
        };
        let key = (event.function_name.clone(), task_id.clone());
        let mut tasks = self.shared.async_tasks.lock().unwrap();
        let Some(task) = tasks.records.get_mut(&key) else {
            return;
        };
        // A stop asked for while it ran wins over the try's own end.
        let status = match (task.status, status) {
            (TaskStatus::Stopping, s) if s != TaskStatus::Stopped => return,
            (_, s) => s,
        };
        let now = now_ms();
        task.record_step(status, detail, now);
        task.already_retried_times = event.failed_tries;
        if let Some(instance) = instance {
            task.instance_id = Some(instance.to_string());
        }
        if status.is_final() {
            task.end_time = Some(now);
            task.duration_ms = Some(now.saturating_sub(task.started_time));
            tasks.stops.remove(&key);
        }
        let task = tasks.records[&key].clone();
        drop(tasks);
        self.keep_task(&task);
    }

    /// The task's end: its answer or error, and how it went to its destination.
    pub(crate) fn task_ended(
        &self,
        event: &QueuedEvent,
        status: TaskStatus,
        answer: &[u8],
        error: Option<&str>,
        destination: Option<&str>,
    ) {
        if let Some(task_id) = &event.task_id {
            let key = (event.function_name.clone(), task_id.clone());
            if let Some(task) = self
                .shared
                .async_tasks
                .lock()
                .unwrap()
                .records
                .get_mut(&key)
            {
                task.return_payload = Some(String::from_utf8_lossy(answer).into_owned());
                task.task_error_message = error.map(str::to_string);
                task.destination_status = destination.map(str::to_string);
            }
        }
        self.task_step(event, status, error.unwrap_or("done"), None);
    }

    /// GetAsyncTask.
    pub fn async_task(&self, function: &str, task_id: &str) -> Option<AsyncTask> {
        let tasks = self.shared.async_tasks.lock().unwrap();
        tasks
            .records
            .get(&(function.to_string(), task_id.to_string()))
            .cloned()
    }

    /// ListAsyncTasks: one page of the function's tasks, and the token of the next page if there is one.
    pub fn async_tasks(
        &self,
        function: &str,
        filter: &TaskFilter,
    ) -> (Vec<AsyncTask>, Option<String>) {
        let tasks = self.shared.async_tasks.lock().unwrap();
        let mut found: Vec<&AsyncTask> = tasks
            .records
            .values()
            .filter(|t| t.function_name == function)
            .filter(|t| filter.status.is_none_or(|s| t.status == s))
            .filter(|t| {
                filter
                    .prefix
                    .as_ref()
                    .is_none_or(|p| t.task_id.starts_with(p.as_str()))
            })
            .filter(|t| {
                filter
                    .started_time_begin
                    .is_none_or(|b| t.started_time >= b)
            })
            .filter(|t| filter.started_time_end.is_none_or(|e| t.started_time <= e))
            .collect();
        found.sort_by_key(|t| (t.started_time, t.task_id.clone()));
        if !filter.ascending {
            found.reverse();
        }
        let start = match &filter.next_token {
            Some(token) => found
                .iter()
                .position(|t| t.task_id == *token)
                .map_or(found.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<AsyncTask> = found
            .iter()
            .skip(start)
            .take(filter.limit)
            .map(|t| {
                let mut t = (*t).clone();
                if !filter.include_payload {
                    t.task_payload.clear();
                    t.return_payload = None;
                }
                t
            })
            .collect();
        let more = start + page.len() < found.len();
        let next = more
            .then(|| page.last().map(|t| t.task_id.clone()))
            .flatten();
        (page, next)
    }

    /// StopAsyncTask: the task is Stopping, then Stopped once the loop running it sees the signal: at once
    /// when it waits for a try, or by cutting its try off (the instance that ran it is destroyed).
    pub fn stop_async_task(
        &self,
        function: &str,
        task_id: &str,
    ) -> Result<TaskStatus, StopRefused> {
        let key = (function.to_string(), task_id.to_string());
        let mut tasks = self.shared.async_tasks.lock().unwrap();
        let status = tasks.records.get(&key).ok_or(StopRefused::NoTask)?.status;
        if status.is_final() || status == TaskStatus::Stopping {
            return Err(StopRefused::Ended(status));
        }
        // Stopping until the loop that runs it ends it (at once, when it waits; by cutting a try off).
        let next = TaskStatus::Stopping;
        let task = tasks.records.get_mut(&key).expect("found above");
        task.record_step(next, "stop asked for", now_ms());
        let task = task.clone();
        tasks.stops.entry(key).or_default().cancel();
        drop(tasks);
        self.keep_task(&task);
        Ok(next)
    }

    /// Writes the task's record where the next run finds it (whole or not at all).
    fn keep_task(&self, task: &AsyncTask) {
        let Some(dir) = self.tasks_dir() else { return };
        let name = format!("{}.{}", task.function_name, task.task_id);
        if let Err(e) = crate::files::replace_json(&dir, &name, task) {
            tracing::warn!("async task {} not kept on disk: {e}", task.task_id);
        }
    }

    /// Reads the tasks an earlier run of this project kept. Returns how many.
    pub(crate) fn load_tasks(&self) -> usize {
        let Some(dir) = self.tasks_dir() else {
            return 0;
        };
        let mut tasks = self.shared.async_tasks.lock().unwrap();
        let mut loaded = 0;
        for (_, task) in crate::files::read_json_files::<AsyncTask>(&dir) {
            if let Some(task) = task.filter(|t| is_task_id(&t.task_id)) {
                tasks
                    .records
                    .insert((task.function_name.clone(), task.task_id.clone()), task);
                loaded += 1;
            }
        }
        loaded
    }
}
