//! Reading an s.yaml into a [`Project`]: variables resolved, every field checked, all errors reported together.

use crate::model::*;
use crate::vars::{self, Scope};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One problem in an s.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The field path, e.g. `resources.sd.props.memorySize` (empty for the file as a whole).
    pub field: String,
    pub message: String,
}

/// Everything wrong with one file.
#[derive(Debug, thiserror::Error)]
pub struct SpecErrors {
    pub file: PathBuf,
    pub errors: Vec<SpecError>,
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{} has {n} problem{}:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            if e.field.is_empty() {
                writeln!(f, "  - {}", e.message)?;
            } else {
                writeln!(f, "  - {}: {}", e.field, e.message)?;
            }
        }
        Ok(())
    }
}

/// Where to find the project file.
pub fn find_template(dir: &Path, template: Option<&Path>) -> Result<PathBuf, SpecErrors> {
    if let Some(t) = template {
        let t = if t.is_absolute() {
            t.to_path_buf()
        } else {
            dir.join(t)
        };
        return if t.is_file() {
            Ok(t)
        } else {
            Err(single(
                &t,
                format!("{} does not exist or is not a file", t.display()),
            ))
        };
    }
    for name in ["s.yaml", "s.yml"] {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(single(
        dir,
        format!(
            "no s.yaml or s.yml in {}: run fcemu in a Serverless Devs project folder, or name the file with -t FILE",
            dir.display()
        ),
    ))
}

fn single(file: &Path, message: String) -> SpecErrors {
    SpecErrors {
        file: file.to_path_buf(),
        errors: vec![SpecError {
            field: String::new(),
            message,
        }],
    }
}

/// Loads the project in `dir` (or the `template` file), reading the process environment for `${env()}`.
pub fn load_project(dir: &Path, template: Option<&Path>) -> Result<Project, SpecErrors> {
    let env = |name: &str| std::env::var(name).ok();
    load_project_with_env(dir, template, &env)
}

pub fn load_project_with_env(
    dir: &Path,
    template: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, SpecErrors> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let file = find_template(&dir, template)?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| single(&file, format!("cannot read the file: {e}")))?;
    let project_dir = file.parent().map(Path::to_path_buf).unwrap_or(dir);
    parse_project(&text, &file, &project_dir, env)
}

/// Parses s.yaml text. `file` is used in messages; `dir` is the project folder.
pub fn parse_project(
    text: &str,
    file: &Path,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, SpecErrors> {
    let document: Value = serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        single(file, format!("this is not valid YAML{at}: {e}"))
    })?;
    let mut cx = Cx {
        errors: vec![],
        warnings: vec![],
    };
    let Some(root) = document.as_mapping() else {
        return Err(single(
            file,
            "the file must be a YAML mapping with `edition`, `name` and `resources`".into(),
        ));
    };
    let scope = Scope {
        dir,
        document: &document,
        this_props: None,
        env,
    };
    let edition = root
        .get("edition")
        .map(vars::scalar_text)
        .unwrap_or_default();
    let name = match root.get("name") {
        Some(v) => resolve(&mut cx, v, "name", &scope)
            .map(|v| vars::scalar_text(&v))
            .unwrap_or_default(),
        None => file_stem(dir),
    };

    let mut functions = vec![];
    match edition.as_str() {
        "3.0.0" => {
            let Some(resources) = root.get("resources").and_then(Value::as_mapping) else {
                return Err(single(file, "`resources` is missing: an FC 3.0 s.yaml declares its functions under resources.NAME.props".into()));
            };
            for (key, resource) in resources {
                let key = vars::scalar_text(key);
                let path = format!("resources.{key}");
                let component = resource
                    .get("component")
                    .map(vars::scalar_text)
                    .unwrap_or_default();
                if !matches!(component.as_str(), "fc3" | "fc3@dev" | "devsapp/fc3")
                    && !component.starts_with("fc3@")
                {
                    cx.warnings.push(format!(
                        "{path}: component `{component}` is not fc3, skipped"
                    ));
                    continue;
                }
                let Some(raw_props) = resource.get("props") else {
                    cx.error(&path, "has no `props`".into());
                    continue;
                };
                let scope = Scope {
                    this_props: Some(raw_props),
                    ..scope
                };
                let Some(props) = resolve(&mut cx, raw_props, &format!("{path}.props"), &scope)
                else {
                    continue;
                };
                if let Some(f) = function_fc3(&mut cx, &key, &props, &format!("{path}.props"), dir)
                {
                    functions.push(f);
                }
            }
        }
        "" => cx.error(
            "edition",
            "is missing: fcemu reads FC 3.0 files (`edition: 3.0.0`)".into(),
        ),
        other => cx.error(
            "edition",
            format!("is `{other}`; fcemu reads FC 3.0 files (`edition: 3.0.0`)"),
        ),
    }

    let mut seen = BTreeMap::new();
    for f in &functions {
        if let Some(previous) = seen.insert(f.name.clone(), f.resource.clone()) {
            cx.error(
                &format!("resources.{}.props.functionName", f.resource),
                format!(
                    "`{}` is also the name of resources.{previous}: function names must be unique",
                    f.name
                ),
            );
        }
    }
    if cx.errors.is_empty() && functions.is_empty() {
        cx.error("resources", "declares no fc3 function to serve".into());
    }
    if !cx.errors.is_empty() {
        return Err(SpecErrors {
            file: file.to_path_buf(),
            errors: cx.errors,
        });
    }
    Ok(Project {
        dir: dir.to_path_buf(),
        template: file.to_path_buf(),
        name,
        functions,
        warnings: cx.warnings,
    })
}

