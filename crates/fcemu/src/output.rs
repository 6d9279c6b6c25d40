//! How log lines and lifecycle events read on a terminal.

use serde_json::Value;

/// `HH:MM:SS.mmm` out of an RFC 3339 timestamp.
fn clock(ts: &str) -> &str {
    ts.get(11..23).unwrap_or(ts)
}

/// `c-6543ab12-...` reads as its random middle part: short, and unique enough on one screen.
pub fn short_instance(id: &str) -> &str {
    id.get(11..19).unwrap_or(id)
}

/// One log line: `12:00:01.234 hello c1a2b3c4 | the line` (fcemu's own lines marked with `»`).
pub fn log_line(record: &Value) -> String {
    let s = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or("");
    format_log(
        s("ts"),
        s("functionName"),
        s("instanceId"),
        s("stream"),
        s("line"),
    )
}

/// The same, straight from a kept record (no JSON on the way: `up` prints every line).
pub fn log_record_line(r: &fcemu_control::LogRecord) -> String {
    let ts = fcemu_control::events::timestamp(r.ts);
    format_log(&ts, &r.function_name, &r.instance_id, r.stream, &r.line)
}

fn format_log(ts: &str, function: &str, instance: &str, stream: &str, line: &str) -> String {
    let marker = match stream {
        "system" => "»",
        "stderr" => "!",
        _ => "|",
    };
    format!(
        "{} {function} {} {marker} {line}",
        clock(ts),
        short_instance(instance)
    )
}

/// One event as a line: `12:00:01.234 instance.ready hello c1a2b3c4 initDurationMs=812.4 ...`.
pub fn event_line(event: &Value) -> String {
    let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
    let mut line = format!(
        "{} {:<22} {}",
        clock(s("ts")),
        s("event"),
        s("functionName")
    );
    if let Some(id) = event.get("instanceId").and_then(Value::as_str) {
        line.push(' ');
        line.push_str(short_instance(id));
    }
    if let Some(map) = event.as_object() {
        for (k, v) in map {
            if matches!(k.as_str(), "ts" | "event" | "functionName" | "instanceId") {
                continue;
            }
            match v {
                Value::String(text) => line.push_str(&format!(" {k}={text}")),
                other => line.push_str(&format!(" {k}={other}")),
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_short_and_keep_the_text() {
        let record = serde_json::json!({
            "ts": "2026-01-02T03:04:05.678Z", "functionName": "hello",
            "instanceId": "c-6543ab12-1a2b3c4d-0123456789ab", "stream": "stderr", "line": "boom"
        });
        assert_eq!(log_line(&record), "03:04:05.678 hello 1a2b3c4d ! boom");
        let event = serde_json::json!({
            "ts": "2026-01-02T03:04:05.678Z", "event": "instance.destroyed", "functionName": "hello",
            "instanceId": "c-6543ab12-1a2b3c4d-0123456789ab", "reason": "shutdown"
        });
        assert_eq!(
            event_line(&event),
            "03:04:05.678 instance.destroyed     hello 1a2b3c4d reason=shutdown"
        );
    }
}
