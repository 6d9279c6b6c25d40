//! HTTP trigger traffic: which function a request reaches, and as what path. A custom domain's routes come
//! first (`fcemu_spec::route`: exact paths, then the longest wildcard prefix; the path goes on as sent, or
//! as the route rewrites it). A request no route matches follows the trigger rule: with one function that
//! has an HTTP trigger, every path goes to it; with several, the first path segment names the function
//! (`/FUNCTION/rest` reaches FUNCTION as `/rest`).

use crate::signature::{Refused, Signed};
use crate::{Gateway, limited, not_found};
use fcemu_control::{Body, InvocationKind, MAX_BODY_BYTES, fc_error_response, full_body, ids};
use fcemu_spec::{CustomDomain, Route, Routed, TriggerAuth};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::time::SystemTime;

impl Gateway {
    pub(crate) async fn trigger(&self, req: Request<Body>) -> Response<Body> {
        let domains = self.cp.domains();
        let req = match self.by_route(req, &domains) {
            ByRoute::Routed(function, req, auth) => {
                return self.authorized_invoke(&function, req, &auth).await;
            }
            ByRoute::Answered(response) => return response,
            ByRoute::NoRoute(req) => req,
        };
        let (function, req) = match self.cp.single_trigger() {
            Some(name) => (name.to_string(), req),
            None => match self.route_by_segment(req) {
                Ok(routed) => routed,
                Err(segment) => return self.no_function_at(&segment, &domains),
            },
        };
        let Some(spec) = self.cp.function(&function) else {
            return not_found(&function);
        };
        let Some(trigger) = &spec.spec.http_trigger else {
            return not_found(&function);
        };
        if !trigger.allows(req.method().as_str()) {
            return method_not_allowed(
                &format!("the HTTP trigger {}", trigger.name),
                &function,
                req.method(),
                &trigger.methods,
            );
        }
        self.authorized_invoke(&function, req, &trigger.auth).await
    }

    /// Invokes `function` once the request passes `auth` (FC's 403 when it does not).
    async fn authorized_invoke(
        &self,
        function: &str,
        req: Request<Body>,
        auth: &TriggerAuth,
    ) -> Response<Body> {
        let req = match auth {
            _ if self.trigger_auth.off => req,
            TriggerAuth::Anonymous => req,
            TriggerAuth::Jwt(jwt) => {
                let (mut parts, body) = req.into_parts();
                if let Err(refused) = crate::jwt::verify(&mut parts, jwt) {
                    return forbidden(refused);
                }
                Request::from_parts(parts, body)
            }
            TriggerAuth::Function => match self.signed(req).await {
                Ok(req) => req,
                Err(response) => return response,
            },
        };
        self.cp
            .invoke(function, limited(req), InvocationKind::HttpTrigger)
            .await
    }

    /// The request, once its signature verifies: its body is read first, as the signature covers it.
    async fn signed(&self, req: Request<Body>) -> Result<Request<Body>, Response<Body>> {
        let Some(keys) = &self.trigger_auth.keys else {
            return Err(forbidden(Refused {
                code: "AccessDenied",
                message: "this HTTP trigger's authType is function, and fcemu has no AccessKey to check signatures with: give the s.yaml's access in ~/.s/access.yaml or ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET (not --no-credentials), or serve it with --no-trigger-auth".into(),
            }));
        };
        let (parts, body) = req.into_parts();
        let body = match whole(body).await {
            Ok(body) => body,
            Err(why) => {
                return Err(crate::invalid_argument(&format!(
                    "the request body could not be read whole ({why}); at most {MAX_BODY_BYTES} bytes"
                )));
            }
        };
        let sent = parts
            .extensions
            .get::<SentUri>()
            .map_or(&parts.uri, |s| &s.0);
        let signed = Signed {
            method: parts.method.as_str(),
            path: sent.path(),
            query: sent.query(),
            headers: &parts.headers,
            body: &body,
        };
        if let Err(refused) = crate::signature::verify(&signed, keys, SystemTime::now()) {
            return Err(forbidden(refused));
        }
        Ok(Request::from_parts(parts, full_body(body)))
    }

