//! Ids in FC's shapes: request ids `1-<8 hex: unix seconds>-<8 hex>-<12 hex>`, instance ids `c-...` alike.

use std::time::{SystemTime, UNIX_EPOCH};

fn id_with_prefix(prefix: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{prefix}-{:08x}-{:08x}-{:012x}",
        secs as u32,
        fastrand::u32(..),
        fastrand::u64(..) & 0xffff_ffff_ffff
    )
}

pub fn request_id() -> String {
    id_with_prefix("1")
}

pub fn instance_id() -> String {
    id_with_prefix("c")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_ok(id: &str, prefix: &str) -> bool {
        let parts: Vec<&str> = id.split('-').collect();
        parts.len() == 4
            && parts[0] == prefix
            && [8, 8, 12]
                .iter()
                .zip(&parts[1..])
                .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
    }

    #[test]
    fn ids_have_fc_shapes_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert!(shape_ok(&a, "1"), "{a}");
        assert!(shape_ok(&instance_id(), "c"));
        assert_ne!(a, b);
        let secs = u32::from_str_radix(&a[2..10], 16).unwrap() as u64;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now - secs < 5, "the second part is the unix time");
    }
}
