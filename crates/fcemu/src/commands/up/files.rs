//! What `up` keeps under the project's `.fcemu/`: the endpoint and token its client commands find, and the
//! history files that hold what left memory. Every write goes through `crate::state`, which refuses links.

use crate::failure::Failure;
use crate::output::warning;
use fcemu_control::ControlPlane;
use fcemu_gateway::Token;
use std::path::Path;

/// Keeps the token where fcemu's commands in this folder find it, readable by this user only.
pub fn record_token(file: &Path, token: &Token) -> Result<(), Failure> {
    crate::state::write(file, &format!("{}\n", token.as_str())).map_err(|e| {
        Failure::environment(format!(
            "cannot keep the access token in {}: {e}",
            file.display()
        ))
    })
}

pub fn record_endpoint(file: &Path, url: &str) {
    if let Some(parent) = file.parent() {
        // Keep the state folder out of the user's git without touching their .gitignore.
        crate::state::write_or_warn(&parent.join(".gitignore"), "*\n");
    }
    crate::state::write_or_warn(file, &format!("{url}\n"));
}

/// Memory keeps the newest entries; older ones go to `.fcemu/logs.jsonl` and `.fcemu/events.jsonl`, so
/// the whole run stays queryable while fcemu's footprint stays bounded.
pub fn keep_history(cp: &ControlPlane, dir: &Path, limit: u64) {
    let state = match crate::state::dir(dir) {
        Ok(state) => state,
        Err(e) => {
            warning(&format!("{e}; only the newest entries stay queryable"));
            return;
        }
    };
    // The two files share the limit: logs are nearly all of it.
    let events_limit = limit / 16;
    for result in [
        cp.logs().spill_to(
            &state.join("logs.jsonl"),
            limit - events_limit,
            fcemu_control::logs::gap_line,
        ),
        cp.events().spill_to(
            &state.join("events.jsonl"),
            events_limit,
            fcemu_control::events::gap_line,
        ),
    ] {
        if let Err(e) = result {
            warning(&format!(
                "cannot keep history in {}: {e}; only the newest entries stay queryable",
                state.display()
            ));
        }
    }
}
