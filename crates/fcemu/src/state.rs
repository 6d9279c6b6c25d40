//! `.fcemu/` in the project folder: what a run keeps there (its endpoint, token, pid, output, history and
//! summary). The folder comes from a repository the developer cloned, so nothing in it is trusted: a
//! `.fcemu` that is a symbolic link is refused, files are written 0600 without following links (the folder
//! itself 0700), and what fcemu reads back it takes only from a plain file of this user that nobody else may
//! read, which a file checked out of a repository never is (git writes 0644 or 0755).

use crate::failure::Failure;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The state folder's name in a project folder.
pub const DIR: &str = ".fcemu";

/// The state folder of `project_dir`, made (0700) when missing. A `.fcemu` that is a symbolic link, or not a
/// folder, is refused with what to do.
pub fn dir(project_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = project_dir.join(DIR);
    ensure(&dir)?;
    Ok(dir)
}

/// A folder under the state folder (`.fcemu/storage/nas/...`), each level made when missing (0700) and
/// refused when it is a link.
pub fn folder(project_dir: &Path, parts: &[&str]) -> std::io::Result<PathBuf> {
    let mut dir = self::dir(project_dir)?;
    for part in parts {
        dir.push(part);
        ensure(&dir)?;
    }
    Ok(dir)
}

/// `dir` made when missing, refused when it is a link or not a folder; this user's alone when fcemu made it.
fn ensure(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(std::io::Error::other(format!(
            "{} is a symbolic link, and fcemu keeps its state only in a folder of its own (a repository may have committed the link): remove it",
            dir.display()
        ))),
        Ok(meta) if !meta.is_dir() => Err(std::io::Error::other(format!(
            "{} is not a folder: remove it, fcemu keeps its state there",
            dir.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .or_else(|e| {
                // Made meanwhile by another fcemu: fine, if it is a folder.
                if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        Err(e) => Err(e),
    }
}

/// Creates (or truncates) a file in the state folder (`path` is `PROJECT/.fcemu/NAME`), 0600, never through a
/// symbolic link.
pub fn create(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent() {
        ensure(parent)?;
    }
    fcemu_control::files::create_private(path)
}

/// Writes a whole file in the state folder, as [`create`] does.
pub fn write(path: &Path, contents: &str) -> std::io::Result<()> {
    create(path)?.write_all(contents.as_bytes())
}

/// [`write`] for a file whose loss only costs a convenience: says what went wrong and goes on.
pub fn write_or_warn(path: &Path, contents: &str) {
    if let Err(e) = write(path, contents) {
        crate::output::warning(&format!("cannot write {}: {e}", path.display()));
    }
}

/// A file fcemu wrote, read back: None unless it is a plain file (not a link) of this user that only this
/// user may read or write.
pub fn read_own(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let own = meta.is_file() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0;
    if !own {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// A state file that could not be written, as a failure of the environment.
pub fn failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::environment(format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_state_folder_is_refused_and_a_committed_file_is_not_read_back() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(home.path(), project.path().join(DIR)).unwrap();
        let error = dir(project.path()).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(write(&project.path().join(".fcemu/up.log"), "x").is_err());
        assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);

        let project = tempfile::tempdir().unwrap();
        let state = dir(project.path()).unwrap();
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let endpoint = state.join("endpoint");
        write(&endpoint, "http://127.0.0.1:9000\n").unwrap();
        assert_eq!(read_own(&endpoint).unwrap(), "http://127.0.0.1:9000\n");
        // As git checks a committed file out: readable by all.
        std::fs::set_permissions(&endpoint, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_own(&endpoint), None);
        let linked = state.join("token");
        std::os::unix::fs::symlink(&endpoint, &linked).unwrap();
        assert_eq!(read_own(&linked), None);
    }

    #[test]
    fn a_folder_under_the_state_folder_is_refused_where_a_repository_made_any_level_a_link() {
        let elsewhere = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let storage = crate::state::folder(project.path(), &["storage"]).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), storage.join("nas")).unwrap();
        let error = folder(project.path(), &["storage", "nas", "x"]).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        let made = folder(project.path(), &["storage", "oss", "y"]).unwrap();
        assert_eq!(made, project.path().join(".fcemu/storage/oss/y"));
        assert!(made.is_dir());
    }
}
