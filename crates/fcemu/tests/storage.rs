//! NAS and OSS mount points (`nasConfig`, `ossMountConfig`) with `fcemu up` on Docker: a folder on this
//! machine stands in for each thing mounted, shared by the functions that name it, kept across runs, and
//! read-only where FC mounts it so.

mod common;

use common::calls::*;
use common::up::*;
use common::*;
use std::path::{Path, PathBuf};

const PYTHON_IMAGE: &str = "fcemu-runtime-python:bookworm";

/// Two functions that mount the same NAS folder at /mnt/shared; the reader also mounts a bucket read-only.
const YAML: &str = r#"edition: 3.0.0
name: storage
resources:
  writer:
    component: fc3
    props:
      functionName: writer
      runtime: python3.10
      code: ./code
      nasConfig:
        mountPoints:
          - { serverAddr: "0a1b2c.cn-hangzhou.nas.aliyuncs.com:/team", mountDir: /mnt/shared }
  reader:
    component: fc3
    props:
      functionName: reader
      runtime: python3.10
      code: ./code
      nasConfig:
        userId: 10003
        groupId: 10003
        mountPoints:
          - { serverAddr: "0a1b2c.cn-hangzhou.nas.aliyuncs.com:/team/", mountDir: /mnt/shared }
      ossMountConfig:
        mountPoints:
          - { bucketName: pictures, bucketPath: /in, endpoint: "http://oss-cn-hangzhou-internal.aliyuncs.com", mountDir: /mnt/pictures, readOnly: true }
"#;

/// Writes `{"write": PATH, "text": ...}`, reads `{"read": PATH}`.
const HANDLER: &str = r#"import json

def handler(event, context):
    e = json.loads(event)
    if "write" in e:
        with open(e["write"], "w") as f:
            f.write(e["text"])
        return "written"
    with open(e["read"]) as f:
        return f.read()
"#;

async fn call(up: &Up, function: &str, event: &str) -> (Option<String>, String) {
    let url = format!("{}/2023-03-30/functions/{function}/invocations", up.url);
    let r = send(reqwest::Method::POST, url, event).await;
    let error = r
        .headers()
        .get("x-fc-error-type")
        .map(|v| v.to_str().unwrap().to_string());
    (error, r.text().await.unwrap())
}

/// The one folder under `.fcemu/storage/KIND/`.
fn stand_in(project: &Path, kind: &str) -> PathBuf {
    let folders: Vec<_> = std::fs::read_dir(project.join(".fcemu/storage").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_share_a_nas_folder_across_runs_and_a_read_only_bucket_refuses_writes() {
    let docker = docker_with(&[PYTHON_IMAGE]).await;
    let project = TestProject::with_yaml(YAML);
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/index.py"), HANDLER).unwrap();

    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "Ctrl-C").await;
    // Said once per function and mount point, the new folders as new.
    let said = |up: &Up, what: &str| up.output().iter().filter(|l| l.contains(what)).count();
    assert_eq!(said(&up, "at /mnt/shared is "), 2, "{:#?}", up.output());
    assert_eq!(
        said(&up, "a new, empty folder"),
        2,
        "the NAS folder once, the bucket once: {:#?}",
        up.output()
    );
    assert_eq!(
        said(
            &up,
            "OSS bucket pictures:/in at /mnt/pictures (read-only) is "
        ),
        1
    );

    // One function writes, another function's instance reads it.
    let (error, body) = call(
        &up,
        "writer",
        r#"{"write": "/mnt/shared/note.txt", "text": "from the writer"}"#,
    )
    .await;
    assert_eq!((error, body.as_str()), (None, "written"));
    let (error, body) = call(&up, "reader", r#"{"read": "/mnt/shared/note.txt"}"#).await;
    assert_eq!((error, body.as_str()), (None, "from the writer"));
    let nas = stand_in(project.path(), "nas");
    assert_eq!(
        std::fs::read_to_string(nas.join("note.txt")).unwrap(),
        "from the writer"
    );

    // The bucket is read-only inside, and what is put in its folder here is there.
    let oss = stand_in(project.path(), "oss");
    std::fs::write(oss.join("cat.txt"), "a cat").unwrap();
    let (error, body) = call(&up, "reader", r#"{"read": "/mnt/pictures/cat.txt"}"#).await;
    assert_eq!((error, body.as_str()), (None, "a cat"));
    let (error, body) = call(
        &up,
        "reader",
        r#"{"write": "/mnt/pictures/dog.txt", "text": "no"}"#,
    )
    .await;
    assert_eq!(error.as_deref(), Some("UnhandledInvocationError"), "{body}");
    assert!(body.contains("Read-only file system"), "{body}");
    assert!(!oss.join("dog.txt").exists());
    assert_eq!(up.stop().0, 0);

    // The next run finds what the last one left; nothing is new.
    let up = Up::start(project.path(), &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert_eq!(said(&up, "a new, empty folder"), 0, "{:#?}", up.output());
    let (error, body) = call(&up, "reader", r#"{"read": "/mnt/shared/note.txt"}"#).await;
    assert_eq!((error, body.as_str()), (None, "from the writer"));
    assert_eq!(up.stop().0, 0);

    // --mount puts a folder of the user's in its place.
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(mine.path().join("note.txt"), "from my folder").unwrap();
    let given = format!("/mnt/shared={}", mine.path().display());
    let up = Up::start(project.path(), &["--mount", &given]);
    wait_for_output(&up, "Ctrl-C").await;
    let (error, body) = call(&up, "reader", r#"{"read": "/mnt/shared/note.txt"}"#).await;
    assert_eq!((error, body.as_str()), (None, "from my folder"));
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;

    // A --mount that is no folder is refused with what it should be.
    let out = fcemu(&[
        "up",
        &project.path().display().to_string(),
        "--mount",
        "/mnt/shared=/no/such/folder",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/no/such/folder is not a folder"),
        "{}",
        text(&out.stderr)
    );
}
