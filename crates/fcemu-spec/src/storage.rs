//! `nasConfig` and `ossMountConfig`: the shared storage FC mounts in every instance of a function (FC 3.0's
//! props, FC 2.0's service). Locally each mount point is a folder `up` provides (storage.rs of fcemu); this
//! reads what is mounted where.

use crate::fields::{Cx, Fields, describe};
use crate::model::{Edition, RUNTIME_FILES_DIR};
use crate::mount::{StorageKind, StorageMount};
use serde_yaml::Value;

/// Where FC mounts `nasConfig: auto`, the NAS file system Serverless Devs makes for the function.
const AUTO_NAS_DIR: &str = "/mnt/auto";

/// The function's mount points and the NAS user and group ids (FC's default 10003 for both when `nasConfig`
/// names none).
pub(crate) fn storage(
    cx: &mut Cx,
    edition: Edition,
    props: &Fields,
    service: Option<&Fields>,
) -> (Vec<StorageMount>, Option<(u32, u32)>) {
    // FC 2.0 puts both under the service; FC 3.0 under the function.
    let holder = match edition {
        Edition::Fc3 => props,
        Edition::Fc2 => match service {
            Some(service) => service,
            None => return (Vec::new(), None),
        },
    };
    let mut mounts = Vec::new();
    let mut owner = None;
    match holder.get("nasConfig") {
        None => {}
        Some(Value::String(auto)) if auto == "auto" => {
            mounts.push(StorageMount {
                kind: StorageKind::Nas,
                source: "auto".into(),
                mount_dir: AUTO_NAS_DIR.into(),
                read_only: false,
                host: None,
            });
            owner = Some((10003, 10003));
        }
        Some(_) => {
            let nas = holder.sub(cx, "nasConfig");
            let uid = nas.integer(cx, "userId", (0, 65535), 10003) as u32;
            let gid = nas.integer(cx, "groupId", (0, 65535), 10003) as u32;
            owner = Some((uid, gid));
            for (point, path) in mount_points(cx, &nas) {
                let Some(server) = point.required_string(
                    cx,
                    "serverAddr",
                    "the NAS file system and its folder, e.g. serverAddr: 0a1b2c-xyz.cn-hangzhou.nas.aliyuncs.com:/my-func",
                ) else {
                    continue;
                };
                if let Some(mount_dir) = mount_dir(cx, &point, &path) {
                    // `server:/dir`, the folder `/` when it names none.
                    let source = match server.split_once(":/") {
                        Some((host, dir)) => format!("{host}:/{}", dir.trim_matches('/')),
                        None => format!("{server}:/"),
                    };
                    mounts.push(StorageMount {
                        kind: StorageKind::Nas,
                        source,
                        mount_dir,
                        read_only: false,
                        host: None,
                    });
                }
            }
        }
    }
    let oss = holder.sub(cx, "ossMountConfig");
    for (point, path) in mount_points(cx, &oss) {
        let Some(bucket) = point.required_string(
            cx,
            "bucketName",
            "the bucket to mount, e.g. bucketName: my-bucket",
        ) else {
            continue;
        };
        let bucket_path = point.string(cx, "bucketPath").unwrap_or_default();
        let read_only = point.boolean(cx, "readOnly", false);
        if let Some(mount_dir) = mount_dir(cx, &point, &path) {
            mounts.push(StorageMount {
                kind: StorageKind::Oss,
                source: format!("{bucket}:/{}", bucket_path.trim_matches('/')),
                mount_dir,
                read_only,
                host: None,
            });
        }
    }
    for (i, m) in mounts.iter().enumerate() {
        if mounts[..i].iter().any(|o| o.mount_dir == m.mount_dir) {
            cx.error(
                &holder.path,
                format!(
                    "mounts two things at {}: give each mount point its own mountDir",
                    m.mount_dir
                ),
            );
        }
    }
    (mounts, owner)
}

/// The entries of `mountPoints`, each with its path for errors.
fn mount_points<'a>(cx: &mut Cx, config: &Fields<'a>) -> Vec<(Fields<'a>, String)> {
    let Some(list) = config.get("mountPoints") else {
        return Vec::new();
    };
    let path = config.field("mountPoints");
    let Some(items) = list.as_sequence() else {
        cx.error(&path, format!("must be a list, found {}", describe(list)));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{path}[{i}]");
            (Fields::new(cx, Some(item), at.clone()), at)
        })
        .collect()
}

/// `mountDir`: an absolute folder that is not one the instance needs for itself (its code, its layers, fcemu's
/// runtime, the system's).
fn mount_dir(cx: &mut Cx, point: &Fields, path: &str) -> Option<String> {
    let dir = point.required_string(
        cx,
        "mountDir",
        "where the instance sees it, e.g. mountDir: /mnt/data",
    )?;
    let dir = format!("/{}", dir.trim_matches('/'));
    let kept = ["/code", "/opt", "/proc", "/sys", "/dev", RUNTIME_FILES_DIR];
    let bad = dir == "/"
        || dir == "/tmp"
        || dir.split('/').any(|part| part == "..")
        || kept
            .iter()
            .any(|k| dir == *k || dir.starts_with(&format!("{k}/")));
    if bad {
        cx.error(
            &format!("{path}.mountDir"),
            format!(
                "is {dir}, allowed: an absolute folder other than /, /tmp and {} (and what is under them), e.g. /mnt/data",
                kept.join(", ")
            ),
        );
        return None;
    }
    Some(dir)
}
