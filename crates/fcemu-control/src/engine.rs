//! Watching the engine: every line a container prints goes into the log store, attributed to request and
//! hook, and a container that ends by itself (an instance exception) is destroyed without PreStop.

use crate::instance::DestroyReason;
use crate::instance::Instance;
use crate::logs::{Bracket, HookKind, LogRecord};
use crate::pool::Pool;
use fcemu_runtime::OutputStream;
use futures_util::StreamExt;
use std::sync::Arc;

impl Pool {
    /// Follows everything the container prints into the log store.
    pub(crate) fn spawn_log_pump(&self, instance: &Arc<Instance>) {
        let shared = &self.shared;
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let mut lines = shared.runtime.logs(&container_id);
        let (instance2, shared2) = (instance.clone(), shared.clone());
        let function = self.function.name.clone();
        // A built-in runtime brackets each request's and hook's output with FC's Start and End lines, in the
        // order it prints: that says exactly whose a line is, where the engine's stamps (taken when it
        // reads the pipe, a little late under load) can fall into the next request's window.
        let brackets = self.function.spec.runtime.prints_lifecycle_lines();
        let pump = tokio::spawn(async move {
            let mut open: Option<(Arc<str>, HookKind)> = None;
            while let Some(item) = lines.next().await {
                let line = match item {
                    Ok(line) => line,
                    Err(e) => {
                        tracing::warn!("{}", fcemu_runtime::error_chain(&e));
                        break;
                    }
                };
                let attributed = match brackets.then(|| Bracket::parse(&line.line)).flatten() {
                    Some(b) if b.start => {
                        open = Some((b.request_id.into(), b.hook));
                        open.clone()
                    }
                    Some(b) => open
                        .take()
                        .filter(|(id, _)| **id == *b.request_id)
                        .or_else(|| Some((b.request_id.into(), b.hook))),
                    None => open.clone().or_else(|| instance2.attribute(line.ts)),
                };
                shared2.logs.push(LogRecord {
                    ts: line.ts,
                    function_name: function.clone(),
                    instance_id: instance2.id.clone(),
                    request_id: attributed.as_ref().map(|a| a.0.clone()),
                    stream: match line.stream {
                        OutputStream::Stdout => "stdout",
                        OutputStream::Stderr => "stderr",
                    },
                    line: line.line,
                    hook: attributed.map(|a| a.1),
                });
            }
        });
        instance.set_log_pump(pump);
    }

    /// An instance whose container ends by itself is an instance exception: it is destroyed without PreStop
    /// (`exited`, or `oom` when the OOM killer ended it).
    pub(crate) fn spawn_exit_watch(self: &Arc<Self>, instance: &Arc<Instance>) {
        let shared = &self.shared;
        let Some(container_id) = instance.container_id() else {
            return;
        };
        let (pool, shared2) = (self.clone(), shared.clone());
        let id = instance.id.clone();
        shared.tasks.spawn(async move {
            let exit = tokio::select! {
                exit = shared2.runtime.wait_exit(&container_id) => exit,
                _ = shared2.shutdown.cancelled() => return,
            };
            let reason = match exit {
                Ok(exit) if exit.oom_killed => DestroyReason::Oom,
                Ok(_) => DestroyReason::Exited,
                Err(e) => {
                    // The wait ends with an error when the container went away (removed behind fcemu's
                    // back, or by fcemu's own destroy): either way the instance is over.
                    tracing::debug!("{}", fcemu_runtime::error_chain(&e));
                    DestroyReason::Exited
                }
            };
            // Unless fcemu is destroying it itself.
            pool.destroy_now(&id, reason, None).await;
        });
    }
}
