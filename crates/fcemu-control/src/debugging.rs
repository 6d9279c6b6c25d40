//! A function served under a debugger (`up --debug`): its container starts the function under its language's
//! debugger, listening on the debugger's port, which is published on this machine at the same number. The
//! lifecycle's part (one instance, never frozen nor reclaimed, timeouts lifted) is where each rule lives:
//! `pool.rs`, `freezing.rs`, `destroy.rs`, `function.rs`, `readiness.rs`, each asking `Options::debugged`.

use crate::options::Debugged;
use fcemu_runtime::{ContainerSpec, DebugPort};
use fcemu_spec::{FunctionSpec, Language, Runtime};

/// Where a custom runtime's command starts Python (`python3 app.py`, `/var/fc/lang/python3.10/bin/python3`):
/// the index of the interpreter, when it is one and no `--debug-args` say otherwise.
pub fn custom_python(spec: &FunctionSpec, debug_args: &[String]) -> Option<usize> {
    if !matches!(spec.runtime, Runtime::Custom(_)) || !debug_args.is_empty() {
        return None;
    }
    let entrypoint = spec.container.entrypoint.as_ref()?;
    let program = entrypoint.first()?;
    let name = program.rsplit('/').next().unwrap_or(program);
    name.starts_with("python").then_some(0)
}

/// Why a function cannot be served under a debugger yet; None when it can.
pub fn debug_unsupported(spec: &FunctionSpec, debug: &Debugged) -> Option<String> {
    if custom_python(spec, &debug.args).is_some() {
        return None;
    }
    match spec.runtime.language() {
        Some(Language::Nodejs | Language::Java | Language::Python | Language::Go) => None,
        Some(Language::Php) => Some(format!(
            "{}: fcemu's PHP runtime has no debugger (Xdebug) to start",
            spec.name
        )),
        None if debug.args.is_empty() => Some(format!(
            "{}: say how your image starts its debugger with --debug-args (appended to the command), e.g. --debug-args \"--inspect=0.0.0.0:{}\"",
            spec.name, debug.port
        )),
        None if spec.container.command.is_none() && spec.container.entrypoint.is_none() => {
            Some(format!(
                "{}: --debug-args are appended to the command, and the s.yaml names none: set customContainerConfig.command (or entrypoint) to what the image runs",
                spec.name
            ))
        }
        None => None,
    }
}

/// The debugger's port each language's debugger listens on unless `--debug FUNCTION=PORT` says otherwise.
pub fn default_debug_port(spec: &FunctionSpec) -> Option<u16> {
    match spec.runtime.language()? {
        Language::Python => Some(5678),
        Language::Nodejs => Some(9229),
        Language::Java => Some(5005),
        Language::Go => Some(2345),
        Language::Php => Some(9003),
    }
}

/// `python3 [-u] ...` -> `python3 [-u] -Xfrozen_modules=off -m debugpy --listen 0.0.0.0:PORT
/// [--wait-for-client] ...`, the interpreter at `at`.
fn under_debugpy(line: &mut Vec<String>, at: usize, debug: &Debugged) {
    // Python 3.11's frozen standard modules can make debugpy miss breakpoints (it says so at start).
    let mut flags = vec![
        "-Xfrozen_modules=off".to_string(),
        "-m".into(),
        "debugpy".into(),
        "--listen".into(),
        format!("0.0.0.0:{}", debug.port),
    ];
    if debug.wait {
        flags.push("--wait-for-client".into());
    }
    let after = match line.get(at + 1) {
        Some(flag) if flag == "-u" => at + 2,
        _ => at + 1,
    };
    let after = after.min(line.len());
    line.splice(after..after, flags);
}

