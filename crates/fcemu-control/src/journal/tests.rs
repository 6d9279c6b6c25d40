use super::*;
use futures_util::StreamExt;

fn numbers(entries: &[Entry<i32>]) -> Vec<i32> {
    entries
        .iter()
        .map(|e| match e {
            Entry::Kept(n) => **n,
            Entry::Spilled(line) => line.parse().unwrap(),
        })
        .collect()
}

/// A test's gap line: `gap N Reason`.
fn gap(lines: usize, reason: GapReason, _: std::time::SystemTime) -> String {
    format!("gap {lines} {reason:?}")
}

fn spill_to(j: &Journal<i32>, file: &Path) {
    j.spill_to(file, DEFAULT_SPILL_LIMIT, gap).unwrap();
}

fn spill_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(name).tempdir().unwrap()
}

#[tokio::test]
async fn a_follower_sees_every_entry_once_in_order() {
    let j = Arc::new(Journal::default());
    j.push(1);
    let follower = j.follow(0);
    tokio::pin!(follower);
    for n in 2..=5000 {
        j.push(n);
    }
    let got: Vec<i32> = follower
        .take(5000)
        .map(|e| match e {
            Entry::Kept(n) => *n,
            Entry::Spilled(_) => unreachable!("nothing spilled"),
        })
        .collect()
        .await;
    assert_eq!(got, (1..=5000).collect::<Vec<_>>());
    assert_eq!(j.since(4998).0.len(), 2);
}

#[test]
fn memory_stays_bounded_and_what_leaves_it_is_read_back_from_the_file() {
    let dir = spill_dir("fcemu-journal-");
    let file = dir.path().join("entries.jsonl");
    let j = Journal::new(100);
    spill_to(&j, &file);
    for n in 0..1000 {
        j.push(n);
    }
    assert_eq!(j.snapshot().len(), 100);
    assert_eq!(j.len(), 1000);
    assert_eq!(*j.snapshot()[0], 900);
    // Before and after the set-aside entries are written out, a reader gets the whole run.
    let (all, end) = j.read(0);
    assert_eq!((numbers(&all), end), ((0..1000).collect::<Vec<_>>(), 1000));
    j.write_spill();
    let (page, next) = j.read(0);
    assert!(matches!(page[0], Entry::Spilled(_)));
    assert_eq!(
        (page.len(), next),
        (900, 900),
        "a page ends where the file does"
    );
    assert_eq!(numbers(&j.read_all(0)), (0..1000).collect::<Vec<_>>());
    let (tail, _) = j.read(950);
    assert_eq!(numbers(&tail), (950..1000).collect::<Vec<_>>());
    assert_eq!(numbers(&j.read_all(450)), (450..1000).collect::<Vec<_>>());
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        lines.lines().count(),
        900,
        "the file holds what left memory"
    );
}

