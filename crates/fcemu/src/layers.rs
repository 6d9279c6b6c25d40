//! A function's `layers`, mounted at `/opt` as FC mounts them. FC merges the layers into `/opt`, and where
//! two hold the same file the one listed first wins.
//!
//! Each ARN is provided by, in this order: `--layer ARN=PATH`, the s.yaml's `x-fcemu-layers`, or, for FC's
//! official layers (`acs:fc:REGION:official:layers/NAME/versions/N`), fcemu itself:
//! - a language layer (`Python310`, `Nodejs20`, `Java17`, `PHP81-Debian10`, `Go1`, `Nginx`) is a folder of
//!   links at the layer's own paths (`/opt/python3.10/bin/python3`, `/opt/nodejs20/bin/node`) to the
//!   interpreter of the image the function runs on;
//! - a library layer (`Python3-Flask2x`, `Python310-OSS2`, ...) is a folder filled once with pip, inside
//!   the custom runtime image (the interpreter the functions run on), from the packages the layer holds.
//!
//! Everything is kept in fcemu's cache, keyed by content, and shared by every project.

use crate::build_env::BuildEnv;
use crate::builtin::{cache_dir, content_key, make_once, unpack_zip};
use crate::failure::Failure;
use crate::output::info;
use fcemu_runtime::{DockerRuntime, Mount, Task};
use fcemu_spec::Project;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a layer ARN names.
#[derive(Debug, PartialEq)]
enum Layer {
    /// One of FC's official layers, by name (`Python3-Flask2x`) and version.
    Official { name: String, version: String },
    /// A layer of an account's own: only `--layer` or `x-fcemu-layers` can stand in for it.
    Own,
}

fn parse(arn: &str) -> Layer {
    let mut parts = arn.splitn(5, ':');
    let (acs, fc, _region, owner, rest) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next().unwrap_or(""),
    );
    let mut path = rest.split('/');
    match (
        acs,
        fc,
        owner,
        path.next(),
        path.next(),
        path.next(),
        path.next(),
    ) {
        (
            Some("acs"),
            Some("fc"),
            Some("official"),
            Some("layers"),
            Some(name),
            Some("versions"),
            Some(version),
        ) => Layer::Official {
            name: name.to_string(),
            version: version.to_string(),
        },
        _ => Layer::Own,
    }
}

/// An official language layer: its folder under `/opt` and the links it holds (name in `bin`, or a path
/// under the folder, to the executable in the image).
fn language_layer(name: &str) -> Option<(String, Vec<(&'static str, &'static str)>)> {
    // `Python310`, `PHP81-Debian10`: the version's digits, with nothing after them but the Debian the
    // layer was made for (`Python3-Flask2x` is a library layer).
    let digits = |prefix: &str| {
        let rest = name.strip_prefix(prefix)?;
        let d = rest.split("-Debian").next().unwrap_or("");
        (!d.is_empty() && d.chars().all(|c| c.is_ascii_digit())).then(|| d.to_string())
    };
    if let Some(d) = digits("Python").filter(|d| d.len() >= 2) {
        // Python310 -> python3.10
        let (major, minor) = d.split_at(1);
        return Some((
            format!("python{major}.{minor}"),
            vec![
                ("bin/python3", "/usr/bin/python3"),
                ("bin/python", "/usr/bin/python3"),
                ("bin/pip3", "/usr/bin/pip3"),
                ("bin/pip", "/usr/bin/pip3"),
            ],
        ));
    }
    if let Some(d) = digits("Nodejs") {
        return Some((
            format!("nodejs{d}"),
            vec![("bin/node", "/usr/bin/node"), ("bin/npm", "/usr/bin/npm")],
        ));
    }
    if let Some(d) = digits("Java") {
        return Some((format!("java{d}"), vec![("bin/java", "/usr/bin/java")]));
    }
    if let Some(d) = digits("PHP") {
        // PHP81-Debian10 -> php8.1
        let (major, minor) = d.split_at(1);
        return Some((
            format!("php{major}.{minor}"),
            vec![("bin/php", "/usr/bin/php")],
        ));
    }
    if digits("Go").is_some() {
        return Some(("go1".into(), vec![("bin/go", "/usr/bin/go")]));
    }
    if name == "Nginx" {
        return Some(("nginx".into(), vec![("sbin/nginx", "/usr/sbin/nginx")]));
    }
    None
}

