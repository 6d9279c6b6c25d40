//! What stands in for the NAS file systems and OSS buckets a project mounts (`nasConfig`, `ossMountConfig`):
//! a folder on this machine for each thing mounted, bind-mounted at its `mountDir` in every instance. Mount
//! points that name the same NAS folder or bucket path share one folder, across functions and runs, under
//! `.fcemu/storage/` unless `--mount MOUNTDIR=DIR` names one.

use crate::failure::Failure;
use crate::output::info;
use fcemu_spec::{Project, StorageKind, StorageMount};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Fills in each mount point's folder, making those under `.fcemu/storage/` on first use, and says once what
/// stands in for what.
pub fn prepare(project: &mut Project, given: &[(String, PathBuf)]) -> Result<(), Failure> {
    for f in &mut project.functions {
        let owner = f.container.nas_owner;
        for m in &mut f.container.storage {
            let mapped = given.iter().rev().find(|(dir, _)| *dir == m.mount_dir);
            let (host, made) = match mapped {
                Some((_, dir)) => (given_folder(dir, &m.mount_dir)?, false),
                None => project_folder(&project.dir, m, owner).map_err(|e| {
                    Failure::environment(format!(
                        "function {}: cannot make the folder that stands in for {} at {}: {e}",
                        f.name,
                        what(m),
                        m.mount_dir
                    ))
                })?,
            };
            // Said once per function and mount point (a function's mount points each have their own mountDir).
            info(&format!(
                "function {}: {} at {}{} is {}{}",
                f.name,
                what(m),
                m.mount_dir,
                if m.read_only { " (read-only)" } else { "" },
                host.display(),
                if made {
                    ", a new, empty folder: put there what the function expects to find (or pass --mount MOUNTDIR=DIR)"
                } else {
                    ""
                }
            ));
            m.host = Some(host);
        }
    }
    Ok(())
}

/// "NAS 0a1b.cn-hangzhou.nas.aliyuncs.com:/models", "OSS bucket my-bucket:/images".
fn what(m: &StorageMount) -> String {
    match m.kind {
        StorageKind::Nas if m.source == "auto" => "the NAS of nasConfig: auto".into(),
        StorageKind::Nas => format!("NAS {}", m.source),
        StorageKind::Oss => format!("OSS bucket {}", m.source),
    }
}

fn given_folder(dir: &Path, mount_dir: &str) -> Result<PathBuf, Failure> {
    match std::path::absolute(dir) {
        Ok(dir) if dir.is_dir() => Ok(dir),
        _ => Err(Failure::user(format!(
            "--mount {mount_dir}={}: not a folder. Give a folder on this machine for the instances to see at {mount_dir}",
            dir.display()
        ))),
    }
}

/// `.fcemu/storage/nas/SERVER_FOLDER` or `.fcemu/storage/oss/BUCKET_PATH`, and whether it was made now. A
/// new folder is open to every user of the instance (the folder above it is this user's alone) and, where
/// fcemu may, owned by nasConfig's userId and groupId, as FC makes a NAS folder's files theirs.
fn project_folder(
    project_dir: &Path,
    m: &StorageMount,
    owner: Option<(u32, u32)>,
) -> std::io::Result<(PathBuf, bool)> {
    let kind = match m.kind {
        StorageKind::Nas => "nas",
        StorageKind::Oss => "oss",
    };
    let parent = crate::state::folder(project_dir, &["storage", kind])?;
    let name = folder_name(&m.source);
    let made = !parent.join(&name).exists();
    let dir = crate::state::folder(project_dir, &["storage", kind, &name])?;
    if made {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        if let Some((uid, gid)) = owner.filter(|_| m.kind == StorageKind::Nas) {
            // Only root may give a file away; otherwise it stays this user's.
            let _ = std::os::unix::fs::chown(&dir, Some(uid), Some(gid));
        }
    }
    Ok((dir, made))
}

/// A folder name for what is mounted: its readable part, and a digest of it so that two that read alike do
/// not meet (`a.b:/x_y` and `a.b:/x/y`).
fn folder_name(source: &str) -> String {
    let readable: String = source
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let readable = readable.trim_matches('_');
    let key = crate::builtin::content_key(source.as_bytes());
    format!("{}-{}", &readable[..readable.len().min(80)], &key[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_name_is_readable_and_tells_apart_what_reads_alike() {
        let a = folder_name("0a1b.cn-hangzhou.nas.aliyuncs.com:/x_y");
        let b = folder_name("0a1b.cn-hangzhou.nas.aliyuncs.com:/x/y");
        assert!(
            a.starts_with("0a1b.cn-hangzhou.nas.aliyuncs.com__x_y-"),
            "{a}"
        );
        assert_ne!(a, b);
        // Never a path, nor `..` itself: the digest follows whatever it reads.
        let up = folder_name("../..");
        assert!(!up.contains('/') && up != "..", "{up}");
    }
}
