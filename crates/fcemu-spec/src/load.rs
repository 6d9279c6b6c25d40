//! Reading an s.yaml into a [`Project`]: variables resolved, every field checked, all errors reported together.

use crate::fields::{Cx, Fields, SpecError};
use crate::function::{function, note_ignored};
use crate::locate::{Locations, Position};
use crate::model::*;
use crate::vars::{self, Scope};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything wrong with one file.
#[derive(Debug, Clone, thiserror::Error)]
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
    let mut cx = Cx::default();
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
    // The Serverless Devs access whose keys deploy the project (and, here, stand in for its roles').
    let access = root
        .get("access")
        .and_then(|v| resolve(&mut cx, v, "access", &scope))
        .map(|v| vars::scalar_text(&v))
        .filter(|a| !a.is_empty());

    // Each function with the path of the field that names it (for the duplicate-name error).
    let mut functions: Vec<(FunctionSpec, String)> = vec![];
    let mut actions = BTreeMap::new();
    // Code the functions' actions make, not there yet.
    let mut unbuilt = Vec::new();
    let mut domains = Vec::new();
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
        if crate::domain::is_fc3_domain(&component) {
            continue;
        }
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
        let unbuilt_before = cx.unbuilt.len();
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
                    &[&["region", "service", "function", "triggers", "customDomains"]],
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
                let spec = function(&mut cx, edition, &key, &f, region, &props_fields, dir);
                if let Some(spec) = &spec {
                    domains.extend(crate::domain::fc2_domains(
                        &mut cx,
                        &props_fields,
                        &key,
                        &spec.name,
                    ));
                }
                spec
            }
        };
        // Code that is not there is an error, unless the function's actions make it (a pre-deploy
        // `go build -o target/main` into `code: ./code/target`, as the Go templates do): then it is
        // `fcemu build`'s to make, and only serving the function needs it.
        if let Some(spec) = spec {
            let steps = crate::actions::actions(&mut cx, entry, &path, &scope, dir);
            for mut e in cx.take_unbuilt(unbuilt_before, !steps.is_empty()) {
                e.message
                    .push_str("; its actions make it: run `fcemu build` first");
                unbuilt.push(e);
            }
            if !steps.is_empty() {
                actions.insert(spec.name.clone(), steps);
            }
            let name_path = match edition {
                Edition::Fc3 => format!("{props_path}.functionName"),
                Edition::Fc2 => format!("{props_path}.function.name"),
            };
            functions.push((spec, name_path));
        } else {
            cx.take_unbuilt(unbuilt_before, false);
        }
    }

    if edition == Edition::Fc3 {
        domains = crate::domain::fc3_domains(&mut cx, entries, &scope);
    }
    let mut specs: Vec<&mut FunctionSpec> = functions.iter_mut().map(|(f, _)| f).collect();
    crate::domain::connect(&mut cx, &domains, &mut specs);
    crate::async_config::check_destinations(&mut cx, &specs);
    let layer_paths = crate::layers::layer_paths(&mut cx, root, dir);
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
    let locations = Locations::index(text);
    for e in cx.errors.iter_mut().chain(&mut unbuilt) {
        e.position = locations.find(&e.field);
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
        access,
        functions: functions.into_iter().map(|(f, _)| f).collect(),
        domains,
        actions,
        layer_paths,
        warnings: cx.warnings,
        ignored: cx.ignored,
        unbuilt: (!unbuilt.is_empty()).then(|| SpecErrors {
            file: file.to_path_buf(),
            errors: unbuilt,
        }),
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
            cx.error(path, e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests;
