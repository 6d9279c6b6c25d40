//! The s.yaml's `x-fcemu-layers`: the local folder or `.zip` that stands in for each layer ARN fcemu cannot
//! provide itself (what `up --layer ARN=PATH` does from the command line).

use crate::fields::Cx;
use crate::vars;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `x-fcemu-layers: { ARN: ./folder-or.zip }`: what stands in for a layer fcemu cannot provide.
pub(crate) fn layer_paths(
    cx: &mut Cx,
    root: &serde_yaml::Mapping,
    dir: &Path,
) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Some(map) = root.get("x-fcemu-layers") else {
        return out;
    };
    let Some(map) = map.as_mapping() else {
        cx.error(
            "x-fcemu-layers",
            "is not a mapping: write `x-fcemu-layers: { ARN: ./folder-or.zip }`".into(),
        );
        return out;
    };
    for (arn, path) in map {
        let arn = vars::scalar_text(arn);
        let path: PathBuf = dir.join(vars::scalar_text(path)).components().collect();
        if !path.exists() {
            cx.error(
                &format!("x-fcemu-layers.{arn}"),
                format!(
                    "{} does not exist: give the folder (or .zip) with the layer's files, as FC unpacks them under /opt",
                    path.display()
                ),
            );
            continue;
        }
        crate::container::host_folder(
            cx,
            &format!("x-fcemu-layers.{arn}"),
            &path,
            dir,
            "seen at /opt by the function's containers",
        );
        out.insert(arn, path);
    }
    out
}
