//! The s.yaml corpus (fixtures/syaml): every valid file resolves to its `.json`, every invalid file is refused
//! with exactly the messages of its `.err`, as Spin keeps its manifest UI tests. After a deliberate change
//! of output, `UPDATE_GOLDEN=1 cargo test -p fcemu-spec --test corpus` rewrites the golden files; review
//! the diff.

use std::path::{Path, PathBuf};

fn corpus(kind: &str) -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap();
    let dir = root.join("fixtures/syaml").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    (dir, files)
}

/// The environment every corpus file sees: nothing set, so defaults apply and output is stable.
fn no_env(_: &str) -> Option<String> {
    None
}

/// Compares with the golden file, or writes it when UPDATE_GOLDEN is set. Returns a failure description.
fn check_golden(golden: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden, actual).unwrap();
        return None;
    }
    match std::fs::read_to_string(golden) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{} differs.\n--- expected\n{expected}\n--- actual\n{actual}",
            golden.display()
        )),
        Err(_) => Some(format!(
            "{} is missing (UPDATE_GOLDEN=1 writes it):\n{actual}",
            golden.display()
        )),
    }
}

#[test]
fn valid_files_resolve_to_their_golden_functions() {
    let (dir, files) = corpus("valid");
    assert!(
        files.len() >= 10,
        "the valid corpus has {} files",
        files.len()
    );
    let mut failures = vec![];
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = Path::new("valid").join(file.file_name().unwrap());
        match fcemu_spec::parse_project(&text, &name, &dir, &no_env) {
            Ok(project) => {
                let json = serde_json::to_string_pretty(&project)
                    .unwrap()
                    .replace(&dir.display().to_string(), "<dir>");
                failures.extend(check_golden(
                    &file.with_extension("json"),
                    &format!("{json}\n"),
                ));
            }
            Err(e) => failures.push(format!("{} should be valid:\n{e}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_files_are_refused_with_their_golden_messages() {
    let (dir, files) = corpus("invalid");
    assert!(
        files.len() >= 10,
        "the invalid corpus has {} files",
        files.len()
    );
    let mut failures = vec![];
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = Path::new("invalid").join(file.file_name().unwrap());
        match fcemu_spec::parse_project(&text, &name, &dir, &no_env) {
            Ok(_) => failures.push(format!("{} should be refused", file.display())),
            Err(e) => failures.extend(check_golden(
                &file.with_extension("err"),
                &e.to_string().replace(&dir.display().to_string(), "<dir>"),
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_error_has_a_position_in_the_file() {
    let (dir, files) = corpus("invalid");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if let Err(e) = fcemu_spec::parse_project(&text, file, &dir, &no_env) {
            for err in &e.errors {
                let placed = err.position.is_some() || err.message.contains("line ");
                assert!(placed, "{}: no line for {err:?}", file.display());
            }
        }
    }
}

/// UpdateFunction reads a function back from its FC 3.0 props: with nothing changed, every function of the
/// corpus comes back as it was, so an update changes only what its body names.
#[test]
fn every_valid_function_reads_back_from_its_props_unchanged() {
    let (dir, files) = corpus("valid");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let project = fcemu_spec::parse_project(&text, file, &dir, &no_env).unwrap();
        for spec in &project.functions {
            let (mut back, ignored) =
                fcemu_spec::update_function(spec, &serde_json::json!({}), &dir)
                    .unwrap_or_else(|e| panic!("{}: {}: {e:?}", file.display(), spec.name));
            assert!(ignored.is_empty());
            // Where an error about the GPU memory would point differs by edition, not what it holds.
            if let (Some(a), Some(b)) = (&mut back.gpu, &spec.gpu) {
                a.memory_field = b.memory_field.clone();
            }
            assert_eq!(&back, spec, "{}: {}", file.display(), spec.name);
        }
    }
}

#[test]
fn an_update_changes_what_it_names_and_refuses_what_is_not_allowed() {
    let (dir, _) = corpus("valid");
    let text = std::fs::read_to_string(dir.join("fc3-minimal.yaml")).unwrap();
    let spec = fcemu_spec::parse_project(&text, &dir.join("s.yaml"), &dir, &no_env)
        .unwrap()
        .functions
        .remove(0);
    let body = serde_json::json!({
        "memorySize": 1024,
        "environmentVariables": { "MODEL": "v2" },
        "instanceLifecycleConfig": { "preStop": { "handler": "index.stop", "timeout": 7 } },
        "vpcConfig": { "vpcId": "vpc-1" },
    });
    let (updated, ignored) = fcemu_spec::update_function(&spec, &body, &dir).unwrap();
    assert_eq!(updated.memory_size_mb, 1024);
    assert_eq!(updated.environment_variables.len(), 1);
    assert_eq!(updated.environment_variables["MODEL"], "v2");
    assert_eq!(updated.pre_stop.as_ref().unwrap().timeout.as_secs(), 7);
    assert_eq!(
        updated.initializer, spec.initializer,
        "the hooks not named stay"
    );
    assert_eq!(ignored, ["vpcConfig"]);
    let changed = fcemu_spec::changed_fields(&spec, &updated);
    assert!(
        changed.contains(&"memorySizeMb".to_string())
            && changed.contains(&"environmentVariables.MODEL".to_string()),
        "{changed:?}"
    );

    let bad = serde_json::json!({ "memorySize": 100, "timeout": "soon" });
    let errors = fcemu_spec::update_function(&spec, &bad, &dir).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["memorySize", "timeout"], "{errors:?}");
    assert!(errors[0].1.contains("from 128 to 32768"), "{errors:?}");
    let runtime = serde_json::json!({ "runtime": "python3.10" });
    assert_eq!(
        fcemu_spec::update_function(&spec, &runtime, &dir).unwrap_err()[0].0,
        "runtime"
    );
}