fn file_stem(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fcemu".into())
}

fn resolve(cx: &mut Cx, value: &Value, path: &str, scope: &Scope) -> Option<Value> {
    match vars::resolve_value(value, scope) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.error(path, e);
            None
        }
    }
}

/// Collects errors and warnings while a file is read.
struct Cx {
    errors: Vec<SpecError>,
    warnings: Vec<String>,
}

impl Cx {
    fn error(&mut self, field: &str, message: String) {
        self.errors.push(SpecError {
            field: field.to_string(),
            message,
        });
    }
}

/// Reads the fields of one mapping, reporting each problem with its full path.
struct Fields<'a> {
    map: Option<&'a Mapping>,
    path: String,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("\"{s}\""),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

impl<'a> Fields<'a> {
    fn new(cx: &mut Cx, value: Option<&'a Value>, path: String) -> Self {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(m)) => Some(m),
            Some(other) => {
                cx.error(
                    &path,
                    format!("must be a mapping, found {}", describe(other)),
                );
                None
            }
        };
        Fields { map, path }
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    fn sub(&self, cx: &mut Cx, key: &str) -> Fields<'a> {
        Fields::new(cx, self.get(key), self.field(key))
    }

    fn string(&self, cx: &mut Cx, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(vars::scalar_text(v)),
            other => {
                cx.error(
                    &self.field(key),
                    format!("must be a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn required_string(&self, cx: &mut Cx, key: &str, what: &str) -> Option<String> {
        let s = self.string(cx, key);
        if s.as_deref().is_none_or(str::is_empty) && self.get(key).is_none() {
            cx.error(&self.field(key), format!("is required: {what}"));
        }
        s.filter(|s| !s.is_empty())
    }

    fn number(&self, cx: &mut Cx, key: &str, range: (f64, f64), default: f64) -> f64 {
        let Some(v) = self.get(key) else {
            return default;
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= range.0 && n <= range.1 => n,
            _ => {
                cx.error(
                    &self.field(key),
                    format!(
                        "is {}, allowed: a number from {} to {}",
                        describe(v),
                        range.0,
                        range.1
                    ),
                );
                default
            }
        }
    }

    fn integer(&self, cx: &mut Cx, key: &str, range: (u64, u64), default: u64) -> u64 {
        let Some(v) = self.get(key) else {
            return default;
        };
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= range.0 && n <= range.1 => n,
            _ => {
                cx.error(
                    &self.field(key),
                    format!(
                        "is {}, allowed: a whole number from {} to {}",
                        describe(v),
                        range.0,
                        range.1
                    ),
                );
                default
            }
        }
    }

    fn boolean(&self, cx: &mut Cx, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => {
                cx.error(
                    &self.field(key),
                    format!("must be true or false, found {}", describe(other)),
                );
                default
            }
        }
    }

    fn string_list(&self, cx: &mut Cx, key: &str) -> Option<Vec<String>> {
        match self.get(key)? {
            Value::Sequence(items) => {
                let mut out = vec![];
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                            out.push(vars::scalar_text(item))
                        }
                        other => cx.error(
                            &format!("{}[{i}]", self.field(key)),
                            format!("must be a string, found {}", describe(other)),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                cx.error(
                    &self.field(key),
                    format!("must be a list of strings, found {}", describe(other)),
                );
                None
            }
        }
    }
}

/// FC's reserved-prefix and size rules for environment variables.
const ENV_LIMIT_BYTES: usize = 4096;

