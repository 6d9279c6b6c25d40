//! The cold start's truthful breakdown: Creating's three timed parts (Instance Create, Runtime Init with
//! its engine start and function start-up, the Init Hook), as FC's report line, the `Server-Timing`
//! header, `fcemu invoke --cold` and `instance.ready`'s fields say them.

use crate::events::Event;
use serde::Serialize;
use std::time::Duration;

/// The three timed parts of Creating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitDuration {
    pub instance_create: Duration,
    pub runtime_init: Duration,
    /// Runtime Init's first part: the local engine starting the container's process (sandbox set-up that
    /// FC's own does not cost the same). The rest is the function's own start-up, until its port accepts.
    /// None where the engine's clock cannot be trusted: Runtime Init is then shown whole.
    pub engine_start: Option<Duration>,
    pub init_hook: Duration,
}

impl InitDuration {
    pub fn total(&self) -> Duration {
        self.instance_create + self.runtime_init + self.init_hook
    }

    /// Runtime Init as (engine start, function start-up), where the engine's share is known: the function's
    /// start-up runs from the process's start until its port accepted connections.
    pub fn split(&self) -> Option<(Duration, Duration)> {
        self.engine_start
            .map(|engine| (engine, self.runtime_init.saturating_sub(engine)))
    }

    /// `Init Duration: 812.4 ms (Instance Create 95.1 ms, Runtime Init 310.2 ms (engine start 199.8 ms,
    /// function start-up 110.4 ms), Init Hook 407.1 ms)`
    pub fn describe(&self) -> String {
        let split = self
            .split()
            .map(|(engine, function)| {
                format!(
                    " (engine start {:.2} ms, function start-up {:.2} ms)",
                    ms(engine),
                    ms(function)
                )
            })
            .unwrap_or_default();
        format!(
            "Init Duration: {:.2} ms (Instance Create {:.2} ms, Runtime Init {:.2} ms{split}, Init Hook {:.2} ms)",
            ms(self.total()),
            ms(self.instance_create),
            ms(self.runtime_init),
            ms(self.init_hook)
        )
    }

    /// A `Server-Timing` header value, which browsers' developer tools draw as a timeline. Runtime Init's two
    /// parts follow the three phases, each with a description of whose time it is.
    pub fn server_timing(&self) -> String {
        // Rounded as the events round (half away from zero), then written: `{:.3}` alone rounds the binary
        // value half to even, and the header and `instance.ready` would differ in the last digit.
        let dur = |d| crate::events::round_ms(ms(d));
        let mut value = format!(
            "instance-create;dur={:.3}, runtime-init;dur={:.3}, init-hook;dur={:.3}",
            dur(self.instance_create),
            dur(self.runtime_init),
            dur(self.init_hook)
        );
        if let Some((engine, function)) = self.split() {
            value.push_str(&format!(
                ", engine-start;dur={:.3};desc=\"{ENGINE_START_WHOSE}\", function-start;dur={:.3};desc=\"{FUNCTION_START_WHOSE}\"",
                dur(engine),
                dur(function)
            ));
        }
        value
    }
}

/// One metric of a `Server-Timing` header: its name, its duration in milliseconds, and its description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimingMetric<'a> {
    pub name: &'a str,
    pub dur: f64,
    pub desc: Option<&'a str>,
}

/// The metrics of a `Server-Timing` header as [`InitDuration::server_timing`] writes it (those without a
/// duration left out), for whoever reads one back.
pub fn parse_server_timing(header: &str) -> Vec<TimingMetric<'_>> {
    header
        .split(',')
        .filter_map(|metric| {
            let mut params = metric.trim().split(';');
            let name = params.next()?;
            let (mut dur, mut desc) = (None, None);
            for param in params {
                match param.trim().split_once('=') {
                    Some(("dur", v)) => dur = v.parse().ok(),
                    Some(("desc", v)) => desc = Some(v.trim_matches('"')),
                    _ => {}
                }
            }
            Some(TimingMetric {
                name,
                dur: dur?,
                desc,
            })
        })
        .collect()
}

