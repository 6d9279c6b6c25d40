use super::*;

fn resolve(s: &str, doc: &str) -> Result<Value, VarError> {
    let document: Value = serde_yaml::from_str(doc).unwrap();
    let env = |name: &str| match name {
        "SET" => Some("from-env".to_string()),
        _ => None,
    };
    let scope = Scope {
        dir: Path::new("/proj/app"),
        document: &document,
        this_props: document
            .get("resources")
            .and_then(|r| r.get("a"))
            .and_then(|a| a.get("props")),
        env: &env,
    };
    resolve_string(s, &scope, 0)
}

#[test]
fn env_with_and_without_default() {
    assert_eq!(
        resolve("${env('SET')}", "{}").unwrap(),
        Value::from("from-env")
    );
    assert_eq!(
        resolve("${env('UNSET', 'dflt')}", "{}").unwrap(),
        Value::from("dflt")
    );
    assert_eq!(
        resolve("${env(SET)}", "{}").unwrap(),
        Value::from("from-env")
    );
    let err = resolve("${env('UNSET')}", "{}").unwrap_err().to_string();
    assert!(err.contains("UNSET is not set"), "{err}");
}

#[test]
fn nested_calls_and_splicing() {
    assert_eq!(
        resolve("${env('UNSET', path('..'))}", "{}").unwrap(),
        Value::from("/proj")
    );
    assert_eq!(
        resolve("img-${vars.tag}:${env('SET')}", "vars: {tag: v1}").unwrap(),
        Value::from("img-v1:from-env")
    );
}

#[test]
fn whole_expression_keeps_its_type() {
    let v = resolve("${vars.port}", "vars: {port: 7860}").unwrap();
    assert_eq!(v, Value::from(7860));
    let v = resolve(
        "${this.props.memorySize}",
        "resources: {a: {props: {memorySize: 1024}}}",
    )
    .unwrap();
    assert_eq!(v, Value::from(1024));
}

#[test]
fn references_resolve_their_own_variables_and_cycles_stop() {
    let v = resolve("${vars.b}", "vars: {a: x, b: '${vars.a}-y'}").unwrap();
    assert_eq!(v, Value::from("x-y"));
    let err = resolve("${vars.a}", "vars: {a: '${vars.a}'}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("nest too deeply"), "{err}");
}

#[test]
fn errors_name_the_expression() {
    let err = resolve("${vars.missing}", "vars: {}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("vars.missing` is not defined"), "{err}");
    let err = resolve("${nope('x')}", "{}").unwrap_err().to_string();
    assert!(err.contains("nope() is not a function"), "{err}");
    let err = resolve("${env('A'", "{}").unwrap_err().to_string();
    assert!(err.contains("no closing"), "{err}");
}

#[test]
fn garbage_never_panics() {
    for s in [
        "${",
        "${}",
        "${(}",
        "${'}",
        "${a.}",
        "${env(,)}",
        "${env('a',)}",
        "${é(ü)}",
        "${a}}${",
    ] {
        let _ = resolve(s, "{}");
    }
}
