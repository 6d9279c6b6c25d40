//! Where a journal's entries go once they leave memory: JSON lines in a few segment files (`logs.jsonl`,
//! `logs.jsonl.1`, ...), bounded together by a size limit, read back a page at a time.
//!
//! Every position that left memory is accounted for by exactly one segment, in order: a file segment holds
//! its lines; a gap stands for lines that are gone, either dropped (the oldest segment file, once the
//! files together passed the limit) or never written (the disk refused them). A reader of a gap gets one
//! marker line saying how many lines are missing and why, so what a later query returns never shifts: a
//! failed write is cut back off the file, and its lines are a gap, not a count that ran ahead of the file.

use std::collections::VecDeque;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Every this many lines of a segment file, its byte offset is kept: a page starts reading near its first
/// line instead of at the top of the file.
const INDEX_EVERY: usize = 1024;

/// A page read from a file stops past this many bytes, however few lines that is.
const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// How many segment files share the limit: the oldest quarter of the history goes at a time.
const SEGMENTS: u64 = 4;

/// Why lines are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// The history passed its size limit, and the oldest lines went.
    Dropped,
    /// Writing them failed (a full disk, say).
    Unwritten,
}

#[derive(Debug, Clone)]
enum Segment {
    File {
        path: PathBuf,
        first: usize,
        lines: usize,
        bytes: u64,
        /// The byte offset of lines `0, INDEX_EVERY, 2 * INDEX_EVERY, ...` of the file.
        index: Vec<u64>,
    },
    Gap {
        first: usize,
        lines: usize,
        reason: GapReason,
        /// When the first of its lines went.
        at: SystemTime,
    },
}

impl Segment {
    fn first(&self) -> usize {
        match self {
            Segment::File { first, .. } | Segment::Gap { first, .. } => *first,
        }
    }

    fn end(&self) -> usize {
        match self {
            Segment::File { first, lines, .. } | Segment::Gap { first, lines, .. } => first + lines,
        }
    }
}

/// Lines the history lost, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Losses {
    /// Dropped, oldest first, past the size limit.
    pub dropped: usize,
    /// Never written: the disk refused them.
    pub unwritten: usize,
}

/// What a page read from the spill holds: lines, or one gap.
pub enum Piece {
    Lines(Vec<String>),
    Gap {
        lines: usize,
        reason: GapReason,
        at: SystemTime,
    },
}

pub struct Spill {
    base: PathBuf,
    /// The size the segment files may take together.
    limit: u64,
    segments: VecDeque<Segment>,
    /// The last file segment, open for appending.
    file: Option<std::fs::File>,
    /// Positions `[0, written)` are accounted for by the segments.
    pub written: usize,
    pub losses: Losses,
    /// Whether a failed write was said (once a run: the rest are counted).
    said: bool,
    /// After a failed write, the next try is not before this: meanwhile lines go straight to the gap, so a
    /// full disk costs no system call per batch and leaves no file per try.
    retry_at: Option<std::time::Instant>,
    next_file: usize,
}

