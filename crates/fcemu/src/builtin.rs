//! What `up` prepares on this machine before it serves built-in runtimes (and custom runtimes whose code is a
//! `.zip`): fcemu's runtime files for each language, code zips unpacked, the language images, and the
//! interpreter version each one runs.
//!
//! Everything lands in fcemu's cache (`FCEMU_CACHE_DIR`, else `$XDG_CACHE_HOME/fcemu`, else
//! `~/.cache/fcemu`), keyed by content, so it is made once and shared by every project.

use crate::failure::Failure;
use fcemu_runtime::{DockerRuntime, labels};
use fcemu_spec::{Language, Project};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// fcemu's runtime for each language, built into the binary: its files' names and contents. Go's serves
/// FC's runtime API on top of the Python runtime's instance contract.
fn runtime_source(language: Language) -> &'static [(&'static str, &'static str)] {
    const PYTHON: (&str, &str) = (
        "bootstrap.py",
        include_str!("../../../runtimes/python/bootstrap.py"),
    );
    match language {
        Language::Python => &[PYTHON],
        Language::Nodejs => &[(
            "bootstrap.js",
            include_str!("../../../runtimes/nodejs/bootstrap.js"),
        )],
        Language::Go => &[
            PYTHON,
            ("go.py", include_str!("../../../runtimes/go/go.py")),
        ],
        Language::Php => &[
            (
                "bootstrap.php",
                include_str!("../../../runtimes/php/bootstrap.php"),
            ),
            (
                "server.php",
                include_str!("../../../runtimes/php/server.php"),
            ),
            (
                "runtime.php",
                include_str!("../../../runtimes/php/runtime.php"),
            ),
            ("psr7.php", include_str!("../../../runtimes/php/psr7.php")),
        ],
        Language::Java => JAVA,
    }
}

/// A file of fcemu's Java runtime, by its path under runtimes/java.
macro_rules! java_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../../runtimes/java/", $path)),
        )
    };
}

/// The Java runtime's sources and the script that compiles them (in the language's image, once per content:
/// java.rs).
const JAVA: &[(&str, &str)] = &[
    java_file!("compile.sh"),
    java_file!("src/fcemu/runtime/Bootstrap.java"),
    java_file!("src/fcemu/runtime/Call.java"),
    java_file!("src/fcemu/runtime/ContextValues.java"),
    java_file!("src/fcemu/runtime/Errors.java"),
    java_file!("src/fcemu/runtime/Functions.java"),
    java_file!("src/fcemu/runtime/HttpTrigger.java"),
    java_file!("src/fcemu/runtime/Json.java"),
    java_file!("src/fcemu/runtime/Logger.java"),
    java_file!("src/fcemu/runtime/Servlets.java"),
    java_file!("servlet/fcemu/runtime/servlet/BodyInputStream.java"),
    java_file!("servlet/fcemu/runtime/servlet/BodyOutputStream.java"),
    java_file!("fc/com/aliyun/fc/runtime/Context.java"),
    java_file!("fc/com/aliyun/fc/runtime/Credentials.java"),
    java_file!("fc/com/aliyun/fc/runtime/FunctionComputeLogger.java"),
    java_file!("fc/com/aliyun/fc/runtime/FunctionInitializer.java"),
    java_file!("fc/com/aliyun/fc/runtime/FunctionParam.java"),
    java_file!("fc/com/aliyun/fc/runtime/HttpRequestHandler.java"),
    java_file!("fc/com/aliyun/fc/runtime/OpenTracing.java"),
    java_file!("fc/com/aliyun/fc/runtime/PojoRequestHandler.java"),
    java_file!("fc/com/aliyun/fc/runtime/PreFreezeHandler.java"),
    java_file!("fc/com/aliyun/fc/runtime/PreStopHandler.java"),
    java_file!("fc/com/aliyun/fc/runtime/Service.java"),
    java_file!("fc/com/aliyun/fc/runtime/StreamRequestHandler.java"),
];

pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FCEMU_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("fcemu");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/fcemu"),
        None => std::env::temp_dir().join("fcemu-cache"),
    }
}

/// The first 16 hex digits of the SHA-256 of `bytes`: enough to tell contents apart in a cache.
pub(crate) fn content_key(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fills `dir` once: `fill` writes into a fresh folder beside it, which then takes its name, so a run that
/// stops half-way leaves no half-made entry, and two runs at once both end with a whole one.
pub(crate) fn make_once(dir: &Path, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().expect("a cache entry has a parent");
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)?;
    fill(staging.path())?;
    put_in_place(staging, dir)
}

