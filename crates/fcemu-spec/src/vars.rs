//! Serverless Devs variables: `${env('NAME', 'default')}`, `${vars.key}`, `${path('rel')}`, `${file('rel')}`,
//! `${json('...')}`, `${config('AccountID')}`, `${this.props.x}`, `${resources.r.props.x}`, nested freely,
//! and the edition 1.0.0 forms `${env(NAME)}` and `${file(./p)}`.
//!
//! A scalar that is exactly one `${...}` takes the value of the expression (which may be a number, a list or
//! a map); anywhere else the expression is spliced into the string.

use serde_yaml::Value;
use std::path::Path;

/// Why an expression could not be resolved, in words that name the expression; the caller adds the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct VarError(String);

impl From<String> for VarError {
    fn from(message: String) -> Self {
        VarError(message)
    }
}

impl From<&str> for VarError {
    fn from(message: &str) -> Self {
        VarError(message.to_string())
    }
}

/// What expressions can read.
pub struct Scope<'a> {
    /// The folder of the s.yaml: `path()` and `file()` are relative to it.
    pub dir: &'a Path,
    /// The whole document, for `vars.*` and `resources.*` (and `services.*` in edition 1.0.0).
    pub document: &'a Value,
    /// The props of the resource being resolved, for `this.props.*`.
    pub this_props: Option<&'a Value>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Nesting deeper than this is a cycle (`vars.a: ${vars.a}`) or an abuse; it is reported, not followed.
const MAX_DEPTH: usize = 16;

/// Resolves every string in `value` in place. Errors name the expression; the caller adds the field path.
pub fn resolve_value(value: &Value, scope: &Scope) -> Result<Value, VarError> {
    resolve_at_depth(value, scope, 0)
}

/// Resolves a whole tree, reporting every field whose variables fail, each with its path below `path`
/// (`props.customContainerConfig.image`), so errors point at the exact field.
pub fn resolve_tree(
    value: &Value,
    scope: &Scope,
    path: &str,
) -> Result<Value, Vec<(String, String)>> {
    let mut errors = vec![];
    let resolved = walk(value, scope, path, &mut errors);
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn walk(value: &Value, scope: &Scope, path: &str, errors: &mut Vec<(String, String)>) -> Value {
    match value {
        Value::String(s) => resolve_string(s, scope, 0).unwrap_or_else(|e| {
            errors.push((path.to_string(), e.to_string()));
            Value::Null
        }),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| walk(v, scope, &format!("{path}[{i}]"), errors))
                .collect(),
        ),
        Value::Mapping(map) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in map {
                let child = format!("{path}.{}", scalar_text(k));
                out.insert(k.clone(), walk(v, scope, &child, errors));
            }
            Value::Mapping(out)
        }
        Value::Tagged(tagged) => walk(&tagged.value, scope, path, errors),
        other => other.clone(),
    }
}

fn resolve_at_depth(value: &Value, scope: &Scope, depth: usize) -> Result<Value, VarError> {
    if depth > MAX_DEPTH {
        return Err("variables nest too deeply (is a variable defined in terms of itself?)".into());
    }
    match value {
        Value::String(s) => resolve_string(s, scope, depth),
        Value::Sequence(items) => items
            .iter()
            .map(|v| resolve_at_depth(v, scope, depth))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence),
        Value::Mapping(map) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve_at_depth(v, scope, depth)?);
            }
            Ok(Value::Mapping(out))
        }
        Value::Tagged(tagged) => resolve_at_depth(&tagged.value, scope, depth),
        other => Ok(other.clone()),
    }
}

/// Resolves the `${...}` parts of one string.
pub fn resolve_string(s: &str, scope: &Scope, depth: usize) -> Result<Value, VarError> {
    if !s.contains("${") {
        return Ok(Value::String(s.to_string()));
    }
    let mut out = String::new();
    let mut rest = s;
    let mut whole: Option<Value> = None;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = find_closing_brace(after)
            .ok_or_else(|| format!("`{}` has no closing `}}`", &rest[start..]))?;
        let expr = &after[..end];
        let value = eval(expr, scope, depth)?;
        let is_whole = start == 0 && out.is_empty() && after[end + 1..].is_empty();
        if is_whole {
            whole = Some(value.clone());
        }
        out.push_str(&scalar_text(&value));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(whole.unwrap_or(Value::String(out)))
}

