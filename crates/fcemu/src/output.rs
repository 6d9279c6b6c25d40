//! fcemu's one voice: what it tells people (`info`), warns about (`warning`, `note`) and fails with
//! (`error`), styled in one place; and how log lines, lifecycle events and the s.yaml's warnings read on a
//! terminal.
//!
//! What a function prints reaches the developer's terminal through these lines, so control characters
//! (an escape sequence can move the cursor, rewrite what was printed, set the window title or answer back
//! through the terminal) are shown escaped; a tab stays a tab.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by `up --format json`: stdout then carries only the event stream.
static PEOPLE_ON_STDERR: AtomicBool = AtomicBool::new(false);

/// From now on, lines for people go to stderr, leaving stdout to what programs read.
pub fn people_on_stderr() {
    PEOPLE_ON_STDERR.store(true, Ordering::Relaxed);
}

/// A line for people: what fcemu is doing, a banner, a table.
pub fn info(line: &str) {
    if PEOPLE_ON_STDERR.load(Ordering::Relaxed) {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// A line for people beside a result that goes to stdout (a response body): on stderr.
pub fn aside(line: &str) {
    eprintln!("{line}");
}

/// Something that works, but not as the user may expect: always on stderr.
pub fn warning(message: &str) {
    eprintln!("{}: {message}", styled("warning", "33"));
}

/// What `--verbose` adds: on stderr.
pub fn note(message: &str) {
    eprintln!("{}: {message}", styled("note", "36"));
}

/// Why a command failed, as its last words: on stderr.
pub fn error(message: &str) {
    eprintln!("{}: {message}", styled("fcemu", "31"));
}

/// `word` in bold and the colour `sgr` on a terminal that wants colour (not with `NO_COLOR`), plain
/// otherwise (a pipe, a file, a CI log).
fn styled(word: &str, sgr: &str) -> String {
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[1;{sgr}m{word}\x1b[0m")
    } else {
        word.to_string()
    }
}

/// Warnings always; with `--verbose`, also the fields accepted and ignored.
pub fn say_warnings(project: &fcemu_spec::Project, verbose: bool) {
    for warning in &project.warnings {
        self::warning(warning);
    }
    if verbose {
        for field in &project.ignored {
            note(&format!(
                "{field}: accepted and ignored (it means nothing locally)"
            ));
        }
    }
}

/// What `up` emulates of the wiring FC gives functions, and with what (`validate --verbose`; `up` says it as
/// it prepares each).
pub fn say_emulated(project: &fcemu_spec::Project) {
    for f in &project.functions {
        for m in &f.container.storage {
            let (what, folder) = match m.kind {
                fcemu_spec::StorageKind::Nas => ("NAS", "nas"),
                fcemu_spec::StorageKind::Oss => ("OSS bucket", "oss"),
            };
            note(&format!(
                "function {}: {what} {} at {}{}: emulated by a folder under .fcemu/storage/{folder}/ shared by whatever mounts the same (or --mount {}=DIR)",
                f.name,
                m.source,
                m.mount_dir,
                if m.read_only { ", read-only" } else { "" },
                m.mount_dir
            ));
        }
        if let Some(role) = &f.role {
            note(&format!(
                "function {}: role {role}: its requests carry the keys of access {} in ~/.s/access.yaml, or of ALIBABA_CLOUD_ACCESS_KEY_ID in the environment (--no-credentials: none)",
                f.name,
                project.access.as_deref().unwrap_or("default")
            ));
        }
    }
    for f in &project.functions {
        if let Some(a) = &f.async_invoke {
            let to = |d: &Option<fcemu_spec::Destination>| match d {
                None => "nowhere".to_string(),
                Some(fcemu_spec::Destination::Function { name, .. }) => format!("function {name}"),
                Some(d) => format!(
                    "{} (a line in .fcemu/destinations/deliveries.jsonl)",
                    d.arn()
                ),
            };
            note(&format!(
                "function {}: asyncInvokeConfig: queued under .fcemu/async/ (kept across runs), tried {} more time{} on a function error, dropped after {} s; success to {}, failure to {}",
                f.name,
                a.max_async_retry_attempts,
                if a.max_async_retry_attempts == 1 {
                    ""
                } else {
                    "s"
                },
                a.max_async_event_age_in_seconds,
                to(&a.on_success),
                to(&a.on_failure),
            ));
        }
    }
    for (what, auth) in protected(project) {
        note(&format!("{what}: {}", auth_said(auth)));
    }
    for said in project.functions.iter().filter_map(sessions_said) {
        note(&format!("session affinity: {said}"));
    }
    for d in &project.domains {
        for r in &d.routes {
            note(&format!(
                "custom domain {} ({}): route {} -> function {}: routed by fcemu on its listen address, in FC's order (exact paths, then the longest prefix)",
                d.domain_name, d.resource, r.path, r.function_name
            ));
        }
    }
}

/// What fcemu does for a function's session affinity and isolation, in one line; None without either.
pub fn sessions_said(f: &fcemu_spec::FunctionSpec) -> Option<String> {
    use fcemu_spec::{AffinityKind, IsolationMode};
    let isolation = match f.instance_isolation_mode {
        IsolationMode::Share => "",
        IsolationMode::SessionExclusive => {
            "; SESSION_EXCLUSIVE: an instance serves one session only"
        }
        IsolationMode::RequestExclusive => {
            "; REQUEST_EXCLUSIVE: an instance serves one request at a time"
        }
    };
    let Some(a) = &f.session_affinity else {
        return (!isolation.is_empty()).then(|| {
            format!(
                "function {}: instanceIsolationMode{}",
                f.name,
                &isolation[1..]
            )
        });
    };
    let bound = match &a.kind {
        AffinityKind::HeaderField { header } => {
            format!(
                "the session is named in header {header} (made and sent back when a request has none)"
            )
        }
        AffinityKind::GeneratedCookie => {
            "the session is named in cookie x-fc-cookie-session-id (set on the first answer)"
                .to_string()
        }
        AffinityKind::McpSse { sse_path } => format!(
            "a GET of {sse_path} opens a session named by its stream's endpoint event, held up to the timeout ({} s)",
            f.timeout.as_secs()
        ),
        AffinityKind::McpStreamable => {
            "the Mcp-Session-Id of an answer binds a session; DELETE ends it".to_string()
        }
    };
    let lives = if matches!(a.kind, AffinityKind::McpSse { .. }) {
        String::new()
    } else {
        format!(
            ", lives {} s{}",
            a.ttl.as_secs(),
            if a.idle_timeout.is_zero() {
                String::new()
            } else {
                format!(" or {} s idle", a.idle_timeout.as_secs())
            }
        )
    };
    Some(format!(
        "function {}: {}: {bound}; {} session{} per instance{lives}; its instance is not reclaimed while it lives{isolation} (fcemu sessions)",
        f.name,
        a.kind.fc_name(),
        a.per_instance,
        if a.per_instance == 1 { "" } else { "s" },
    ))
}

/// Each HTTP trigger and custom domain whose authType is not anonymous, named.
pub fn protected(project: &fcemu_spec::Project) -> Vec<(String, &fcemu_spec::TriggerAuth)> {
    let triggers = project.functions.iter().filter_map(|f| {
        let t = f.http_trigger.as_ref()?;
        Some((
            format!("function {}'s HTTP trigger {}", f.name, t.name),
            &t.auth,
        ))
    });
    let domains = project
        .domains
        .iter()
        .map(|d| (format!("custom domain {}", d.domain_name), &d.auth));
    triggers
        .chain(domains)
        .filter(|(_, auth)| **auth != fcemu_spec::TriggerAuth::Anonymous)
        .collect()
}

/// What fcemu checks for an authType.
pub fn auth_said(auth: &fcemu_spec::TriggerAuth) -> String {
    match auth {
        fcemu_spec::TriggerAuth::Anonymous => "anyone may call it".into(),
        fcemu_spec::TriggerAuth::Function => "authType function: requests must be signed with the AccessKey of the access (FC's signature or the SDKs' ACS3-HMAC-SHA256), else FC's 403".into(),
        fcemu_spec::TriggerAuth::Jwt(jwt) => format!(
            "authType jwt: a token in {} must verify against its {} JWKS key{} and be unexpired, else FC's 403",
            jwt.token_lookup
                .iter()
                .map(|t| format!("{:?} {}", t.kind, t.name).to_lowercase())
                .collect::<Vec<_>>()
                .join(" or "),
            jwt.jwks["keys"].as_array().map_or(0, Vec::len),
            if jwt.jwks["keys"].as_array().map_or(0, Vec::len) == 1 { "" } else { "s" },
        ),
    }
}

/// `text` with every control character but tab written as an escape (`\x1b`, `\r`, `\u{9b}`); the text
/// itself when it has none, which is nearly always.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            c if unsafe_char(c) && (c as u32) < 0x80 => {
                let _ = write!(shown, "\\x{:02x}", c as u32);
            }
            c if unsafe_char(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", c as u32);
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

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
        "system" | "gap" => "»",
        "stderr" => "!",
        _ => "|",
    };
    format!(
        "{} {} {} {marker} {}",
        clock(ts),
        printable(function),
        printable(short_instance(instance)),
        printable(line)
    )
}

/// One event as a line: `12:00:01.234 instance.ready hello c1a2b3c4 initDurationMs=812.4 ...`.
pub fn event_line(event: &Value) -> String {
    let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
    let mut line = format!(
        "{} {:<22} {}",
        clock(s("ts")),
        printable(s("event")),
        printable(s("functionName"))
    );
    if let Some(id) = event.get("instanceId").and_then(Value::as_str) {
        line.push(' ');
        line.push_str(&printable(short_instance(id)));
    }
    if let Some(map) = event.as_object() {
        for (k, v) in map {
            if matches!(k.as_str(), "ts" | "event" | "functionName" | "instanceId") {
                continue;
            }
            // Serialised JSON has its control characters escaped already; a string's own text does not.
            match v {
                Value::String(text) => {
                    let _ = write!(line, " {k}={}", printable(text));
                }
                other => {
                    let _ = write!(line, " {k}={other}");
                }
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

    #[test]
    fn control_characters_a_function_prints_are_shown_escaped_but_tabs_stay() {
        // Clear the screen, set the window title, move the cursor home, a C1 CSI, a bell.
        let hostile = "ok\tthen \u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{9b}31m done";
        assert_eq!(
            printable(hostile),
            "ok\tthen \\x1b[2J\\x1b]0;pwned\\x07\\r\\u{9b}31m done"
        );
        assert!(matches!(printable("plain\ttext é"), Cow::Borrowed(_)));
        let record = serde_json::json!({
            "ts": "2026-01-02T03:04:05.678Z", "functionName": "hello",
            "instanceId": "c-6543ab12-1a2b3c4d-0123456789ab", "stream": "stdout", "line": hostile
        });
        let shown = log_line(&record);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\r'),
            "{shown:?}"
        );
        let event = serde_json::json!({
            "ts": "2026-01-02T03:04:05.678Z", "event": "instance.destroyed", "functionName": "hello",
            "error": "exit 1: \u{1b}[31mred"
        });
        assert!(event_line(&event).ends_with("error=exit 1: \\x1b[31mred"));
    }
}
