use super::*;
use crate::StorageKind;
use std::time::Duration;

fn parse(text: &str) -> Result<Project, SpecErrors> {
    let env = |name: &str| (name == "REGION").then(|| "cn-shanghai".to_string());
    parse_project(text, Path::new("/p/s.yaml"), Path::new("/p"), &env)
}

const MINIMAL: &str = r#"
edition: 3.0.0
name: app
vars: { region: "${env('REGION', 'cn-hangzhou')}" }
resources:
  web:
    component: fc3
    props:
      region: ${vars.region}
      functionName: web
      runtime: custom-container
      memorySize: 1024
      timeout: 30
      environmentVariables: { MODEL: v1, PORTS: 9000 }
      customContainerConfig: { image: "web:latest", port: 8080, command: [serve, --fast] }
      instanceLifecycleConfig:
        initializer: { handler: index.init, timeout: 5 }
        preStop: { handler: "", timeout: 9 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [get, POST] } }
"#;

#[test]
fn minimal_fc3_function_resolves() {
    let p = parse(MINIMAL).unwrap();
    assert_eq!(p.name, "app");
    let f = &p.functions[0];
    assert_eq!(f.name, "web");
    assert_eq!(f.region, "cn-shanghai");
    assert_eq!(f.memory_size_mb, 1024);
    assert_eq!(f.timeout, Duration::from_secs(30));
    assert_eq!(f.cpu, 0.35);
    assert_eq!(f.instance_concurrency, 1);
    assert_eq!(f.container.port, 8080);
    assert_eq!(
        f.container.command.as_deref(),
        Some(&["serve".to_string(), "--fast".into()][..])
    );
    assert_eq!(f.environment_variables["PORTS"], "9000");
    let init = f.initializer.as_ref().unwrap();
    assert_eq!(init.action, HookAction::Handler("index.init".into()));
    assert_eq!(init.timeout, Duration::from_secs(5));
    assert!(
        f.pre_stop.is_none(),
        "an empty PreStop handler disables the hook"
    );
    let t = f.http_trigger.as_ref().unwrap();
    assert!(t.allows("GET") && t.allows("post") && !t.allows("PUT"));
}

#[test]
fn all_errors_are_reported_together_with_their_paths() {
    let text = r#"
edition: 3.0.0
resources:
  bad:
    component: fc3
    props:
      functionName: bad
      runtime: dotnetcore3.1
      memorySize: 100
      timeout: 0
      environmentVariables: { FC_SECRET: x }
      instanceLifecycleConfig:
        initializer: { handler: a, command: [b] }
"#;
    let errs = parse(text).unwrap_err();
    let fields: Vec<&str> = errs.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "resources.bad.props.runtime",
            "resources.bad.props.memorySize",
            "resources.bad.props.timeout",
            "resources.bad.props.environmentVariables.FC_SECRET",
            "resources.bad.props.instanceLifecycleConfig.initializer",
        ],
        "{errs}"
    );
    let text = errs.to_string();
    assert!(text.contains("has 5 problems"), "{text}");
    assert!(
        text.contains("memorySize: is `100`, allowed: a whole number from 128 to 32768"),
        "{text}"
    );
}

#[test]
fn missing_image_and_unknown_variable_are_errors() {
    let text = r#"
edition: 3.0.0
resources:
  a:
    component: fc3
    props:
      functionName: ${vars.nope}
      runtime: custom-container
      customContainerConfig: { port: 9000 }
"#;
    let errs = parse(text).unwrap_err().to_string();
    assert!(
            errs.contains("s.yaml:7:21: resources.a.props.functionName: `${vars.nope}`: `vars.nope` is not defined"),
            "{errs}"
        );
}

#[test]
fn a_command_initializer_without_gpu_config_is_accepted_with_a_warning() {
    let text = MINIMAL.replace(
        "initializer: { handler: index.init, timeout: 5 }",
        "initializer: { command: [/bin/sh, -c, 'exit 0'] }",
    );
    let p = parse(&text).unwrap();
    let hook = p.functions[0].initializer.as_ref().unwrap();
    assert_eq!(
        hook.action,
        HookAction::Command(vec!["/bin/sh".into(), "-c".into(), "exit 0".into()])
    );
    assert_eq!(hook.timeout, Duration::from_secs(3), "the default timeout");
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("FC accepts it only on GPU functions")),
        "{:?}",
        p.warnings
    );
    let with_gpu = text.replace(
        "      triggers:",
        "      gpuConfig: { gpuType: fc.gpu.ada.1, gpuMemorySize: 8192 }\n      triggers:",
    );
    assert!(parse(&with_gpu).unwrap().warnings.is_empty());
}

