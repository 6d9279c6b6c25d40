//! `fc3-domain` resources: custom domains whose routes reach functions. The web-framework templates declare
//! no HTTP trigger and are reached only through such a route (`path: /*`), so a function a route names is
//! served over HTTP as if it had a trigger for every method. (Routing by the route's path, across several
//! functions, is not done: the gateway's own routing applies.)

use crate::fields::Cx;
use crate::model::{FunctionSpec, HttpTrigger};
use crate::vars::{self, Scope};
use serde_yaml::Value;

/// The methods a custom domain passes on.
const ALL_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// Gives each function a custom domain routes to an HTTP trigger, if it has none.
pub(crate) fn apply_routes(
    cx: &mut Cx,
    entries: &serde_yaml::Mapping,
    scope: &Scope,
    functions: &mut [&mut FunctionSpec],
) {
    for (key, entry) in entries {
        let component = entry.get("component").map(vars::scalar_text);
        if !component.is_some_and(|c| c == "fc3-domain" || c.starts_with("fc3-domain@")) {
            continue;
        }
        let path = format!("resources.{}.props", vars::scalar_text(key));
        let Some(props) = entry.get("props") else {
            continue;
        };
        let scope = Scope {
            this_props: Some(props),
            ..*scope
        };
        let Ok(props) = vars::resolve_tree(props, &scope, &path) else {
            // A route that does not resolve reaches nothing; the domain is not a function to check.
            continue;
        };
        let routes = props
            .get("routeConfig")
            .and_then(|r| r.get("routes"))
            .and_then(Value::as_sequence);
        for route in routes.into_iter().flatten() {
            let Some(name) = route.get("functionName").map(vars::scalar_text) else {
                continue;
            };
            let route_path = route.get("path").map(vars::scalar_text).unwrap_or_default();
            let Some(f) = functions.iter_mut().find(|f| f.name == name) else {
                continue;
            };
            if f.http_trigger.is_none() {
                f.http_trigger = Some(HttpTrigger {
                    name: format!("{} (custom domain)", vars::scalar_text(key)),
                    methods: ALL_METHODS.map(String::from).into(),
                });
                cx.warnings.push(format!(
                    "{path}: function {name} has no HTTP trigger and is reached through the custom domain's route {route_path}: fcemu serves it over HTTP as the route would"
                ));
            }
        }
    }
}
