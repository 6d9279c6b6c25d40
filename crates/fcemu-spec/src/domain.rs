//! Custom domains: FC 3.0's `fc3-domain` resources and FC 2.0's `customDomains` of a service, read into
//! their routes (which path reaches which function, with which methods). How a request is matched against
//! them is in `routes.rs`.
//!
//! The web-framework templates declare no HTTP trigger and are reached only through such a route (`path:
//! /*`), so a function a route names is served over HTTP as if it had a trigger for every method.

use crate::fields::{Cx, Fields};
use crate::model::{FunctionSpec, HttpTrigger};
use crate::routes::{CustomDomain, Rewrite, RewriteRule, Route, RoutePath};
use crate::triggers::HTTP_METHODS;
use crate::vars::{self, Scope};
use serde_yaml::Value;

/// Whether an s.yaml resource is a custom domain of FC 3.0.
pub(crate) fn is_fc3_domain(component: &str) -> bool {
    component == "fc3-domain" || component.starts_with("fc3-domain@")
}

/// The `fc3-domain` resources of an FC 3.0 s.yaml.
pub(crate) fn fc3_domains(
    cx: &mut Cx,
    entries: &serde_yaml::Mapping,
    scope: &Scope,
) -> Vec<CustomDomain> {
    let mut domains = Vec::new();
    for (key, entry) in entries {
        let component = entry.get("component").map(vars::scalar_text);
        if !component.is_some_and(|c| is_fc3_domain(&c)) {
            continue;
        }
        let resource = vars::scalar_text(key);
        let path = format!("resources.{resource}.props");
        let Some(props) = entry.get("props") else {
            cx.error(
                &format!("resources.{resource}"),
                "has no `props`: a custom domain declares its domainName and routeConfig.routes there"
                    .into(),
            );
            continue;
        };
        let scope = Scope {
            this_props: Some(props),
            ..*scope
        };
        // Only what routes is resolved: a certificate's `${file(...)}` that is not here is no error locally.
        let mut used = props.clone();
        if let Some(map) = used.as_mapping_mut() {
            map.retain(|k, _| {
                ["domainName", "routeConfig", "authConfig"].contains(&vars::scalar_text(k).as_str())
            });
        }
        let props = match vars::resolve_tree(&used, &scope, &path) {
            Ok(props) => props,
            Err(errors) => {
                for (field, message) in errors {
                    cx.error(&field, message);
                }
                continue;
            }
        };
        let raw = Fields::new(cx, entry.get("props"), path.clone());
        crate::function::note_ignored(
            cx,
            &raw,
            &[&[
                "region",
                "domainName",
                "protocol",
                "routeConfig",
                "authConfig",
            ]],
        );
        let fields = Fields::new(cx, Some(&props), path);
        let routes_fields = fields.sub(cx, "routeConfig");
        let routes = routes(cx, &routes_fields, "routes", None);
        let auth_fields = fields.sub(cx, "authConfig");
        domains.push(CustomDomain {
            resource,
            domain_name: domain_name(cx, &fields),
            routes,
            auth: crate::auth::trigger_auth(cx, &auth_fields, "authType", "authInfo"),
        });
    }
    domains
}

/// FC 2.0's `customDomains` of one service: routes that name no function reach the service's own.
pub(crate) fn fc2_domains(
    cx: &mut Cx,
    service_props: &Fields,
    resource: &str,
    own_function: &str,
) -> Vec<CustomDomain> {
    let Some(list) = service_props.get("customDomains") else {
        return Vec::new();
    };
    let field = service_props.field("customDomains");
    let Some(items) = list.as_sequence() else {
        cx.error(
            &field,
            format!(
                "must be a list of domains, found {}",
                crate::fields::describe(list)
            ),
        );
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let fields = Fields::new(cx, Some(item), format!("{field}[{i}]"));
            crate::function::note_ignored(
                cx,
                &fields,
                &[&["domainName", "protocol", "routeConfigs"]],
            );
            CustomDomain {
                resource: resource.to_string(),
                domain_name: domain_name(cx, &fields),
                routes: routes(cx, &fields, "routeConfigs", Some(own_function)),
                auth: crate::TriggerAuth::Anonymous,
            }
        })
        .collect()
}

fn domain_name(cx: &mut Cx, fields: &Fields) -> String {
    fields
        .required_string(
            cx,
            "domainName",
            "the domain's name, or auto (FC makes one up)",
        )
        .unwrap_or_else(|| "auto".into())
}

