//! `fcemu debug-config`: the IDE's launch configuration for a function served with `up --debug`: attach to
//! the debugger's published port, with the container's `/code` mapped to the project's code folder.

use crate::failure::Failure;
use fcemu_spec::{FunctionSpec, Language};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Print (or write) a debugger launch configuration for a function served with `up --debug`
#[derive(clap::Args)]
pub struct Args {
    function: String,
    /// The IDE the configuration is for
    #[arg(long, value_enum)]
    ide: Ide,
    /// The debugger's port, when `up --debug FUNCTION=PORT` gave one (default: the language's)
    #[arg(long)]
    port: Option<u16>,
    /// The project folder (default: the current one)
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Write it where the IDE reads it (.vscode/launch.json, merged; .idea/runConfigurations/) instead
    #[arg(long)]
    write: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Ide {
    Vscode,
    Jetbrains,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let project =
        fcemu_spec::load_project(&args.dir, None).map_err(|e| Failure::user(e.to_string()))?;
    let Some(spec) = project.functions.iter().find(|f| f.name == args.function) else {
        let names: Vec<&str> = project.functions.iter().map(|f| f.name.as_str()).collect();
        return Err(Failure::user(format!(
            "no function {} in this project, allowed: {}",
            args.function,
            names.join(", ")
        )));
    };
    let port = args
        .port
        .or_else(|| fcemu_control::default_debug_port(spec))
        .ok_or_else(|| {
            Failure::user(format!(
                "{}: say the port its debugger listens on (the one given to up --debug {}=PORT) with --port",
                spec.name, spec.name
            ))
        })?;
    let local = local_root(&project.dir, spec);
    match args.ide {
        Ide::Vscode => {
            let configuration = vscode(spec, port, &local)?;
            if args.write {
                let path = project.dir.join(".vscode/launch.json");
                write_vscode(&path, configuration)?;
                crate::output::info(&format!("wrote {}", path.display()));
            } else {
                let launch = json!({ "version": "0.2.0", "configurations": [configuration] });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&launch).unwrap_or_default()
                );
            }
        }
        Ide::Jetbrains => {
            let xml = jetbrains(spec, port)?;
            if args.write {
                let path = project
                    .dir
                    .join(format!(".idea/runConfigurations/fcemu_{}.xml", spec.name));
                write_file(&path, &xml)?;
                crate::output::info(&format!("wrote {}", path.display()));
            } else {
                print!("{xml}");
            }
        }
    }
    Ok(())
}

/// Where the container's `/code` is in the project, as VS Code names it (`${workspaceFolder}/...` when it is
/// inside the project).
fn local_root(project_dir: &Path, spec: &FunctionSpec) -> String {
    let Some(code) = &spec.container.code else {
        return "${workspaceFolder}".into();
    };
    match code.strip_prefix(project_dir) {
        Ok(inside) if inside.as_os_str().is_empty() => "${workspaceFolder}".into(),
        Ok(inside) => format!("${{workspaceFolder}}/{}", inside.display()),
        Err(_) => code.display().to_string(),
    }
}

fn name_of(spec: &FunctionSpec) -> String {
    format!("fcemu: {}", spec.name)
}

/// VS Code's attach configuration for the function's debugger.
fn vscode(spec: &FunctionSpec, port: u16, local: &str) -> Result<Value, Failure> {
    let name = name_of(spec);
    Ok(match spec.runtime.language() {
        Some(Language::Python) => json!({
            "name": name, "type": "debugpy", "request": "attach",
            "connect": { "host": "127.0.0.1", "port": port },
            "pathMappings": [{ "localRoot": local, "remoteRoot": "/code" }],
            "justMyCode": true,
        }),
        Some(Language::Nodejs) => json!({
            "name": name, "type": "node", "request": "attach",
            "address": "127.0.0.1", "port": port,
            "localRoot": local, "remoteRoot": "/code",
        }),
        Some(Language::Java) => json!({
            "name": name, "type": "java", "request": "attach",
            "hostName": "127.0.0.1", "port": port,
        }),
        // A custom container's debugger is the user's: the common part, for them to fill in its type.
        _ => json!({
            "name": name, "request": "attach",
            "host": "127.0.0.1", "port": port,
            "pathMappings": [{ "localRoot": local, "remoteRoot": "/code" }],
        }),
    })
}