/// How long after a failed write the next is tried.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl Spill {
    /// A spill to `base` (and `base.1`, `base.2`, ... as it grows), the first file created anew.
    pub fn create(base: &Path, limit: u64) -> std::io::Result<Self> {
        let file = crate::files::create_private(base)?;
        Ok(Spill {
            base: base.to_path_buf(),
            limit: limit.max(SEGMENTS),
            segments: VecDeque::from([Segment::File {
                path: base.to_path_buf(),
                first: 0,
                lines: 0,
                bytes: 0,
                index: vec![0],
            }]),
            file: Some(file),
            written: 0,
            losses: Losses::default(),
            said: false,
            retry_at: None,
            next_file: 1,
        })
    }

    /// Appends `lines` (each a JSON line with its newline) as positions `[written, written + lines.len())`.
    pub fn append(&mut self, lines: &[Vec<u8>]) {
        if lines.is_empty() {
            return;
        }
        let first = self.written;
        self.written += lines.len();
        let waiting = self
            .retry_at
            .is_some_and(|at| std::time::Instant::now() < at);
        let written = if waiting {
            Err(None)
        } else {
            self.append_to_file(first, lines).map_err(Some)
        };
        match written {
            Ok(()) => {
                self.retry_at = None;
                self.drop_past_limit();
            }
            Err(e) => {
                self.gap(first, lines.len(), GapReason::Unwritten);
                self.losses.unwritten += lines.len();
                if let Some(e) = e {
                    self.retry_at = Some(std::time::Instant::now() + RETRY_AFTER);
                    if !self.said {
                        self.said = true;
                        tracing::warn!(
                            "writing history to {} failed: {e}; lines that cannot be written are missing from it (queries say where, the summary counts them), and fcemu goes on trying",
                            self.base.display()
                        );
                    }
                }
            }
        }
    }

    fn append_to_file(&mut self, first: usize, lines: &[Vec<u8>]) -> std::io::Result<()> {
        let segment_limit = self.limit / SEGMENTS;
        let full = matches!(self.segments.back(), Some(Segment::File { bytes, .. }) if *bytes >= segment_limit);
        let after_gap = !matches!(self.segments.back(), Some(Segment::File { .. }));
        if full || after_gap || self.file.is_none() {
            self.start_file(first)?;
        }
        let Some(Segment::File {
            lines: count,
            bytes,
            index,
            ..
        }) = self.segments.back_mut()
        else {
            unreachable!("a file segment was just made");
        };
        let file = self.file.as_mut().expect("open with its segment");
        let mut buffer = Vec::with_capacity(lines.iter().map(Vec::len).sum());
        let mut offsets = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if (*count + i) % INDEX_EVERY == 0 && *count + i > 0 {
                offsets.push(*bytes + buffer.len() as u64);
            }
            buffer.extend_from_slice(line);
        }
        if let Err(e) = file.write_all(&buffer).and_then(|()| file.flush()) {
            // What did reach the file is cut back off, so the file holds whole lines only; a file that
            // holds none goes (its lines are a gap).
            if *count == 0 {
                if let Some(Segment::File { path, .. }) = self.segments.pop_back() {
                    let _ = std::fs::remove_file(path);
                }
                self.file = None;
            } else {
                let _ = file.set_len(*bytes);
                let _ = file.seek(std::io::SeekFrom::End(0));
            }
            return Err(e);
        }
        *count += lines.len();
        *bytes += buffer.len() as u64;
        index.extend(offsets);
        Ok(())
    }

    /// A new segment file for lines from `first` on.
    fn start_file(&mut self, first: usize) -> std::io::Result<()> {
        let path = PathBuf::from(format!("{}.{}", self.base.display(), self.next_file));
        let file = crate::files::create_private(&path)?;
        self.next_file += 1;
        self.file = Some(file);
        self.segments.push_back(Segment::File {
            path,
            first,
            lines: 0,
            bytes: 0,
            index: vec![0],
        });
        Ok(())
    }

    /// Records `[first, first + lines)` as missing, joined to a gap of the same kind just before it.
    fn gap(&mut self, first: usize, lines: usize, reason: GapReason) {
        if let Some(Segment::Gap {
            lines: before,
            reason: r,
            ..
        }) = self.segments.back_mut()
        {
            if *r == reason {
                *before += lines;
                return;
            }
        }
        self.segments.push_back(Segment::Gap {
            first,
            lines,
            reason,
            at: SystemTime::now(),
        });
    }

    /// Removes the oldest segment files while the files together are over the limit.
    fn drop_past_limit(&mut self) {
        let total = |s: &VecDeque<Segment>| -> u64 {
            s.iter()
                .map(|seg| match seg {
                    Segment::File { bytes, .. } => *bytes,
                    Segment::Gap { .. } => 0,
                })
                .sum()
        };
        while total(&self.segments) > self.limit {
            // Never the file being written.
            let Some(oldest) = self
                .segments
                .iter()
                .take(self.segments.len() - 1)
                .position(|s| matches!(s, Segment::File { .. }))
            else {
                return;
            };
            let Some(Segment::File {
                path, first, lines, ..
            }) = self.segments.get(oldest).cloned()
            else {
                return;
            };
            let _ = std::fs::remove_file(&path);
            self.losses.dropped += lines;
            self.segments[oldest] = Segment::Gap {
                first,
                lines,
                reason: GapReason::Dropped,
                at: SystemTime::now(),
            };
            // Dropped gaps side by side read as one.
            if oldest > 0 {
                if let (
                    Segment::Gap {
                        lines: a,
                        reason: GapReason::Dropped,
                        ..
                    },
                    Segment::Gap {
                        lines: b,
                        reason: GapReason::Dropped,
                        ..
                    },
                ) = (&self.segments[oldest - 1], &self.segments[oldest])
                {
                    let merged = a + b;
                    self.segments.remove(oldest);
                    if let Segment::Gap { lines, .. } = &mut self.segments[oldest - 1] {
                        *lines = merged;
                    }
                }
            }
        }
    }

    /// Where a read of positions from `cursor` on starts: a snapshot of the segment that holds it (cheap to
    /// read without the spill's lock: a file segment's lines up to its count never change).
    pub fn locate(&self, cursor: usize) -> Option<Located> {
        let i = self.segments.partition_point(|s| s.end() <= cursor);
        let segment = self.segments.get(i)?;
        Some(match segment {
            Segment::File {
                path,
                first,
                lines,
                index,
                ..
            } => {
                let within = cursor.max(*first) - first;
                Located::File {
                    path: path.clone(),
                    offset: index[within / INDEX_EVERY],
                    skip: within % INDEX_EVERY,
                    available: lines - within,
                }
            }
            Segment::Gap { reason, at, .. } => Located::Gap {
                lines: segment.end() - cursor.max(segment.first()),
                reason: *reason,
                at: *at,
            },
        })
    }
}

/// See [`Spill::locate`].
pub enum Located {
    File {
        path: PathBuf,
        offset: u64,
        skip: usize,
        available: usize,
    },
    Gap {
        lines: usize,
        reason: GapReason,
        at: SystemTime,
    },
}

impl Located {
    /// Reads at most `max` lines (or the gap) from where it was located.
    pub fn read(self, max: usize) -> Piece {
        match self {
            Located::Gap { lines, reason, at } => Piece::Gap { lines, reason, at },
            Located::File {
                path,
                offset,
                skip,
                available,
            } => {
                let want = available.min(max);
                let read = || -> std::io::Result<Vec<String>> {
                    let mut file = std::fs::File::open(&path)?;
                    file.seek(std::io::SeekFrom::Start(offset))?;
                    let mut lines = Vec::new();
                    let mut bytes = 0;
                    // Up to `want` lines, and no more than a page's bytes of long ones.
                    for line in std::io::BufReader::new(file).lines().skip(skip) {
                        let line = line?;
                        bytes += line.len();
                        lines.push(line);
                        if lines.len() == want || bytes >= PAGE_BYTES {
                            break;
                        }
                    }
                    Ok(lines)
                };
                match read() {
                    Ok(lines) if !lines.is_empty() || want == 0 => Piece::Lines(lines),
                    // The file went meanwhile (dropped past the limit while this read it).
                    _ => Piece::Gap {
                        lines: want,
                        reason: GapReason::Dropped,
                        at: SystemTime::now(),
                    },
                }
            }
        }
    }
}