fn function_fc3(
    cx: &mut Cx,
    resource: &str,
    props: &Value,
    path: &str,
    dir: &Path,
) -> Option<FunctionSpec> {
    let p = Fields::new(cx, Some(props), path.to_string());
    let name = p.required_string(
        cx,
        "functionName",
        "the function's name, e.g. functionName: my-func",
    );
    let region = p
        .string(cx, "region")
        .unwrap_or_else(|| "cn-hangzhou".into());
    let runtime = match p
        .required_string(
            cx,
            "runtime",
            "custom-container, custom, custom.debian10, custom.debian11 or custom.debian12",
        )
        .as_deref()
    {
        Some("custom-container") => Some(Runtime::CustomContainer),
        Some(r @ ("custom" | "custom.debian10" | "custom.debian11" | "custom.debian12")) => {
            Some(Runtime::Custom(r.to_string()))
        }
        Some(other) => {
            cx.error(
                &p.field("runtime"),
                format!("is \"{other}\"; fcemu runs custom-container, custom, custom.debian10, custom.debian11 and custom.debian12"),
            );
            None
        }
        None => None,
    };
    let handler = p
        .string(cx, "handler")
        .unwrap_or_else(|| "index.handler".into());
    let description = p.string(cx, "description").unwrap_or_default();
    let cpu = p.number(cx, "cpu", (0.05, 16.0), 0.35);
    let memory = p.integer(cx, "memorySize", (128, 32768), 512) as u32;
    if memory % 64 != 0 {
        cx.error(
            &p.field("memorySize"),
            format!("is {memory}, allowed: a multiple of 64 MB"),
        );
    }
    let disk = p.integer(cx, "diskSize", (512, 10240), 512) as u32;
    if disk != 512 && disk != 10240 {
        cx.error(
            &p.field("diskSize"),
            format!("is {disk}, allowed: 512 or 10240"),
        );
    }
    let timeout = p.integer(cx, "timeout", (1, 86400), 3);
    let concurrency = p.integer(cx, "instanceConcurrency", (1, 200), 1) as u32;

    let environment = environment(cx, &p);

    let container = match runtime {
        Some(Runtime::CustomContainer) => container_fc3(cx, &p, dir),
        Some(Runtime::Custom(ref name)) => {
            cx.error(
                &p.field("runtime"),
                format!("{name} is not served yet: fcemu serves custom-container functions; custom runtimes are planned"),
            );
            None
        }
        None => None,
    };

    let lifecycle = p.sub(cx, "instanceLifecycleConfig");
    let initializer = hook(cx, &lifecycle, "initializer");
    let pre_stop = hook(cx, &lifecycle, "preStop");

    let gpu = {
        let g = p.sub(cx, "gpuConfig");
        g.string(cx, "gpuType").map(|gpu_type| GpuConfig {
            gpu_type,
            gpu_memory_size_mb: g.integer(cx, "gpuMemorySize", (1024, 98304), 1024) as u32,
        })
    };
    if initializer
        .as_ref()
        .is_some_and(|h| matches!(h.action, HookAction::Command(_)))
        && gpu.is_none()
    {
        cx.warnings.push(format!(
            "{path}.instanceLifecycleConfig.initializer: a command Initializer runs here, but FC accepts it only on GPU functions (with gpuConfig)"
        ));
    }

    let provision = {
        let pc = p.sub(cx, "provisionConfig");
        let target = pc.integer(cx, "target", (0, 10000), 0);
        let target = pc.integer(cx, "defaultTarget", (0, 10000), target);
        let min_instances = p
            .sub(cx, "scalingConfig")
            .integer(cx, "minInstances", (0, 10000), 0);
        ProvisionConfig {
            target: target.max(min_instances) as u32,
            always_allocate_cpu: pc.boolean(cx, "alwaysAllocateCPU", true),
            always_allocate_gpu: pc.boolean(cx, "alwaysAllocateGPU", true),
        }
    };
    let reserved_concurrency = p
        .get("concurrencyConfig")
        .is_some()
        .then(|| {
            p.sub(cx, "concurrencyConfig")
                .integer(cx, "reservedConcurrency", (0, 100000), 0) as u32
        })
        .filter(|n| *n > 0);

    let http_trigger = triggers(cx, &p);

    Some(FunctionSpec {
        name: name?,
        resource: resource.to_string(),
        region,
        runtime: runtime?,
        handler,
        description,
        cpu,
        memory_size_mb: memory,
        disk_size_mb: disk,
        timeout: Duration::from_secs(timeout),
        instance_concurrency: concurrency,
        environment_variables: environment,
        container: container?,
        initializer,
        pre_stop,
        gpu,
        provision,
        reserved_concurrency,
        http_trigger,
    })
}

