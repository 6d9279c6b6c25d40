//! What a function's build reads and leaves: the record in `.fcemu/build.json` (its inputs' fingerprint,
//! and what it wrote), and how both are found from the files under the build's folders.

use crate::failure::Failure;
use fcemu_spec::Actions;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub(super) const RECORD: &str = "build.json";

/// What the last build of each function left: its inputs' fingerprint, and what it wrote.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct Record {
    pub(super) functions: BTreeMap<String, Built>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub(super) struct Built {
    pub(super) fingerprint: String,
    /// Paths the build made or changed, under each step's folder: not inputs, and there once built.
    pub(super) outputs: BTreeSet<PathBuf>,
    /// Those of them that did not exist before the build: removed before it runs again, so that a
    /// template's `mkdir python` works the second time and no package of an old requirements.txt stays.
    #[serde(default)]
    pub(super) made: BTreeSet<PathBuf>,
}

pub(super) fn write_record(path: &Path, record: &Record) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(record).expect("a record serializes");
    crate::state::write(path, &text).map_err(|e| crate::state::failure(path, e))
}

/// Each file under the folders (links not followed; `.git` and `.fcemu` left out): its size and the
/// nanosecond it last changed.
pub(super) fn snapshot(folders: &[PathBuf]) -> BTreeMap<PathBuf, (u64, u128)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, u128)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == ".git" || name == ".fcemu" {
                continue;
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                walk(&entry.path(), out);
                continue;
            }
            let changed = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.insert(entry.path(), (meta.len(), changed));
        }
    }
    let mut out = BTreeMap::new();
    for folder in folders {
        walk(folder, &mut out);
    }
    out
}

/// What a build wrote: for a new or changed file, the highest folder above it that did not exist before
/// (the whole `python/` or `node_modules/`), else the file itself. Also which of those are new.
pub(super) fn written(
    before: &BTreeMap<PathBuf, (u64, u128)>,
    after: &BTreeMap<PathBuf, (u64, u128)>,
) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let folders_before: BTreeSet<&Path> =
        before.keys().flat_map(|p| p.ancestors().skip(1)).collect();
    let existed = |dir: &Path| folders_before.contains(dir);
    let mut out = BTreeSet::new();
    for (path, meta) in after {
        if before.get(path) == Some(meta) {
            continue;
        }
        let top = path
            .ancestors()
            .skip(1)
            .take_while(|dir| !existed(dir))
            .last()
            .unwrap_or(path);
        out.insert(top.to_path_buf());
    }
    let made = out
        .iter()
        .filter(|p| !before.contains_key(*p))
        .cloned()
        .collect();
    (out, made)
}

/// The inputs of a function's build: its steps, and every file under its folders but what a build wrote.
pub(super) fn fingerprint(
    actions: &[Actions],
    folders: &[PathBuf],
    outputs: Option<&BTreeSet<PathBuf>>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(actions).expect("actions serialize"));
    for (path, (len, changed)) in snapshot(folders) {
        if outputs.is_some_and(|o| o.iter().any(|out| path.starts_with(out))) {
            continue;
        }
        hash.update(path.as_os_str().as_encoded_bytes());
        hash.update(len.to_le_bytes());
        hash.update(changed.to_le_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_build_wrote_is_its_new_folders_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("requirements.txt"), "six\n").unwrap();
        std::fs::write(root.join("index.py"), "print(1)\n").unwrap();
        let before = snapshot(std::slice::from_ref(&root));
        std::fs::create_dir_all(root.join("python/six")).unwrap();
        std::fs::write(root.join("python/six/__init__.py"), "").unwrap();
        std::fs::write(root.join("index.py"), "print(2)\n").unwrap();
        let (outputs, made) = written(&before, &snapshot(std::slice::from_ref(&root)));
        assert_eq!(
            outputs,
            BTreeSet::from([root.join("python"), root.join("index.py")])
        );
        // A changed file of the user's is never taken for something the build made.
        assert_eq!(made, BTreeSet::from([root.join("python")]));
        // What the build wrote is not an input; a changed requirements.txt is.
        let actions = vec![];
        let first = fingerprint(&actions, std::slice::from_ref(&root), Some(&outputs));
        std::fs::write(root.join("python/six/more.py"), "").unwrap();
        assert_eq!(
            first,
            fingerprint(&actions, std::slice::from_ref(&root), Some(&outputs))
        );
        std::fs::write(root.join("requirements.txt"), "six==1.16.0\n").unwrap();
        assert_ne!(
            first,
            fingerprint(&actions, std::slice::from_ref(&root), Some(&outputs))
        );
    }
}
