//! The markdown report of a `hub-load` invocation: the machine, the
//! ceiling comparison, each scenario's figures per operation, its events,
//! its money audit and its plots.

use std::fmt::Write as _;

use crate::scenario::{BenchResult, ScenarioResult};
use crate::stats::Summary;

/// The machine the figures come from, from `/proc`.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} CPUs ({model}), {mem_gib:.1} GiB RAM, Linux")
}

fn errors(s: &Summary) -> String {
    if s.errors.is_empty() {
        return "none".into();
    }
    s.errors
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ops_table(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "| op | calls | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---|---:|---:|---:|---:|---:|"
    );
    for (op, o) in &s.ops {
        let errs = if o.errors.is_empty() {
            "-".to_owned()
        } else {
            o.errors
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {op} | {} | {} | {errs} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            o.calls,
            o.ok,
            o.latency.p50_ms,
            o.latency.p90_ms,
            o.latency.p99_ms,
            o.latency.p999_ms,
            o.latency.max_ms
        );
    }
}

/// The whole report.
pub fn markdown(
    command: &str,
    bench: Option<&BenchResult>,
    scenarios: &[ScenarioResult],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Hub load test report\n");
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Command: `{command}`");
    let _ = writeln!(
        out,
        "- Release build; SQLite journal in WAL mode with `synchronous=FULL`; hub, sandboxes, bare server and generator are separate processes sharing the same CPUs over loopback.\n"
    );
    if let Some(b) = bench {
        let _ = writeln!(
            out,
            "## Ceiling: the hub against a bare tonic server\n\nClosed loop, {} connections x {} streams, {:.0} s per run after a 3 s warm-up. The bare server answers the same contract with a same-size reply and does nothing else; the hub runs with two `echo` providers (no network), so it pays only for its own work: API-key auth, rate limits, breaker, idempotency and two durable journal commits per money call.\n",
            b.connections, b.streams, b.seconds
        );
        let _ = writeln!(
            out,
            "| server | mix | ok calls/s | vs bare | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | server RSS |\n|---|---|---:|---:|---:|---:|---:|---:|---|---:|"
        );
        for m in [&b.bare, &b.hub_echo, &b.hub_echo_mix] {
            let l = &m.summary.latency;
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2}x | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                m.name,
                m.mix,
                m.summary.ok_per_s,
                m.summary.ok_per_s / b.bare.summary.ok_per_s.max(1e-9),
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.p999_ms,
                errors(&m.summary),
                m.server_rss_kib
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "-".into())
            );
        }
        let _ = writeln!(
            out,
            "\nHub (echo, debits) / bare: **{:.2}x** (target: at least 0.50x).\n\nMoney audit of the echo runs: {}\n",
            b.ratio, b.audit
        );
    }
    if !scenarios.is_empty() {
        let _ = writeln!(
            out,
            "## Scenarios through the sandbox providers\n\nOpen loop (latency counted from each call's intended start), 8 connections, the standard mix (debit 40, credit 20, rollback 10, balance 15, get 15), spread over three sandbox provider processes (json-hmac, json-rsa, form-md5) and 8 partners. Each scenario ends with the money audit: unanswered calls made again with the same key, PENDING ones waited for, then the generator's book against the journal (exactly one transaction per accepted money call, same state) and the journal against every sandbox ledger.\n"
        );
        let _ = writeln!(
            out,
            "| scenario | offered rate | ok calls/s | p50 ms | p99 ms | p99.9 ms | errors | hub RSS max | audit |\n|---|---:|---:|---:|---:|---:|---|---:|---|"
        );
        for s in scenarios {
            let l = &s.summary.latency;
            let rss = s.hub_rss_kib.iter().map(|(_, k)| *k).max();
            let _ = writeln!(
                out,
                "| {} | {:.0}/s | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} ({} accepted) |",
                s.name,
                s.rate,
                s.summary.ok_per_s,
                l.p50_ms,
                l.p99_ms,
                l.p999_ms,
                errors(&s.summary),
                rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "-".into()),
                if s.audit.is_clean() {
                    "clean"
                } else {
                    "FAILED"
                },
                s.audit.accepted
            );
        }
        for s in scenarios {
            let _ = writeln!(out, "\n### {}\n", s.name);
            ops_table(&mut out, &s.summary);
            if !s.events.is_empty() {
                let _ = writeln!(out);
                for e in &s.events {
                    let _ = writeln!(out, "- t = {:.1} s: {}", e.t_s, e.what);
                }
            }
            let _ = writeln!(
                out,
                "\nReconcile: {:?}. Dropped arrivals: {}.\n\n{}",
                s.reconciled, s.dropped, s.audit
            );
            if s.name != "steady" {
                let _ = writeln!(out, "\n![{0}]({0}.png)", s.name);
            }
        }
    }
    out
}