/// An official library layer: the pip requirements that make its `python/` folder.
fn library_layer(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "Python3-Flask2x" => &["flask>=2.2,<2.3", "werkzeug>=2.2,<2.3"],
        "Python3-Flask3x" => &["flask>=3,<4"],
        "Python39-OSS2" | "Python310-OSS2" => &["oss2"],
        "Python3x-Pandas2x" => &["pandas>=2,<3"],
        "Python39-Pandas1x" => &["pandas>=1,<2"],
        "Python3x-PyMongo4x" => &["pymongo>=4,<5"],
        "Python3x-MCP" => &["mcp"],
        "Python36-Aliyun-SDK"
        | "Python39-Aliyun-SDK"
        | "Python310-Aliyun-SDK"
        | "Python312-Aliyun-SDK" => &["aliyun-python-sdk-core", "oss2", "tablestore"],
        _ => return None,
    })
}

/// Points each function with layers at one folder holding them all, made in the cache.
pub async fn prepare(
    docker: &DockerRuntime,
    project: &mut Project,
    given: &[(String, PathBuf)],
) -> Result<(), Failure> {
    let mut made: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in &mut project.functions {
        if f.container.layers.is_empty() {
            continue;
        }
        let mut folders = vec![];
        for arn in &f.container.layers {
            let folder = match made.get(arn) {
                Some(folder) => folder.clone(),
                None => {
                    let mapped = given
                        .iter()
                        .rev()
                        .find(|(a, _)| a == arn)
                        .map(|(_, p)| p.clone())
                        .or_else(|| project.layer_paths.get(arn).cloned());
                    let folder = match mapped {
                        Some(path) => local(&path)?,
                        None => official(docker, &f.name, arn, &f.container.image).await?,
                    };
                    made.insert(arn.clone(), folder.clone());
                    folder
                }
            };
            folders.push(folder);
        }
        f.container.opt = Some(merged(&cache_dir().join("layers"), &folders).map_err(|e| {
            Failure::environment(format!(
                "cannot merge the layers of function {} in {}: {e}. Set FCEMU_CACHE_DIR to a folder you can write",
                f.name,
                cache_dir().display()
            ))
        })?);
    }
    Ok(())
}

