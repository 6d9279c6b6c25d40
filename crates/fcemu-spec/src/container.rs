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
    if let Some(Runtime::BuiltIn { name, .. }) = runtime {
        if f.get("customRuntimeConfig").is_some() || f.get("customContainerConfig").is_some() {
            cx.warnings.push(format!(
                "{}: runtime {name} is a built-in runtime, so its custom*Config is not used",
                f.path
            ));
        }
    }
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
            if f.get("layers").is_some() {
                cx.warnings.push(format!(
                    "{}: FC mounts layers for runtimes that run code, not for custom containers: put what the layers hold into the image",
                    f.field("layers")
                ));
            }
            if c.map.is_none() {
                cx.error(
                    &c.path,
                    "is required for runtime custom-container: give at least `image`".into(),
                );
                return None;
            }
            let image = c
                .required_string(
                    cx,
                    "image",
                    "the container image, e.g. image: my-func:latest",
                )
                .filter(|image| {
                    let valid = is_image_reference(image);
                    if !valid {
                        cx.error(&c.field("image"), format!("is \"{image}\", which is not an image reference: write NAME[:TAG] in lower case, e.g. registry.cn-hangzhou.aliyuncs.com/my-namespace/my-func:v1 (a template's placeholder left in?)"));
                    }
                    valid
                });
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
                    } else {
                        host_folder(
                            cx,
                            &b.field("context"),
                            &context,
                            dir,
                            "packed and sent to the engine to build the image",
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
            // As `s build` does, a Dockerfile in the code folder (or beside the s.yaml) builds the image.
            let build = build.or_else(|| {
                let code = f.string(cx, "code").map(|rel| dir.join(rel));
                let folder = [code.as_deref(), Some(dir)]
                    .into_iter()
                    .flatten()
                    .find(|folder| folder.join("Dockerfile").is_file())?
                    .to_path_buf();
                host_folder(
                    cx,
                    &f.field("code"),
                    &folder,
                    dir,
                    "packed and sent to the engine to build the image",
                );
                Some(ImageBuild {
                    context: std::path::absolute(&folder).unwrap_or(folder),
                    dockerfile: "Dockerfile".into(),
                })
            });
            Some(ContainerConfig {
                image: image?,
                port,
                entrypoint,
                command,
                build,
                code: None,
                runtime_files: None,
                health_check,
                layers: vec![],
                opt: None,
                storage: Vec::new(),
                nas_owner: None,
            })
        }
        Some(Runtime::Custom(name)) => {
            let code = code(cx, edition, f, name, dir)?;
            let command = match edition {
                Edition::Fc3 => c.string_list(cx, "command"),
                Edition::Fc2 => json_string_list(cx, &c, "command"),
            };
            let args = match edition {
                Edition::Fc3 => c.string_list(cx, "args"),
                Edition::Fc2 => json_string_list(cx, &c, "args"),
            };
            Some(ContainerConfig {
                image: CUSTOM_RUNTIME_IMAGE.into(),
                port,
                // Without a command, FC starts the code's `bootstrap`.
                entrypoint: Some(command.unwrap_or_else(|| vec!["/code/bootstrap".into()])),
                command: args,
                build: None,
                code: Some(code),
                runtime_files: None,
                health_check,
                layers: f.string_list(cx, "layers").unwrap_or_default(),
                opt: None,
                storage: Vec::new(),
                nas_owner: None,
            })
        }
        Some(Runtime::BuiltIn { language, name }) => {
            let code = code(cx, edition, f, name, dir)?;
            Some(ContainerConfig {
                image: language.default_image(),
                // fcemu's runtime listens where FC's runtimes do.
                port: 9000,
                entrypoint: Some(language.entrypoint()),
                command: Some(vec![]),
                build: None,
                code: Some(code),
                runtime_files: None,
                health_check: None,
                layers: f.string_list(cx, "layers").unwrap_or_default(),
                opt: None,
                storage: Vec::new(),
                nas_owner: None,
            })
        }
        None => None,
    }
}

