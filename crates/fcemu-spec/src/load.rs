//! Reading an s.yaml into a [`Project`]: variables resolved, every field checked, all errors reported together.

use crate::locate::{Locations, Position};
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
    /// Where in the file: the field, or the nearest enclosing one when the field is missing.
    pub position: Option<Position>,
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
            let at = match e.position {
                Some(p) => format!("{}:{}:{}", self.file.display(), p.line, p.column),
                None => self.file.display().to_string(),
            };
            if e.field.is_empty() {
                writeln!(f, "  {at}: {}", e.message)?;
            } else {
                writeln!(f, "  {at}: {}: {}", e.field, e.message)?;
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

impl SpecErrors {
    /// Errors found after loading (against the machine: its cards, say), each placed at its field in
    /// `file`, as a load's own errors are.
    pub fn placed(file: &Path, errors: Vec<(String, String)>) -> Self {
        let locations = std::fs::read_to_string(file)
            .map(|text| Locations::index(&text))
            .ok();
        SpecErrors {
            file: file.to_path_buf(),
            errors: errors
                .into_iter()
                .map(|(field, message)| SpecError {
                    position: locations.as_ref().and_then(|l| l.find(&field)),
                    field,
                    message,
                })
                .collect(),
        }
    }
}

/// One error about a field, placed in the file.
fn located(text: &str, file: &Path, field: &str, message: String) -> SpecErrors {
    let position = Locations::index(text).find(field);
    SpecErrors {
        file: file.to_path_buf(),
        errors: vec![SpecError {
            field: field.to_string(),
            message,
            position,
        }],
    }
}

fn single(file: &Path, message: String) -> SpecErrors {
    SpecErrors {
        file: file.to_path_buf(),
        errors: vec![SpecError {
            field: String::new(),
            message,
            position: None,
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
    let document: Value = serde_yaml::from_str(text).map_err(|e| SpecErrors {
        file: file.to_path_buf(),
        errors: vec![SpecError {
            field: String::new(),
            message: format!("this is not valid YAML: {e}"),
            position: e.location().map(|l| Position {
                line: l.line(),
                column: l.column(),
            }),
        }],
    })?;
    let mut cx = Cx {
        errors: vec![],
        warnings: vec![],
        ignored: vec![],
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

    // Each function with the path of the field that names it (for the duplicate-name error).
    let mut functions: Vec<(FunctionSpec, String)> = vec![];
    let (section, edition) = match edition.as_str() {
        "3.0.0" | "3" => ("resources", Edition::Fc3),
        "1.0.0" | "1" => ("services", Edition::Fc2),
        "" => {
            return Err(located(text, file, "edition", "is missing, allowed: 3.0.0 (FC 3.0, resources with component fc3) or 1.0.0 (FC 2.0, services with component fc)".into()));
        }
        other => {
            return Err(located(
                text,
                file,
                "edition",
                format!(
                    "is `{other}`, allowed: 3.0.0 (FC 3.0, component fc3) or 1.0.0 (FC 2.0, component fc)"
                ),
            ));
        }
    };
    let Some(entries) = root.get(section).and_then(Value::as_mapping) else {
        let shape = match edition {
            Edition::Fc3 => "resources.NAME.props",
            Edition::Fc2 => "services.NAME.props.function",
        };
        return Err(located(
            text,
            file,
            section,
            format!("is missing: this edition declares its functions under {shape}"),
        ));
    };
    let component_ok = |c: &str| match edition {
        Edition::Fc3 => matches!(c, "fc3" | "devsapp/fc3") || c.starts_with("fc3@"),
        Edition::Fc2 => matches!(c, "fc" | "devsapp/fc") || c.starts_with("fc@"),
    };
    for (key, entry) in entries {
        let key = vars::scalar_text(key);
        let path = format!("{section}.{key}");
        let component = entry
            .get("component")
            .map(vars::scalar_text)
            .unwrap_or_default();
        if !component_ok(&component) {
            cx.warnings.push(format!(
                "{path}: component `{component}` is not a function component, skipped"
            ));
            continue;
        }
        let Some(raw_props) = entry.get("props") else {
            cx.error(&path, "has no `props`".into());
            continue;
        };
        let scope = Scope {
            this_props: Some(raw_props),
            ..scope
        };
        let props_path = format!("{path}.props");
        let props = match vars::resolve_tree(raw_props, &scope, &props_path) {
            Ok(props) => props,
            Err(errors) => {
                // The function is checked once its variables resolve; until then only they are reported.
                for (field, message) in errors {
                    cx.error(&field, message);
                }
                continue;
            }
        };
        let props_fields = Fields::new(&mut cx, Some(&props), props_path.clone());
        let spec = match edition {
            Edition::Fc3 => function(
                &mut cx,
                edition,
                &key,
                &props_fields,
                None,
                &props_fields,
                dir,
            ),
            Edition::Fc2 => {
                note_ignored(
                    &mut cx,
                    &props_fields,
                    &[&["region", "service", "function", "triggers"]],
                );
                let region = props_fields.string(&mut cx, "region");
                let f = props_fields.sub(&mut cx, "function");
                if f.map.is_none() {
                    cx.error(
                        &f.path,
                        "is required: an FC 2.0 service declares its function under props.function"
                            .into(),
                    );
                    continue;
                }
                function(&mut cx, edition, &key, &f, region, &props_fields, dir)
            }
        };
        if let Some(spec) = spec {
            let name_path = match edition {
                Edition::Fc3 => format!("{props_path}.functionName"),
                Edition::Fc2 => format!("{props_path}.function.name"),
            };
            functions.push((spec, name_path));
        }
    }

    let mut seen = BTreeMap::new();
    for (f, name_path) in &functions {
        if let Some(previous) = seen.insert(f.name.clone(), f.resource.clone()) {
            cx.error(name_path, format!("is \"{}\", which {section}.{previous} already uses: function names must be unique", f.name));
        }
    }
    if cx.errors.is_empty() && functions.is_empty() {
        cx.error(
            section,
            format!(
                "declares no function fcemu can serve (component {})",
                if edition == Edition::Fc3 { "fc3" } else { "fc" }
            ),
        );
    }
    if !cx.errors.is_empty() {
        let locations = Locations::index(text);
        for e in &mut cx.errors {
            e.position = locations.find(&e.field);
        }
        return Err(SpecErrors {
            file: file.to_path_buf(),
            errors: cx.errors,
        });
    }
    Ok(Project {
        dir: dir.to_path_buf(),
        template: file.to_path_buf(),
        name,
        functions: functions.into_iter().map(|(f, _)| f).collect(),
        warnings: cx.warnings,
        ignored: cx.ignored,
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
    ignored: Vec<String>,
}

impl Cx {
    fn error(&mut self, field: &str, message: String) {
        self.errors.push(SpecError {
            field: field.to_string(),
            message,
            position: None,
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

/// FC's size rule for environment variables.
const ENV_LIMIT_BYTES: usize = 4096;

/// The two s.yaml editions say the same things with different keys and nesting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edition {
    /// `edition: 3.0.0`, component fc3: `resources.R.props`.
    Fc3,
    /// `edition: 1.0.0`, component fc: `services.S.props.function` (and `.triggers`).
    Fc2,
}

impl Edition {
    fn name_key(self) -> &'static str {
        match self {
            Edition::Fc3 => "functionName",
            Edition::Fc2 => "name",
        }
    }
}

/// Function keys fcemu reads in both editions; anything not read is accepted and listed as ignored.
const FUNCTION_KEYS: &[&str] = &[
    "runtime",
    "handler",
    "description",
    "cpu",
    "memorySize",
    "diskSize",
    "timeout",
    "instanceConcurrency",
    "environmentVariables",
    "customContainerConfig",
    "customRuntimeConfig",
    "instanceLifecycleConfig",
];
/// The keys only FC 3.0's props have.
const FC3_KEYS: &[&str] = &[
    "functionName",
    "region",
    "code",
    "gpuConfig",
    "provisionConfig",
    "scalingConfig",
    "concurrencyConfig",
    "triggers",
];
/// The keys only FC 2.0's `function` has.
const FC2_KEYS: &[&str] = &[
    "name",
    "codeUri",
    "caPort",
    "initializer",
    "initializationTimeout",
    "instanceType",
    "gpuMemorySize",
];

fn note_ignored(cx: &mut Cx, fields: &Fields, known: &[&[&str]]) {
    if let Some(map) = fields.map {
        for key in map.keys().map(vars::scalar_text) {
            if !known.iter().any(|keys| keys.contains(&key.as_str())) {
                cx.ignored.push(fields.field(&key));
            }
        }
    }
}

/// One function, from FC 3.0 props or from FC 2.0's `function` (with the service's region and triggers).
fn function(
    cx: &mut Cx,
    edition: Edition,
    resource: &str,
    f: &Fields,
    region: Option<String>,
    triggers_of: &Fields,
    dir: &Path,
) -> Option<FunctionSpec> {
    note_ignored(
        cx,
        f,
        &[
            FUNCTION_KEYS,
            if edition == Edition::Fc3 {
                FC3_KEYS
            } else {
                FC2_KEYS
            },
        ],
    );
    let name_key = edition.name_key();
    let name = f.required_string(
        cx,
        name_key,
        &format!("the function's name, e.g. {name_key}: my-func"),
    );
    let region = region
        .or_else(|| f.string(cx, "region"))
        .unwrap_or_else(|| "cn-hangzhou".into());
    let runtime = match f
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
                &f.field("runtime"),
                format!("is \"{other}\", allowed: custom-container, custom, custom.debian10, custom.debian11, custom.debian12 (fcemu runs the runtimes that run your own server)"),
            );
            None
        }
        None => None,
    };
    let handler = f
        .string(cx, "handler")
        .unwrap_or_else(|| "index.handler".into());
    let description = f.string(cx, "description").unwrap_or_default();
    let cpu = f.number(cx, "cpu", (0.05, 16.0), 0.35);
    let memory = f.integer(cx, "memorySize", (128, 32768), 512) as u32;
    if memory % 64 != 0 {
        cx.error(
            &f.field("memorySize"),
            format!("is {memory}, allowed: a multiple of 64 (MB)"),
        );
    }
    let disk = f.integer(cx, "diskSize", (512, 10240), 512) as u32;
    if disk != 512 && disk != 10240 {
        cx.error(
            &f.field("diskSize"),
            format!("is {disk}, allowed: 512 or 10240 (MB)"),
        );
    }
    let timeout = f.integer(cx, "timeout", (1, 86400), 3);
    let concurrency = f.integer(cx, "instanceConcurrency", (1, 200), 1) as u32;
    let environment = environment(cx, f);

    // The container is read whatever the runtime, so its own mistakes are reported too.
    let container = container(cx, edition, f, runtime.as_ref(), dir);

    let lifecycle = f.sub(cx, "instanceLifecycleConfig");
    let initializer = match edition {
        Edition::Fc3 => hook(cx, &lifecycle, "initializer"),
        Edition::Fc2 => f
            .string(cx, "initializer")
            .filter(|h| !h.is_empty())
            .map(|handler| Hook {
                action: HookAction::Handler(handler),
                timeout: Duration::from_secs(f.integer(cx, "initializationTimeout", (1, 86400), 3)),
            }),
    };
    let pre_stop = hook(cx, &lifecycle, "preStop");
    let pre_freeze = hook(cx, &lifecycle, "preFreeze");
    if pre_freeze.is_some() && edition == Edition::Fc3 {
        cx.warnings.push(format!(
            "{}.preFreeze: runs here, but FC 3.0 has no PreFreeze hook",
            lifecycle.path
        ));
    }

    let gpu = gpu(cx, edition, f);
    if initializer
        .as_ref()
        .is_some_and(|h| matches!(h.action, HookAction::Command(_)))
        && gpu.is_none()
    {
        cx.warnings.push(format!(
            "{}.initializer: a command Initializer runs here, but FC accepts it only on GPU functions (with gpuConfig)",
            lifecycle.path
        ));
    }

    let provision = {
        let pc = f.sub(cx, "provisionConfig");
        for unapplied in ["scheduledActions", "targetTrackingPolicies"] {
            if pc.get(unapplied).is_some() {
                cx.warnings.push(format!(
                    "{}: accepted, not applied locally (the target stays fixed)",
                    pc.field(unapplied)
                ));
            }
        }
        let target = pc.integer(cx, "target", (0, 10000), 0);
        let target = pc.integer(cx, "defaultTarget", (0, 10000), target);
        let min_instances = f
            .sub(cx, "scalingConfig")
            .integer(cx, "minInstances", (0, 10000), 0);
        ProvisionConfig {
            target: target.max(min_instances) as u32,
            always_allocate_cpu: pc.boolean(cx, "alwaysAllocateCPU", true),
            always_allocate_gpu: pc.boolean(cx, "alwaysAllocateGPU", true),
        }
    };
    let reserved_concurrency = f
        .get("concurrencyConfig")
        .is_some()
        .then(|| {
            f.sub(cx, "concurrencyConfig")
                .integer(cx, "reservedConcurrency", (0, 100000), 0) as u32
        })
        .filter(|n| *n > 0);
    let http_trigger = triggers(cx, edition, triggers_of);

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
        pre_freeze,
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

fn container(
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

fn gpu(cx: &mut Cx, edition: Edition, f: &Fields) -> Option<GpuConfig> {
    let (g, type_key, size_key) = match edition {
        Edition::Fc3 => (f.sub(cx, "gpuConfig"), "gpuType", "gpuMemorySize"),
        Edition::Fc2 => (
            Fields {
                map: f.map,
                path: f.path.clone(),
            },
            "instanceType",
            "gpuMemorySize",
        ),
    };
    let gpu_type = g.string(cx, type_key)?;
    if edition == Edition::Fc2 && !gpu_type.starts_with("fc.gpu.") {
        return None; // FC 2.0's instanceType also names CPU instance kinds (e.g. e1, c1).
    }
    let types = GPU_TYPES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ");
    let Some((_, card_mb)) = GPU_TYPES.iter().find(|(t, _)| *t == gpu_type) else {
        cx.error(
            &g.field(type_key),
            format!("is \"{gpu_type}\", allowed: {types}"),
        );
        return None;
    };
    if g.get(size_key).is_none() {
        cx.error(&g.field(size_key), format!("is required with {type_key}: the GPU memory in MB, a multiple of 1024 up to {card_mb}"));
        return None;
    }
    let size = g.integer(cx, size_key, (0, u64::MAX), 0);
    if size < 1024 || size > u64::from(*card_mb) || size % 1024 != 0 {
        cx.error(
            &g.field(size_key),
            format!("is {size}, allowed: a multiple of 1024 from 1024 to {card_mb} (MB; a {gpu_type} card has {card_mb})"),
        );
        return None;
    }
    Some(GpuConfig {
        gpu_type,
        gpu_memory_size_mb: size as u32,
        memory_field: g.field(size_key),
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
                "sets both `handler` and `command`, allowed: one of them".into(),
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
            cx.error(&h.field("command"), format!("is only allowed on the initializer, allowed here: a `handler` ({key} is an HTTP call)"));
            None
        }
        (None, None) => None,
    }
}

const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

fn triggers(cx: &mut Cx, edition: Edition, p: &Fields) -> Option<HttpTrigger> {
    let list = p.get("triggers")?;
    let Some(items) = list.as_sequence() else {
        cx.error(
            &p.field("triggers"),
            format!("must be a list, found {}", describe(list)),
        );
        return None;
    };
    let (name_key, type_key, config_key) = match edition {
        Edition::Fc3 => ("triggerName", "triggerType", "triggerConfig"),
        Edition::Fc2 => ("name", "type", "config"),
    };
    let mut http = None;
    for (i, item) in items.iter().enumerate() {
        let t = Fields::new(cx, Some(item), format!("{}[{i}]", p.field("triggers")));
        let kind = t.string(cx, type_key).unwrap_or_default();
        if kind != "http" {
            cx.warnings.push(format!(
                "{}: a `{kind}` trigger is accepted but not emulated",
                t.path
            ));
            continue;
        }
        let name = t.string(cx, name_key).unwrap_or_else(|| "http".into());
        let config = t.sub(cx, config_key);
        let methods = config
            .string_list(cx, "methods")
            .unwrap_or_else(|| HTTP_METHODS.iter().map(|m| m.to_string()).collect());
        let methods: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        for (j, m) in methods.iter().enumerate() {
            if !HTTP_METHODS.contains(&m.as_str()) {
                cx.error(
                    &format!("{}[{j}]", config.field("methods")),
                    format!("is {m}, allowed: {}", HTTP_METHODS.join(", ")),
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
            errs.contains("s.yaml:7:21: resources.a.props.functionName: `${vars.nope}`: `vars.nope` is not defined"),
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
        assert!(
            errs.contains("/p/s.yaml:1:10: edition: is `2.0.0`, allowed: 3.0.0"),
            "{errs}"
        );
        let errs = parse("edition: [").unwrap_err().to_string();
        assert!(
            errs.contains("s.yaml:2:1: this is not valid YAML"),
            "{errs}"
        );
    }
}