/// A layer given as a folder (used where it is) or a `.zip` (unpacked once per content).
fn local(path: &Path) -> Result<PathBuf, Failure> {
    if path.is_dir() {
        return Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    unpack_zip(&cache_dir().join("layers"), path)
}

async fn official(
    docker: &DockerRuntime,
    function: &str,
    arn: &str,
    image: &str,
) -> Result<PathBuf, Failure> {
    let cannot = |why: &str| {
        Failure::user(format!(
            "function {function} uses layer {arn}, which {why}. Give its files with --layer {arn}=DIR (or a .zip of them, as FC unpacks it under /opt), or under `x-fcemu-layers:` in the s.yaml"
        ))
    };
    let Layer::Official { name, version } = parse(arn) else {
        return Err(cannot(
            "is not one of FC's official layers, so fcemu cannot provide it",
        ));
    };
    let cache = cache_dir().join("layers");
    if let Some((folder, links)) = language_layer(&name) {
        let dir = cache.join(format!("{name}-links-{}", content_key(image.as_bytes())));
        make_once(&dir, |staging| {
            for (link, target) in &links {
                let at = staging.join(&folder).join(link);
                std::fs::create_dir_all(at.parent().expect("a parent"))?;
                std::os::unix::fs::symlink(target, at)?;
            }
            Ok(())
        })
        .map_err(|e| {
            Failure::environment(format!(
                "cannot make layer {name} in {}: {e}",
                cache.display()
            ))
        })?;
        return Ok(dir);
    }
    let Some(requirements) = library_layer(&name) else {
        return Err(cannot(
            "fcemu does not know how to provide (it knows FC's language layers and the Python library layers)",
        ));
    };
    let dir = cache.join(format!("{name}-{version}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    info(&format!(
        "making layer {name} (version {version}) once: pip install {} into its python/ folder",
        requirements.join(" ")
    ));
    fill_with_pip(docker, &dir, "python", requirements)
        .await
        .map_err(|e| cannot(&format!("could not be made here: {e}")))?;
    Ok(dir)
}

/// Runs pip in the custom runtime image into `sub` of a staging folder that then takes `dir`'s name.
pub(crate) async fn fill_with_pip(
    docker: &DockerRuntime,
    dir: &Path,
    sub: &str,
    requirements: &[&str],
) -> Result<(), Failure> {
    crate::images::ensure_custom_runtime_image(docker).await?;
    let parent = dir.parent().expect("a cache entry has a parent");
    let cannot_write = |e: std::io::Error| {
        Failure::environment(format!("cannot write in {}: {e}", parent.display()))
    };
    std::fs::create_dir_all(parent).map_err(cannot_write)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
        .map_err(cannot_write)?;
    let env = BuildEnv::of_this_machine();
    let mut command: Vec<String> = [
        "python3",
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--target",
    ]
    .map(String::from)
    .into();
    command.push(format!("/layer/{sub}"));
    command.extend(requirements.iter().map(|r| r.to_string()));
    let task = Task {
        image: fcemu_spec::CUSTOM_RUNTIME_IMAGE.into(),
        command,
        mounts: env
            .mounts()
            .into_iter()
            .chain([Mount {
                host: staging.path().to_path_buf(),
                container: "/layer".into(),
                read_only: false,
            }])
            .collect(),
        env: env.variables(),
        network_host: env.needs_host_network(),
        user: env.user(),
        ..Default::default()
    };
    crate::builtin::run_to_success(docker, &task, "pip").await?;
    // Files pip wrote as root in a container: readable by all, as a layer is.
    crate::builtin::put_in_place(staging, dir).map_err(cannot_write)?;
    info(&format!("made {}", dir.display()));
    Ok(())
}

/// One folder with every layer's files, the first layer's winning: a single layer is used as it is; more
/// are merged once per combination, by links to the files (a copy where links cannot be made).
fn merged(cache: &Path, folders: &[PathBuf]) -> std::io::Result<PathBuf> {
    if let [only] = folders {
        return Ok(only.clone());
    }
    let key: Vec<u8> = folders
        .iter()
        .flat_map(|f| f.display().to_string().into_bytes().into_iter().chain([0]))
        .collect();
    let dir = cache.join(format!("merged-{}", content_key(&key)));
    make_once(&dir, |staging| {
        // The last first, so that an earlier layer's file replaces it.
        for folder in folders.iter().rev() {
            copy_tree(folder, staging)?;
        }
        Ok(())
    })?;
    Ok(dir)
}

/// Copies a folder's tree into another, by hard links where it can; what is there already is replaced.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&source, &target)?;
            continue;
        }
        if target.symlink_metadata().is_ok() {
            std::fs::remove_file(&target)?;
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_arns_are_told_from_an_accounts_own() {
        assert_eq!(
            parse("acs:fc:cn-hangzhou:official:layers/Python3-Flask2x/versions/2"),
            Layer::Official {
                name: "Python3-Flask2x".into(),
                version: "2".into()
            }
        );
        assert_eq!(
            parse("acs:fc:cn-hangzhou:1234567890:layers/mine/versions/1"),
            Layer::Own
        );
        assert_eq!(parse("not an arn"), Layer::Own);
    }

    #[test]
    fn language_layers_have_the_paths_their_readmes_give() {
        assert_eq!(language_layer("Python310").unwrap().0, "python3.10");
        assert_eq!(language_layer("Nodejs20").unwrap().0, "nodejs20");
        assert_eq!(language_layer("Java17").unwrap().0, "java17");
        assert_eq!(language_layer("PHP81-Debian10").unwrap().0, "php8.1");
        assert_eq!(language_layer("Go1").unwrap().0, "go1");
        assert!(language_layer("Python3-Flask2x").is_none());
        assert!(language_layer("Python3x-Pandas2x").is_none());
        assert!(language_layer("Nodejs-Puppeteer24x").is_none());
        assert!(library_layer("Python3-Flask2x").is_some());
    }

    #[test]
    fn merged_layers_let_the_first_one_win() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (dir, text) in [(&a, "first"), (&b, "second")] {
            std::fs::create_dir_all(dir.path().join("python")).unwrap();
            std::fs::write(dir.path().join("python/same.py"), text).unwrap();
        }
        std::fs::write(b.path().join("only-second"), "").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let dir = merged(cache.path(), &[a.path().into(), b.path().into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("python/same.py")).unwrap(),
            "first"
        );
        assert!(dir.join("only-second").exists());
        assert_eq!(merged(cache.path(), &[a.path().into()]).unwrap(), a.path());
    }
}
