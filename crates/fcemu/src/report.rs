//! A run's summary as files and words: `.fcemu/summary.json` (every shutdown), a JUnit XML report of the hook
//! runs (`--junit FILE`, so CI systems show a failing hook as a failing test), and the verdict lines.

use fcemu_control::summary::{HookRun, Summary};
use std::path::Path;

/// Where `up` leaves the summary of its last run, in the project folder.
pub const SUMMARY_FILE: &str = ".fcemu/summary.json";

pub fn write_summary(project_dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(summary).expect("a summary serializes");
    crate::state::write(&project_dir.join(SUMMARY_FILE), &(json + "\n"))
}

/// The verdict in words: one line when the run passed, else a line per failed hook and request; and one
/// more when the kept history lost lines.
pub fn verdict_lines(summary: &Summary) -> Vec<String> {
    let mut lines = judged_lines(summary);
    lines.extend(async_line(summary));
    lines.extend(history_line(summary));
    lines
}

/// What became of the asynchronous invocations, when there were any.
fn async_line(summary: &Summary) -> Option<String> {
    let a = &summary.asynchronous;
    (a.enqueued > 0).then(|| {
        let fired = match a.fired {
            0 => String::new(),
            n => format!(" ({n} by triggers)"),
        };
        format!(
            "asynchronous: {} queued{fired}, {} tried again, {} dropped for their age, {} sent to a destination",
            a.enqueued, a.retried, a.expired, a.delivered
        )
    })
}

/// What the history files lost, if anything.
fn history_line(summary: &Summary) -> Option<String> {
    let h = &summary.history;
    let parts: Vec<String> = [
        (h.logs.dropped, "log lines dropped past --history-limit"),
        (h.logs.unwritten, "log lines that could not be written"),
        (h.events.dropped, "events dropped past --history-limit"),
        (h.events.unwritten, "events that could not be written"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "history: {} (queries say where they are missing)",
            parts.join(", ")
        )
    })
}

fn judged_lines(summary: &Summary) -> Vec<String> {
    let hooks = summary.hooks.len();
    let requests: u64 = summary.invocations.values().sum();
    if summary.passed {
        return vec![format!(
            "verdict: passed ({hooks} hook run{}, {requests} request{}; every hook succeeded, no request failed)",
            plural(hooks),
            plural(requests as usize)
        )];
    }
    let mut lines = vec![format!(
        "verdict: failed ({} of {hooks} hook runs failed, {} request{} failed or lost)",
        summary.failed_hooks().count(),
        summary.failed_requests.len(),
        plural(summary.failed_requests.len())
    )];
    lines.extend(summary.failed_hooks().map(failed_hook_line));
    for r in &summary.failed_requests {
        let field = |k: &str| {
            r.get(k)
                .map(|v| v.to_string().trim_matches('"').to_string())
        };
        lines.push(format!(
            "  request {} of {}: {}",
            field("requestId").unwrap_or_default(),
            field("functionName").unwrap_or_default(),
            field("error")
                .or_else(|| field("status").map(|s| format!("HTTP {s}")))
                .unwrap_or_default()
        ));
    }
    lines
}

/// One failed hook run, as the verdict lists it.
pub fn failed_hook_line(h: &HookRun) -> String {
    format!(
        "  {} of {} on instance {}: {}",
        h.hook,
        h.function_name,
        h.instance_id,
        h.error.as_deref().unwrap_or_default()
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Each hook run as a JUnit test case, in one suite.
pub fn junit(summary: &Summary) -> String {
    let failures = summary.failed_hooks().count();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"fcemu lifecycle hooks\" tests=\"{}\" failures=\"{failures}\">\n",
        summary.hooks.len()
    );
    for h in &summary.hooks {
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{} {} ({})\" time=\"{:.3}\"",
            escape(&h.function_name),
            h.hook,
            escape(&h.instance_id),
            escape(&h.request_id),
            h.duration_ms / 1000.0
        ));
        match &h.error {
            Some(error) => xml.push_str(&format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                escape(error)
            )),
            None => xml.push_str("/>\n"),
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
