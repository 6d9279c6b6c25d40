//! A timer trigger's `cronExpression`, as FC reads it: `@every 5m` (Go's duration form: `1h30m`, `1.5h`,
//! `90s`), or six fields `second minute hour day-of-month month day-of-week` in UTC, optionally led by
//! `CRON_TZ=Area/City` for another zone. Day-of-week counts from 0 = Sunday to 6 = Saturday, or names it
//! (`MON-FRI`). The fields are read by the `cron` crate, a well-kept parser with seconds and Quartz's
//! syntax; only its day numbering (1 = Sunday) differs, so FC's numbers are written as names before it
//! reads them.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// When a timer fires.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `@every D`: every D from the moment the timer started.
    Every(Duration),
    /// A cron expression, read in this zone (UTC unless `CRON_TZ` says otherwise).
    Cron {
        fields: Box<cron::Schedule>,
        zone: Tz,
    },
}

/// The shortest `@every` fcemu runs (FC asks for at least a minute; a local test wants seconds).
const SHORTEST_EVERY: Duration = Duration::from_secs(1);

impl FromStr for Schedule {
    type Err = String;

    fn from_str(expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        if let Some(every) = expression.strip_prefix("@every") {
            let every = go_duration(every.trim())
                .ok_or_else(|| format!("`{expression}` has no duration after @every: write it as Go does, e.g. @every 5m, @every 1h30m"))?;
            if every < SHORTEST_EVERY {
                return Err(format!(
                    "`{expression}` is shorter than a second, allowed: @every 1s or longer"
                ));
            }
            return Ok(Schedule::Every(every));
        }
        let (zone, fields) = match expression.strip_prefix("CRON_TZ=") {
            Some(rest) => {
                let (zone, fields) = rest.split_once(' ').unwrap_or((rest, ""));
                let zone = Tz::from_str(zone).map_err(|_| {
                    format!("`CRON_TZ={zone}` is not a time zone, allowed: an IANA name such as Asia/Shanghai")
                })?;
                (zone, fields.trim())
            }
            None => (Tz::UTC, expression),
        };
        let parts: Vec<&str> = fields.split_whitespace().collect();
        if parts.len() != 6 {
            return Err(format!(
                "`{expression}` has {} fields, allowed: six (second minute hour day-of-month month day-of-week, in UTC), or @every 5m",
                parts.len()
            ));
        }
        let mut quartz = parts[..5].join(" ");
        quartz.push(' ');
        quartz.push_str(&day_names(parts[5]));
        let parsed = cron::Schedule::from_str(&quartz).map_err(|e| {
            // The crate's message draws a caret under the expression; its last line says why.
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            format!("`{expression}` is not a cron expression FC reads: {why}")
        })?;
        Ok(Schedule::Cron {
            fields: Box::new(parsed),
            zone,
        })
    }
}

impl Schedule {
    /// The first fire time after `after`; for `@every`, counted in steps from `started`.
    pub fn next_after(&self, started: SystemTime, after: SystemTime) -> Option<SystemTime> {
        match self {
            Schedule::Every(every) => {
                let since = after.duration_since(started).unwrap_or_default();
                let steps = since.as_nanos() / every.as_nanos() + 1;
                let step = u64::try_from(every.as_nanos() * steps).ok()?;
                Some(started + Duration::from_nanos(step))
            }
            Schedule::Cron { fields, zone } => {
                let after: DateTime<Utc> = after.into();
                let after = zone.from_utc_datetime(&after.naive_utc());
                let next = fields.after(&after).next()?;
                Some(SystemTime::from(next.with_timezone(&Utc)))
            }
        }
    }
}

/// FC's day-of-week field with its numbers (0 or 7 Sunday, 1 Monday .. 6 Saturday) written as names.
fn day_names(field: &str) -> String {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::new();
    let mut number = String::new();
    // A number after `/` is a step, not a day.
    let mut after_slash = false;
    let flush = |number: &mut String, out: &mut String, after_slash: bool| {
        if number.is_empty() {
            return;
        }
        match number.parse::<usize>().ok().filter(|n| *n < 8) {
            Some(n) if !after_slash => out.push_str(NAMES[n]),
            _ => out.push_str(number),
        }
        number.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        flush(&mut number, &mut out, after_slash);
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut number, &mut out, after_slash);
    out
}