/// The routes under `key` of `of`. FC 2.0's may leave out `functionName`: `own_function` then.
fn routes(cx: &mut Cx, of: &Fields, key: &str, own_function: Option<&str>) -> Vec<Route> {
    let Some(list) = of.get(key) else {
        return Vec::new();
    };
    let Some(items) = list.as_sequence() else {
        cx.error(
            &of.field(key),
            format!(
                "must be a list of routes, found {}",
                crate::fields::describe(list)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let r = Fields::new(cx, Some(item), format!("{}[{i}]", of.field(key)));
        crate::function::note_ignored(
            cx,
            &r,
            &[&[
                "path",
                "functionName",
                "serviceName",
                "methods",
                "qualifier",
                "rewriteConfig",
            ]],
        );
        let path = r.required_string(cx, "path", "the path the route matches, e.g. /* or /api/*");
        let function_name = match own_function {
            Some(own) => r.string(cx, "functionName").unwrap_or_else(|| own.into()),
            None => r
                .required_string(cx, "functionName", "the function the route reaches")
                .unwrap_or_default(),
        };
        let methods = methods(cx, &r);
        let qualifier = r.string(cx, "qualifier").filter(|q| !q.is_empty());
        let rewrite_config = r.sub(cx, "rewriteConfig");
        let rewrite = rewrite(cx, &rewrite_config);
        let Some(path) = path else { continue };
        match RoutePath::parse(&path) {
            Ok(matcher) => out.push(Route {
                path,
                matcher,
                function_name,
                methods,
                qualifier,
                rewrite,
            }),
            Err(why) => cx.error(&r.field("path"), format!("is \"{path}\": {why}")),
        }
    }
    out
}

/// Upper-case; empty when the route names none (it passes every method on).
fn methods(cx: &mut Cx, r: &Fields) -> Vec<String> {
    crate::triggers::http_methods(cx, r).unwrap_or_default()
}

/// `rewriteConfig`: `equalRules`, `wildcardRules` and `regexRules`, each a list of `{match, replacement}`.
fn rewrite(cx: &mut Cx, config: &Fields) -> Rewrite {
    let mut rules = |key: &str, parse: fn(&str) -> Result<RewriteRule, String>| {
        let mut out = Vec::new();
        let Some(items) = config.get(key).and_then(Value::as_sequence) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let rule = Fields::new(cx, Some(item), format!("{}[{i}]", config.field(key)));
            let matching = rule.required_string(cx, "match", "what the rule matches");
            let replacement = rule.string(cx, "replacement").unwrap_or_default();
            let Some(matching) = matching else { continue };
            match parse(&matching) {
                Ok(r) => out.push(r.with_replacement(replacement)),
                Err(why) => cx.error(&rule.field("match"), format!("is \"{matching}\": {why}")),
            }
        }
        out
    };
    Rewrite {
        equal: rules("equalRules", |m| Ok(RewriteRule::equal(m))),
        wildcard: rules("wildcardRules", RewriteRule::wildcard),
        regex: rules("regexRules", RewriteRule::regex),
    }
}

/// Gives each function a custom domain routes to an HTTP trigger, if it has none; says which routes name
/// no function of the project, and what a qualifier means locally.
pub(crate) fn connect(cx: &mut Cx, domains: &[CustomDomain], functions: &mut [&mut FunctionSpec]) {
    let mut qualifiers = Vec::new();
    for d in domains {
        for route in &d.routes {
            let Some(f) = functions.iter_mut().find(|f| f.name == route.function_name) else {
                cx.warnings.push(format!(
                    "custom domain {} ({}): route {} names function `{}`, which this project does not declare: requests it matches are answered 404 FunctionNotFound",
                    d.domain_name, d.resource, route.path, route.function_name
                ));
                continue;
            };
            if f.http_trigger.is_none() {
                f.http_trigger = Some(HttpTrigger {
                    name: format!("{} (custom domain)", d.resource),
                    methods: HTTP_METHODS.map(String::from).into(),
                    auth: crate::TriggerAuth::Anonymous,
                });
            }
            if let Some(q) = route.qualifier.as_deref().filter(|q| *q != "LATEST") {
                if !qualifiers.contains(&q) {
                    qualifiers.push(q);
                    cx.warnings.push(format!(
                        "custom domain {}: routes to qualifier {q} reach the function as the s.yaml declares it (LATEST): fcemu serves no published versions or aliases",
                        d.domain_name
                    ));
                }
            }
        }
    }
}
