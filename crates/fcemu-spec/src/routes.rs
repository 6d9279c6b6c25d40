//! Which function a request to a custom domain reaches, in FC's order: an exact path (`/login`) before any
//! wildcard one; among wildcard paths (`/login/*`, `/*`) the longest prefix. A request whose `Host` names
//! one of the project's domains (`api.example.com`, also `api.example.com.localhost`, which browsers send
//! to this machine) is matched against that domain's routes; any other against every domain's, the first
//! declared winning a path two of them route. The path the function sees is the one sent, unless the
//! route's `rewriteConfig` rewrites it.

use serde::{Serialize, Serializer};

/// One custom domain and its routes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomDomain {
    /// The s.yaml resource (`fc3-domain`) or FC 2.0 service that declares it.
    pub resource: String,
    /// `domainName`: a name (`*.example.com` for a wildcard one), or `auto`.
    pub domain_name: String,
    pub routes: Vec<Route>,
    /// Who may call its routes (`authConfig`).
    #[serde(flatten)]
    pub auth: crate::TriggerAuth,
}

/// One entry of `routeConfig.routes` (FC 2.0: `routeConfigs`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// As written: `/api/*`, `/login`.
    pub path: String,
    #[serde(skip)]
    pub matcher: RoutePath,
    pub function_name: String,
    /// Upper-case; empty: every method.
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    #[serde(skip_serializing_if = "Rewrite::is_empty")]
    pub rewrite: Rewrite,
}

/// A route's path: exact, or everything that starts with what comes before its `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePath {
    Exact(String),
    Prefix(String),
}

impl RoutePath {
    pub fn parse(path: &str) -> Result<Self, String> {
        if !path.starts_with('/') {
            return Err("a route's path starts with /, e.g. /login or /api/*".into());
        }
        match path.find('*') {
            None => Ok(RoutePath::Exact(path.to_string())),
            Some(i) if i + 1 == path.len() => Ok(RoutePath::Prefix(path[..i].to_string())),
            Some(_) => Err("`*` may only end a path: /api/* matches every path under /api/".into()),
        }
    }

    /// How closely it matches `path`, higher is closer; None when it does not match.
    fn rank(&self, path: &str) -> Option<usize> {
        match self {
            RoutePath::Exact(p) => (p == path).then_some(usize::MAX),
            RoutePath::Prefix(p) => path.starts_with(p.as_str()).then_some(p.len()),
        }
    }
}

impl Route {
    pub fn allows(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }
}

/// `rewriteConfig`: the first rule that matches rewrites the path; equal rules are tried first, then
/// wildcard rules, then regular expressions, each kind in the order written.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewrite {
    #[serde(rename = "equalRules", skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<RewriteRule>,
    #[serde(rename = "wildcardRules", skip_serializing_if = "Vec::is_empty")]
    pub wildcard: Vec<RewriteRule>,
    #[serde(rename = "regexRules", skip_serializing_if = "Vec::is_empty")]
    pub regex: Vec<RewriteRule>,
}

impl Rewrite {
    pub fn is_empty(&self) -> bool {
        self.equal.is_empty() && self.wildcard.is_empty() && self.regex.is_empty()
    }

    /// The path the function sees for `path`.
    pub fn apply<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        self.equal
            .iter()
            .chain(&self.wildcard)
            .chain(&self.regex)
            .find_map(|rule| rule.apply(path))
            .map_or(std::borrow::Cow::Borrowed(path), std::borrow::Cow::Owned)
    }
}

/// One `{match, replacement}`. A wildcard's `*`s and a regular expression's groups are `$1`, `$2`, ... in
/// the replacement.
#[derive(Debug, Clone)]
pub struct RewriteRule {
    written: String,
    pattern: Pattern,
    replacement: String,
}

#[derive(Debug, Clone)]
enum Pattern {
    Equal,
    /// The whole path (a wildcard rule) or any part of it (a regular expression), every match replaced.
    Regex {
        regex: regex::Regex,
        whole: bool,
    },
}

impl RewriteRule {
    pub fn equal(written: &str) -> Self {
        RewriteRule {
            written: written.into(),
            pattern: Pattern::Equal,
            replacement: String::new(),
        }
    }

