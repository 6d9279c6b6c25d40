//! What several commands' arguments share: the output format, and the parsers clap runs on values that
//! need more than a type (each says what was wrong and what to give).

use crate::client::Endpoint;
use clap::ValueEnum;
use std::path::PathBuf;

/// What a client command that reads a running `up` is given: how to print, and which `up`.
#[derive(clap::Args)]
pub struct Reading {
    /// text: lines for people; json: one JSON object (per line, for streams) for programs
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// How a command prints: lines for people, or JSON for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `--container-host`: an IP address, or a name this machine resolves.
pub fn parse_container_host(s: &str) -> Result<std::net::IpAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = s.parse() {
        return Ok(ip);
    }
    (s, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("`{s}` is neither an IP address nor a name this machine resolves"))
}

pub fn parse_layer(s: &str) -> Result<(String, PathBuf), String> {
    // An ARN holds colons but no `=`.
    match s.split_once('=') {
        Some((arn, path)) if !arn.is_empty() && !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.exists() {
                Ok((arn.to_string(), path))
            } else {
                Err(format!(
                    "{} does not exist: give the folder (or .zip) with the layer's files",
                    path.display()
                ))
            }
        }
        _ => Err(format!("`{s}` is not ARN=DIR or ARN=ZIP")),
    }
}

/// `--mount /mnt/nas=./data`: the folder that stands in for what a function mounts at that mountDir.
pub fn parse_mount(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((dir, path)) if dir.starts_with('/') && !path.is_empty() => {
            let path = PathBuf::from(path);
            match path.is_dir() {
                true => Ok((format!("/{}", dir.trim_matches('/')), path)),
                false => Err(format!(
                    "{} is not a folder: give the folder on this machine the instances see at {dir}",
                    path.display()
                )),
            }
        }
        _ => Err(format!(
            "`{s}` is not MOUNTDIR=DIR, e.g. --mount /mnt/nas=./models (MOUNTDIR as nasConfig or ossMountConfig names it)"
        )),
    }
}

pub fn parse_runtime_image(s: &str) -> Result<(String, String), String> {
    let runtimes = || {
        [
            &fcemu_spec::CUSTOM_RUNTIMES[1..],
            &fcemu_spec::built_in_runtimes()[..],
        ]
        .concat()
    };
    match s.split_once('=') {
        Some((runtime, image)) if runtimes().contains(&runtime) && !image.is_empty() => {
            Ok((runtime.to_string(), image.to_string()))
        }
        _ => Err(format!(
            "`{s}` is not RUNTIME=IMAGE with RUNTIME one of {}",
            runtimes().join(", ")
        )),
    }
}

/// A size in bytes: a number with an optional unit (KB, MB, GB; KiB, MiB, GiB; powers of 1024 either way).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a size: give a number with a unit, e.g. 1GB or 500MB")
    })?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        other => return Err(format!("`{other}` is not a unit of size: use KB, MB or GB")),
    };
    number
        .checked_mul(1 << shift)
        .filter(|bytes| *bytes >= 64 * 1024)
        .ok_or_else(|| {
            format!("`{text}` is not a size fcemu can keep a history in: give at least 64KB")
        })
}
