//! Ids in FC's shapes: request ids `1-<8 hex: unix seconds>-<8 hex>-<12 hex>`, instance ids `c-...` alike.

use std::time::{SystemTime, UNIX_EPOCH};

/// Every request gets one, so it is written digit by digit rather than through `format!`, which costs
/// several times as much.
fn id_with_prefix(prefix: char) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut id = String::with_capacity(2 + 8 + 1 + 8 + 1 + 12);
    id.push(prefix);
    for (value, digits) in [
        (secs & 0xffff_ffff, 8),
        (u64::from(fastrand::u32(..)), 8),
        (fastrand::u64(..), 12),
    ] {
        id.push('-');
        push_hex(&mut id, value, digits);
    }
    id
}

/// The lowest `digits` hex digits of `value`, zero-padded.
fn push_hex(out: &mut String, value: u64, digits: u32) {
    for shift in (0..digits).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        out.push(char::from_digit(nibble as u32, 16).expect("a nibble is a hex digit"));
    }
}

/// Shared: a request's id goes into its events and log lines.
pub fn request_id() -> std::sync::Arc<str> {
    id_with_prefix('1').into()
}

/// Whether `id` has the shape of the ids `request_id` makes (`1-6b11a831-b03655e3-71c8764a35a1`): letters,
/// digits and dashes only, so it can name a file.
pub fn is_request_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub fn instance_id() -> String {
    id_with_prefix('c')
}

/// A session id as FC makes one for header and cookie affinity: 32 hex digits.
pub fn session_id() -> String {
    let mut id = String::with_capacity(32);
    push_hex(&mut id, fastrand::u64(..), 16);
    push_hex(&mut id, fastrand::u64(..), 16);
    id
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

    #[test]
    fn hex_parts_are_zero_padded_and_cut_to_width() {
        let mut s = String::new();
        push_hex(&mut s, 0xab, 8);
        assert_eq!(s, "000000ab");
        s.clear();
        push_hex(&mut s, 0x1234_5678_9abc_def0, 12);
        assert_eq!(s, "56789abcdef0");
    }
}