    /// What the custom domains' routes make of `req`.
    fn by_route(&self, req: Request<Body>, domains: &[CustomDomain]) -> ByRoute {
        if domains.is_empty() {
            return ByRoute::NoRoute(req);
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().host());
        match fcemu_spec::route(domains, host, req.uri().path(), req.method().as_str()) {
            Routed::To(domain, route) => {
                let function = route.function_name.clone();
                if self.cp.function(&function).is_none() {
                    return ByRoute::Answered(not_found(&function));
                }
                let auth = domain.auth.clone();
                ByRoute::Routed(function, rewritten(req, route), auth)
            }
            Routed::MethodNotAllowed(route) => ByRoute::Answered(method_not_allowed(
                &format!("the custom domain's route {}", route.path),
                &route.function_name,
                req.method(),
                &route.methods,
            )),
            Routed::NoRoute => ByRoute::NoRoute(req),
        }
    }

    /// `/FUNCTION/rest` reaches FUNCTION as `/rest`. Err: the first segment names no function with a trigger.
    fn route_by_segment(&self, req: Request<Body>) -> Result<(String, Request<Body>), String> {
        let path = req.uri().path();
        let trimmed = path.trim_start_matches('/');
        let (first, rest) = trimmed
            .split_once('/')
            .map(|(a, b)| (a, format!("/{b}")))
            .unwrap_or((trimmed, "/".into()));
        let function = first.to_string();
        if self
            .cp
            .function(&function)
            .is_none_or(|f| f.spec.http_trigger.is_none())
        {
            return Err(function);
        }
        Ok((function, with_path(req, &rest)))
    }

    fn no_function_at(&self, segment: &str, domains: &[CustomDomain]) -> Response<Body> {
        let names: Vec<String> = self
            .cp
            .functions()
            .iter()
            .filter(|f| f.spec.http_trigger.is_some())
            .map(|f| format!("/{}/", f.name))
            .collect();
        let routes: Vec<String> = domains
            .iter()
            .flat_map(|d| &d.routes)
            .map(|r| format!("{} -> {}", r.path, r.function_name))
            .collect();
        let routes = if routes.is_empty() {
            String::new()
        } else {
            format!(
                "no custom domain route matches this path (routes: {}), and ",
                routes.join(", ")
            )
        };
        fc_error_response(
            StatusCode::NOT_FOUND,
            "FunctionNotFound",
            &format!(
                "{routes}no function with an HTTP trigger is named `{segment}`; with several functions the first path segment names one: {}",
                names.join(", ")
            ),
            &ids::request_id(),
        )
    }
}

/// The body, read whole (up to FC's limit); Err says why not.
async fn whole(mut body: Body) -> Result<bytes::Bytes, String> {
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        if read.len() + data.len() > MAX_BODY_BYTES {
            return Err("it is longer than that".into());
        }
        read.extend_from_slice(&data);
    }
    Ok(read.freeze())
}

/// A request a custom domain routes, one it answers itself (405, 404), or one no route matches.
enum ByRoute {
    Routed(String, Request<Body>, TriggerAuth),
    Answered(Response<Body>),
    NoRoute(Request<Body>),
}

/// FC's 403 for a request its trigger's authType refuses.
fn forbidden(refused: Refused) -> Response<Body> {
    fc_error_response(
        StatusCode::FORBIDDEN,
        refused.code,
        &refused.message,
        &ids::request_id(),
    )
}

/// FC's 405 for a method the trigger or route does not take.
fn method_not_allowed(
    what: &str,
    function: &str,
    method: &http::Method,
    allowed: &[String],
) -> Response<Body> {
    fc_error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!(
            "{what} of function {function} does not accept {method}; it accepts {}",
            allowed.join(", ")
        ),
        &ids::request_id(),
    )
}

/// The request as the route's `rewriteConfig` has it (unchanged without one).
fn rewritten(req: Request<Body>, route: &Route) -> Request<Body> {
    if route.rewrite.is_empty() {
        return req;
    }
    let path = route.rewrite.apply(req.uri().path());
    // A replacement such as `$1` may leave off the leading slash, which a path cannot.
    let path = if path.starts_with('/') {
        path.into_owned()
    } else {
        format!("/{path}")
    };
    with_path(req, &path)
}

/// The address a request was sent to, before routing changed its path: what a signature covers.
#[derive(Clone)]
struct SentUri(http::Uri);

/// The request with its path replaced and its query kept.
fn with_path(req: Request<Body>, path: &str) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    if parts.extensions.get::<SentUri>().is_none() {
        parts.extensions.insert(SentUri(parts.uri.clone()));
    }
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = format!("{path}{query}")
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    Request::from_parts(parts, body)
}
