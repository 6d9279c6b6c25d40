//! Every line an instance prints, and fcemu's own lifecycle lines, attributed to function, instance,
//! request and hook, kept for the whole run (also after the instance is gone) and queryable.

use crate::journal::Entry;
use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;

/// The hook or phase a line belongs to, as FC's log search names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookKind {
    Initialize,
    Invoke,
    PreStop,
    /// FC 2.0's hook before each freeze.
    PreFreeze,
}

impl HookKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "initialize" | "initializer" => Some(HookKind::Initialize),
            "invoke" => Some(HookKind::Invoke),
            "prestop" | "pre-stop" | "pre_stop" => Some(HookKind::PreStop),
            "prefreeze" | "pre-freeze" | "pre_freeze" => Some(HookKind::PreFreeze),
            _ => None,
        }
    }
}

/// A runtime's own `FC Invoke Start RequestId: <id>` or `FC PreStop End RequestId: <id>` line: where a
/// request's or hook's output begins or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bracket<'a> {
    pub start: bool,
    pub hook: HookKind,
    pub request_id: &'a str,
}

impl<'a> Bracket<'a> {
    pub fn parse(line: &'a str) -> Option<Self> {
        let rest = line.strip_prefix("FC ")?;
        let (word, rest) = rest.split_once(' ')?;
        let hook = match word {
            "Initialize" => HookKind::Initialize,
            "Invoke" => HookKind::Invoke,
            "PreStop" => HookKind::PreStop,
            "PreFreeze" => HookKind::PreFreeze,
            _ => return None,
        };
        let (start, request_id) = if let Some(id) = rest.strip_prefix("Start RequestId: ") {
            (true, id)
        } else {
            (false, rest.strip_prefix("End RequestId: ")?)
        };
        let request_id = request_id.trim_end();
        (!request_id.is_empty() && !request_id.contains(' ')).then_some(Bracket {
            start,
            hook,
            request_id,
        })
    }
}

/// One kept log line. Serialized as the `/_fcemu/logs` contract: `ts, functionName, instanceId, requestId,
/// stream, line` (plus `hook`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    /// When the line was printed (Docker's stamp) or written (fcemu's own lines).
    #[serde(serialize_with = "crate::events::rfc3339_millis")]
    pub ts: SystemTime,
    pub function_name: Arc<str>,
    pub instance_id: Arc<str>,
    pub request_id: Option<Arc<str>>,
    /// `stdout`, `stderr`, or `system` for fcemu's own lines.
    pub stream: &'static str,
    pub line: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookKind>,
}

/// A log query; empty fields match everything.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub function: Option<String>,
    pub instance: Option<String>,
    pub request_id: Option<String>,
    pub hook: Option<HookKind>,
}

impl LogQuery {
    /// The same test on a line read back from the spill file. A line that stands for missing ones matches
    /// every query: the reader learns that lines are missing, and they may be among what it asked for.
    pub fn matches_json(&self, r: &serde_json::Value) -> bool {
        let field = |k: &str| r.get(k).and_then(serde_json::Value::as_str);
        if field("stream") == Some(GAP_STREAM) {
            return true;
        }
        self.function
            .as_deref()
            .is_none_or(|f| field("functionName") == Some(f))
            && self
                .instance
                .as_deref()
                .is_none_or(|i| field("instanceId") == Some(i))
            && self
                .request_id
                .as_deref()
                .is_none_or(|id| field("requestId") == Some(id))
            && self
                .hook
                .is_none_or(|h| r.get("hook") == serde_json::to_value(h).ok().as_ref())
    }

    /// The same test on an entry of the journal, kept in memory or read back from the spill file.
    pub fn matches_entry(&self, entry: &Entry<LogRecord>) -> bool {
        match entry {
            Entry::Kept(r) => self.matches(r),
            Entry::Spilled(line) => serde_json::from_str(line).is_ok_and(|v| self.matches_json(&v)),
        }
    }

    pub fn matches(&self, r: &LogRecord) -> bool {
        self.function
            .as_deref()
            .is_none_or(|f| f == &*r.function_name)
            && self
                .instance
                .as_deref()
                .is_none_or(|i| i == &*r.instance_id)
            && self
                .request_id
                .as_deref()
                .is_none_or(|id| r.request_id.as_deref() == Some(id))
            && self.hook.is_none_or(|h| r.hook == Some(h))
    }
}

/// Every log line of the run, in order.
pub type LogStore = crate::journal::Journal<LogRecord>;

impl LogStore {
    /// The lines still in memory that match: the recent ones.
    pub fn query(&self, q: &LogQuery) -> Vec<Arc<LogRecord>> {
        self.snapshot()
            .into_iter()
            .filter(|r| q.matches(r))
            .collect()
    }

    /// The lines of the run that match, the spilled ones included, a page at a time (each read on a
    /// blocking thread: the spill files can be large).
    pub fn query_pages(
        self: &Arc<Self>,
        q: LogQuery,
    ) -> impl futures_util::Stream<Item = Vec<Entry<LogRecord>>> + Send + 'static {
        use futures_util::StreamExt;
        self.pages(0)
            .map(move |page| page.into_iter().filter(|e| q.matches_entry(e)).collect())
    }
}

/// The stream name of the line that stands for missing lines in the history.
const GAP_STREAM: &str = "gap";

/// The log line a reader gets where lines of the history are missing.
pub fn gap_line(
    lines: usize,
    reason: crate::journal::GapReason,
    at: std::time::SystemTime,
) -> String {
    serde_json::json!({
        "ts": crate::events::timestamp(at),
        "functionName": "",
        "instanceId": "",
        "requestId": "",
        "stream": GAP_STREAM,
        "line": crate::journal::gap_words(lines, reason),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtimes_start_and_end_lines_are_brackets() {
        let b =
            Bracket::parse("FC Invoke Start RequestId: 1-6650f0a0-0a1b2c3d-4e5f60718293").unwrap();
        assert_eq!(
            (b.start, b.hook, b.request_id),
            (true, HookKind::Invoke, "1-6650f0a0-0a1b2c3d-4e5f60718293")
        );
        let b = Bracket::parse("FC PreStop End RequestId: r-1").unwrap();
        assert_eq!(
            (b.start, b.hook, b.request_id),
            (false, HookKind::PreStop, "r-1")
        );
        for not in [
            "FC Invoke Retried RequestId: r-1: gone",
            "FC Initialize End RequestId: r-1 Duration: 3.00 ms",
            "FC Instance Ready InstanceId: c-1",
            "my FC Invoke Start RequestId: r-1",
            "FC Invoke Start RequestId: ",
        ] {
            assert_eq!(Bracket::parse(not), None, "{not}");
        }
    }
}
