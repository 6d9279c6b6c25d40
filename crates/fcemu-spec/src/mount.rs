//! A mount point of shared storage, as the function model holds it (read by storage.rs).

use serde::Serialize;
use std::path::PathBuf;

/// Shared storage FC mounts in every instance of a function: a NAS file system's folder or an OSS bucket's.
/// Locally a folder on this machine, bind-mounted at `mount_dir`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageMount {
    pub kind: StorageKind,
    /// What is mounted, as the s.yaml names it: NAS's `server:/folder` (`auto` for `nasConfig: auto`), OSS's
    /// `bucket:/path`. Mount points that name the same share one folder, across functions and runs.
    pub source: String,
    /// Where the instance sees it.
    pub mount_dir: String,
    /// OSS's `readOnly`: the instance cannot write to it.
    pub read_only: bool,
    /// The folder on this machine: `up` fills it in (under `.fcemu/storage/`, or `--mount MOUNTDIR=DIR`).
    pub host: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Nas,
    Oss,
}
