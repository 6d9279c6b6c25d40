use super::*;

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

#[test]
fn the_engine_start_is_the_time_from_the_call_until_the_process_began() {
    let asked = at("2026-11-23T06:00:00.100000000Z");
    let took = Duration::from_millis(205);
    assert_eq!(
        engine_start(asked, "2026-11-23T06:00:00.299800500Z", took),
        Some(Duration::from_nanos(199_800_500))
    );
    // Before the call, or after it returned: the engine's clock is not ours.
    assert_eq!(engine_start(asked, "2026-11-23T06:00:00.0Z", took), None);
    assert_eq!(engine_start(asked, "2026-11-23T06:00:01Z", took), None);
    // A container that never started, or a time that cannot be read.
    assert_eq!(engine_start(asked, "0001-01-01T00:00:00Z", took), None);
    assert_eq!(engine_start(asked, "yesterday", took), None);
}
