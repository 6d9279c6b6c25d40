//! Reading one mapping of an s.yaml: typed getters that report each problem with its full field path.

use crate::locate::Position;
use crate::vars;
use serde_yaml::{Mapping, Value};

/// One problem in an s.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The field path, e.g. `resources.sd.props.memorySize` (empty for the file as a whole).
    pub field: String,
    pub message: String,
    /// Where in the file: the field, or the nearest enclosing one when the field is missing.
    pub position: Option<Position>,
}

/// Collects errors and warnings while a file is read.
#[derive(Default)]
pub(crate) struct Cx {
    pub errors: Vec<SpecError>,
    pub warnings: Vec<String>,
    pub ignored: Vec<String>,
    /// Code folders and `.zip`s that are not there: errors (at this place among them), unless the
    /// function's actions make them.
    pub unbuilt: Vec<(usize, SpecError)>,
}

impl Cx {
    /// A function's code that is not there (yet): `load` decides whether it is an error.
    pub(crate) fn missing_code(&mut self, field: &str, message: String) {
        let error = SpecError {
            field: field.to_string(),
            message,
            position: None,
        };
        self.unbuilt.push((self.errors.len(), error));
    }

    /// The missing code said since `from` of `unbuilt`, taken back: made errors where nothing makes it
    /// (in the place each was said), or returned.
    pub(crate) fn take_unbuilt(&mut self, from: usize, made: bool) -> Vec<SpecError> {
        let missing: Vec<_> = self.unbuilt.drain(from..).collect();
        if made {
            return missing.into_iter().map(|(_, e)| e).collect();
        }
        // The last first, so each earlier place still stands.
        for (at, e) in missing.into_iter().rev() {
            self.errors.insert(at, e);
        }
        Vec::new()
    }

    pub(crate) fn error(&mut self, field: &str, message: String) {
        self.errors.push(SpecError {
            field: field.to_string(),
            message,
            position: None,
        });
    }
}

/// Reads the fields of one mapping, reporting each problem with its full path.
pub(crate) struct Fields<'a> {
    pub map: Option<&'a Mapping>,
    pub path: String,
}

pub(crate) fn describe(v: &Value) -> String {
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
    pub(crate) fn new(cx: &mut Cx, value: Option<&'a Value>, path: String) -> Self {
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

    pub(crate) fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn sub(&self, cx: &mut Cx, key: &str) -> Fields<'a> {
        Fields::new(cx, self.get(key), self.field(key))
    }

    pub(crate) fn string(&self, cx: &mut Cx, key: &str) -> Option<String> {
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

    pub(crate) fn required_string(&self, cx: &mut Cx, key: &str, what: &str) -> Option<String> {
        let s = self.string(cx, key);
        if s.as_deref().is_none_or(str::is_empty) && self.get(key).is_none() {
            cx.error(&self.field(key), format!("is required: {what}"));
        }
        s.filter(|s| !s.is_empty())
    }

    pub(crate) fn number(&self, cx: &mut Cx, key: &str, range: (f64, f64), default: f64) -> f64 {
        self.ranged(
            cx,
            key,
            range,
            default,
            "a number",
            serde_yaml::Number::as_f64,
        )
    }

    pub(crate) fn integer(&self, cx: &mut Cx, key: &str, range: (u64, u64), default: u64) -> u64 {
        self.ranged(
            cx,
            key,
            range,
            default,
            "a whole number",
            serde_yaml::Number::as_u64,
        )
    }

    /// A number in `range` (written as a number or in a string), or `default` when absent or wrong.
    fn ranged<T>(
        &self,
        cx: &mut Cx,
        key: &str,
        range: (T, T),
        default: T,
        kind: &str,
        from_yaml: impl Fn(&serde_yaml::Number) -> Option<T>,
    ) -> T
    where
        T: Copy + PartialOrd + std::fmt::Display + std::str::FromStr,
    {
        let Some(v) = self.get(key) else {
            return default;
        };
        let n = match v {
            Value::Number(n) => from_yaml(n),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= range.0 && n <= range.1 => n,
            _ => {
                cx.error(
                    &self.field(key),
                    format!(
                        "is {}, allowed: {kind} from {} to {}",
                        describe(v),
                        range.0,
                        range.1
                    ),
                );
                default
            }
        }
    }

    pub(crate) fn boolean(&self, cx: &mut Cx, key: &str, default: bool) -> bool {
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

    pub(crate) fn string_list(&self, cx: &mut Cx, key: &str) -> Option<Vec<String>> {
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
