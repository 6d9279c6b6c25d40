//! `up`'s two output threads: the printer (instance logs and fcemu's lines, or the event stream) and the
//! history writer (what left memory, to `.fcemu/*.jsonl`). Each has a thread of its own, so a terminal or
//! pipe that reads slowly blocks it, never the requests.

use crate::commands::args::Format;
use crate::output::{log_line, log_record_line};
use fcemu_control::ControlPlane;
use fcemu_control::journal::{Entry, Journal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Prints instance logs and fcemu's lifecycle lines (text), or the event stream (json), as they come; once
/// `stop` is set, prints what is left and returns, so no line is lost.
pub fn print_stream(cp: ControlPlane, format: Format, stop: &AtomicBool) {
    match format {
        Format::Text => print_journal(
            cp.logs(),
            |entry| match entry {
                Entry::Kept(record) => log_record_line(record),
                Entry::Spilled(_) => log_line(&entry.to_value()),
            },
            stop,
        ),
        Format::Json => print_journal(cp.events(), Entry::json_line, stop),
    }
}

/// How often the printer and the history writer look for new entries.
const PRINT_EVERY: Duration = Duration::from_millis(15);

fn print_journal<T: serde::Serialize + Send + Sync + 'static>(
    journal: &Journal<T>,
    render: impl Fn(&Entry<T>) -> String,
    stop: &AtomicBool,
) {
    use std::io::Write;
    // Everything available is written in one go and flushed once: a write per line would cost a system
    // call per line. A printer that fell behind reads what left memory back from the history file.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut printed = 0;
    loop {
        // Read the flag first: entries pushed before it was set are drained in this round.
        let stopping = stop.load(Ordering::SeqCst);
        // A page at a time, until caught up.
        loop {
            let (batch, next) = journal.read(printed);
            for entry in &batch {
                let _ = writeln!(out, "{}", render(entry));
            }
            let _ = out.flush();
            if next == printed {
                break;
            }
            printed = next;
        }
        if stopping {
            return;
        }
        std::thread::sleep(PRINT_EVERY);
    }
}

/// Writes what left memory to `.fcemu/logs.jsonl` and `.fcemu/events.jsonl` until `stop`, then the rest.
pub fn write_history(cp: ControlPlane, stop: &AtomicBool) {
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        cp.logs().write_spill();
        cp.events().write_spill();
        if stopping {
            return;
        }
        std::thread::sleep(PRINT_EVERY);
    }
}
