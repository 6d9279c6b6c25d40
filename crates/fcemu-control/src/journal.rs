//! An append-only record kept for the whole run, read by position: a follower that falls behind catches up
//! instead of losing entries (a broadcast channel would drop them).

use futures_util::Stream;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

pub struct Journal<T> {
    entries: Mutex<Vec<Arc<T>>>,
    appended: Notify,
}

impl<T> Default for Journal<T> {
    fn default() -> Self {
        Journal {
            entries: Mutex::default(),
            appended: Notify::new(),
        }
    }
}

impl<T: Send + Sync + 'static> Journal<T> {
    pub fn push(&self, entry: T) {
        self.entries.lock().unwrap().push(Arc::new(entry));
        self.appended.notify_waiters();
    }

    pub fn snapshot(&self) -> Vec<Arc<T>> {
        self.entries.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries from position `cursor` on, and the position after them.
    pub fn since(&self, cursor: usize) -> (Vec<Arc<T>>, usize) {
        let entries = self.entries.lock().unwrap();
        let start = cursor.min(entries.len());
        (entries[start..].to_vec(), entries.len())
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
}
