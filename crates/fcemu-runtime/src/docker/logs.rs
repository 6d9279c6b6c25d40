//! Following what a container prints: the engine's timestamped frames joined into whole lines, each line
//! once and none lost (a rotating log is sent again in part), and the log configuration instances get.

use super::engine;
use crate::*;
use bollard::Docker;
use bollard::models::HostConfigLogConfig;
use bollard::query_parameters::LogsOptions;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Everything the container prints, from its start, until it stops. A line the engine sends again (after
/// a rotation) is dropped (`SeenLines`). Podman's follow is not whole: `podman_logs.rs` makes it so.
pub(super) fn follow(
    docker: &Docker,
    id: &str,
    podman: Option<&super::podman_logs::Thaws>,
) -> BoxStream<'static, Result<LogLine>> {
    if let Some(thaws) = podman {
        return super::podman_logs::follow(docker, id, thaws);
    }
    let mut seen = SeenLines::default();
    read(docker, id, Reading::FOLLOW)
        .try_filter(move |line| std::future::ready(seen.first_time(line)))
        .boxed()
}

/// How a log is read.
#[derive(Clone, Copy)]
pub(super) struct Reading {
    /// Until the container stops, or as the log is now.
    pub follow: bool,
    /// At the end, a last line without a newline is delivered.
    pub last_part: bool,
    /// Only lines the engine stamped at or after this second (Unix time; 0: all).
    pub since: i32,
}

impl Reading {
    /// Following from the start, until the container stops.
    pub const FOLLOW: Reading = Reading {
        follow: true,
        last_part: true,
        since: 0,
    };
}

/// The container's log as whole lines, stamped by the engine.
pub(super) fn read(docker: &Docker, id: &str, how: Reading) -> BoxStream<'static, Result<LogLine>> {
    let options = LogsOptions {
        follow: how.follow,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: how.since,
        ..Default::default()
    };
    let id_owned = id.to_string();
    let mut lines = Lines::default();
    docker
        .logs(id, Some(options))
        .map_err(move |e| RuntimeError::Logs {
            id: id_owned.clone(),
            source: engine(e),
        })
        .map(Some)
        // The end of the log completes a last line printed without a newline.
        .chain(futures_util::stream::iter([None]))
        .map(move |frame| {
            let complete = match frame {
                Some(Ok(chunk)) => {
                    let (stream, bytes) = match chunk {
                        bollard::container::LogOutput::StdErr { message } => {
                            (OutputStream::Stderr, message)
                        }
                        other => (OutputStream::Stdout, other.into_bytes()),
                    };
                    lines.frame(&bytes, stream)
                }
                Some(Err(e)) => return futures_util::stream::iter(vec![Err(e)]),
                None if how.last_part => lines.rest(),
                None => Vec::new(),
            };
            futures_util::stream::iter(complete.into_iter().map(Ok).collect::<Vec<_>>())
        })
        .flatten()
        .boxed()
}

/// Frames into whole lines. An engine sends a long line in parts (Docker past 16 KB; Podman wherever its
/// read of the log file ended), each part a frame with a stamp of its own; a part without a newline waits for
/// the rest, and the line keeps its first part's stamp.
#[derive(Default)]
struct Lines {
    /// Per stream (stdout, stderr): the start of a line not yet ended.
    pending: [Option<LogLine>; 2],
}

impl Lines {
    fn frame(&mut self, frame: &[u8], stream: OutputStream) -> Vec<LogLine> {
        let text = String::from_utf8_lossy(frame);
        let mut complete = Vec::new();
        let mut pieces = text.split_inclusive('\n').peekable();
        while let Some(raw) = pieces.next() {
            let ended = raw.ends_with('\n');
            let (ts, part) = stamped(raw.trim_end_matches('\n'));
            let line = match self.pending[stream as usize].take() {
                Some(mut started) => {
                    started.line.push_str(part);
                    started
                }
                None => LogLine {
                    ts,
                    stream,
                    line: part.to_string(),
                },
            };
            if ended {
                complete.push(finished(line));
            } else {
                // Only the last piece of a frame can be unended.
                debug_assert!(pieces.peek().is_none());
                self.pending[stream as usize] = Some(line);
            }
        }
        complete
    }

    /// What is left when the log ends: lines printed without a final newline.
    fn rest(&mut self) -> Vec<LogLine> {
        self.pending
            .iter_mut()
            .filter_map(Option::take)
            .map(finished)
            .collect()
    }
}

fn finished(mut line: LogLine) -> LogLine {
    if line.line.ends_with('\r') {
        line.line.pop();
    }
    line
}

/// A piece of a frame's stamp (`2024-01-01T00:00:00.123456789Z`) and its text; a piece without one is
/// stamped now.
fn stamped(raw: &str) -> (SystemTime, &str) {
    let (ts, rest) = raw.split_once(' ').unwrap_or((raw, ""));
    match humantime::parse_rfc3339(ts) {
        Ok(t) => (t, rest),
        Err(_) => (SystemTime::now(), raw),
    }
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
        let lines = Lines::default().frame(frame, OutputStream::Stdout);
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
        let lines = Lines::default().frame(b"no stamp here\n", OutputStream::Stderr);
        assert_eq!(lines[0].line, "no stamp here");
        assert_eq!(lines[0].stream, OutputStream::Stderr);
    }

    #[test]
    fn a_line_sent_in_parts_is_one_line_with_its_first_parts_stamp() {
        let mut lines = Lines::default();
        let out = OutputStream::Stdout;
        let err = OutputStream::Stderr;
        assert!(
            lines
                .frame(b"2026-12-02T06:28:55Z line 512", out)
                .is_empty()
        );
        // The other stream goes on meanwhile.
        let e = lines.frame(b"2026-12-02T06:28:56Z oops\r\n", err);
        assert_eq!(e[0].line, "oops");
        assert!(
            lines
                .frame(b"2026-12-02T06:28:56Z  padding", out)
                .is_empty()
        );
        let done = lines.frame(
            b"2026-12-02T06:28:57Z -end\n2026-12-02T06:28:57Z next\n",
            out,
        );
        let texts: Vec<&str> = done.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(texts, ["line 512 padding-end", "next"]);
        assert_eq!(
            done[0].ts,
            humantime::parse_rfc3339("2026-12-02T06:28:55Z").unwrap()
        );
        // A last line without a newline comes when the log ends.
        assert!(lines.frame(b"2026-12-02T06:28:58Z bye", out).is_empty());
        let rest = lines.rest();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].line, "bye");
        assert!(lines.rest().is_empty());
    }
}