#[test]
fn environment_over_4kb_is_refused() {
    let big = "x".repeat(4100);
    let text = MINIMAL.replace("MODEL: v1", &format!("MODEL: {big}"));
    let errs = parse(&text).unwrap_err().to_string();
    assert!(errs.contains("at most 4096 bytes"), "{errs}");
}

#[test]
fn wrong_edition_and_bad_yaml_say_what_to_do() {
    let errs = parse("edition: 2.0.0\nresources: {}")
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("/p/s.yaml:1:10: edition: is `2.0.0`, allowed: 3.0.0"),
        "{errs}"
    );
    let errs = parse("edition: [").unwrap_err().to_string();
    assert!(
        errs.contains("s.yaml:2:1: this is not valid YAML"),
        "{errs}"
    );
}

#[test]
fn a_go_handler_names_an_executable_and_its_hooks_are_any_name() {
    let go = |handler: &str| {
        format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: go1\n      handler: {handler}\n      code: /usr/share\n      instanceLifecycleConfig:\n        initializer: {{ handler: \"true\" }}\n        preStop: {{ handler: pre-stop }}\n"
        )
    };
    let project = parse(&go("main")).unwrap();
    let f = &project.functions[0];
    assert_eq!(f.runtime.language(), Some(Language::Go));
    assert_eq!(f.handler, "main");
    assert!(f.initializer.is_some() && f.pre_stop.is_some());
    let errs = parse(&go("bin/main")).unwrap_err().to_string();
    assert!(
        errs.contains("the name of the function's executable in the code folder, e.g. main"),
        "{errs}"
    );
    // Python's rule is its own.
    let errs = parse(&go("main").replace("go1", "python3.10"))
        .unwrap_err()
        .to_string();
    assert!(errs.contains("MODULE.FUNCTION"), "{errs}");
}

#[test]
fn code_the_functions_actions_make_need_not_be_there_before_the_build() {
    let yaml = |actions: &str| {
        format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n{actions}    props:\n      functionName: f\n      runtime: go1\n      handler: main\n      code: ./code/target\n"
        )
    };
    let built_by_an_action = yaml(
        "    actions:\n      pre-deploy:\n        - run: go build -o target/main .\n          path: ./code\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    let in_dir = |text: &str| {
        let file = dir.path().join("s.yaml");
        parse_project(text, &file, dir.path(), &|_: &str| None)
    };
    let project = in_dir(&built_by_an_action).unwrap();
    let unbuilt = project.unbuilt.expect("the missing folder is said");
    assert_eq!(unbuilt.errors.len(), 1);
    assert!(
        unbuilt.errors[0]
            .message
            .ends_with("its actions make it: run `fcemu build` first"),
        "{unbuilt}"
    );
    assert_eq!(
        unbuilt.errors[0].position.map(|p| p.line),
        Some(13),
        "at code:"
    );
    // Without an action to make it, it is an error, as before.
    let errs = in_dir(&yaml("")).unwrap_err().to_string();
    assert!(
        errs.contains("/code/target is not a folder or a .zip"),
        "{errs}"
    );
    assert!(!errs.contains("fcemu build"), "{errs}");
}

