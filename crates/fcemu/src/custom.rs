//! FC's custom runtime environments (`custom`, `custom.debian10/11/12`), made locally: one Debian image
//! with Python (and pip), Node.js, Java, PHP and curl, each interpreter also at the `/var/fc/lang` paths FC
//! documents (`runtimes/custom/`). Where a registry answers `up` builds it from `debian:bookworm-slim`;
//! elsewhere `scripts/build-runtime-images.sh` makes it with debootstrap. `up` says once which interpreter
//! version stands behind each FC path, since the local one may differ from FC's.

use crate::builtin::cache_dir;
use fcemu_runtime::{DockerRuntime, labels};
use std::collections::BTreeMap;

/// The Debian packages of the environment (one list for the Dockerfile and the debootstrap script).
const PACKAGES: &str = include_str!("../../../runtimes/custom/packages");
/// Makes FC's paths inside the image.
pub const FC_PATHS_SCRIPT: &str = include_str!("../../../runtimes/custom/fc-paths.sh");

/// How the image is built where a registry can be reached; `fc-paths.sh` sits beside the Dockerfile.
pub fn dockerfile() -> String {
    let packages = PACKAGES.trim().replace(',', " ");
    format!(
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*\nCOPY fc-paths.sh /tmp/fc-paths.sh\nRUN sh /tmp/fc-paths.sh && rm /tmp/fc-paths.sh\nLABEL {}=true\n",
        labels::MANAGED
    )
}

/// Asks each interpreter behind FC's paths for its version: `/var/fc/lang/NAME VERSION` a line.
const ASK_VERSIONS: &str = r#"for d in /var/fc/lang/*; do
  for x in python3 node php; do [ -x "$d/bin/$x" ] && echo "$d $("$d/bin/$x" --version 2>&1 | head -n 1)"; done
  [ -x "$d/bin/java" ] && echo "$d $("$d/bin/java" -version 2>&1 | head -n 1)"
done; true"#;

/// One line per interpreter version: which FC paths it answers for, e.g.
/// `Python 3.11.2 at /var/fc/lang/python3.9, python3.10, python3.12`. Asked once per image content and
/// remembered in the cache. None when the image has no FC paths (a user's own `--runtime-image`).
pub async fn versions(
    docker: &DockerRuntime,
    image: &str,
    project_label: &[(String, String)],
) -> Option<Vec<String>> {
    let id = docker.image_id(image).await.ok().flatten()?;
    let remembered = cache_dir()
        .join("custom-runtimes")
        .join(id.replace(':', "-"));
    let printed = match std::fs::read_to_string(&remembered) {
        Ok(printed) => printed,
        Err(_) => {
            let printed = docker
                .run_once(image, &["/bin/sh", "-c", ASK_VERSIONS], project_label)
                .await
                .ok()?;
            let _ = std::fs::create_dir_all(remembered.parent().expect("a parent"))
                .and_then(|()| std::fs::write(&remembered, &printed));
            printed
        }
    };
    let lines = group(&printed);
    (!lines.is_empty()).then_some(lines)
}

/// `/var/fc/lang/python3.10 Python 3.11.2` lines, grouped by version.
fn group(printed: &str) -> Vec<String> {
    let mut by_version: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for line in printed.lines() {
        let Some((path, version)) = line.trim().split_once(' ') else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        // Node.js says only `v18.20.4`.
        let version = match version.trim() {
            v if v.starts_with('v') => format!("Node.js {v}"),
            v => v.to_string(),
        };
        by_version.entry(version).or_default().push(name);
    }
    by_version
        .into_iter()
        .map(|(version, names)| format!("{version} at /var/fc/lang/{}", names.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_grouped_with_the_fc_paths_they_stand_behind() {
        let printed = "/var/fc/lang/nodejs18 v18.20.4\n/var/fc/lang/nodejs20 v18.20.4\n/var/fc/lang/python3.10 Python 3.11.2\n";
        assert_eq!(
            super::group(printed),
            [
                "Node.js v18.20.4 at /var/fc/lang/nodejs18, nodejs20",
                "Python 3.11.2 at /var/fc/lang/python3.10",
            ]
        );
        assert!(super::group("").is_empty());
    }

    #[test]
    fn the_dockerfile_installs_the_same_packages_as_the_debootstrap_script() {
        let dockerfile = super::dockerfile();
        for package in super::PACKAGES.trim().split(',') {
            assert!(dockerfile.contains(package), "{package}");
        }
        assert!(dockerfile.contains("fc-paths.sh"));
    }
}
