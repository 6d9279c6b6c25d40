//! What stands in for the temporary credentials FC gives a function with a `role`: the keys of the s.yaml's
//! Serverless Devs `access` (in `~/.s/access.yaml`, as `s` keeps them), else those of the standard
//! `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN` environment. Only the key id's
//! last four characters are ever said.

use crate::output::{info, warning};
use fcemu_control::Credentials;
use fcemu_spec::Project;
use std::path::{Path, PathBuf};

/// Serverless Devs' name for the access a project names none of.
const DEFAULT_ACCESS: &str = "default";

/// The credentials for the functions with a role, said in one line; None with `--no-credentials` or when
/// there are none.
pub fn find(project: &Project, no_credentials: bool) -> Option<Credentials> {
    let with_role: Vec<&str> = project
        .functions
        .iter()
        .filter(|f| f.role.is_some())
        .map(|f| f.name.as_str())
        .collect();
    if no_credentials {
        info("credentials: none (--no-credentials): requests carry no x-fc-access-key-id");
        return None;
    }
    let access = project.access.as_deref().unwrap_or(DEFAULT_ACCESS);
    let file = access_file();
    let found = file
        .as_deref()
        .and_then(|f| from_access_file(f, access))
        .or_else(from_environment);
    match (&found, with_role.is_empty()) {
        (_, true) => {}
        (Some((c, whose)), false) => info(&format!(
            "credentials: {} get{} those of {whose} (key {}) as {} role's",
            with_role.join(", "),
            if with_role.len() == 1 { "s" } else { "" },
            c.key_hint(),
            if with_role.len() == 1 { "its" } else { "their" },
        )),
        (None, false) => warning(&format!(
            "{} {} a role, but no credentials stand in for it: neither access {access} in {} nor ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment. Set them (or `s config add`) to call cloud services with the context's credentials",
            with_role.join(", "),
            if with_role.len() == 1 { "has" } else { "have" },
            file.map_or("~/.s/access.yaml".into(), |f| f.display().to_string()),
        )),
    }
    found.map(|(c, _)| c)
}

fn access_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".s/access.yaml"))
}

/// The access `name` in Serverless Devs' access file, with whose it is.
fn from_access_file(file: &Path, name: &str) -> Option<(Credentials, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    let all: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    let access = all.get(name)?;
    let field = |key: &str| {
        access
            .get(key)
            .map(fcemu_spec::vars::scalar_text)
            .filter(|v| !v.is_empty())
    };
    let (id, secret) = (field("AccessKeyID")?, field("AccessKeySecret")?);
    // What `s` encrypted (CryptoJS's "Salted__" prefix, in base64) fcemu cannot read.
    if id.starts_with("U2FsdGVkX1") || secret.starts_with("U2FsdGVkX1") {
        warning(&format!(
            "access {name} in {} is encrypted by Serverless Devs, which fcemu cannot read: export ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET instead",
            file.display()
        ));
        return None;
    }
    let credentials = Credentials {
        access_key_id: id,
        access_key_secret: secret,
        security_token: field("SecurityToken"),
    };
    Some((credentials, format!("access {name} in {}", file.display())))
}

fn from_environment() -> Option<(Credentials, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = Credentials {
        access_key_id: var("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
        access_key_secret: var("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?,
        security_token: var("ALIBABA_CLOUD_SECURITY_TOKEN"),
    };
    Some((
        credentials,
        "the environment's ALIBABA_CLOUD_ACCESS_KEY_ID".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_is_read_by_its_name_and_an_encrypted_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("access.yaml");
        std::fs::write(
            &file,
            "default:\n  AccessKeyID: LTAIplain1234\n  AccessKeySecret: plain\nsealed:\n  AccessKeyID: U2FsdGVkX19abc\n  AccessKeySecret: U2FsdGVkX19def\nhalf:\n  AccessKeyID: LTAIonly\n",
        )
        .unwrap();
        let (c, whose) = from_access_file(&file, "default").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.access_key_secret.as_str()),
            ("LTAIplain1234", "plain")
        );
        assert_eq!(c.security_token, None);
        assert_eq!(whose, format!("access default in {}", file.display()));
        assert_eq!(
            format!("{c:?}"),
            "Credentials(key …1234)",
            "Debug shows no secret"
        );
        assert!(from_access_file(&file, "sealed").is_none());
        assert!(from_access_file(&file, "half").is_none());
        assert!(from_access_file(&file, "missing").is_none());
    }
}
