//! A build context (`x-fcemu-build.context`) as the engine gets it: a tar streamed as it is written, never
//! held whole in memory (a context can be a large folder), leaving out what `.dockerignore` excludes, as
//! `docker build` does, and what never belongs in an image (VCS data, fcemu's own state, which holds its
//! logs and token).

use bytes::Bytes;
use globset::GlobMatcher;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Left out of every context, whatever `.dockerignore` says.
const NEVER: [&str; 3] = [".git", ".fcemu", "target"];
/// What the tar is sent in.
const CHUNK: usize = 64 * 1024;

/// The context's tar as a stream of chunks, written by a blocking thread as the engine reads them (a few
/// chunks ahead at most). An error packing it ends the stream with that error.
pub(super) fn stream(
    dir: &Path,
    dockerfile: &str,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let (dir, dockerfile) = (dir.to_path_buf(), PathBuf::from(dockerfile));
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let packed = DockerIgnore::read(&dir)
            .and_then(|ignore| write_tar(&dir, &dockerfile, &ignore, &mut out))
            .and_then(|()| out.flush());
        if let Err(e) = packed {
            let _ = tx.blocking_send(Err(std::io::Error::other(format!(
                "packing the build context {}: {e}",
                dir.display()
            ))));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Sends what is written in chunks; fails once the engine's side has gone.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the engine stopped reading the build context"))
    }
}

/// The tar of `dir`: every file and folder not excluded, with the Dockerfile and `.dockerignore` always
/// in (the engine needs them, as `docker build` sends them whatever the file says).
fn write_tar(
    dir: &Path,
    dockerfile: &Path,
    ignore: &DockerIgnore,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let always = |rel: &Path| rel == dockerfile || rel == Path::new(".dockerignore");
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if current == dir && NEVER.iter().any(|n| entry.file_name() == *n) {
                continue;
            }
            let is_dir = entry.file_type()?.is_dir();
            // A folder left out may still hold something an exception (`!`) lets back in: walk it.
            if ignore.excludes(&rel) && !always(&rel) {
                if is_dir && ignore.has_exceptions() {
                    stack.push(path);
                }
                continue;
            }
            if is_dir {
                builder.append_dir(&rel, &path)?;
                stack.push(path);
            } else {
                builder.append_path_with_name(&path, &rel)?;
            }
        }
    }
    builder.finish()
}

/// The patterns of a context's `.dockerignore`, with Docker's meaning: each relative to the context's
/// root (a leading `/` means the same), `*` within one path segment, `**` across any, a `!` line lets back
/// in what an earlier line left out, the last matching line decides, and a path is left out when it or a
/// folder above it matches.
#[derive(Default)]
pub(super) struct DockerIgnore {
    patterns: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// The context's `.dockerignore`; none when it has no such file. A pattern that is not a valid glob is
    /// an error naming it, as `docker build` refuses it.
    pub(super) fn read(dir: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(dir.join(".dockerignore")) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(e) => Err(e),
        }
    }

    pub(super) fn parse(text: &str) -> std::io::Result<Self> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            let pattern = if pattern.is_empty() { "." } else { pattern };
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    std::io::Error::other(format!(".dockerignore: `{line}` is not a pattern: {e}"))
                })?;
            patterns.push((glob.compile_matcher(), exception));
        }
        Ok(DockerIgnore { patterns })
    }

    fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(_, exception)| *exception)
    }

    /// Whether `rel` (relative to the context) is left out.
    pub(super) fn excludes(&self, rel: &Path) -> bool {
        let mut excluded = false;
        for (pattern, exception) in &self.patterns {
            // An exception matters only for what is left out so far, a pattern only for what is not.
            if *exception != excluded {
                continue;
            }
            let hit = rel
                .ancestors()
                .filter(|p| !p.as_os_str().is_empty())
                .any(|p| pattern.is_match(p));
            if hit {
                excluded = !exception;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns_mean_what_they_mean_to_docker() {
        let ignore = DockerIgnore::parse(
            "# secrets and build output\n.env\n/node_modules\n*.log\n**/__pycache__\ndata/*\n!data/keep.csv\n",
        )
        .unwrap();
        for (path, left_out) in [
            (".env", true),
            ("src/.env", false),
            ("node_modules/x/index.js", true),
            ("app.log", true),
            ("logs/app.log", false),
            ("a/b/__pycache__/m.pyc", true),
            ("data/big.bin", true),
            ("data/keep.csv", false),
            ("app.py", false),
        ] {
            assert_eq!(ignore.excludes(Path::new(path)), left_out, "{path}");
        }
        assert!(DockerIgnore::parse("[unclosed\n").is_err());
    }

    #[test]
    fn the_tar_leaves_out_what_is_ignored_and_keeps_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("Dockerfile", "FROM scratch\n"),
            (".dockerignore", "Dockerfile\n.env\ndata\n!data/keep.csv\n"),
            (".env", "SECRET=1\n"),
            ("app.py", "print(1)\n"),
            ("data/big.bin", "x"),
            ("data/keep.csv", "a,b\n"),
            (".fcemu/token", "t"),
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let ignore = DockerIgnore::read(dir.path()).unwrap();
        let mut tar = Vec::new();
        write_tar(dir.path(), Path::new("Dockerfile"), &ignore, &mut tar).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [".dockerignore", "Dockerfile", "app.py", "data/keep.csv"]
        );
    }
}
