use super::*;

fn r(path: &str, function: &str, methods: &[&str]) -> Route {
    Route {
        path: path.into(),
        matcher: RoutePath::parse(path).unwrap(),
        function_name: function.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        qualifier: None,
        rewrite: Rewrite::default(),
    }
}

fn domain(name: &str, routes: Vec<Route>) -> CustomDomain {
    CustomDomain {
        resource: name.into(),
        domain_name: name.into(),
        routes,
        auth: crate::TriggerAuth::Anonymous,
    }
}

fn reached<'a>(
    domains: &'a [CustomDomain],
    host: Option<&str>,
    path: &str,
    method: &str,
) -> &'a str {
    match route(domains, host, path, method) {
        Routed::To(_, r) => &r.function_name,
        Routed::MethodNotAllowed(_) => "405",
        Routed::NoRoute => "404",
    }
}

#[test]
fn exact_beats_wildcard_and_the_longest_prefix_wins() {
    let d = [domain(
        "auto",
        vec![
            r("/*", "web", &[]),
            r("/login/*", "login", &[]),
            r("/login/a/*", "login-a", &[]),
            r("/login", "login-exact", &[]),
        ],
    )];
    assert_eq!(reached(&d, None, "/", "GET"), "web");
    assert_eq!(reached(&d, None, "/anything/else", "GET"), "web");
    assert_eq!(reached(&d, None, "/login", "GET"), "login-exact");
    // FC: `/login/*` matches what begins with `/login/`, so `/login/` is its, `/loginx` is not.
    assert_eq!(reached(&d, None, "/login/", "GET"), "login");
    assert_eq!(reached(&d, None, "/loginx", "GET"), "web");
    assert_eq!(reached(&d, None, "/login/b/c", "GET"), "login");
    assert_eq!(reached(&d, None, "/login/a/b", "GET"), "login-a");
}

#[test]
fn an_exact_path_matches_only_itself() {
    let d = [domain("auto", vec![r("/a", "f", &[])])];
    assert_eq!(reached(&d, None, "/a", "GET"), "f");
    assert_eq!(reached(&d, None, "/a/", "GET"), "404");
    assert_eq!(reached(&d, None, "/", "GET"), "404");
}

#[test]
fn the_closest_route_decides_and_its_methods_apply() {
    let d = [domain(
        "auto",
        vec![r("/api/*", "api", &["GET"]), r("/*", "web", &[])],
    )];
    assert_eq!(reached(&d, None, "/api/users", "GET"), "api");
    assert_eq!(reached(&d, None, "/api/users", "get"), "api");
    assert_eq!(reached(&d, None, "/api/users", "POST"), "405");
    assert_eq!(reached(&d, None, "/other", "POST"), "web");
}

#[test]
fn a_host_that_names_a_domain_uses_its_routes_and_other_hosts_every_domains() {
    let d = [
        domain("example.com", vec![r("/*", "fe", &[])]),
        domain("cms.example.com", vec![r("/*", "be", &[])]),
        domain("*.apps.example.com", vec![r("/*", "apps", &[])]),
    ];
    assert_eq!(reached(&d, Some("127.0.0.1:9000"), "/x", "GET"), "fe");
    assert_eq!(reached(&d, None, "/x", "GET"), "fe");
    assert_eq!(reached(&d, Some("cms.example.com"), "/x", "GET"), "be");
    assert_eq!(reached(&d, Some("CMS.Example.com:9000"), "/x", "GET"), "be");
    assert_eq!(
        reached(&d, Some("cms.example.com.localhost:9000"), "/x", "GET"),
        "be"
    );
    assert_eq!(reached(&d, Some("a.apps.example.com"), "/x", "GET"), "apps");
    assert_eq!(reached(&d, Some("apps.example.com"), "/x", "GET"), "fe");
    assert_eq!(reached(&d, Some("[::1]:9000"), "/x", "GET"), "fe");
}

#[test]
fn route_paths_are_checked() {
    assert_eq!(RoutePath::parse("/*"), Ok(RoutePath::Prefix("/".into())));
    assert_eq!(
        RoutePath::parse("/api/*"),
        Ok(RoutePath::Prefix("/api/".into()))
    );
    assert_eq!(RoutePath::parse("/a"), Ok(RoutePath::Exact("/a".into())));
    assert!(
        RoutePath::parse("api/*")
            .unwrap_err()
            .contains("starts with /")
    );
    assert!(
        RoutePath::parse("/a/*/b")
            .unwrap_err()
            .contains("may only end")
    );
}

#[test]
fn rewrite_rules_apply_in_fc_order_and_the_first_match_wins() {
    let rewrite = Rewrite {
        equal: vec![RewriteRule::equal("/old").with_replacement("/new".into())],
        wildcard: vec![
            RewriteRule::wildcard("/api/*")
                .unwrap()
                .with_replacement("/$1".into()),
            RewriteRule::wildcard("/v*/items/*")
                .unwrap()
                .with_replacement("/items/$2/v$1x".into()),
        ],
        regex: vec![
            RewriteRule::regex("^/legacy/[a-z]+/")
                .unwrap()
                .with_replacement("/modern/".into()),
        ],
    };
    assert_eq!(rewrite.apply("/old"), "/new");
    assert_eq!(rewrite.apply("/old/"), "/old/");
    assert_eq!(rewrite.apply("/api/users/1"), "/users/1");
    assert_eq!(rewrite.apply("/v2/items/7"), "/items/7/v2x");
    assert_eq!(rewrite.apply("/legacy/abc/page"), "/modern/page");
    assert_eq!(rewrite.apply("/untouched"), "/untouched");
    assert!(RewriteRule::regex("(").is_err());
}
