//! An append-only record of the run, read by position: a follower that falls behind catches up instead of
//! losing entries (a broadcast channel would drop them).
//!
//! Memory holds the newest `capacity` entries. When a spill is given, an entry that leaves memory is set
//! aside and appended to the spill's files by [`Journal::write_spill`] (off the path of whoever pushes), so
//! files and memory together keep the run, in order, while fcemu's footprint stays bounded however long it
//! runs; the files are bounded too (`spill.rs`: past their limit the oldest lines go, and a reader is told
//! where lines are missing). Readers get a page at a time: entries still in memory as they are, older
//! ones as the JSON lines of the files, so no query or follower holds the whole run in memory.
//!
//! Positions: the spill accounts for `[0, written)`, the entries set aside are `[written, base)`, memory
//! `[base, end)`.

mod spill;

pub use spill::{GapReason, Losses};

use futures_util::Stream;
use serde::Serialize;
use spill::{Piece, Spill};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::Notify;

/// The most entries one read returns.
pub const PAGE: usize = 8192;

/// How large the spill files may grow together unless said otherwise (`up --history-limit`).
pub const DEFAULT_SPILL_LIMIT: u64 = 1024 * 1024 * 1024;

/// The line a reader gets in place of lines that are missing: how many, why, since when.
pub type GapLine = fn(lines: usize, reason: GapReason, at: SystemTime) -> String;

/// What a gap line says.
pub fn gap_words(lines: usize, reason: GapReason) -> String {
    match reason {
        GapReason::Dropped => format!(
            "fcemu: {lines} older lines were dropped here: the history passed its size limit (fcemu up --history-limit)"
        ),
        GapReason::Unwritten => format!(
            "fcemu: {lines} lines are missing here: writing them to the history failed (is the disk full?)"
        ),
    }
}

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

pub struct Journal<T> {
    ring: Mutex<Ring<T>>,
    /// Held while entries are written out, so the files and `written` always agree for a reader that holds
    /// it; with the line that stands for missing ones.
    spill: Mutex<Option<(Spill, GapLine)>>,
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
    /// Entries that leave memory are appended to `file` (created anew, readable by this user only; more
    /// files beside it as it grows), the files together at most `limit` bytes; `gap_line` is what a reader
    /// gets where lines are missing.
    pub fn spill_to(&self, file: &Path, limit: u64, gap_line: GapLine) -> std::io::Result<()> {
        *self.spill.lock().unwrap() = Some((Spill::create(file, limit)?, gap_line));
        self.ring.lock().unwrap().spilling = true;
        Ok(())
    }

    /// Writes the entries that left memory to the spill. Call it often (`fcemu up` does, every few
    /// milliseconds); pushes only set entries aside.
    pub fn write_spill(&self) {
        let mut spill = self.spill.lock().unwrap();
        let Some((spill, _)) = spill.as_mut() else {
            return;
        };
        let leaving = std::mem::take(&mut self.ring.lock().unwrap().leaving);
        let lines: Vec<Vec<u8>> = leaving
            .iter()
            .map(|entry| {
                let mut line = serde_json::to_vec(&**entry).unwrap_or_else(|_| b"{}".to_vec());
                line.push(b'\n');
                line
            })
            .collect();
        spill.append(&lines);
    }

    /// The lines the spill lost so far (none without one).
    pub fn losses(&self) -> Losses {
        self.spill
            .lock()
            .unwrap()
            .as_ref()
            .map_or_else(Losses::default, |(spill, _)| spill.losses)
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

    /// Entries from position `cursor` on, at most [`PAGE`] of them, from the spill, the entries set aside
    /// or memory, and the position after them. Missing lines read as one gap line. Without a spill, what
    /// left memory is skipped.
    pub fn read(&self, cursor: usize) -> (Vec<Entry<T>>, usize) {
        // With the writer's lock held, the spill accounts for exactly `[0, written)`.
        let spill = self.spill.lock().unwrap();
        if let Some((s, gap_line)) = spill.as_ref().filter(|(s, _)| cursor < s.written) {
            let (located, gap_line) = (s.locate(cursor), *gap_line);
            drop(spill);
            // Read without the lock: the segment's lines up to its count never change.
            return match located.map(|l| l.read(PAGE)) {
                Some(Piece::Lines(lines)) => {
                    let next = cursor + lines.len();
                    (lines.into_iter().map(Entry::Spilled).collect(), next)
                }
                Some(Piece::Gap { lines, reason, at }) => (
                    vec![Entry::Spilled(gap_line(lines, reason, at))],
                    cursor + lines,
                ),
                None => (Vec::new(), cursor),
            };
        }
        let ring = self.ring.lock().unwrap();
        let aside_from = ring.base - ring.leaving.len();
        let from = cursor.max(aside_from);
        let aside = ring
            .leaving
            .iter()
            .skip(from.saturating_sub(aside_from))
            .map(Arc::clone);
        let kept = ring
            .entries
            .iter()
            .skip(from.saturating_sub(ring.base))
            .map(Arc::clone);
        let out: Vec<Entry<T>> = aside.chain(kept).take(PAGE).map(Entry::Kept).collect();
        drop(ring);
        drop(spill);
        let next = from + out.len();
        (out, next)
    }

    /// Every entry from `cursor` on, page by page, into one list: for what must see the whole run at once
    /// (the summary at shutdown, from the events); queries and followers read a page at a time.
    pub fn read_all(&self, mut cursor: usize) -> Vec<Entry<T>> {
        let mut all = Vec::new();
        loop {
            let (page, next) = self.read(cursor);
            if page.is_empty() && next == cursor {
                return all;
            }
            all.extend(page);
            cursor = next;
        }
    }

    /// The run so far, from `cursor` to where it is now, a page at a time, each read on a blocking thread.
    pub fn pages(
        self: &Arc<Self>,
        cursor: usize,
    ) -> impl Stream<Item = Vec<Entry<T>>> + Send + 'static {
        let until = self.len();
        futures_util::stream::unfold(
            (self.clone(), cursor),
            move |(journal, cursor)| async move {
                if cursor >= until {
                    return None;
                }
                let (page, next) = journal.read_off_thread(cursor).await;
                (next > cursor).then_some((page, (journal, next)))
            },
        )
    }

    /// [`Journal::read`] on a blocking thread: reading the spill files can take a while, and the async
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

#[cfg(test)]
mod tests;