/// Go's `time.ParseDuration` form: one or more decimal numbers, each with a unit (ns, us, µs, ms, s, m, h).
fn go_duration(s: &str) -> Option<Duration> {
    const UNITS: [(&str, f64); 7] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let mut rest = s;
    let mut seconds = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // The longest unit that matches: `ms` before `m`.
        let (unit, scale) = UNITS
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())?;
        seconds += value * scale;
        rest = &rest[unit.len()..];
    }
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::from(DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    fn next_times(expression: &str, from: &str, n: usize) -> Vec<String> {
        let schedule: Schedule = expression.parse().unwrap();
        let start = at(from);
        let mut t = start;
        (0..n)
            .map(|_| {
                t = schedule.next_after(start, t).unwrap();
                DateTime::<Utc>::from(t).to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn a_cron_expression_fires_in_utc_at_its_fields() {
        assert_eq!(
            next_times("0 0 4 * * *", "2026-12-06T05:00:00Z", 2),
            ["2026-12-07T04:00:00+00:00", "2026-12-08T04:00:00+00:00"]
        );
        assert_eq!(
            next_times("0 */15 * * * *", "2026-12-06T05:07:00Z", 3),
            [
                "2026-12-06T05:15:00+00:00",
                "2026-12-06T05:30:00+00:00",
                "2026-12-06T05:45:00+00:00"
            ]
        );
    }

    #[test]
    fn day_of_week_counts_from_sunday_as_zero_and_takes_names() {
        // 2026-12-06 is a Sunday.
        assert_eq!(
            next_times("0 0 9 ? * 1-5", "2026-12-06T00:00:00Z", 2),
            ["2026-12-07T09:00:00+00:00", "2026-12-08T09:00:00+00:00"]
        );
        assert_eq!(
            next_times("0 0 9 ? * 0", "2026-12-06T10:00:00Z", 1),
            ["2026-12-13T09:00:00+00:00"]
        );
        assert_eq!(
            next_times("0 0 9 ? * SAT", "2026-12-06T10:00:00Z", 1),
            ["2026-12-12T09:00:00+00:00"]
        );
        assert_eq!(day_names("*/2"), "*/2");
        assert_eq!(day_names("1,3-5"), "MON,WED-FRI");
    }

    #[test]
    fn cron_tz_reads_the_fields_in_that_zone() {
        // 04:00 in Shanghai (UTC+8) is 20:00 UTC the day before.
        assert_eq!(
            next_times(
                "CRON_TZ=Asia/Shanghai 0 0 4 1 * *",
                "2026-12-06T00:00:00Z",
                1
            ),
            ["2026-12-31T20:00:00+00:00"]
        );
    }

    #[test]
    fn every_counts_steps_from_the_start() {
        assert_eq!(
            next_times("@every 1h30m", "2026-12-06T00:00:00Z", 2),
            ["2026-12-06T01:30:00+00:00", "2026-12-06T03:00:00+00:00"]
        );
        assert_eq!(go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("5 m"), None);
    }

    #[test]
    fn a_bad_expression_says_what_is_allowed() {
        let err = "0 0 4 * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("has 5 fields"), "{err}");
        let err = "0 0 25 * * *".parse::<Schedule>().unwrap_err();
        assert!(err.contains("not a cron expression"), "{err}");
        let err = "@every".parse::<Schedule>().unwrap_err();
        assert!(err.contains("no duration"), "{err}");
        let err = "@every 10ms".parse::<Schedule>().unwrap_err();
        assert!(err.contains("shorter than a second"), "{err}");
        let err = "CRON_TZ=Mars/Olympus 0 0 4 * * *"
            .parse::<Schedule>()
            .unwrap_err();
        assert!(err.contains("not a time zone"), "{err}");
    }
}
