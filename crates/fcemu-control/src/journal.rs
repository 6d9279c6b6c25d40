//! An append-only record of the run, read by position: a follower that falls behind catches up instead of
//! losing entries (a broadcast channel would drop them).
//!
//! Memory holds the newest `capacity` entries. When a spill file is given, an entry that leaves memory is
//! set aside and appended to the file by [`Journal::write_spill`] (off the path of whoever pushes), so file
//! and memory together keep everything, in order, while fcemu's footprint stays bounded however long it
//! runs. Readers get both: entries still in memory as they are, older ones as the JSON lines of the file.
//!
//! Positions: the file holds `[0, written)`, the entries set aside `[written, base)`, memory `[base, end)`.

use futures_util::Stream;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Entries kept in memory unless said otherwise: a few MB.
pub const DEFAULT_CAPACITY: usize = 20_000;

struct Ring<T> {
    entries: VecDeque<Arc<T>>,
    /// The position of `entries[0]` in the whole run.
    base: usize,
    /// Entries that left memory and are not in the spill file yet, from position `base - leaving.len()`.
    leaving: Vec<Arc<T>>,
    /// Whether entries that leave memory go to a spill file (else they are gone).
    spilling: bool,
}

struct Spill {
    path: PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    /// Entries in the file: positions `[0, written)`.
    written: usize,
}

pub struct Journal<T> {
    ring: Mutex<Ring<T>>,
    /// Held while entries are written out, so the file and `written` always agree for a reader that holds it.
    spill: Mutex<Option<Spill>>,
    capacity: usize,
    appended: Notify,
    /// No entry comes after this: followers end once they have read everything.
    closed: AtomicBool,
}

/// One entry as a reader gets it: from memory, or (older) as its line in the spill file.
#[derive(Debug, Clone)]
pub enum Entry<T> {
    Kept(Arc<T>),
    Spilled(String),
}

impl<T: Serialize> Entry<T> {
    /// The entry as one JSON line, without its newline.
    pub fn json_line(&self) -> String {
        match self {
            Entry::Kept(entry) => serde_json::to_string(&**entry).unwrap_or_default(),
            Entry::Spilled(line) => line.clone(),
        }
    }

    /// The entry as JSON, to be read field by field.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Entry::Kept(entry) => serde_json::to_value(&**entry).unwrap_or_default(),
            Entry::Spilled(line) => serde_json::from_str(line).unwrap_or_default(),
        }
    }
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
                leaving: Vec::new(),
                spilling: false,
            }),
            spill: Mutex::new(None),
            capacity: capacity.max(1),
            appended: Notify::new(),
            closed: AtomicBool::new(false),
        }
    }
}

impl<T: Serialize + Send + Sync + 'static> Journal<T> {
    /// Entries that leave memory are appended to `file` (created anew, readable by this user only).
    pub fn spill_to(&self, file: &Path) -> std::io::Result<()> {
        let writer = std::io::BufWriter::new(crate::files::create_private(file)?);
        *self.spill.lock().unwrap() = Some(Spill {
            path: file.to_path_buf(),
            writer,
            written: 0,
        });
        self.ring.lock().unwrap().spilling = true;
        Ok(())
    }

    /// Writes the entries that left memory to the spill file, and flushes it. Call it often (`fcemu up`
    /// does, every few milliseconds); pushes only set entries aside.
    pub fn write_spill(&self) {
        let mut spill = self.spill.lock().unwrap();
        let Some(spill) = spill.as_mut() else {
            return;
        };
        let leaving = std::mem::take(&mut self.ring.lock().unwrap().leaving);
        if leaving.is_empty() {
            return;
        }
        for entry in &leaving {
            if let Err(e) = serde_json::to_writer(&mut spill.writer, &**entry)
                .map_err(std::io::Error::from)
                .and_then(|()| spill.writer.write_all(b"\n"))
            {
                tracing::warn!("writing history to {} failed: {e}", spill.path.display());
            }
        }
        if let Err(e) = spill.writer.flush() {
            tracing::warn!("writing history to {} failed: {e}", spill.path.display());
        }
        spill.written += leaving.len();
    }

    pub fn push(&self, entry: T) {
        {
            let mut ring = self.ring.lock().unwrap();
            if ring.entries.len() >= self.capacity {
                if let Some(old) = ring.entries.pop_front() {
                    ring.base += 1;
                    if ring.spilling {
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

    /// Every entry from position `cursor` on, from the spill file, the entries set aside and memory, and
    /// the position after them. Without a spill file, what left memory is skipped.
    pub fn read(&self, cursor: usize) -> (Vec<Entry<T>>, usize) {
        // With the writer's lock held, the file holds exactly `written` whole lines.
        let spill = self.spill.lock().unwrap();
        let ring = self.ring.lock().unwrap();
        let end = ring.base + ring.entries.len();
        let written = spill.as_ref().map_or(0, |s| s.written);
        let path = spill.as_ref().map(|s| s.path.clone());
        let aside_from = ring.base - ring.leaving.len();
        let mut out = Vec::new();
        let from_memory = cursor.max(aside_from);
        out.extend(
            ring.leaving
                .iter()
                .skip(from_memory.saturating_sub(aside_from))
                .cloned()
                .map(Entry::Kept),
        );
        out.extend(
            ring.entries
                .iter()
                .skip(from_memory.saturating_sub(ring.base))
                .cloned()
                .map(Entry::Kept),
        );
        drop(ring);
        drop(spill);
        if cursor < written {
            let older = path
                .map(|p| read_lines(&p, cursor, written - cursor))
                .unwrap_or_default();
            out.splice(0..0, older.into_iter().map(Entry::Spilled));
        }
        (out, end)
    }

    /// [`Journal::read`] on a blocking thread: reading the spill file can take a while, and the async
    /// runtime serves every request meanwhile.
    pub async fn read_off_thread(self: &Arc<Self>, cursor: usize) -> (Vec<Entry<T>>, usize) {
        let journal = self.clone();
        tokio::task::spawn_blocking(move || journal.read(cursor))
            .await
            .expect("reading the journal does not panic")
    }

    /// No entry comes after this: followers end once they have read everything.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.appended.notify_waiters();
    }

    /// Every entry from position `cursor` on, waiting for new ones as they come, until the journal is
    /// closed and read to its end.
    pub fn follow(
        self: &Arc<Self>,
        cursor: usize,
    ) -> impl Stream<Item = Entry<T>> + Send + 'static {
        let journal = self.clone();
        futures_util::stream::unfold(
            (journal, cursor, Vec::<Entry<T>>::new().into_iter()),
            |(journal, mut cursor, mut pending)| async move {
                loop {
                    if let Some(next) = pending.next() {
                        return Some((next, (journal, cursor, pending)));
                    }
                    let notified = journal.appended.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let closed = journal.closed.load(Ordering::SeqCst);
                    let (batch, next_cursor) = journal.read_off_thread(cursor).await;
                    cursor = next_cursor;
                    if !batch.is_empty() {
                        pending = batch.into_iter();
                    } else if closed {
                        return None;
                    } else {
                        notified.await;
                    }
                }
            },
        )
    }
}

/// `count` lines of a file from line `skip` on.
fn read_lines(path: &Path, skip: usize, count: usize) -> Vec<String> {
    match std::fs::File::open(path) {
        Ok(file) => std::io::BufReader::new(file)
            .lines()
            .skip(skip)
            .take(count)
            .map_while(Result::ok)
            .collect(),
        Err(e) => {
            tracing::warn!("reading history from {} failed: {e}", path.display());
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