/// Whose time Runtime Init's two parts are, as the header and `fcemu invoke --cold` say it (no commas: they
/// separate the header's metrics).
const ENGINE_START_WHOSE: &str = "local-only engine overhead";
const FUNCTION_START_WHOSE: &str = "your server";

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `instance.ready`'s fields: the cold start and its three parts.
pub(crate) fn ready_fields(e: Event, init: &InitDuration) -> Event {
    let round = |d: Duration| crate::events::round_ms(ms(d));
    let e = e
        .with("initDurationMs", round(init.total()))
        .with("instanceCreateMs", round(init.instance_create))
        .with("runtimeInitMs", round(init.runtime_init))
        .with("initHookMs", round(init.init_hook));
    runtime_init_split(e, init)
}

/// Runtime Init's two parts, where they are known: `engineStartMs` and `functionStartMs`.
pub(crate) fn runtime_init_split(e: Event, init: &InitDuration) -> Event {
    let round = |d: Duration| crate::events::round_ms(ms(d));
    match init.split() {
        Some((engine, function)) => e
            .with("engineStartMs", round(engine))
            .with("functionStartMs", round(function)),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_duration_reads_like_fc() {
        let d = InitDuration {
            instance_create: Duration::from_micros(95_100),
            runtime_init: Duration::from_micros(310_200),
            engine_start: None,
            init_hook: Duration::from_micros(407_100),
        };
        assert_eq!(
            d.describe(),
            "Init Duration: 812.40 ms (Instance Create 95.10 ms, Runtime Init 310.20 ms, Init Hook 407.10 ms)"
        );
        assert_eq!(
            d.server_timing(),
            "instance-create;dur=95.100, runtime-init;dur=310.200, init-hook;dur=407.100"
        );
    }

    #[test]
    fn the_server_timing_header_reads_back() {
        let d = InitDuration {
            instance_create: Duration::from_micros(12_500),
            runtime_init: Duration::from_micros(538_260),
            engine_start: Some(Duration::from_micros(199_800)),
            init_hook: Duration::from_micros(200_000),
        };
        let header = d.server_timing();
        let metrics = parse_server_timing(&header);
        let names: Vec<&str> = metrics.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "instance-create",
                "runtime-init",
                "init-hook",
                "engine-start",
                "function-start"
            ]
        );
        assert_eq!(metrics[1].dur, 538.26);
        assert_eq!(metrics[1].desc, None);
        assert_eq!(metrics[3].desc, Some(ENGINE_START_WHOSE));
        assert_eq!(metrics[4].dur, 338.46);
        assert_eq!(
            parse_server_timing("a;desc=x, b;dur=oops, c;dur=1.5").len(),
            1
        );
    }

    #[test]
    fn runtime_init_is_split_into_the_engine_start_and_the_function_start_up() {
        let d = InitDuration {
            instance_create: Duration::from_micros(12_500),
            runtime_init: Duration::from_micros(538_260),
            engine_start: Some(Duration::from_micros(199_800)),
            init_hook: Duration::from_micros(200_000),
        };
        assert_eq!(
            d.split(),
            Some((
                Duration::from_micros(199_800),
                Duration::from_micros(338_460)
            ))
        );
        assert_eq!(
            d.describe(),
            "Init Duration: 750.76 ms (Instance Create 12.50 ms, Runtime Init 538.26 ms (engine start 199.80 ms, function start-up 338.46 ms), Init Hook 200.00 ms)"
        );
        assert_eq!(
            d.server_timing(),
            "instance-create;dur=12.500, runtime-init;dur=538.260, init-hook;dur=200.000, \
             engine-start;dur=199.800;desc=\"local-only engine overhead\", function-start;dur=338.460;desc=\"your server\""
        );
    }
}
