//! One file (or folder) per command, each with the arguments it owns (`Args`) and its `run`.

pub mod args;
pub mod build;
pub mod debug_config;
pub mod destinations;
pub mod doctor;
pub mod down;
pub mod events;
pub mod gpus;
pub mod invoke;
pub mod logs;
pub mod provision;
pub mod ps;
pub mod reclaim;
pub mod sessions;
pub mod tasks;
pub mod trigger;
pub mod up;
pub mod validate;
pub mod wait;

use crate::failure::Failure;
use clap::Subcommand;

/// What `fcemu` is asked to do. Each variant's help is its `Args`' doc comment.
#[derive(Subcommand)]
pub enum Command {
    Up(up::Args),
    Build(build::Args),
    Invoke(invoke::Args),
    Trigger(trigger::Args),
    Ps(ps::Args),
    Logs(logs::Args),
    Events(events::Args),
    Tasks(tasks::Args),
    Sessions(sessions::Args),
    Destinations(destinations::Args),
    Wait(wait::Args),
    Reclaim(reclaim::Args),
    Provision(provision::Args),
    Validate(validate::Args),
    Down(down::Args),
    Gpus(gpus::Args),
    Doctor(doctor::Args),
    DebugConfig(debug_config::Args),
}

impl Command {
    /// `up` serves; every other command is a client (of a running `up`, or of the engine).
    pub fn serves(&self) -> bool {
        matches!(self, Command::Up(_))
    }

    pub async fn run(self) -> Result<(), Failure> {
        match self {
            Command::Up(args) => up::run(args).await,
            Command::Build(args) => build::run(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Trigger(args) => trigger::run(args).await,
            Command::Ps(args) => ps::run(args).await,
            Command::Logs(args) => logs::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Tasks(args) => tasks::run(args).await,
            Command::Sessions(args) => sessions::run(args).await,
            Command::Destinations(args) => destinations::run(args).await,
            Command::Wait(args) => wait::run(args).await,
            Command::Reclaim(args) => reclaim::run(args).await,
            Command::Provision(args) => provision::run(args).await,
            Command::Validate(args) => validate::run(args),
            Command::Down(args) => down::run(args).await,
            Command::Gpus(args) => gpus::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::DebugConfig(args) => debug_config::run(args),
        }
    }
}
