//! `/_fcemu/ui`: the live lifecycle timeline page. The page and its scripts are built into the binary (no
//! network, no build step): `ui/index.html`, `ui/model.js` (events into lanes, tested with `node --test`),
//! `ui/panels.js` (the tables beside the timeline) and `ui/app.js` (drawing, interaction and the live feed).

use fcemu_control::{Body, full_body};
use http::{Response, header};

const INDEX: &str = include_str!("ui/index.html");
const MODEL: &str = include_str!("ui/model.js");
const PANELS: &str = include_str!("ui/panels.js");
const APP: &str = include_str!("ui/app.js");

/// The page or one of its scripts and its content type, for the path under `/_fcemu/`.
fn file(rest: &str) -> Option<(&'static str, &'static str)> {
    Some(match rest.trim_end_matches('/') {
        "ui" | "ui/index.html" => (INDEX, "text/html; charset=utf-8"),
        "ui/model.js" => (MODEL, "text/javascript; charset=utf-8"),
        "ui/panels.js" => (PANELS, "text/javascript; charset=utf-8"),
        "ui/app.js" => (APP, "text/javascript; charset=utf-8"),
        _ => return None,
    })
}

/// Whether the path under `/_fcemu/` is the page or one of its scripts (they hold no data).
pub fn is_asset(rest: &str) -> bool {
    file(rest).is_some()
}

/// The page or one of its scripts, for the path under `/_fcemu/` (None for any other path).
pub fn asset(rest: &str) -> Option<Response<Body>> {
    let (body, content_type) = file(rest)?;
    Some(
        Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            // The page is served by the running binary, which a new build replaces.
            .header(header::CACHE_CONTROL, "no-cache")
            .body(full_body(body))
            .expect("a valid response"),
    )
}
