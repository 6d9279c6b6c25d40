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
    j.spill_to(&file).unwrap();
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
    let (all, _) = j.read(0);
    assert!(matches!(all[0], Entry::Spilled(_)));
    assert_eq!(numbers(&all), (0..1000).collect::<Vec<_>>());
    let (tail, _) = j.read(950);
    assert_eq!(numbers(&tail), (950..1000).collect::<Vec<_>>());
    let (middle, _) = j.read(450);
    assert_eq!(numbers(&middle), (450..1000).collect::<Vec<_>>());
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
    j.spill_to(&dir.path().join("entries.jsonl")).unwrap();
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
    let (all, end) = j.read(0);
    assert_eq!(end, N as usize);
    assert_eq!(numbers(&all), (0..N).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_follower_behind_memory_reads_the_file_and_ends_when_the_journal_closes() {
    let dir = spill_dir("fcemu-journal-follow-");
    let j = Arc::new(Journal::new(10));
    j.spill_to(&dir.path().join("entries.jsonl")).unwrap();
    let follower = j.follow(0);
    for n in 0..100 {
        j.push(n);
    }
    j.write_spill();
    j.close();
    let got: Vec<Entry<i32>> = follower.collect().await;
    assert_eq!(numbers(&got), (0..100).collect::<Vec<_>>());
}