/// Starts the container's function under its debugger, and publishes the debugger's port.
pub(crate) fn under_debugger(spec: &FunctionSpec, debug: &Debugged, container: &mut ContainerSpec) {
    let port = debug.port;
    match spec.runtime.language() {
        Some(Language::Nodejs) => {
            let flag = match debug.wait {
                true => format!("--inspect-brk=0.0.0.0:{port}"),
                false => format!("--inspect=0.0.0.0:{port}"),
            };
            if let Some(entrypoint) = container.entrypoint.as_mut() {
                entrypoint.insert(1.min(entrypoint.len()), flag);
            }
        }
        // debugpy (Debian's, in the image `up` makes for it), its adapter listening; fcemu's runtime then
        // runs the Initializer, the handler and PreStop under it.
        Some(Language::Python) => {
            if let Some(entrypoint) = container.entrypoint.as_mut() {
                under_debugpy(entrypoint, 0, debug);
            }
        }
        // Delve (Debian's, in the image `up` makes for it) starts the executable fcemu's Go runtime runs,
        // headless; halted until a client continues it with --debug-wait.
        Some(Language::Go) => {
            let continued = if debug.wait { "" } else { " --continue" };
            container.env.push((
                "FCEMU_DEBUGGER".into(),
                format!(
                    "dlv exec --headless --listen=0.0.0.0:{port} --api-version=2 --accept-multiclient{continued} --"
                ),
            ));
        }
        Some(Language::Java) => {
            let suspend = if debug.wait { "y" } else { "n" };
            container.env.push((
                "JAVA_TOOL_OPTIONS".into(),
                format!(
                    "-agentlib:jdwp=transport=dt_socket,server=y,suspend={suspend},address=*:{port}"
                ),
            ));
        }
        // A custom runtime that runs Python: the same, after its interpreter.
        None if custom_python(spec, &debug.args).is_some() => {
            if let Some(entrypoint) = container.entrypoint.as_mut() {
                under_debugpy(entrypoint, 0, debug);
            }
        }
        // Custom containers and runtimes: the arguments their own debugger takes.
        _ => match container.command.as_mut().or(container.entrypoint.as_mut()) {
            Some(line) => line.extend(debug.args.iter().cloned()),
            None => container.command = Some(debug.args.clone()),
        },
    }
    container.debug_port = Some(DebugPort {
        port,
        host_ip: debug.host.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn function(props: &str) -> FunctionSpec {
        let text = format!(
            "edition: 3.0.0\nname: t\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n{props}"
        );
        let project =
            fcemu_spec::parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
                .unwrap_or_else(|e| panic!("{e}"));
        project.functions[0].clone()
    }

    fn debug(wait: bool, args: &[&str]) -> Debugged {
        Debugged {
            port: 9229,
            host: "127.0.0.1".into(),
            wait,
            keep_timeouts: false,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn container_of(spec: &FunctionSpec, debug: &Debugged) -> ContainerSpec {
        let mut container = ContainerSpec {
            entrypoint: spec.container.entrypoint.clone(),
            command: spec.container.command.clone(),
            ..Default::default()
        };
        under_debugger(spec, debug, &mut container);
        container
    }

    #[test]
    fn node_runs_under_its_inspector_and_waits_for_it_when_asked() {
        let node =
            function("      runtime: nodejs18\n      handler: index.handler\n      code: /tmp\n");
        assert_eq!(default_debug_port(&node), Some(9229));
        let c = container_of(&node, &debug(false, &[]));
        let entry = c.entrypoint.unwrap();
        assert_eq!(entry[0], "node");
        assert_eq!(entry[1], "--inspect=0.0.0.0:9229");
        assert!(entry[2].ends_with("bootstrap.js"), "{entry:?}");
        let waiting = container_of(&node, &debug(true, &[]));
        assert_eq!(waiting.entrypoint.unwrap()[1], "--inspect-brk=0.0.0.0:9229");
        assert_eq!(
            c.debug_port,
            Some(DebugPort {
                port: 9229,
                host_ip: "127.0.0.1".into()
            })
        );
    }

    #[test]
    fn python_runs_under_debugpy_listening_and_waiting_when_asked() {
        let python =
            function("      runtime: python3.10\n      handler: index.handler\n      code: /tmp\n");
        assert_eq!(default_debug_port(&python), Some(5678));
        let mut d = debug(true, &[]);
        d.port = 5678;
        let entry = container_of(&python, &d).entrypoint.unwrap();
        assert_eq!(
            entry[..8],
            [
                "python3",
                "-u",
                "-Xfrozen_modules=off",
                "-m",
                "debugpy",
                "--listen",
                "0.0.0.0:5678",
                "--wait-for-client"
            ]
        );
        assert!(entry[8].ends_with("bootstrap.py"), "{entry:?}");
    }

    #[test]
    fn go_runs_its_executable_under_delve_halted_until_continued_when_asked() {
        let go = function("      runtime: go1\n      handler: main\n      code: /tmp\n");
        assert_eq!(default_debug_port(&go), Some(2345));
        let debugger = |wait| {
            let c = container_of(&go, &debug(wait, &[]));
            let (_, line) = c
                .env
                .into_iter()
                .find(|(k, _)| k == "FCEMU_DEBUGGER")
                .unwrap();
            line
        };
        assert_eq!(
            debugger(true),
            "dlv exec --headless --listen=0.0.0.0:9229 --api-version=2 --accept-multiclient --"
        );
        assert!(debugger(false).ends_with("--accept-multiclient --continue --"));
    }

    #[test]
    fn a_custom_runtime_that_runs_python3_runs_it_under_debugpy() {
        let custom = function(
            "      runtime: custom.debian10\n      code: /tmp\n      customRuntimeConfig: { command: [python3, app.py], port: 9000 }\n",
        );
        let d = debug(false, &[]);
        assert_eq!(custom_python(&custom, &d.args), Some(0));
        assert_eq!(debug_unsupported(&custom, &d), None);
        assert_eq!(
            container_of(&custom, &d).entrypoint.unwrap(),
            [
                "python3",
                "-Xfrozen_modules=off",
                "-m",
                "debugpy",
                "--listen",
                "0.0.0.0:9229",
                "app.py"
            ]
        );
        // Its own --debug-args win; a bootstrap script is not known to be Python.
        assert_eq!(custom_python(&custom, &["--x".to_string()]), None);
        let script = function("      runtime: custom.debian10\n      code: /tmp\n");
        assert_eq!(custom_python(&script, &[]), None);
    }

    #[test]
    fn java_gets_the_jdwp_agent_and_a_custom_container_its_own_arguments() {
        let java = function(
            "      runtime: java11\n      handler: example.App::handleRequest\n      code: /tmp\n",
        );
        let c = container_of(&java, &debug(true, &[]));
        let (_, options) = c
            .env
            .iter()
            .find(|(k, _)| k == "JAVA_TOOL_OPTIONS")
            .unwrap();
        assert_eq!(
            options,
            "-agentlib:jdwp=transport=dt_socket,server=y,suspend=y,address=*:9229"
        );
        let custom = function(
            "      runtime: custom-container\n      customContainerConfig: { image: \"web:1\", command: [\"node\", \"server.js\"] }\n",
        );
        let args = debug(false, &["--inspect=0.0.0.0:9229"]);
        assert_eq!(debug_unsupported(&custom, &args), None);
        assert_eq!(
            container_of(&custom, &args).command.unwrap(),
            ["node", "server.js", "--inspect=0.0.0.0:9229"]
        );
        // Without arguments, or with no command to append them to, it says what to give.
        let bare = function(
            "      runtime: custom-container\n      customContainerConfig: { image: \"web:1\" }\n",
        );
        assert!(
            debug_unsupported(&custom, &debug(false, &[]))
                .unwrap()
                .contains("--debug-args")
        );
        assert!(
            debug_unsupported(&bare, &args)
                .unwrap()
                .contains("customContainerConfig.command")
        );
    }
}