/// The index of the `}` that closes an expression, skipping braces inside quotes and nested `${}`.
fn find_closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

/// How a value reads when spliced into a string.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn eval(expr: &str, scope: &Scope, depth: usize) -> Result<Value, VarError> {
    let mut parser = Parser { src: expr, pos: 0 };
    let node = parser.expr()?;
    parser.skip_ws();
    if parser.pos != expr.len() {
        return Err(format!(
            "`${{{expr}}}` is not a variable fcemu understands: unexpected `{}`",
            &expr[parser.pos..]
        )
        .into());
    }
    // Only the outermost expression names itself: a chain of references would repeat it.
    node.eval(scope, depth).map_err(|e| {
        if depth == 0 {
            format!("`${{{expr}}}`: {e}").into()
        } else {
            e
        }
    })
}

enum Node {
    Text(String),
    Call(String, Vec<Node>),
    Ref(Vec<String>),
}

impl Node {
    fn eval(&self, scope: &Scope, depth: usize) -> Result<Value, VarError> {
        match self {
            Node::Text(t) => Ok(Value::String(t.clone())),
            Node::Ref(path) => lookup(path, scope, depth),
            Node::Call(name, args) => {
                let args = args
                    .iter()
                    .map(|a| a.eval(scope, depth).map(|v| scalar_text(&v)))
                    .collect::<Result<Vec<_>, _>>()?;
                call(name, &args, scope)
            }
        }
    }
}

fn call(name: &str, args: &[String], scope: &Scope) -> Result<Value, VarError> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (name, args.len()) {
        ("env", 1 | 2) => match (scope.env)(&args[0]) {
            Some(v) => Ok(Value::String(v)),
            None => match arg(1) {
                Some(default) => Ok(Value::String(default.to_string())),
                None => Err(format!(
                    "the environment variable {} is not set (set it, or give a default: env('{}', 'value'))",
                    args[0], args[0]
                ).into()),
            },
        },
        ("path", 1) => Ok(Value::String(
            normalize(&scope.dir.join(&args[0])).display().to_string(),
        )),
        ("file", 1) => {
            let path = scope.dir.join(&args[0]);
            std::fs::read_to_string(&path)
                .map(Value::String)
                .map_err(|e| format!("cannot read {}: {e}", path.display()).into())
        }
        ("json", 1) => serde_json::from_str::<serde_json::Value>(&args[0])
            .map_err(|e| VarError::from(format!("not valid JSON: {e}")))
            .and_then(|j| serde_yaml::to_value(j).map_err(|e| e.to_string().into())),
        ("config", 1) => match args[0].as_str() {
            "AccountID" | "AccountId" | "accountId" | "account_id" => Ok(Value::String(
                (scope.env)("FCEMU_ACCOUNT_ID").unwrap_or_else(|| crate::LOCAL_ACCOUNT_ID.into()),
            )),
            "AccessKeyID" | "AccessKeySecret" | "SecurityToken" => {
                // Credentials are never needed locally and never read from the host.
                Ok(Value::String(String::new()))
            }
            other => Err(format!(
                "config('{other}') is not known; fcemu knows config('AccountID')"
            ).into()),
        },
        ("env" | "path" | "file" | "json" | "config", n) => Err(format!(
            "{name}() takes {} argument{}, {n} given",
            if name == "env" { "1 or 2" } else { "1" },
            if name == "env" { "s" } else { "" }
        ).into()),
        _ => Err(format!(
            "{name}() is not a function fcemu knows (env, path, file, json, config)"
        ).into()),
    }
}