/// A filled staging folder takes the name of the cache entry `dir`, unless another run made it first.
pub(crate) fn put_in_place(staging: tempfile::TempDir, dir: &Path) -> io::Result<()> {
    match std::fs::rename(staging.path(), dir) {
        Ok(()) => {
            // Renamed away: nothing is left for the guard to remove.
            let _ = staging.keep();
            Ok(())
        }
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs a task that makes a cache entry to its end; `what` names it in the error should it fail, with the
/// last lines it printed.
pub(crate) async fn run_to_success(
    docker: &DockerRuntime,
    task: &fcemu_runtime::Task,
    what: &str,
) -> Result<(), Failure> {
    let mut tail = crate::build_env::Tail::default();
    let code = docker
        .run_task(task, &mut |line| tail.push(line))
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    match code {
        0 => Ok(()),
        _ => Err(Failure::environment(format!(
            "{what} exited with {code}:\n{}",
            tail.text()
        ))),
    }
}

/// The folder with fcemu's runtime for `language`, written to the cache if it is not there yet. Java's is the
/// folder its sources compile into, made later (java.rs), when the engine is reached.
fn runtime_files(cache: &Path, language: Language) -> io::Result<PathBuf> {
    let files = runtime_source(language);
    let contents: Vec<u8> = files
        .iter()
        .flat_map(|(name, source)| [name.as_bytes(), source.as_bytes()].concat())
        .collect();
    let dir = cache
        .join("runtime")
        .join(format!("{}-{}", language.name(), content_key(&contents)));
    make_once(&dir, |staging| {
        files.iter().try_for_each(|(name, source)| {
            let path = staging.join(name);
            std::fs::create_dir_all(path.parent().expect("a file has a parent"))?;
            std::fs::write(path, source)
        })
    })?;
    Ok(match language {
        Language::Java => compiled_java(&dir),
        _ => dir,
    })
}

/// Where the Java runtime whose sources are in `sources` is compiled to.
fn compiled_java(sources: &Path) -> PathBuf {
    let name = sources.file_name().expect("a cache entry has a name");
    sources.with_file_name(format!("{}-compiled", name.to_string_lossy()))
}

/// The sources of the compiled Java runtime in `compiled`: [`compiled_java`]'s other way.
pub(crate) fn java_sources(compiled: &Path) -> PathBuf {
    let name = compiled.file_name().expect("a cache entry has a name");
    compiled.with_file_name(name.to_string_lossy().trim_end_matches("-compiled"))
}

/// A code `.zip` unpacked into the cache (once per content); the folder it is in.
fn unpack_code(cache: &Path, zip: &Path) -> Result<PathBuf, Failure> {
    unpack_zip(&cache.join("code"), zip)
}

/// A `.zip` (code, a layer) unpacked once per content into a folder under `dir`.
pub(crate) fn unpack_zip(dir: &Path, zip: &Path) -> Result<PathBuf, Failure> {
    let bytes = std::fs::read(zip)
        .map_err(|e| Failure::user(format!("cannot read {}: {e}", zip.display())))?;
    let dir = dir.join(content_key(&bytes));
    make_once(&dir, |staging| {
        let mut archive = zip::ZipArchive::new(io::Cursor::new(&bytes)).map_err(io::Error::other)?;
        archive.extract(staging).map_err(io::Error::other)
    })
    .map_err(|e| {
        Failure::user(format!(
            "cannot unpack {}: {e}. Check that it is a .zip of your code (e.g. `cd code && zip -r ../code.zip .`)",
            zip.display()
        ))
    })?;
    Ok(dir)
}

/// Unpacks code zips and points each built-in function at fcemu's runtime for its language.
pub fn prepare(project: &mut Project) -> Result<(), Failure> {
    let cache = cache_dir();
    let mut runtimes = BTreeMap::new();
    for f in &mut project.functions {
        // A .zip that is not there yet is one `fcemu build` makes.
        if let Some(code) = f
            .container
            .code
            .as_mut()
            .filter(|c| fcemu_spec::is_code_archive(c) && c.is_file())
        {
            *code = unpack_code(&cache, code)
                .map_err(|e| Failure::user(format!("function {}: {e}", f.name)))?;
        }
        let Some(language) = f.runtime.language() else {
            continue;
        };
        let dir = match runtimes.get(&language.name()) {
            Some(dir) => dir,
            None => {
                let dir = runtime_files(&cache, language).map_err(|e| {
                    Failure::environment(format!(
                        "cannot write fcemu's {} runtime into {}: {e}. Set FCEMU_CACHE_DIR to a folder you can write",
                        language.name(),
                        cache.display()
                    ))
                })?;
                runtimes.entry(language.name()).or_insert(dir)
            }
        };
        f.container.runtime_files = Some(dir.clone());
    }
    Ok(())
}

/// How an image for a language is built where a registry can be reached: Debian's interpreter, nothing more.
pub fn language_dockerfile(language: Language) -> String {
    let package = match language {
        Language::Python => "python3",
        Language::Nodejs => "nodejs",
        // The runtime API's server; what a Go executable needs of the system (TLS roots, zones).
        Language::Go => "python3 ca-certificates tzdata",
        Language::Php => "php-cli ca-certificates",
        // A JDK, as fcemu compiles its runtime in this image; the JSON and Servlet API libraries it uses.
        Language::Java => {
            "openjdk-17-jdk-headless libjackson2-databind-java libservlet-api-java ca-certificates"
        }
    };
    format!(
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends {package} && rm -rf /var/lib/apt/lists/*\nLABEL {}=true\n",
        labels::MANAGED
    )
}

/// The interpreter's version in `image` ("Python 3.11.2", "Node.js v18.19.0"), asked once per image content
/// and remembered in the cache.
pub async fn interpreter_version(
    docker: &DockerRuntime,
    image: &str,
    language: Language,
    project_label: &[(String, String)],
) -> Option<String> {
    let id = docker.image_id(image).await.ok().flatten()?;
    let remembered = cache_dir().join("interpreters").join(id.replace(':', "-"));
    if let Ok(version) = std::fs::read_to_string(&remembered) {
        return Some(version);
    }
    // Java 8's `java` knows only -version.
    let flag = match language {
        Language::Java => "-version",
        _ => "--version",
    };
    let printed = docker
        .run_once(image, &[language.interpreter(), flag], project_label)
        .await
        .ok()?;
    let version = printed.trim();
    let version = match language {
        Language::Python => version.to_string(),
        Language::Nodejs if !version.is_empty() => format!("Node.js {version}"),
        Language::Nodejs => return None,
        Language::Go => {
            format!("{version}, which serves FC's runtime API to the handler's executable")
        }
        // `openjdk version "17.0.15" 2025-04-15` and more lines: "OpenJDK 17.0.15".
        Language::Java => {
            let first = version.lines().next().unwrap_or_default();
            let number = first.split('"').nth(1).unwrap_or_default();
            let vendor = match first.starts_with("openjdk") {
                true => "OpenJDK".to_string(),
                false => first
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            format!("{vendor} {number}")
        }
        // "PHP 8.2.7 (cli) (built: ...)" and more lines: its first two words.
        Language::Php => version
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
    };
    if version.is_empty() || version.contains('\n') {
        return None;
    }
    let _ = std::fs::create_dir_all(remembered.parent().expect("a parent"))
        .and_then(|()| std::fs::write(&remembered, &version));
    Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, text) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            io::Write::write_all(&mut w, text.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_is_unpacked_once_per_content() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let zip = src.path().join("code.zip");
        std::fs::write(
            &zip,
            zip_of(&[
                ("index.py", "def handler(e, c): return e\n"),
                ("lib/util.py", "X = 1\n"),
            ]),
        )
        .unwrap();
        let dir = unpack_code(cache.path(), &zip).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("lib/util.py")).unwrap(),
            "X = 1\n"
        );
        // The same content again: the same folder, not unpacked twice (a marker left there stays).
        std::fs::write(dir.join("marker"), "").unwrap();
        assert_eq!(unpack_code(cache.path(), &zip).unwrap(), dir);
        assert!(dir.join("marker").exists());
        // Other content: another folder.
        std::fs::write(&zip, zip_of(&[("index.py", "changed\n")])).unwrap();
        assert_ne!(unpack_code(cache.path(), &zip).unwrap(), dir);
        let staging: Vec<_> = std::fs::read_dir(cache.path().join("code"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .collect();
        assert!(staging.is_empty(), "no staging folder is left behind");
    }

    #[test]
    fn a_file_that_is_not_a_zip_says_so_and_what_to_do() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let zip = src.path().join("code.zip");
        std::fs::write(&zip, "not a zip").unwrap();
        let e = unpack_code(cache.path(), &zip).unwrap_err().message;
        assert!(e.contains("cannot unpack") && e.contains("zip -r"), "{e}");
    }

    #[test]
    fn runtime_files_are_written_once_per_version_of_the_runtime() {
        let cache = tempfile::tempdir().unwrap();
        let dir = runtime_files(cache.path(), Language::Python).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("bootstrap.py")).unwrap(),
            runtime_source(Language::Python)[0].1
        );
        assert_eq!(runtime_files(cache.path(), Language::Python).unwrap(), dir);
        let node = runtime_files(cache.path(), Language::Nodejs).unwrap();
        assert!(node.join("bootstrap.js").is_file());
        assert_ne!(node, dir);
        // Go's runtime is Python's instance contract and its own runtime API, side by side.
        let go = runtime_files(cache.path(), Language::Go).unwrap();
        assert!(go.join("go.py").is_file() && go.join("bootstrap.py").is_file());
        assert_ne!(go, dir);
        // Java's sources are written in their folders; the runtime is where they compile to, beside them.
        let java = runtime_files(cache.path(), Language::Java).unwrap();
        assert!(!java.exists());
        let sources = java_sources(&java);
        assert_ne!(sources, java);
        assert_eq!(compiled_java(&sources), java);
        assert!(sources.join("compile.sh").is_file());
        assert!(sources.join("src/fcemu/runtime/Bootstrap.java").is_file());
        assert!(
            sources
                .join("fc/com/aliyun/fc/runtime/Context.java")
                .is_file()
        );
    }

    #[test]
    fn the_java_runtime_built_into_fcemu_has_every_source_file_of_runtimes_java() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtimes/java");
        let mut on_disk = Vec::new();
        let mut folders = vec![root.join("src"), root.join("servlet"), root.join("fc")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        for file in &on_disk {
            assert!(
                JAVA.iter().any(|(name, _)| name == file),
                "{file} is in runtimes/java but not in builtin.rs's JAVA list"
            );
        }
        assert_eq!(JAVA.len(), on_disk.len() + 1, "the sources and compile.sh");
    }
}