    pub fn wildcard(written: &str) -> Result<Self, String> {
        let body: Vec<String> = written.split('*').map(regex::escape).collect();
        let regex =
            regex::Regex::new(&format!("^{}$", body.join("(.*)"))).map_err(|e| e.to_string())?;
        Ok(RewriteRule {
            written: written.into(),
            pattern: Pattern::Regex { regex, whole: true },
            replacement: String::new(),
        })
    }

    pub fn regex(written: &str) -> Result<Self, String> {
        let regex =
            regex::Regex::new(written).map_err(|e| format!("not a regular expression: {e}"))?;
        Ok(RewriteRule {
            written: written.into(),
            pattern: Pattern::Regex {
                regex,
                whole: false,
            },
            replacement: String::new(),
        })
    }

    /// `$1` is written `${1}` for the regex crate, which would read `$1x` as a group named `1x`.
    pub fn with_replacement(mut self, replacement: String) -> Self {
        self.replacement = match self.pattern {
            Pattern::Equal => replacement,
            Pattern::Regex { .. } => braced_groups(&replacement),
        };
        self
    }

    fn apply(&self, path: &str) -> Option<String> {
        match &self.pattern {
            Pattern::Equal => (path == self.written).then(|| self.replacement.clone()),
            Pattern::Regex { regex, whole } => {
                if !regex.is_match(path) {
                    return None;
                }
                let replaced = if *whole {
                    regex.replace(path, self.replacement.as_str())
                } else {
                    regex.replace_all(path, self.replacement.as_str())
                };
                Some(replaced.into_owned())
            }
        }
    }
}

fn braced_groups(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('{');
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                out.push(d);
            }
            out.push('}');
        }
    }
    out
}

impl Serialize for RewriteRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("match", &self.written)?;
        map.serialize_entry("replacement", &self.replacement)?;
        map.end()
    }
}

/// What a request's host and path reach.
#[derive(Debug)]
pub enum Routed<'a> {
    /// This route of this domain, whose methods include the request's.
    To(&'a CustomDomain, &'a Route),
    /// The closest route does not take this method.
    MethodNotAllowed(&'a Route),
    /// No route matches the path.
    NoRoute,
}

/// The closest route to `path` for a request to `host` (its `Host` header, with or without a port).
pub fn route<'a>(
    domains: &'a [CustomDomain],
    host: Option<&str>,
    path: &str,
    method: &str,
) -> Routed<'a> {
    let named = host.map(bare_host).and_then(|host| {
        domains
            .iter()
            .filter(|d| names(&d.domain_name, &host))
            // An exact name before a wildcard one.
            .min_by_key(|d| d.domain_name.starts_with("*."))
    });
    let candidates: &mut dyn Iterator<Item = (&CustomDomain, &Route)> = match named {
        Some(d) => &mut d.routes.iter().map(move |r| (d, r)),
        None => &mut domains
            .iter()
            .flat_map(|d| d.routes.iter().map(move |r| (d, r))),
    };
    // The closest match; of two as close, the first written.
    let mut best: Option<(usize, &CustomDomain, &Route)> = None;
    for (d, r) in candidates {
        if let Some(rank) = r.matcher.rank(path) {
            if best.is_none_or(|(b, _, _)| rank > b) {
                best = Some((rank, d, r));
            }
        }
    }
    match best {
        Some((_, d, r)) if r.allows(method) => Routed::To(d, r),
        Some((_, _, r)) => Routed::MethodNotAllowed(r),
        None => Routed::NoRoute,
    }
}

/// The host a `Host` header names: no port, no trailing dot, no `.localhost` (where a browser on this
/// machine is sent for `NAME.localhost`), lower case.
fn bare_host(host: &str) -> String {
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.strip_suffix(".localhost")
        .map(str::to_string)
        .unwrap_or(host)
}

fn names(domain_name: &str, host: &str) -> bool {
    let domain_name = domain_name.to_ascii_lowercase();
    match domain_name.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') => {
            host.ends_with(suffix) && host.len() > suffix.len()
        }
        _ => domain_name != "auto" && domain_name == host,
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
