//! One file per command.

pub mod build;
pub mod detach;
pub mod down;
pub mod events;
pub mod gpus;
pub mod invoke;
pub mod logs;
pub mod provision;
pub mod ps;
pub mod reclaim;
pub mod up;
pub mod validate;
pub mod wait;
pub mod watch;
