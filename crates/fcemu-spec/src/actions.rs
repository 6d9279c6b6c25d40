//! A resource's Serverless Devs `actions`: the steps `s` runs before a deploy or a local run, which the
//! official templates use to fetch their dependencies (`pip install -t ./python`, `npm install`,
//! `component: fc3 build`). `fcemu build` runs them; here they are only read.
//!
//! The hooks read are the ones that run before the function can start: `pre-deploy`, `pre-local` and
//! `pre-build`, also written with a pattern (`pre-${regex('deploy|local')}`), each once, in file order.
//! Other hooks (`post-deploy`, `success-deploy`, ...) do nothing locally.

use crate::fields::Cx;
use crate::model::{ActionStep, Actions};
use crate::vars::{self, Scope};
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// The `s` commands whose `pre-` hooks prepare what the function runs.
const PREPARING: [&str; 3] = ["deploy", "local", "build"];

/// The preparing actions of one resource, with its variables resolved.
pub(crate) fn actions(
    cx: &mut Cx,
    entry: &Value,
    resource_path: &str,
    scope: &Scope,
    dir: &Path,
) -> Vec<Actions> {
    let Some(hooks) = entry.get("actions") else {
        return vec![];
    };
    let path = format!("{resource_path}.actions");
    let Some(hooks) = hooks.as_mapping() else {
        cx.error(
            &path,
            "is not a mapping: write `actions: { pre-deploy: [ { run: ..., path: ... } ] }`".into(),
        );
        return vec![];
    };
    let mut out = vec![];
    for (key, steps) in hooks {
        let hook = vars::scalar_text(key);
        let hook_path = format!("{path}.{hook}");
        match prepares(&hook) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                cx.error(
                    &hook_path,
                    format!("holds a pattern that is not a regular expression: {e}"),
                );
                continue;
            }
        }
        let steps = match vars::resolve_tree(steps, scope, &hook_path) {
            Ok(steps) => steps,
            Err(errors) => {
                for (field, message) in errors {
                    cx.error(&field, message);
                }
                continue;
            }
        };
        let Some(list) = steps.as_sequence() else {
            cx.error(
                &hook_path,
                "is not a list of steps: write `- run: COMMAND` with `path: FOLDER`, or `- component: fc3 build`".into(),
            );
            continue;
        };
        let steps = list
            .iter()
            .enumerate()
            .filter_map(|(i, step)| step_of(cx, step, &format!("{hook_path}[{i}]"), dir))
            .collect();
        out.push(Actions { hook, steps });
    }
    out
}

/// Whether a hook's key names a `pre-` hook of a preparing command: `pre-deploy`, or a pattern such as
/// `pre-${regex('deploy|local')}` that matches one.
fn prepares(hook: &str) -> Result<bool, regex::Error> {
    let Some(command) = hook.strip_prefix("pre-") else {
        return Ok(false);
    };
    let Some(pattern) = command
        .strip_prefix("${regex(")
        .and_then(|rest| rest.strip_suffix(")}"))
    else {
        return Ok(PREPARING.contains(&command));
    };
    let pattern = pattern.trim().trim_matches(|c| c == '\'' || c == '"');
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))?;
    Ok(PREPARING.iter().any(|c| re.is_match(c)))
}

fn step_of(cx: &mut Cx, step: &Value, path: &str, dir: &Path) -> Option<ActionStep> {
    let text = |key: &str| step.get(key).map(vars::scalar_text);
    if let Some(command) = text("run") {
        // `path` is where the command runs, relative to the s.yaml's folder (Serverless Devs' rule).
        let folder: PathBuf = dir
            .join(text("path").unwrap_or_else(|| ".".into()))
            .components()
            .collect();
        if !folder.is_dir() {
            cx.error(
                &format!("{path}.path"),
                format!(
                    "{} is not a folder: the step's command runs there",
                    folder.display()
                ),
            );
            return None;
        }
        return Some(ActionStep::Run {
            command,
            folder,
            allow_failure: step.get("allow_failure").and_then(Value::as_bool) == Some(true),
        });
    }
    if let Some(component) = text("component") {
        let mut words = component.split_whitespace();
        return Some(match (words.next(), words.next()) {
            (Some("fc3"), Some("build")) => ActionStep::Fc3Build {
                args: words.map(str::to_string).collect(),
            },
            _ => ActionStep::Skipped {
                what: format!("component: {component}"),
            },
        });
    }
    if let Some(plugin) = text("plugin") {
        return Some(ActionStep::Skipped {
            what: format!("plugin: {plugin}"),
        });
    }
    cx.error(
        path,
        "is a step without `run`, `component` or `plugin`: write `run: COMMAND` (with `path: FOLDER`)"
            .into(),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::prepares;

    #[test]
    fn pre_hooks_of_the_commands_that_prepare_are_read_written_plainly_or_as_a_pattern() {
        assert!(prepares("pre-deploy").unwrap());
        assert!(prepares("pre-local").unwrap());
        assert!(!prepares("post-deploy").unwrap());
        assert!(!prepares("pre-remove").unwrap());
        assert!(prepares("pre-${regex('deploy|local')}").unwrap());
        assert!(!prepares("pre-${regex(\"rem.*\")}").unwrap());
        assert!(prepares("pre-${regex('(')}").is_err());
    }
}
