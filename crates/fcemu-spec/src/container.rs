//! How a function's container is made: a custom container's image, or a custom runtime's code on a
//! local image.

use crate::fields::{Cx, Fields};
use crate::model::*;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn container(
    cx: &mut Cx,
    edition: Edition,
    f: &Fields,
    runtime: Option<&Runtime>,
    dir: &Path,
) -> Option<ContainerConfig> {
    let custom_container = matches!(runtime, Some(Runtime::CustomContainer));
    let c = f.sub(
        cx,
        if custom_container || runtime.is_none() {
            "customContainerConfig"
        } else {
            "customRuntimeConfig"
        },
    );
    let port_default = match edition {
        Edition::Fc2 => f.integer(cx, "caPort", (1, 65535), 9000),
        Edition::Fc3 => 9000,
    };
    let port = c.integer(cx, "port", (1, 65535), port_default) as u16;
    let health_fields = c.sub(cx, "healthCheckConfig");
    let health_check = health_check(cx, &health_fields);
    match runtime {
        Some(Runtime::CustomContainer) => {
            if c.map.is_none() {
                cx.error(
                    &c.path,
                    "is required for runtime custom-container: give at least `image`".into(),
                );
                return None;
            }
            let image = c.required_string(
                cx,
                "image",
                "the container image, e.g. image: my-func:latest",
            );
            let (entrypoint, command) = match edition {
                Edition::Fc3 => (
                    c.string_list(cx, "entrypoint"),
                    c.string_list(cx, "command"),
                ),
                // FC 2.0's command replaces the entrypoint and args the command, as in Kubernetes.
                Edition::Fc2 => (
                    json_string_list(cx, &c, "command"),
                    json_string_list(cx, &c, "args"),
                ),
            };
            let build = {
                let b = c.sub(cx, "x-fcemu-build");
                b.map.map(|_| {
                    let context: PathBuf = dir
                        .join(b.string(cx, "context").unwrap_or_else(|| ".".into()))
                        .components()
                        .collect();
                    if !context.is_dir() {
                        cx.error(
                            &b.field("context"),
                            format!("{} is not a folder", context.display()),
                        );
                    }
                    ImageBuild {
                        context: std::path::absolute(&context).unwrap_or(context),
                        dockerfile: b
                            .string(cx, "dockerfile")
                            .unwrap_or_else(|| "Dockerfile".into()),
                    }
                })
            };
            Some(ContainerConfig {
                image: image?,
                port,
                entrypoint,
                command,
                build,
                code: None,
                health_check,
            })
        }
        Some(Runtime::Custom(name)) => {
            let code_key = if edition == Edition::Fc3 {
                "code"
            } else {
                "codeUri"
            };
            let code = match f.string(cx, code_key) {
                Some(rel) => {
                    let path: PathBuf = dir.join(&rel).components().collect();
                    if !path.is_dir() {
                        cx.error(&f.field(code_key), format!("{} is not a folder: a custom runtime's code is a local folder, mounted at /code", path.display()));
                    }
                    std::path::absolute(&path).unwrap_or(path)
                }
                None => {
                    cx.error(&f.field(code_key), format!("is required for runtime {name}: the folder with your code, e.g. {code_key}: ./code"));
                    return None;
                }
            };
            let command = match edition {
                Edition::Fc3 => c.string_list(cx, "command"),
                Edition::Fc2 => json_string_list(cx, &c, "command"),
            };
            let args = match edition {
                Edition::Fc3 => c.string_list(cx, "args"),
                Edition::Fc2 => json_string_list(cx, &c, "args"),
            };
            Some(ContainerConfig {
                image: default_runtime_image(name),
                port,
                // Without a command, FC starts the code's `bootstrap`.
                entrypoint: Some(command.unwrap_or_else(|| vec!["/code/bootstrap".into()])),
                command: args,
                build: None,
                code: Some(code),
                health_check,
            })
        }
        None => None,
    }
}

fn health_check(cx: &mut Cx, h: &Fields) -> Option<HealthCheck> {
    h.map?;
    let url = h.required_string(
        cx,
        "httpGetUrl",
        "the path the probe GETs, e.g. httpGetUrl: /healthz",
    )?;
    let secs = |cx: &mut Cx, key: &str, range: (u64, u64), default: u64| {
        Duration::from_secs(h.integer(cx, key, range, default))
    };
    Some(HealthCheck {
        http_get_url: if url.starts_with('/') {
            url
        } else {
            format!("/{url}")
        },
        initial_delay: secs(cx, "initialDelaySeconds", (0, 120), 0),
        period: secs(cx, "periodSeconds", (1, 120), 1),
        timeout: secs(cx, "timeoutSeconds", (1, 3), 1),
        failure_threshold: h.integer(cx, "failureThreshold", (1, 120), 3) as u32,
        success_threshold: h.integer(cx, "successThreshold", (1, 120), 1) as u32,
    })
}

/// FC 2.0 writes `command` and `args` as JSON arrays inside strings: `command: '["python3"]'`.
fn json_string_list(cx: &mut Cx, c: &Fields, key: &str) -> Option<Vec<String>> {
    match c.get(key)? {
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(list) => Some(list),
            Err(_) => {
                cx.error(&c.field(key), format!("is \"{text}\", allowed: a JSON array of strings in a string, e.g. '[\"python3\", \"app.py\"]'"));
                None
            }
        },
        _ => c.string_list(cx, key),
    }
}
