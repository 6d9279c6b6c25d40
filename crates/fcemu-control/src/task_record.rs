//! An async task's record in FC's shapes (`AsyncTask`, its events and states), ListAsyncTasks' filter, and the
//! run's table of them. What moves a task from state to state is in `async_tasks.rs`.

use serde::{Deserialize, Serialize};
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// A task's state, as FC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    Enqueued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Stopping,
    Stopped,
    Expired,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Enqueued,
        TaskStatus::Running,
        TaskStatus::Retrying,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Stopping,
        TaskStatus::Stopped,
        TaskStatus::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "Enqueued",
            TaskStatus::Running => "Running",
            TaskStatus::Retrying => "Retrying",
            TaskStatus::Succeeded => "Succeeded",
            TaskStatus::Failed => "Failed",
            TaskStatus::Stopping => "Stopping",
            TaskStatus::Stopped => "Stopped",
            TaskStatus::Expired => "Expired",
        }
    }

    pub fn parse(name: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the task has ended (nothing more happens to it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Stopped | TaskStatus::Expired
        )
    }
}

/// One task, in FC's `AsyncTask` shape (and its function's name, for `fcemu tasks`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncTask {
    pub task_id: String,
    pub request_id: String,
    pub function_name: String,
    pub function_arn: String,
    pub qualifier: String,
    pub status: TaskStatus,
    pub already_retried_times: u32,
    /// ms since the epoch.
    pub started_time: u64,
    pub end_time: Option<u64>,
    pub duration_ms: Option<u64>,
    pub instance_id: Option<String>,
    pub task_payload: String,
    pub return_payload: Option<String>,
    pub task_error_message: Option<String>,
    /// The outcome as it went to the destination (`Succeeded`, `Failed`), when it went to one.
    pub destination_status: Option<String>,
    pub events: Vec<TaskEvent>,
}

impl AsyncTask {
    /// The task moves to `status`, with what happened, at `at` (ms since the epoch): its state and the
    /// event that says so, numbered from 1.
    pub(crate) fn record_step(&mut self, status: TaskStatus, detail: &str, at: u64) {
        self.status = status;
        let event_id = self.events.len() as u32 + 1;
        self.events.push(TaskEvent {
            event_id,
            status,
            timestamp: at,
            event_detail: detail.to_string(),
        });
    }
}

/// A step of a task's life.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    pub event_id: u32,
    pub status: TaskStatus,
    pub timestamp: u64,
    pub event_detail: String,
}

/// ListAsyncTasks' filters.
#[derive(Debug, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    /// Task ids starting with this.
    pub prefix: Option<String>,
    pub started_time_begin: Option<u64>,
    pub started_time_end: Option<u64>,
    /// Oldest first; newest first otherwise (FC's default).
    pub ascending: bool,
    pub limit: usize,
    /// Where the previous page ended: the id of its last task.
    pub next_token: Option<String>,
    /// With each task's payloads; without them otherwise.
    pub include_payload: bool,
}

/// Why StopAsyncTask did not stop a task.
#[derive(Debug)]
pub enum StopRefused {
    NoTask,
    /// It ended already, in this state.
    Ended(TaskStatus),
}

/// Whether `id` may name a task: what FC allows, and what can name a file.
pub fn is_task_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn now_ms() -> u64 {
    crate::events::epoch_millis(SystemTime::now())
}

/// Tasks by function and task id, and the stop signal of each that has not ended.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) records: std::collections::BTreeMap<(String, String), AsyncTask>,
    pub(crate) stops: std::collections::HashMap<(String, String), CancellationToken>,
}