/// Whether `image` is a reference an engine accepts: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`, the path in
/// lower case.
fn is_image_reference(image: &str) -> bool {
    static REFERENCE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    REFERENCE
        .get_or_init(|| {
            let component = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
            let host = r"[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?";
            regex::Regex::new(&format!(
                r"^(?:{host}/)?{component}(?:/{component})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
            ))
            .expect("a valid pattern")
        })
        .is_match(image)
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
    if url.len() > 2048 {
        cx.error(
            &h.field("httpGetUrl"),
            format!("is {} characters long, allowed: at most 2048", url.len()),
        );
    }
    Some(HealthCheck {
        http_get_url: if url.starts_with('/') {
            url
        } else {
            format!("/{url}")
        },
        initial_delay: secs(cx, "initialDelaySeconds", (0, 120), 0),
        // FC's defaults and ranges (CustomHealthCheckConfig).
        period: secs(cx, "periodSeconds", (1, 120), 3),
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

/// A custom or built-in runtime's code: `code` (FC 3.0) or `codeUri` (FC 2.0), a folder or a `.zip`.
fn code(cx: &mut Cx, edition: Edition, f: &Fields, runtime: &str, dir: &Path) -> Option<PathBuf> {
    let key = match edition {
        Edition::Fc3 => "code",
        Edition::Fc2 => "codeUri",
    };
    let Some(rel) = f.string(cx, key) else {
        cx.error(
            &f.field(key),
            format!("is required for runtime {runtime}: the folder or .zip with your code, e.g. {key}: ./code"),
        );
        return None;
    };
    let path: PathBuf = dir.join(&rel).components().collect();
    let is_zip = is_code_archive(&path);
    if is_zip && !path.is_file() {
        cx.missing_code(
            &f.field(key),
            format!(
                "{} does not exist: give the path of your code's .zip (a Java function's .jar), or of its folder",
                path.display()
            ),
        );
    } else if !is_zip && !path.is_dir() {
        cx.missing_code(&f.field(key), format!("{} is not a folder or a .zip: the code is mounted at /code, so give its folder (or a .zip of it, or a Java function's .jar)", path.display()));
    } else {
        host_folder(
            cx,
            &f.field(key),
            &path,
            dir,
            "seen at /code by the function's containers, which have the network",
        );
    }
    Some(std::path::absolute(&path).unwrap_or(path))
}

/// A folder (or file) of this machine that the s.yaml hands to containers: `code`, or a build context. The
/// s.yaml may come from a repository just cloned, so the root folder and the home folder (or a folder above
/// it) are refused, and anything outside the project folder is said by name. Links are followed first:
/// `code: ./link` to `/` is `/`.
pub(crate) fn host_folder(cx: &mut Cx, field: &str, path: &Path, project: &Path, use_: &str) {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let project = std::fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .and_then(|h| std::fs::canonicalize(h).ok());
    let holds_home = home.as_deref().is_some_and(|home| home.starts_with(&real));
    if real == Path::new("/") || holds_home {
        cx.error(
            field,
            format!(
                "is {}, {}: fcemu does not hand the root folder or the home folder to a container, since it would be {use_}; point it at the function's own folder in the project",
                real.display(),
                if real == Path::new("/") { "the root folder" } else { "the home folder or a folder above it" }
            ),
        );
    } else if !real.starts_with(&project) {
        cx.warnings.push(format!(
            "{field}: {} is outside the project folder {}, and is {use_}",
            real.display(),
            project.display()
        ));
    }
}

/// A code `.zip`, or a Java function's `.jar` (a zip too): FC unpacks either into /code.
pub fn is_code_archive(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip") || e.eq_ignore_ascii_case("jar"))
}

#[cfg(test)]
mod tests {
    use crate::parse_project;

    #[test]
    fn image_references_are_told_from_placeholders() {
        for good in [
            "web:latest",
            "fcemu-fixture:latest",
            "registry.cn-hangzhou.aliyuncs.com/my-ns/web:v1.2",
            "localhost:5000/a/b",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(super::is_image_reference(good), "{good}");
        }
        for bad in [
            "<your namespace>/<your image>:<your tag>",
            "",
            "Web:latest",
            "a b",
            "{{ acrImage }}",
        ] {
            assert!(!super::is_image_reference(bad), "{bad}");
        }
    }
    use std::path::Path;

    fn custom_runtime(code: &str) -> String {
        format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom.debian12\n      code: {code}\n"
        )
    }

    fn load(dir: &Path, yaml: &str) -> Result<crate::Project, crate::SpecErrors> {
        parse_project(yaml, &dir.join("s.yaml"), dir, &|_| None)
    }

    #[test]
    fn a_layer_the_s_yaml_maps_to_the_root_or_home_folder_is_refused() {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("code")).unwrap();
        let arn = "acs:fc:cn-hangzhou:123:layers/mine/versions/1";
        for folder in ["/", &std::env::var("HOME").unwrap()] {
            let yaml = format!(
                "x-fcemu-layers:\n  \"{arn}\": {folder}\n{}",
                custom_runtime("./code")
            );
            let error = load(project.path(), &yaml).unwrap_err().to_string();
            assert!(
                error.contains(&format!("x-fcemu-layers.{arn}: is")),
                "{error}"
            );
        }
        let mine = project.path().join("layer");
        std::fs::create_dir(&mine).unwrap();
        let yaml = format!(
            "x-fcemu-layers:\n  \"{arn}\": ./layer\n{}",
            custom_runtime("./code")
        );
        assert_eq!(load(project.path(), &yaml).unwrap().layer_paths[arn], mine);
    }

    #[test]
    fn a_health_check_has_fcs_defaults_and_ranges() {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("code")).unwrap();
        let with = |check: &str| {
            format!(
                "{}      customRuntimeConfig:\n        healthCheckConfig: {check}\n",
                custom_runtime("./code")
            )
        };
        let loaded = load(project.path(), &with("{ httpGetUrl: ready }")).unwrap();
        let check = loaded.functions[0].container.health_check.clone().unwrap();
        assert_eq!(check.http_get_url, "/ready");
        assert_eq!(check.initial_delay, std::time::Duration::ZERO);
        assert_eq!(check.period, std::time::Duration::from_secs(3));
        assert_eq!(check.timeout, std::time::Duration::from_secs(1));
        assert_eq!((check.failure_threshold, check.success_threshold), (3, 1));
        let error = load(
            project.path(),
            &with("{ httpGetUrl: /r, timeoutSeconds: 4 }"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("timeoutSeconds"), "{error}");
        let long = format!("{{ httpGetUrl: /{} }}", "a".repeat(2048));
        let error = load(project.path(), &with(&long)).unwrap_err().to_string();
        assert!(error.contains("at most 2048"), "{error}");
    }

    #[test]
    fn a_dockerfile_in_the_code_folder_builds_a_custom_containers_image() {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("code")).unwrap();
        std::fs::write(project.path().join("code/Dockerfile"), "FROM scratch\n").unwrap();
        let yaml = "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom-container\n      code: ./code\n      customContainerConfig: { image: registry.example.com/ns/f:v1 }\n";
        let loaded = load(project.path(), yaml).unwrap();
        let build = loaded.functions[0].container.build.clone().unwrap();
        assert_eq!(build.context, project.path().join("code"));
        assert_eq!(build.dockerfile, "Dockerfile");
    }

    #[test]
    fn code_at_the_root_folder_is_refused_and_outside_the_project_it_is_named() {
        let project = tempfile::tempdir().unwrap();
        let error = load(project.path(), &custom_runtime("/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is /, the root folder"), "{error}");
        // Through a link in the project: the same.
        std::os::unix::fs::symlink("/", project.path().join("code")).unwrap();
        let error = load(project.path(), &custom_runtime("./code"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is /, the root folder"), "{error}");

        let elsewhere = tempfile::tempdir().unwrap();
        let loaded = load(
            project.path(),
            &custom_runtime(&elsewhere.path().display().to_string()),
        )
        .unwrap();
        let warning = loaded.warnings.join("\n");
        assert!(
            warning.contains(&format!(
                "resources.f.props.code: {} is outside the project folder",
                std::fs::canonicalize(elsewhere.path()).unwrap().display()
            )),
            "{warning}"
        );
        std::fs::remove_file(project.path().join("code")).unwrap();
        std::fs::create_dir(project.path().join("code")).unwrap();
        let inside = load(project.path(), &custom_runtime("./code")).unwrap();
        assert!(inside.warnings.is_empty(), "{:?}", inside.warnings);
    }
}