fn environment(cx: &mut Cx, p: &Fields) -> BTreeMap<String, String> {
    let env = p.sub(cx, "environmentVariables");
    let mut out = BTreeMap::new();
    let Some(map) = env.map else { return out };
    for (k, v) in map {
        let key = vars::scalar_text(k);
        if key.starts_with("FC_") {
            cx.error(
                &env.field(&key),
                "names starting with FC_ are reserved by Function Compute; rename the variable"
                    .into(),
            );
        }
        match v {
            Value::Mapping(_) | Value::Sequence(_) => cx.error(
                &env.field(&key),
                format!("must be a string, found {}", describe(v)),
            ),
            _ => {
                out.insert(key, vars::scalar_text(v));
            }
        }
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ENV_LIMIT_BYTES {
        cx.error(
            &env.path,
            format!(
                "hold {size} bytes together, allowed: at most {ENV_LIMIT_BYTES} bytes (FC's limit)"
            ),
        );
    }
    out
}

fn container_fc3(cx: &mut Cx, p: &Fields, dir: &Path) -> Option<ContainerConfig> {
    let c = p.sub(cx, "customContainerConfig");
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
    let port = c.integer(cx, "port", (1, 65535), 9000) as u16;
    let entrypoint = c.string_list(cx, "entrypoint");
    let command = c.string_list(cx, "command");
    let build = {
        let b = c.sub(cx, "x-fcemu-build");
        b.map.map(|_| {
            let context = b.string(cx, "context").unwrap_or_else(|| ".".into());
            let context = dir.join(context);
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
    })
}

fn hook(cx: &mut Cx, lifecycle: &Fields, key: &str) -> Option<Hook> {
    let h = lifecycle.sub(cx, key);
    h.map?;
    let handler = h.string(cx, "handler").filter(|s| !s.is_empty());
    let command = h.string_list(cx, "command").filter(|c| !c.is_empty());
    let timeout = Duration::from_secs(h.integer(cx, "timeout", (1, 86400), 3));
    match (handler, command) {
        (Some(_), Some(_)) => {
            cx.error(
                &h.path,
                "sets both `handler` and `command`; FC accepts one of them".into(),
            );
            None
        }
        (Some(handler), None) => Some(Hook {
            action: HookAction::Handler(handler),
            timeout,
        }),
        (None, Some(command)) if key == "initializer" => Some(Hook {
            action: HookAction::Command(command),
            timeout,
        }),
        (None, Some(_)) => {
            cx.error(
                &h.field("command"),
                "is only allowed on the initializer; PreStop takes a `handler`".into(),
            );
            None
        }
        (None, None) => None,
    }
}

const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

fn triggers(cx: &mut Cx, p: &Fields) -> Option<HttpTrigger> {
    let list = p.get("triggers")?;
    let Some(items) = list.as_sequence() else {
        cx.error(
            &p.field("triggers"),
            format!("must be a list, found {}", describe(list)),
        );
        return None;
    };
    let mut http = None;
    for (i, item) in items.iter().enumerate() {
        let t = Fields::new(cx, Some(item), format!("{}[{i}]", p.field("triggers")));
        let kind = t.string(cx, "triggerType").unwrap_or_default();
        if kind != "http" {
            cx.warnings.push(format!(
                "{}: a `{kind}` trigger is accepted but not emulated",
                t.path
            ));
            continue;
        }
        let name = t.string(cx, "triggerName").unwrap_or_else(|| "http".into());
        let config = t.sub(cx, "triggerConfig");
        let methods = config
            .string_list(cx, "methods")
            .unwrap_or_else(|| HTTP_METHODS.iter().map(|m| m.to_string()).collect());
        let methods: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        for m in &methods {
            if !HTTP_METHODS.contains(&m.as_str()) {
                cx.error(
                    &config.field("methods"),
                    format!("has {m}, allowed: {}", HTTP_METHODS.join(", ")),
                );
            }
        }
        http = Some(HttpTrigger { name, methods });
    }
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Project, SpecErrors> {
        let env = |name: &str| (name == "REGION").then(|| "cn-shanghai".to_string());
        parse_project(text, Path::new("/p/s.yaml"), Path::new("/p"), &env)
    }

    const MINIMAL: &str = r#"
edition: 3.0.0
name: app
vars: { region: "${env('REGION', 'cn-hangzhou')}" }
resources:
  web:
    component: fc3
    props:
      region: ${vars.region}
      functionName: web
      runtime: custom-container
      memorySize: 1024
      timeout: 30
      environmentVariables: { MODEL: v1, PORTS: 9000 }
      customContainerConfig: { image: "web:latest", port: 8080, command: [serve, --fast] }
      instanceLifecycleConfig:
        initializer: { handler: index.init, timeout: 5 }
        preStop: { handler: "", timeout: 9 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [get, POST] } }
"#;

    #[test]
    fn minimal_fc3_function_resolves() {
        let p = parse(MINIMAL).unwrap();
        assert_eq!(p.name, "app");
        let f = &p.functions[0];
        assert_eq!(f.name, "web");
        assert_eq!(f.region, "cn-shanghai");
        assert_eq!(f.memory_size_mb, 1024);
        assert_eq!(f.timeout, Duration::from_secs(30));
        assert_eq!(f.cpu, 0.35);
        assert_eq!(f.instance_concurrency, 1);
        assert_eq!(f.container.port, 8080);
        assert_eq!(
            f.container.command.as_deref(),
            Some(&["serve".to_string(), "--fast".into()][..])
        );
        assert_eq!(f.environment_variables["PORTS"], "9000");
        let init = f.initializer.as_ref().unwrap();
        assert_eq!(init.action, HookAction::Handler("index.init".into()));
        assert_eq!(init.timeout, Duration::from_secs(5));
        assert!(
            f.pre_stop.is_none(),
            "an empty PreStop handler disables the hook"
        );
        let t = f.http_trigger.as_ref().unwrap();
        assert!(t.allows("GET") && t.allows("post") && !t.allows("PUT"));
    }

    #[test]
    fn all_errors_are_reported_together_with_their_paths() {
        let text = r#"
edition: 3.0.0
resources:
  bad:
    component: fc3
    props:
      functionName: bad
      runtime: python3.10
      memorySize: 100
      timeout: 0
      environmentVariables: { FC_SECRET: x }
      instanceLifecycleConfig:
        initializer: { handler: a, command: [b] }
"#;
        let errs = parse(text).unwrap_err();
        let fields: Vec<&str> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "resources.bad.props.runtime",
                "resources.bad.props.memorySize",
                "resources.bad.props.timeout",
                "resources.bad.props.environmentVariables.FC_SECRET",
                "resources.bad.props.instanceLifecycleConfig.initializer",
            ],
            "{errs}"
        );
        let text = errs.to_string();
        assert!(text.contains("has 5 problems"), "{text}");
        assert!(
            text.contains("memorySize: is `100`, allowed: a whole number from 128 to 32768"),
            "{text}"
        );
    }

    #[test]
    fn missing_image_and_unknown_variable_are_errors() {
        let text = r#"
edition: 3.0.0
resources:
  a:
    component: fc3
    props:
      functionName: ${vars.nope}
      runtime: custom-container
      customContainerConfig: { port: 9000 }
"#;
        let errs = parse(text).unwrap_err().to_string();
        assert!(
            errs.contains("resources.a.props: `${vars.nope}`: `vars.nope` is not defined"),
            "{errs}"
        );
    }

    #[test]
    fn a_command_initializer_without_gpu_config_is_accepted_with_a_warning() {
        let text = MINIMAL.replace(
            "initializer: { handler: index.init, timeout: 5 }",
            "initializer: { command: [/bin/sh, -c, 'exit 0'] }",
        );
        let p = parse(&text).unwrap();
        let hook = p.functions[0].initializer.as_ref().unwrap();
        assert_eq!(
            hook.action,
            HookAction::Command(vec!["/bin/sh".into(), "-c".into(), "exit 0".into()])
        );
        assert_eq!(hook.timeout, Duration::from_secs(3), "the default timeout");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("FC accepts it only on GPU functions")),
            "{:?}",
            p.warnings
        );
        let with_gpu = text.replace(
            "      triggers:",
            "      gpuConfig: { gpuType: fc.gpu.ada.1, gpuMemorySize: 8192 }\n      triggers:",
        );
        assert!(parse(&with_gpu).unwrap().warnings.is_empty());
    }

    #[test]
    fn environment_over_4kb_is_refused() {
        let big = "x".repeat(4100);
        let text = MINIMAL.replace("MODEL: v1", &format!("MODEL: {big}"));
        let errs = parse(&text).unwrap_err().to_string();
        assert!(errs.contains("at most 4096 bytes"), "{errs}");
    }

    #[test]
    fn wrong_edition_and_bad_yaml_say_what_to_do() {
        let errs = parse("edition: 2.0.0\nresources: {}")
            .unwrap_err()
            .to_string();
        assert!(errs.contains("fcemu reads FC 3.0 files"), "{errs}");
        let errs = parse("edition: [").unwrap_err().to_string();
        assert!(errs.contains("not valid YAML (line"), "{errs}");
    }
}
