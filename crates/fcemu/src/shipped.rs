//! The libraries FC's Python runtime ships (oss2, tablestore, the FC and Alibaba Cloud SDKs), which code
//! imports without installing them. For a built-in Python function whose code imports one it does not
//! carry itself, `up` installs them once with pip into fcemu's cache and hands them to the function beside
//! fcemu's runtime, where the runtime puts them last on the path. Where no registry answers, `up` says so
//! and goes on: the function's own error then names the missing module.

use crate::builtin::{cache_dir, content_key, make_once};
use crate::failure::Failure;
use crate::output::info;
use fcemu_runtime::DockerRuntime;
use fcemu_spec::{Language, Project};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// At most this many files of a code folder are read for imports.
const SCANNED_FILES: usize = 5000;

pub async fn provide(docker: &DockerRuntime, project: &mut Project) {
    for f in &mut project.functions {
        if f.runtime.language() != Some(Language::Python) {
            continue;
        }
        let (Some(code), Some(runtime)) = (&f.container.code, &f.container.runtime_files) else {
            continue;
        };
        let shipped = Language::Python.shipped_libraries();
        let imported = imports(code);
        let needed: BTreeSet<&str> = shipped
            .iter()
            .filter(|(name, _)| imported.contains(*name) && !carried(code, name))
            .map(|(_, package)| *package)
            .collect();
        if needed.is_empty() {
            continue;
        }
        let packages: Vec<&str> = needed.into_iter().collect();
        match with_libraries(docker, runtime, &packages).await {
            Ok(dir) => {
                info(&format!(
                    "function {} imports what FC's Python runtime ships ({}): provided from fcemu's cache",
                    f.name,
                    packages.join(", ")
                ));
                f.container.runtime_files = Some(dir);
            }
            Err(e) => crate::output::warning(&format!(
                "function {} imports what FC's Python runtime ships ({}), and fcemu could not fetch it ({e}); add it to requirements.txt and run `fcemu build`",
                f.name,
                packages.join(", ")
            )),
        }
    }
}

/// fcemu's runtime folder with the libraries beside it, in `fc-libraries/`, made once per combination.
async fn with_libraries(
    docker: &DockerRuntime,
    runtime: &Path,
    packages: &[&str],
) -> Result<PathBuf, Failure> {
    let key = content_key(packages.join(" ").as_bytes());
    let libraries = cache_dir()
        .join("fc-libraries")
        .join(format!("python-{key}"));
    if !libraries.is_dir() {
        info(&format!(
            "fetching once what FC's Python runtime ships: pip install {}",
            packages.join(" ")
        ));
        crate::layers::fill_with_pip(docker, &libraries, "", packages).await?;
    }
    let runtime_name = runtime
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = cache_dir()
        .join("runtime")
        .join(format!("{runtime_name}-fc-{key}"));
    make_once(&dir, |staging| {
        crate::layers::copy_tree(runtime, staging)?;
        let target = staging.join("fc-libraries");
        std::fs::create_dir(&target)?;
        crate::layers::copy_tree(&libraries, &target)
    })
    .map_err(|e| Failure::environment(format!("cannot write {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Whether the function brings the module itself (its own copy wins on FC too).
fn carried(code: &Path, name: &str) -> bool {
    [code.join("python"), code.to_path_buf()]
        .iter()
        .any(|dir| dir.join(name).is_dir() || dir.join(format!("{name}.py")).is_file())
}

/// The top-level modules the code's `.py` files import (`import a, b.c`, `from d import e`), its own
/// dependency folders left out.
fn imports(code: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut files = 0;
    let mut stack = vec![code.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let own_dependencies = dir == code && (name == "python" || name == "node_modules");
                if !name.starts_with('.') && !own_dependencies {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && name.ends_with(".py") && files < SCANNED_FILES {
                files += 1;
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    found.extend(imported_by(&text));
                }
            }
        }
    }
    found
}

fn imported_by(text: &str) -> Vec<String> {
    let top = |module: &str| {
        module
            .trim()
            .split(['.', ' '])
            .next()
            .unwrap_or("")
            .to_string()
    };
    let mut out = vec![];
    for line in text.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix("import ") {
            out.extend(rest.split(',').map(top));
        } else if let Some(rest) = line.strip_prefix("from ") {
            out.push(top(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_from_the_code_but_not_from_its_own_dependencies() {
        let code = tempfile::tempdir().unwrap();
        std::fs::write(
            code.path().join("index.py"),
            "import json, oss2\nfrom tablestore.client import OTSClient\n    import fc2 as fc\n# import nothing\n",
        )
        .unwrap();
        std::fs::create_dir_all(code.path().join("python/aliyunsdkcore")).unwrap();
        std::fs::write(
            code.path().join("python/aliyunsdkcore/x.py"),
            "import aliyunsdkkms\n",
        )
        .unwrap();
        let found = imports(code.path());
        for name in ["json", "oss2", "tablestore", "fc2"] {
            assert!(found.contains(name), "{name} in {found:?}");
        }
        assert!(!found.contains("aliyunsdkkms") && !found.contains("nothing"));
        assert!(carried(code.path(), "aliyunsdkcore"));
        assert!(!carried(code.path(), "oss2"));
    }
}
