//! Files fcemu writes for a run (history, logs, the summary, its own state): readable by this user only, and
//! never written through a symbolic link, which a cloned repository can commit in their place
//! (`.fcemu/up.log -> ~/.bashrc` would otherwise be truncated and rewritten).

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` (or truncates it) for writing, mode 0600, refusing a symbolic link or anything that is not
/// a plain file.
pub fn create_private(path: &Path) -> io::Result<File> {
    let file = open_private(
        path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    // A file that was there keeps its mode through the truncation: make it this user's alone.
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Opens `path` to add to its end (creating it, mode 0600), with the same refusals.
pub fn append_private(path: &Path) -> io::Result<File> {
    open_private(path, OpenOptions::new().append(true).create(true))
}

/// Writes `NAME.json` in `dir` (made if missing) whole or not at all: written aside, synced, then renamed
/// over the old one, so a run stopped half-way leaves the old file or the new one, never a part.
pub fn replace_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> io::Result<()> {
    create_private_dir(dir)?;
    let aside = dir.join(format!(".{name}.json.new"));
    let mut file = create_private(&aside)?;
    io::Write::write_all(&mut file, &serde_json::to_vec(value)?)?;
    file.sync_all()?;
    std::fs::rename(&aside, dir.join(format!("{name}.json")))
}

/// The `*.json` files in `dir` (none when it is missing), each with what it holds read as a `T` (None when it
/// is not one).
pub fn read_json_files<T: serde::de::DeserializeOwned>(
    dir: &Path,
) -> impl Iterator<Item = (std::path::PathBuf, Option<T>)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (path, parsed)
        })
}

/// Makes the folder and its parents, mode 0700; a symbolic link in its place is refused.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io::Error::other(format!(
            "{} is a symbolic link, and fcemu does not write through one: remove it",
            path.display()
        )));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(format!(
                "{} is a symbolic link, and fcemu does not write through one (a repository may have committed it): remove it",
                path.display()
            )),
            _ => e,
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a plain file: remove it",
            path.display()
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_symlink_is_refused_and_its_target_left_alone_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("bashrc");
        std::fs::write(&target, "the user's own\n").unwrap();
        let link = dir.path().join("up.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = create_private(&link).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "the user's own\n"
        );

        let plain = dir.path().join("summary.json");
        std::fs::write(&plain, "old").unwrap();
        std::fs::set_permissions(&plain, Permissions::from_mode(0o644)).unwrap();
        create_private(&plain).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "new");
        let mode = std::fs::metadata(&plain).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            create_private(dir.path()).is_err(),
            "a folder is not a file"
        );
    }
}
