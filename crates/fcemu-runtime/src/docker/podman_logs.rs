//! Following a container's log on Podman 4, whose follow is not whole: it skips lines of a log written
//! fast, it ends when the container is paused (fcemu freezes an instance between requests through Podman's
//! pause), and it ends when the container exits before it reached the end of its file. Each time a follow
//! ends, the container's state says what comes next: paused, wait until it is thawed; running, follow
//! again from the second of the last line delivered (Podman stamps lines to the second); ended, read the
//! whole log once more, which is complete. A line read again is known by its place among those delivered,
//! in the log's order, and only lines not delivered before come out.
//!
//! A followed line is stamped when it comes here: Podman's stamp, to the second, would put a request's
//! lines before its start. A line only the last read brings keeps Podman's stamp.

use super::logs::{self, Reading};
use crate::*;
use bollard::Docker;
use bollard::models::ContainerStateStatusEnum as Status;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Everything the container prints, from its start, until it stops, each line once.
pub(super) fn follow(
    docker: &Docker,
    id: &str,
    thaws: &Thaws,
) -> BoxStream<'static, Result<LogLine>> {
    let log = Arc::new(Log {
        docker: docker.clone(),
        id: id.to_string(),
        thaws: thaws.clone(),
        delivered: Mutex::default(),
    });
    futures_util::stream::unfold(Some(Step::Follow), move |step| {
        let log = log.clone();
        async move {
            Some(match step? {
                Step::Follow => {
                    let since = log.delivered.lock().unwrap().last_second();
                    let how = Reading {
                        follow: true,
                        // A line the follow cut short is not delivered: a later read has all of it.
                        last_part: false,
                        since,
                    };
                    (log.read(how), Some(Step::Look))
                }
                Step::Look => (
                    futures_util::stream::empty().boxed(),
                    Some(log.look().await),
                ),
                Step::Whole => {
                    let how = Reading {
                        follow: false,
                        last_part: true,
                        since: 0,
                    };
                    (log.read(how), None)
                }
            })
        }
    })
    .flatten()
    .boxed()
}

enum Step {
    /// Follow the log from the last line delivered.
    Follow,
    /// The follow ended: what now.
    Look,
    /// The container ended: the whole log, once.
    Whole,
}

struct Log {
    docker: Docker,
    id: String,
    thaws: Thaws,
    delivered: Mutex<Delivered>,
}

impl Log {
    /// One read of the log: the lines not delivered before. A follow cut by an error ends like a follow
    /// that ends (what it did not bring, the next read does); the last read's error is the stream's.
    fn read(self: Arc<Self>, how: Reading) -> BoxStream<'static, Result<LogLine>> {
        let mut place = self.delivered.lock().unwrap().place_of(how.since);
        logs::read(&self.docker, &self.id, how)
            .filter_map(move |item| {
                let line = match item {
                    Ok(line) => line,
                    Err(e) if how.follow => {
                        tracing::debug!("{}", error_chain(&e));
                        return std::future::ready(None);
                    }
                    Err(e) => return std::future::ready(Some(Err(e))),
                };
                let new = self.delivered.lock().unwrap().first_time(&mut place, &line);
                std::future::ready(new.then(|| {
                    let ts = if how.follow {
                        SystemTime::now()
                    } else {
                        line.ts
                    };
                    Ok(LogLine { ts, ..line })
                }))
            })
            .boxed()
    }

    /// What follows a follow that ended, from the container's state. The thaw signal lives while it
    /// waits.
    async fn look(&self) -> Step {
        let thawed = self.thaws.signal(&self.id);
        let next = loop {
            let state = self.docker.inspect_container(&self.id, None).await;
            let status = state.ok().and_then(|c| c.state).and_then(|s| s.status);
            match status {
                Some(Status::RUNNING) => break Step::Follow,
                // Thawed by fcemu, or (paused from outside) seen thawed within a second.
                Some(Status::PAUSED) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), thawed.notified()).await;
                }
                // On its way to running or to its end.
                Some(Status::STOPPING | Status::RESTARTING | Status::CREATED) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => break Step::Whole,
            }
        };
        self.thaws.forget(&self.id);
        next
    }
}

/// The lines delivered, in the log's order: each one's stream and text hashed, and the second Podman
/// stamped it.
#[derive(Default)]
struct Delivered(Vec<(u64, u64)>);