#[test]
fn entries_pushed_while_the_file_is_written_are_kept() {
    // Pushes from one thread race the spill writer on another: every entry ends up once, in order, in
    // file and memory together.
    let dir = spill_dir("fcemu-journal-race-");
    let j = Arc::new(Journal::new(64));
    spill_to(&j, &dir.path().join("entries.jsonl"));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (j, done) = (j.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                j.write_spill();
            }
        })
    };
    const N: i32 = 200_000;
    for n in 0..N {
        j.push(n);
    }
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    j.write_spill();
    assert_eq!(j.len(), N as usize);
    assert_eq!(numbers(&j.read_all(0)), (0..N).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_follower_behind_memory_reads_the_file_and_ends_when_the_journal_closes() {
    let dir = spill_dir("fcemu-journal-follow-");
    let j = Arc::new(Journal::new(10));
    spill_to(&j, &dir.path().join("entries.jsonl"));
    let follower = j.follow(0);
    for n in 0..100 {
        j.push(n);
    }
    j.write_spill();
    j.close();
    let got: Vec<Entry<i32>> = follower.collect().await;
    assert_eq!(numbers(&got), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_read_is_a_page_wherever_it_starts_in_a_large_spill() {
    let dir = spill_dir("fcemu-journal-pages-");
    let j = Journal::new(10);
    spill_to(&j, &dir.path().join("entries.jsonl"));
    const N: usize = 100_000;
    for n in 0..N as i32 {
        j.push(n);
        if n % 5000 == 0 {
            j.write_spill();
        }
    }
    j.write_spill();
    for start in [0, 1, 1023, 1024, 50_001, N - 11, N - 3] {
        let (page, next) = j.read(start);
        assert!(page.len() <= PAGE && !page.is_empty(), "{start}");
        assert_eq!(next, start + page.len());
        let expected: Vec<i32> = (start as i32..).take(page.len()).collect();
        assert_eq!(numbers(&page), expected, "from {start}");
    }
}

#[test]
fn past_its_limit_the_oldest_lines_go_and_a_reader_is_told_how_many() {
    let dir = spill_dir("fcemu-journal-limit-");
    let j = Journal::new(10);
    // About 40 KB: four files of about 10 KB, each a thousand-odd lines of these numbers.
    j.spill_to(&dir.path().join("entries.jsonl"), 40_000, gap)
        .unwrap();
    const N: i32 = 50_000;
    for n in 0..N {
        j.push(n);
        if n % 100 == 0 {
            j.write_spill();
        }
    }
    j.write_spill();
    let all = j.read_all(0);
    let Entry::Spilled(first) = &all[0] else {
        panic!("the oldest are gone")
    };
    let dropped: usize = first
        .strip_prefix("gap ")
        .and_then(|r| r.strip_suffix(" Dropped"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert_eq!(j.losses().dropped, dropped);
    let kept = numbers(&all[1..]);
    assert_eq!(
        kept,
        (dropped as i32..N).collect::<Vec<_>>(),
        "the rest, in order, once"
    );
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        on_disk <= 40_000 + 10_000 / 4 + 1000,
        "{on_disk} bytes on disk"
    );
    // A reader that starts inside what was dropped is told too, then goes on where the history does.
    let (page, next) = j.read(dropped / 2);
    assert_eq!(page.len(), 1);
    assert_eq!(next, dropped);
}

/// This process's resident memory figure from `/proc/self/status`, in kB.
fn memory_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_gigabyte_of_history_is_read_through_in_bounded_memory() {
    let dir = spill_dir("fcemu-journal-gigabyte-");
    let j: Journal<String> = Journal::new(16);
    j.spill_to(
        &dir.path().join("entries.jsonl"),
        2 * DEFAULT_SPILL_LIMIT,
        |n, r, _| format!("\"gap {n} {r:?}\""),
    )
    .unwrap();
    // 100,000 lines of 10 KB: a gigabyte on disk.
    const LINES: usize = 100_000;
    let text = "x".repeat(10 * 1024);
    for n in 0..LINES {
        j.push(format!("{n} {text}"));
        if n % 500 == 0 {
            j.write_spill();
        }
    }
    j.write_spill();
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk > 1_000_000_000, "{on_disk} bytes");
    // The peak is measured from here (writing 5 to clear_refs resets it).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = memory_kb("VmRSS");
    let (mut cursor, mut seen) = (0, 0);
    loop {
        let (page, next) = j.read(cursor);
        if next == cursor {
            break;
        }
        for entry in &page {
            let line = entry.json_line();
            let n: usize = line[1..].split(' ').next().unwrap().parse().unwrap();
            assert_eq!(n, seen, "in order, once");
            seen += 1;
        }
        cursor = next;
    }
    assert_eq!(seen, LINES);
    let peak = memory_kb("VmHWM");
    assert!(
        peak < before + 64 * 1024,
        "reading a gigabyte took memory from {before} kB to {peak} kB"
    );
}