#[test]
fn nas_and_oss_mount_points_are_read_in_both_editions() {
    let fc3 = "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom-container\n      customContainerConfig: { image: x:1 }\n      nasConfig:\n        userId: 1000\n        groupId: 1001\n        mountPoints:\n          - { serverAddr: 'abc.cn-hangzhou.nas.aliyuncs.com:/models/', mountDir: /mnt/models/ }\n      ossMountConfig:\n        mountPoints:\n          - { bucketName: pics, bucketPath: /in, endpoint: 'http://oss-cn-hangzhou-internal.aliyuncs.com', mountDir: /mnt/pics, readOnly: true }\n";
    let project = parse(fc3).unwrap();
    let c = &project.functions[0].container;
    assert_eq!(c.nas_owner, Some((1000, 1001)));
    let seen: Vec<_> = c
        .storage
        .iter()
        .map(|m| (m.kind, m.source.as_str(), m.mount_dir.as_str(), m.read_only))
        .collect();
    assert_eq!(
        seen,
        [
            (
                StorageKind::Nas,
                "abc.cn-hangzhou.nas.aliyuncs.com:/models",
                "/mnt/models",
                false
            ),
            (StorageKind::Oss, "pics:/in", "/mnt/pics", true),
        ]
    );
    assert!(
        !project.ignored.iter().any(|f| f.contains("nasConfig")),
        "{:?}",
        project.ignored
    );

    // FC 2.0: the service's, and `auto`.
    let fc2 = "edition: 1.0.0\nservices:\n  s:\n    component: fc\n    props:\n      service:\n        name: s\n        nasConfig: auto\n      function:\n        name: f\n        runtime: custom-container\n        customContainerConfig: { image: x:1 }\n";
    let project = parse(fc2).unwrap();
    let m = &project.functions[0].container.storage[0];
    assert_eq!(
        (m.source.as_str(), m.mount_dir.as_str()),
        ("auto", "/mnt/auto")
    );

    // What cannot be mounted, said with where.
    let bad = "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom-container\n      customContainerConfig: { image: x:1 }\n      nasConfig:\n        mountPoints:\n          - { mountDir: /mnt/a }\n          - { serverAddr: 'a:/x', mountDir: /code }\n          - { serverAddr: 'a:/y', mountDir: /mnt/b/../../etc }\n      ossMountConfig:\n        mountPoints:\n          - { bucketName: b, mountDir: /mnt/c }\n          - { bucketName: b, mountDir: /mnt/c/ }\n";
    let errs = parse(bad).unwrap_err().to_string();
    assert!(errs.contains("has 4 problems"), "{errs}");
    assert!(
        errs.contains("nasConfig.mountPoints[0].serverAddr: is required"),
        "{errs}"
    );
    assert!(
        errs.contains(
            "nasConfig.mountPoints[1].mountDir: is /code, allowed: an absolute folder other than"
        ),
        "{errs}"
    );
    assert!(
        errs.contains("nasConfig.mountPoints[2].mountDir: is /mnt/b/../../etc"),
        "{errs}"
    );
    assert!(errs.contains("mounts two things at /mnt/c"), "{errs}");
}

#[test]
fn java_functions_are_served_and_their_handlers_name_a_class_and_a_method() {
    let java = |runtime: &str, handler: &str, pre_stop: &str| {
        format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: {runtime}\n      handler: {handler}\n      code: /usr/share\n      instanceLifecycleConfig:\n        preStop: {{ handler: \"{pre_stop}\" }}\n"
        )
    };
    for runtime in ["java8", "java11", "java17", "java21"] {
        let project = parse(&java(
            runtime,
            "example.App::handleRequest",
            "example.App::preStop",
        ))
        .unwrap();
        assert_eq!(
            project.functions[0].runtime.language(),
            Some(Language::Java)
        );
        assert_eq!(
            project.functions[0].container.image,
            "fcemu-runtime-java:bookworm"
        );
    }
    let errs = parse(&java("java11", "example.App", "example.App::"))
        .unwrap_err()
        .to_string();
    assert!(errs.contains("has 2 problems"), "{errs}");
    assert!(
        errs.contains("props.handler: is \"example.App\", allowed: package.Class::method, e.g. example.App::handleRequest"),
        "{errs}"
    );
    assert!(
        errs.contains("preStop: is \"example.App::\", allowed: package.Class::method"),
        "{errs}"
    );
    // .NET has no runtime here: the message says how to run it.
    let errs = parse(&java("dotnet6", "App::App.Function::Handler", "x"))
        .unwrap_err()
        .to_string();
    assert!(errs.contains("fcemu has no .NET runtime"), "{errs}");
    assert!(errs.contains("runtime: custom-container"), "{errs}");
}

#[test]
fn php_functions_are_served_and_their_handlers_name_a_file_and_a_function() {
    let php = |runtime: &str, handler: &str| {
        format!(
            "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: {runtime}\n      handler: {handler}\n      code: /usr/share\n      instanceLifecycleConfig:\n        preStop: {{ handler: index.preStop }}\n"
        )
    };
    for runtime in ["php7.2", "php8.x"] {
        let project = parse(&php(runtime, "index.handler")).unwrap();
        assert_eq!(project.functions[0].runtime.language(), Some(Language::Php));
        assert_eq!(
            Language::Php.entrypoint(),
            ["php", "/var/fcemu/runtime/bootstrap.php"]
        );
    }
    let errs = parse(&php("php8.x", "index")).unwrap_err().to_string();
    assert!(
        errs.contains("in index.py, index.js or index.php"),
        "{errs}"
    );
    // A PHP version FC has no runtime for is no runtime, not one to come.
    let errs = parse(&php("php7.4", "index.handler"))
        .unwrap_err()
        .to_string();
    assert!(errs.contains("is \"php7.4\", allowed: "), "{errs}");
    assert!(errs.contains("php7.2, php8.x"), "{errs}");
}