impl Delivered {
    /// Where a read of the lines stamped from `since` on starts among those delivered.
    fn place_of(&self, since: i32) -> usize {
        let since = u64::try_from(since).unwrap_or_default();
        self.0.partition_point(|&(_, second)| second < since)
    }

    /// The second of the last line delivered, where the next follow starts (0: none yet).
    fn last_second(&self) -> i32 {
        let second = self.0.last().map_or(0, |&(_, second)| second);
        i32::try_from(second).unwrap_or(i32::MAX)
    }

    /// Whether `line`, read after the delivered lines before `place`, is new. A line read again is the
    /// first delivered one at or after `place` with its stream and text (those in between were missed by
    /// this read); a new one takes its place there, in the log's order.
    fn first_time(&mut self, place: &mut usize, line: &LogLine) -> bool {
        let hashed = fingerprint(line);
        match self.0[*place..].iter().position(|&(h, _)| h == hashed) {
            Some(k) => {
                *place += k + 1;
                false
            }
            None => {
                let second = line
                    .ts
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.0.insert(*place, (hashed, second));
                *place += 1;
                true
            }
        }
    }
}

/// A line's stream and text, hashed.
fn fingerprint(line: &LogLine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (line.stream as u8, &line.line).hash(&mut hasher);
    hasher.finish()
}

/// Thaws through the engine, told to the log follows waiting for them.
#[derive(Default, Clone)]
pub(super) struct Thaws(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl Thaws {
    /// What a follow waits on for the container's thaw (made before it looks, so a thaw between its look
    /// and its wait is not missed).
    fn signal(&self, id: &str) -> Arc<Notify> {
        self.0
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// The container was thawed.
    pub fn thawed(&self, id: &str) {
        if let Some(signal) = self.0.lock().unwrap().get(id) {
            signal.notify_one();
        }
    }

    fn forget(&self, id: &str) {
        self.0.lock().unwrap().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(second: u64, text: &str) -> LogLine {
        LogLine {
            ts: SystemTime::UNIX_EPOCH + Duration::from_millis(second * 1000 + 250),
            stream: OutputStream::Stdout,
            line: text.into(),
        }
    }

    /// Reads `lines` as one read from `since` on; what came out as new.
    fn read(delivered: &mut Delivered, since: i32, lines: &[LogLine]) -> Vec<String> {
        let mut place = delivered.place_of(since);
        lines
            .iter()
            .filter(|l| delivered.first_time(&mut place, l))
            .map(|l| l.line.clone())
            .collect()
    }

    #[test]
    fn a_follow_again_from_the_last_second_brings_only_what_is_new() {
        let mut delivered = Delivered::default();
        // The first follow skipped "b" and ended at a pause.
        let first = [line(10, "a"), line(11, "c")];
        assert_eq!(read(&mut delivered, 0, &first), ["a", "c"]);
        assert_eq!(delivered.last_second(), 11);
        // The next follow starts at second 11: "c" again, then what came after the thaw.
        let again = [line(11, "c"), line(12, "d"), line(12, "d")];
        assert_eq!(read(&mut delivered, 11, &again), ["d", "d"]);
        // The whole log at the end brings the skipped line, and nothing twice.
        let whole = [
            line(10, "a"),
            line(10, "b"),
            line(11, "c"),
            line(12, "d"),
            line(12, "d"),
        ];
        assert_eq!(read(&mut delivered, 0, &whole), ["b"]);
        assert_eq!(read(&mut delivered, 0, &whole), Vec::<String>::new());
    }

    #[test]
    fn equal_lines_are_counted_not_merged() {
        let mut delivered = Delivered::default();
        assert_eq!(
            read(&mut delivered, 0, &[line(5, "x"), line(5, "x")]),
            ["x", "x"]
        );
        // The whole log has three: one was skipped.
        let whole = [line(5, "x"), line(5, "x"), line(5, "x")];
        assert_eq!(read(&mut delivered, 0, &whole), ["x"]);
    }

    #[test]
    fn a_thaw_before_the_wait_is_not_missed() {
        let thaws = Thaws::default();
        let signal = thaws.signal("c1");
        thaws.thawed("c1");
        thaws.thawed("other");
        let waited = futures_util::FutureExt::now_or_never(signal.notified());
        assert!(waited.is_some());
        thaws.forget("c1");
        assert!(thaws.0.lock().unwrap().is_empty());
    }
}
