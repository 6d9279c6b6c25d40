//! What changed between two versions of a function, as field paths (`environmentVariables.MODEL`,
//! `container.image`): what `up --watch` and UpdateFunction say when they roll a function.

use crate::model::FunctionSpec;
use serde_json::Value;

/// The paths of the fields that differ, sorted.
pub fn changed_fields(old: &FunctionSpec, new: &FunctionSpec) -> Vec<String> {
    let (old, new) = (to_value(old), to_value(new));
    let mut out = Vec::new();
    walk("", &old, &new, &mut out);
    out
}

fn to_value(spec: &FunctionSpec) -> Value {
    serde_json::to_value(spec).expect("a function spec serializes")
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let null = Value::Null;
                walk(
                    &here,
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(path.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn function(env: &str, memory: u32) -> FunctionSpec {
        let text = format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom-container\n      memorySize: {memory}\n      environmentVariables: {{ MODEL: {env}, KEEP: x }}\n      customContainerConfig: {{ image: 'a:1' }}\n"
        );
        crate::parse_project(&text, Path::new("/p/s.yaml"), Path::new("/p"), &|_| None)
            .unwrap()
            .functions
            .remove(0)
    }

    #[test]
    fn changed_fields_name_each_path_that_differs() {
        assert!(changed_fields(&function("v1", 512), &function("v1", 512)).is_empty());
        assert_eq!(
            changed_fields(&function("v1", 512), &function("v2", 1024)),
            ["environmentVariables.MODEL", "memorySizeMb"]
        );
    }
}