/// A JetBrains run configuration: IntelliJ's Remote JVM Debug for Java, WebStorm's Attach to Node.js for
/// Node.js. PyCharm attaches to its own debug server (pydevd), not to debugpy, so a Python function has
/// none: VS Code's is the one to use.
fn jetbrains(spec: &FunctionSpec, port: u16) -> Result<String, Failure> {
    let name = name_of(spec);
    match spec.runtime.language() {
        Some(Language::Java) => Ok(format!(
            r#"<component name="ProjectRunConfigurationManager">
  <configuration default="false" name="{name}" type="Remote">
    <option name="USE_SOCKET_TRANSPORT" value="true" />
    <option name="SERVER_MODE" value="false" />
    <option name="SHMEM_ADDRESS" />
    <option name="HOST" value="127.0.0.1" />
    <option name="PORT" value="{port}" />
    <option name="AUTO_RESTART" value="false" />
    <method v="2" />
  </configuration>
</component>
"#
        )),
        Some(Language::Nodejs) => Ok(format!(
            r#"<component name="ProjectRunConfigurationManager">
  <configuration default="false" name="{name}" type="ChromiumRemoteDebugType" factoryName="Chromium Remote" port="{port}" restartOnDisconnect="true">
    <method v="2" />
  </configuration>
</component>
"#
        )),
        _ => Err(Failure::user(format!(
            "{}: JetBrains IDEs attach to Java's JDWP and Node.js's inspector; PyCharm's debugger is its own (pydevd), not debugpy: use --ide vscode",
            spec.name
        ))),
    }
}

/// Adds the configuration to `.vscode/launch.json`, replacing one of the same name, keeping the others.
fn write_vscode(path: &Path, configuration: Value) -> Result<(), Failure> {
    let mut launch: Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Failure::user(format!(
                "{} is not JSON fcemu can merge into ({e}; VS Code allows comments, fcemu does not): add the configuration printed without --write by hand",
                path.display()
            ))
        })?,
        Err(_) => json!({ "version": "0.2.0", "configurations": [] }),
    };
    let name = configuration["name"].clone();
    let Some(list) = launch["configurations"].as_array_mut() else {
        return Err(Failure::user(format!(
            "{} has no \"configurations\" list to add to",
            path.display()
        )));
    };
    list.retain(|c| c["name"] != name);
    list.push(configuration);
    write_file(
        path,
        &serde_json::to_string_pretty(&launch).unwrap_or_default(),
    )
}

/// Writes a file of the project's (made with its folder), refusing to write through a symbolic link a
/// repository could have committed in its place.
fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    let linked = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    if linked(path) || path.parent().is_some_and(linked) {
        return Err(Failure::user(format!(
            "{} is a symbolic link, and fcemu does not write through one",
            path.display()
        )));
    }
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(path, text));
    written.map_err(|e| Failure::user(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(props: &str, code: &Path) -> (PathBuf, FunctionSpec) {
        let dir = code.parent().unwrap().to_path_buf();
        let text = format!(
            "edition: 3.0.0\nname: t\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      code: ./{}\n{props}",
            code.file_name().unwrap().to_str().unwrap()
        );
        let project = fcemu_spec::parse_project(&text, &dir.join("s.yaml"), &dir, &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, project.functions[0].clone())
    }

    #[test]
    fn vscode_attaches_with_the_containers_code_mapped_to_the_projects() {
        let project = tempfile::tempdir().unwrap();
        let code = project.path().join("src");
        std::fs::create_dir(&code).unwrap();
        let (dir, python) = spec_of(
            "      runtime: python3.10\n      handler: index.handler\n",
            &code,
        );
        let local = local_root(&dir, &python);
        assert_eq!(local, "${workspaceFolder}/src");
        let c = vscode(&python, 5678, &local).unwrap();
        assert_eq!(c["type"], "debugpy");
        assert_eq!(c["connect"]["port"], 5678);
        assert_eq!(
            c["pathMappings"],
            json!([{ "localRoot": "${workspaceFolder}/src", "remoteRoot": "/code" }])
        );
        let (_, node) = spec_of(
            "      runtime: nodejs18\n      handler: index.handler\n",
            &code,
        );
        let n = vscode(&node, 9229, &local).unwrap();
        assert_eq!(
            (&n["type"], &n["remoteRoot"]),
            (&json!("node"), &json!("/code"))
        );
        assert!(jetbrains(&node, 9229).unwrap().contains("port=\"9229\""));
        assert!(jetbrains(&python, 5678).is_err());
    }

    #[test]
    fn writing_merges_into_launch_json_and_refuses_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".vscode/launch.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"version":"0.2.0","configurations":[{"name":"mine"},{"name":"fcemu: f","port":1}]}"#,
        )
        .unwrap();
        write_vscode(&path, json!({ "name": "fcemu: f", "port": 5678 })).unwrap();
        let merged: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            merged["configurations"],
            json!([{ "name": "mine" }, { "name": "fcemu: f", "port": 5678 }])
        );
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("linked.json")).unwrap();
        assert!(write_file(&dir.path().join("linked.json"), "x").is_err());
        assert!(!target.exists());
    }
}
