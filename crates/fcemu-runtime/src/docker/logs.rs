//! Following what a container prints: the engine's timestamped frames split into lines, each line once
//! (a rotating log is sent again in part), and the log configuration instances get.

use super::engine;
use crate::*;
use bollard::Docker;
use bollard::models::HostConfigLogConfig;
use bollard::query_parameters::LogsOptions;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Everything the container prints, from its start, until it stops.
pub(super) fn follow(docker: &Docker, id: &str) -> BoxStream<'static, Result<LogLine>> {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ..Default::default()
    };
    let id_owned = id.to_string();
    let mut seen = SeenLines::default();
    docker
        .logs(id, Some(options))
        .map_err(move |e| RuntimeError::Logs {
            id: id_owned.clone(),
            source: engine(e),
        })
        .map_ok(move |chunk| {
            let (stream, bytes) = match chunk {
                bollard::container::LogOutput::StdErr { message } => {
                    (OutputStream::Stderr, message)
                }
                other => (OutputStream::Stdout, other.into_bytes()),
            };
            let mut lines = parse_log_frame(&bytes, stream);
            lines.retain(|line| seen.first_time(line));
            futures_util::stream::iter(lines.into_iter().map(Ok))
        })
        .try_flatten()
        .boxed()
}

/// Splits a timestamped log frame (`2024-01-01T00:00:00.123456789Z text\n...`) into lines.
fn parse_log_frame(frame: &[u8], stream: OutputStream) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(frame);
    text.split_terminator('\n')
        .map(|raw| {
            let (ts, line) = match raw.split_once(' ') {
                Some((ts, rest)) => match humantime::parse_rfc3339(ts) {
                    Ok(t) => (t, rest),
                    Err(_) => (SystemTime::now(), raw),
                },
                None => match humantime::parse_rfc3339(raw) {
                    Ok(t) => (t, ""),
                    Err(_) => (SystemTime::now(), raw),
                },
            };
            LogLine {
                ts,
                stream,
                line: line.trim_end_matches('\r').to_string(),
            }
        })
        .collect()
}

/// Where an instance's output goes: json-file (which the engine can follow, whatever the daemon's default
/// driver is), rotated only past 1 GB. Following a log across a rotation loses lines on some engines (20.10
/// skips part of each rotated file), and fcemu keeps every line itself: the engine's file is only the pipe.
pub(super) fn instance_log_config() -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "1g".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    }
}

/// Following a log that the engine rotates (json-file with `max-size`) makes it read some lines again: at
/// a rotation it goes back over part of what it already sent. Within one output stream the engine stamps
/// lines in order, so a line stamped before the newest one seen on its stream, or at that very instant with
/// the same text, was delivered already.
#[derive(Default)]
struct SeenLines {
    /// Per stream (stdout, stderr): the newest stamp, and the lines seen at exactly that stamp.
    newest: [Option<(SystemTime, Vec<u64>)>; 2],
}

impl SeenLines {
    fn first_time(&mut self, line: &LogLine) -> bool {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        line.line.hash(&mut hasher);
        let text = hasher.finish();
        let newest = &mut self.newest[line.stream as usize];
        match newest {
            Some((ts, _)) if line.ts < *ts => false,
            Some((ts, texts)) if line.ts == *ts => {
                if texts.contains(&text) {
                    false
                } else {
                    texts.push(text);
                    true
                }
            }
            _ => {
                *newest = Some((line.ts, vec![text]));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_frames_split_into_stamped_lines() {
        let frame =
            b"2024-05-01T10:00:00.123456789Z first line\n2024-05-01T10:00:00.200000000Z second\n";
        let lines = parse_log_frame(frame, OutputStream::Stdout);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, "first line");
        assert_eq!(lines[1].line, "second");
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1000
        };
        assert_eq!(ms(lines[0].ts), 123);
        assert_eq!(ms(lines[1].ts), 200);
    }

    #[test]
    fn lines_the_engine_sends_again_after_a_rotation_are_dropped() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let line = |ms, stream, text: &str| LogLine {
            ts: at(ms),
            stream,
            line: text.into(),
        };
        let mut seen = SeenLines::default();
        let out = OutputStream::Stdout;
        let err = OutputStream::Stderr;
        let sent = [
            (line(1, out, "a"), true),
            (line(2, out, "b"), true),
            (line(2, out, "b again, same instant"), true),
            // Stderr has its own order: an older stamp there is new.
            (line(1, err, "e"), true),
            (line(3, out, "c"), true),
            // The rotation: the engine goes back and sends b, b again and c once more.
            (line(2, out, "b"), false),
            (line(2, out, "b again, same instant"), false),
            (line(3, out, "c"), false),
            (line(3, out, "c's twin at the same instant"), true),
            (line(4, out, "d"), true),
        ];
        for (l, first) in sent {
            assert_eq!(seen.first_time(&l), first, "{:?} {}", l.stream, l.line);
        }
    }

    #[test]
    fn a_frame_without_timestamp_keeps_its_text() {
        let lines = parse_log_frame(b"no stamp here\n", OutputStream::Stderr);
        assert_eq!(lines[0].line, "no stamp here");
        assert_eq!(lines[0].stream, OutputStream::Stderr);
    }
}
