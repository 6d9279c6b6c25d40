//! An append-only record of the run, read by position: a follower that falls behind catches up instead of
//! losing entries (a broadcast channel would drop them).
//!
//! Memory holds the newest `capacity` entries. When it is full, the oldest entry is appended to a JSON-lines
//! file (when one is given) before it leaves memory, so memory and file together keep everything while
//! fcemu's footprint stays bounded however long it runs.

use futures_util::Stream;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Entries kept in memory unless said otherwise: a few MB.
pub const DEFAULT_CAPACITY: usize = 20_000;

struct Ring<T> {
    entries: VecDeque<Arc<T>>,
    /// The position of `entries[0]` in the whole run.
    base: usize,
    spill: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    /// Entries that left memory and are not in the spill file yet: serializing them is left to
    /// `write_spill`, off the path of whoever pushes (a request).
    leaving: Vec<Arc<T>>,
}

pub struct Journal<T> {
    ring: Mutex<Ring<T>>,
    capacity: usize,
    appended: Notify,
}

impl<T> Default for Journal<T> {
    fn default() -> Self {
        Journal::new(DEFAULT_CAPACITY)
    }
}

impl<T> Journal<T> {
    pub fn new(capacity: usize) -> Self {
        Journal {
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                base: 0,
                spill: None,
                leaving: Vec::new(),
            }),
            capacity: capacity.max(1),
            appended: Notify::new(),
        }
    }
}

impl<T: Serialize + Send + Sync + 'static> Journal<T> {
    /// Entries that leave memory are appended to `file` (created anew).
    pub fn spill_to(&self, file: &Path) -> std::io::Result<()> {
        let writer = std::io::BufWriter::new(std::fs::File::create(file)?);
        self.ring.lock().unwrap().spill = Some((file.to_path_buf(), writer));
        Ok(())
    }

    /// The file that holds the entries no longer in memory, when there are any.
    pub fn spilled(&self) -> Option<PathBuf> {
        self.write_spill();
        let ring = self.ring.lock().unwrap();
        let (path, _) = ring.spill.as_ref()?;
        (ring.base > 0).then(|| path.clone())
    }

    /// Writes the entries that left memory to the spill file, and flushes it. Call it often (fcemu up's
    /// printer does, every few milliseconds); pushes only set entries aside.
    pub fn write_spill(&self) {
        let (leaving, mut writer) = {
            let mut ring = self.ring.lock().unwrap();
            if ring.spill.is_none() {
                return;
            }
            (std::mem::take(&mut ring.leaving), ring.spill.take())
        };
        if let Some((_, w)) = writer.as_mut() {
            for entry in &leaving {
                let _ = serde_json::to_writer(&mut *w, &**entry);
                let _ = w.write_all(b"\n");
            }
            let _ = w.flush();
        }
        self.ring.lock().unwrap().spill = writer;
    }

    pub fn push(&self, entry: T) {
        {
            let mut ring = self.ring.lock().unwrap();
            if ring.entries.len() >= self.capacity {
                if let Some(old) = ring.entries.pop_front() {
                    ring.base += 1;
                    if ring.spill.is_some() {
                        ring.leaving.push(old);
                    }
                }
            }
            ring.entries.push_back(Arc::new(entry));
        }
        self.appended.notify_waiters();
    }

    /// What memory holds.
    pub fn snapshot(&self) -> Vec<Arc<T>> {
        self.ring.lock().unwrap().entries.iter().cloned().collect()
    }

    /// How many entries the run has had (in memory or not).
    pub fn len(&self) -> usize {
        let ring = self.ring.lock().unwrap();
        ring.base + ring.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries from position `cursor` on (those still in memory), and the position after them.
    pub fn since(&self, cursor: usize) -> (Vec<Arc<T>>, usize) {
        let ring = self.ring.lock().unwrap();
        let end = ring.base + ring.entries.len();
        let start = cursor.clamp(ring.base, end) - ring.base;
        (ring.entries.range(start..).cloned().collect(), end)
    }

    /// Every entry from position `cursor` on, waiting for new ones as they come; never ends by itself.
    pub fn follow(self: &Arc<Self>, cursor: usize) -> impl Stream<Item = Arc<T>> + Send + 'static {
        let journal = self.clone();
        futures_util::stream::unfold(
            (journal, cursor, Vec::<Arc<T>>::new().into_iter()),
            |(journal, mut cursor, mut pending)| async move {
                loop {
                    if let Some(next) = pending.next() {
                        return Some((next, (journal, cursor, pending)));
                    }
                    let notified = journal.appended.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let (batch, next_cursor) = journal.since(cursor);
                    cursor = next_cursor;
                    if batch.is_empty() {
                        notified.await;
                    } else {
                        pending = batch.into_iter();
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_follower_sees_every_entry_once_in_order() {
        let j = Arc::new(Journal::default());
        j.push(1);
        let follower = j.follow(0);
        tokio::pin!(follower);
        for n in 2..=5000 {
            j.push(n);
        }
        let got: Vec<i32> = follower.take(5000).map(|v| *v).collect().await;
        assert_eq!(got, (1..=5000).collect::<Vec<_>>());
        assert_eq!(j.since(4998).0.len(), 2);
    }

    #[test]
    fn memory_stays_bounded_and_what_leaves_it_is_in_the_file() {
        let dir = std::env::temp_dir().join(format!("fcemu-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("entries.jsonl");
        let j = Journal::new(100);
        j.spill_to(&file).unwrap();
        assert!(
            j.spilled().is_none(),
            "nothing written while memory has room"
        );
        for n in 0..1000 {
            j.push(n);
        }
        assert_eq!(j.snapshot().len(), 100);
        assert_eq!(j.len(), 1000);
        assert_eq!(*j.snapshot()[0], 900);
        let (rest, end) = j.since(0);
        assert_eq!(
            (rest.len(), end),
            (100, 1000),
            "a cursor behind memory resumes at what memory has"
        );
        let spilled = std::fs::read_to_string(j.spilled().unwrap()).unwrap();
        let numbers: Vec<i32> = spilled.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(
            numbers,
            (0..900).collect::<Vec<_>>(),
            "memory and file together hold every entry"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
