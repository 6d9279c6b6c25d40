//! The table the benchmark prints: fcemu and its floor side by side, each with its target and verdict.

use serde_json::Value;

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

pub fn print_table(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    if r["short"] == true {
        println!(
            "\n--short: a few rounds each, to keep the benchmark working; the verdicts need the full run"
        );
    }
    println!(
        "\n{:<34} {:>12} {:>12} {:>12}  target",
        "", "fcemu", "floor", "difference"
    );
    let w = &r["warm"];
    if !w.is_null() {
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +0.1 ms  {}",
            "warm p50 (1 connection)",
            f(&w["fcemu_p50_ms"]),
            f(&w["direct_p50_ms"]),
            f(&w["p50_overhead_ms"]),
            verdict(f(&w["p50_overhead_ms"]) <= 0.1)
        );
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms",
            "warm p99 (1 connection)",
            f(&w["fcemu_p99_ms"]),
            f(&w["direct_p99_ms"])
        );
        println!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>11.2}x  >= 0.70x    {}",
            "warm throughput (32 connections)",
            f(&w["fcemu_rps"]),
            f(&w["direct_rps"]),
            f(&w["rps_ratio"]),
            verdict(f(&w["rps_ratio"]) >= 0.70)
        );
        let bare = &w["bare_proxy"];
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  (any proxy hop; {:.0}/s at 32 connections)",
            "  a bare hyper proxy, p50",
            f(&bare["p50_ms"]),
            f(&w["direct_p50_ms"]),
            f(&bare["p50_overhead_ms"]),
            f(&bare["rps"])
        );
    }
    let t = &r["thaw"];
    if !t.is_null() {
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +2 ms    {}",
            "thaw p50",
            f(&t["fcemu_p50_ms"]),
            f(&t["floor_p50_ms"]),
            f(&t["overhead_ms"]),
            verdict(f(&t["overhead_ms"]) <= 2.0)
        );
        if t["method"] == "cgroup" {
            println!(
                "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +1 ms    {}",
                "  vs the cgroup write, p50",
                f(&t["fcemu_p50_ms"]),
                f(&t["cgroup_floor_p50_ms"]),
                f(&t["cgroup_overhead_ms"]),
                verdict(f(&t["cgroup_overhead_ms"]) <= 1.0)
            );
        }
    }
    let c = &r["cold"];
    if !c.is_null() {
        println!(
            "{:<34} {:>9.2} ms {:>9.2} ms {:>+9.2} ms  <= +10 ms   {}",
            "cold start p50",
            f(&c["fcemu_p50_ms"]),
            f(&c["floor_p50_ms"]),
            f(&c["overhead_ms"]),
            verdict(f(&c["overhead_ms"]) <= 10.0)
        );
        for phase in ["instance_create_ms", "runtime_init_ms", "init_hook_ms"] {
            println!(
                "{:<34} {:>9.2} ms {:>9.2} ms {:>+9.2} ms",
                format!(
                    "  {} (p50)",
                    phase.trim_end_matches("_ms").replace('_', " ")
                ),
                f(&c["phases"][phase]),
                f(&c["floor_phases"][phase]),
                f(&c["phases"][phase]) - f(&c["floor_phases"][phase]),
            );
            if phase == "runtime_init_ms" && !c["phases"]["engine_start_ms"].is_null() {
                println!(
                    "{:<34} {:>9.2} ms",
                    "    engine start (p50)",
                    f(&c["phases"]["engine_start_ms"])
                );
                println!(
                    "{:<34} {:>9.2} ms {:>9.2} ms {:>+9.2} ms  within 5 ms  {}",
                    "    function start-up vs its own",
                    f(&c["phases"]["function_start_ms"]),
                    f(&c["fixture_function_start_ms"]),
                    f(&c["function_start_vs_fixture_ms"]),
                    verdict(f(&c["function_start_vs_fixture_ms"]).abs() <= 5.0)
                );
            }
        }
    }
    let p = &r["published"];
    if !p.is_null() {
        // Beside the bridge path of the same run: what reaching instances through the engine's published
        // ports (Docker Desktop, rootless and remote engines) costs.
        println!(
            "{:<34} {:>12} {:>12} {:>12}",
            "published ports (vs the bridge)", "published", "bridge", ""
        );
        for (name, published, bridge) in [
            (
                "  warm p50 (1 connection)",
                &p["warm"]["fcemu_p50_ms"],
                &w["fcemu_p50_ms"],
            ),
            (
                "  cold start p50",
                &p["cold"]["fcemu_p50_ms"],
                &r["cold"]["fcemu_p50_ms"],
            ),
        ] {
            println!(
                "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms",
                name,
                f(published),
                f(bridge),
                f(published) - f(bridge)
            );
        }
    }
    let b = &r["burst"];
    if !b.is_null() {
        println!(
            "{:<34} {:>9.0} ms {:>9.0} ms {:>+8.1} %   <= +5 %, all answered  {}",
            format!("burst: {} at once, p50 of {}", b["requests"], b["rounds"]),
            f(&b["total_ms"]),
            f(&b["floor_total_ms"]),
            f(&b["over_floor"]) * 100.0,
            verdict(b["lost"] == 0 && f(&b["over_floor"]) <= 0.05)
        );
        println!(
            "{:<34} {} answered, {} lost, {} instances a round; one after another ~{:.0} ms ({:.1}x)",
            "",
            b["answered"],
            b["lost"],
            b["instances"],
            f(&b["sequential_estimate_ms"]),
            f(&b["speedup"])
        );
    }
    let s = &r["scale"];
    if !s.is_null() {
        let p = &s["placement"];
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +0.05 ms {}",
            format!("warm p50 among {} instances vs 1", s["instances"]),
            f(&p["p50_ms_all_instances"]),
            f(&p["p50_ms_1_instance"]),
            f(&p["difference_ms"]),
            verdict(f(&p["difference_ms"]) <= 0.05)
        );
        let rss = f(&s["rss_mb"]);
        println!(
            "{:<34} {rss:>9.1} MB  ({} instances of {} functions)  < 60 MB  {}",
            "fcemu resident memory",
            s["instances"],
            s["functions"],
            verdict(rss < 60.0)
        );
    }
}
