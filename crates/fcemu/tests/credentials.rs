//! The credentials of a function's role with `fcemu up` on Docker: those of the s.yaml's access in
//! Serverless Devs' access file, else of the standard environment, carried by each request of a function
//! with a role (FC's x-fc-access-key-* headers, the context, ALIBABA_CLOUD_* in its environment), by no other,
//! and never written, printed or logged by fcemu.

mod common;

use common::calls::*;
use common::up::*;
use common::*;
use serde_json::Value;
use std::path::Path;

const PYTHON_IMAGE: &str = "fcemu-runtime-python:bookworm";
const SECRET: &str = "s3cr3t-never-to-be-seen-9f2d";
const TOKEN: &str = "sts-token-never-to-be-seen-71c0";

fn yaml() -> String {
    format!(
        r#"edition: 3.0.0
name: credentials
access: ci
resources:
  fixture:
    component: fc3
    props:
      functionName: fixture
      runtime: custom-container
      role: acs:ram::1234:role/fc-role
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
  py:
    component: fc3
    props:
      functionName: py
      runtime: python3.10
      role: acs:ram::1234:role/fc-role
      code: ./code
  norole:
    component: fc3
    props:
      functionName: norole
      runtime: python3.10
      code: ./code
"#
    )
}

/// What the Python function's context and environment hold.
const HANDLER: &str = r#"import json, os

def handler(event, context):
    c = context.credentials
    return json.dumps({
        "id": c.access_key_id, "secret": c.access_key_secret, "token": c.security_token,
        "env": os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
        "envSecret": os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
    })
"#;

async fn invoke_json(up: &Up, function: &str) -> Value {
    let url = format!("{}/2023-03-30/functions/{function}/invocations", up.url);
    send(reqwest::Method::POST, url, "{}")
        .await
        .json()
        .await
        .unwrap()
}

/// Every file fcemu wrote under `.fcemu/`, the events, the logs and what `up` printed: the secret and the
/// token are in none of them.
async fn nothing_tells(up: &Up, project: &Path) {
    let mut told = vec![
        up.get_json_lines("/_fcemu/events").await.join("\n"),
        logs(up, &[]),
        up.output().join("\n"),
        up.get_json("/_fcemu/functions").await.to_string(),
    ];
    let mut folders = vec![project.join(".fcemu")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                told.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
            }
        }
    }
    for text in told {
        assert!(
            !text.contains(SECRET) && !text.contains(TOKEN),
            "a secret told: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_with_a_role_gets_the_accesss_credentials_and_nothing_tells_them() {
    let docker = docker_with(&[PYTHON_IMAGE, FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml());
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/index.py"), HANDLER).unwrap();
    let (home, home_dir) = home_with_access(&format!(
        "default:\n  AccessKeyID: LTAIdefaultnotthis\n  AccessKeySecret: other\nci:\n  AccountID: '1234'\n  AccessKeyID: LTAIfromtheaccessWXYZ\n  AccessKeySecret: {SECRET}\n  SecurityToken: {TOKEN}\n"
    ));

    // From the s.yaml's access (`ci`, not `default`).
    let up = Up::start_with(project.path(), "127.0.0.1:0", &[("HOME", &home_dir)], &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed(&format!("credentials: fixture, py get those of access ci in {home_dir}/.s/access.yaml (key …WXYZ) as their role's")),
        "{:#?}",
        up.output()
    );
    let seen = get(format!("{}/fixture/echo", up.url))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let h = &seen["headers"];
    assert_eq!(h["x-fc-access-key-id"], "LTAIfromtheaccessWXYZ", "{seen}");
    assert_eq!(h["x-fc-access-key-secret"], SECRET);
    assert_eq!(h["x-fc-security-token"], TOKEN);
    let py = invoke_json(&up, "py").await;
    assert_eq!(py["id"], "LTAIfromtheaccessWXYZ", "{py}");
    assert_eq!(
        (&py["secret"], &py["token"]),
        (&Value::from(SECRET), &Value::from(TOKEN))
    );
    assert_eq!(
        (&py["env"], &py["envSecret"]),
        (&Value::from("LTAIfromtheaccessWXYZ"), &Value::from(SECRET))
    );
    // A function without a role gets none, as on FC.
    let none = invoke_json(&up, "norole").await;
    assert_eq!(
        (&none["id"], &none["env"]),
        (&Value::from(""), &Value::from("")),
        "{none}"
    );
    nothing_tells(&up, project.path()).await;
    assert_eq!(up.stop().0, 0);

    // From the environment, when the access file has no such access.
    std::fs::remove_file(home.path().join(".s/access.yaml")).unwrap();
    let env = [
        ("HOME", home_dir.as_str()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIfromtheenvABCD"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
    ];
    let up = Up::start_with(project.path(), "127.0.0.1:0", &env, &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("those of the environment's ALIBABA_CLOUD_ACCESS_KEY_ID (key …ABCD)"),
        "{:#?}",
        up.output()
    );
    let py = invoke_json(&up, "py").await;
    assert_eq!(
        (&py["id"], &py["token"]),
        (&Value::from("LTAIfromtheenvABCD"), &Value::from("")),
        "{py}"
    );
    nothing_tells(&up, project.path()).await;
    assert_eq!(up.stop().0, 0);

    // --no-credentials: none at all.
    let up = Up::start_with(project.path(), "127.0.0.1:0", &env, &["--no-credentials"]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(up.printed("credentials: none (--no-credentials)"));
    let seen = get(format!("{}/fixture/echo", up.url))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        seen["headers"].get("x-fc-access-key-id").is_none(),
        "{seen}"
    );
    assert_eq!(invoke_json(&up, "py").await["env"], "");
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