/// Lexical normalization of `a/b/../c` (the file need not exist).
fn normalize(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn lookup(path: &[String], scope: &Scope, depth: usize) -> Result<Value, VarError> {
    let (root, rest): (&Value, &[String]) = match path.first().map(String::as_str) {
        Some("this") => match scope.this_props {
            Some(props) if path.get(1).map(String::as_str) == Some("props") => (props, &path[2..]),
            Some(_) => return Err("only this.props.* can be referred to".into()),
            None => return Err("`this` is only defined inside a resource".into()),
        },
        Some("vars" | "resources" | "services") => (scope.document, path),
        Some("name") => (scope.document, path),
        _ => {
            return Err(format!(
                "`{}` is not a variable fcemu knows (vars.*, this.props.*, resources.NAME.props.*)",
                path.join(".")
            )
            .into());
        }
    };
    // Walk down, resolving on the way: `vars.settings.workers` may cross a `${json(...)}`.
    let mut current = root.clone();
    for key in rest {
        if matches!(&current, Value::String(s) if s.contains("${")) {
            current = resolve_at_depth(&current, scope, depth + 1)?;
        }
        current = match &current {
            Value::Mapping(map) => map.get(key.as_str()),
            Value::Sequence(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .cloned()
        .ok_or_else(|| format!("`{}` is not defined", path.join(".")))?;
    }
    // The value found may itself hold variables.
    resolve_at_depth(&current, scope, depth + 1)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
    }

    fn expr(&mut self) -> Result<Node, VarError> {
        self.skip_ws();
        match self.peek() {
            Some(q @ ('\'' | '"')) => self.quoted(q).map(Node::Text),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let path = self.path();
                self.skip_ws();
                if self.peek() == Some('(') && path.len() == 1 {
                    self.pos += 1;
                    let args = self.args(&path[0])?;
                    Ok(Node::Call(path[0].clone(), args))
                } else {
                    Ok(Node::Ref(path))
                }
            }
            Some(c) => Err(format!("unexpected `{c}`").into()),
            None => Err("empty variable `${}`".into()),
        }
    }

    fn quoted(&mut self, quote: char) -> Result<String, VarError> {
        self.pos += 1;
        let start = self.pos;
        match self.src[start..].find(quote) {
            Some(len) => {
                self.pos = start + len + 1;
                Ok(self.src[start..start + len].to_string())
            }
            None => Err(format!("a string opened with {quote} is never closed").into()),
        }
    }

    fn path(&mut self) -> Vec<String> {
        let mut parts = vec![];
        loop {
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                self.pos += self.peek().map_or(0, char::len_utf8);
            }
            parts.push(self.src[start..self.pos].to_string());
            if self.peek() == Some('.') {
                self.pos += 1;
            } else {
                return parts;
            }
        }
    }

    /// Arguments after `(`: quoted strings, nested expressions, or (edition 1.0.0) bare words like `./p`.
    fn args(&mut self, function: &str) -> Result<Vec<Node>, VarError> {
        let mut args = vec![];
        loop {
            self.skip_ws();
            match self.peek() {
                Some(')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                None => return Err(format!("{function}( is never closed with `)`").into()),
                _ => {}
            }
            let start = self.pos;
            let node = match self.peek() {
                Some('\'' | '"') => self.expr()?,
                _ => {
                    // A nested call like path('..') or a bare word like NAME or ./p.
                    let node = self.expr().ok();
                    self.skip_ws();
                    match node {
                        Some(n @ Node::Call(..)) => n,
                        _ => {
                            self.pos = start;
                            let end = self.src[start..]
                                .find([',', ')'])
                                .map_or(self.src.len(), |i| start + i);
                            self.pos = end;
                            Node::Text(self.src[start..end].trim().to_string())
                        }
                    }
                }
            };
            args.push(node);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {}
                Some(c) => {
                    return Err(format!("unexpected `{c}` in the arguments of {function}()").into());
                }
                None => return Err(format!("{function}( is never closed with `)`").into()),
            }
        }
    }
}

#[cfg(test)]
mod tests;
