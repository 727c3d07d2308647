//! The markdown report of a `hub-load` invocation: the machine, the
//! ceiling comparison, each scenario's figures per operation, its events,
//! its money audit and its plots.

use std::fmt::Write as _;

use crate::scenario::{BenchResult, ScenarioResult};
use crate::stats::Summary;
use crate::targets::{BigJournalResult, OverheadResult, SoakResult};

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

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn latency_row(out: &mut String, name: &str, s: &Summary, extra: &str) {
    let l = &s.latency;
    let _ = writeln!(
        out,
        "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |{extra}",
        s.calls,
        s.ok_per_s,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        errors(s)
    );
}

/// The section of `hub-load overhead`.
pub fn overhead(command: &str, r: &OverheadResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Full path through a sandbox against the sandbox called directly\n\n`{command}` ({})\n\nOpen loop at {:.0} calls/s, debits only, {:.0} s measured after {:.0} s of warm-up, one json-hmac sandbox process. **direct**: the generator calls the json-hmac adapter crate in-process (the adapter the hub uses: same signing, same pooled HTTP client, same provider-side ids), no hub. **hub**: the same generator calls the hub over gRPC (8 HTTP/2 connections), which routes to that adapter and sandbox: auth, limits, breaker, idempotency, two durable journal commits, the adapter call. Latency counts from each call's intended start.\n",
        machine(),
        r.rate,
        r.seconds,
        r.warmup
    );
    let _ = writeln!(
        out,
        "| path | calls | ok calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    latency_row(&mut out, "direct", &r.direct.summary, "");
    latency_row(&mut out, "hub", &r.hub.summary, "");
    let a = &r.added;
    let _ = writeln!(
        out,
        "| **hub - direct** | | | {:+.2} | {:+.2} | **{:+.2}** | {:+.2} | | |\n\nTarget: p99 at most 1 ms above direct: **{}** ({:+.2} ms). Dropped arrivals: direct {}, hub {}.\n\nDirect calls against the sandbox ledger: {} checked, {} discrepancies. Money audit of the hub's calls (reconcile: {:?}): {}\n",
        a.p50_ms,
        a.p90_ms,
        a.p99_ms,
        a.p999_ms,
        if a.p99_ms <= 1.0 { "met" } else { "missed" },
        a.p99_ms,
        r.direct.dropped,
        r.hub.dropped,
        r.direct_checked,
        r.direct_discrepancies.len(),
        r.reconciled,
        r.audit
    );
    for d in &r.direct_discrepancies {
        let _ = writeln!(out, "- {d}");
    }
    out
}

/// The section of `hub-load soak`.
pub fn soak(command: &str, r: &SoakResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Resident memory over {} calls\n\n`{command}` ({})\n\nThe hub with two `echo` providers, open loop at {:.0} calls/s offered (16 HTTP/2 connections), mix {}, until {} calls; the hub's VmRSS read from /proc every second. Warm-up: the first {} calls. Growth: least-squares slope of RSS against calls completed, over the samples after warm-up.\n",
        r.calls,
        machine(),
        r.rate,
        r.mix,
        r.calls,
        r.warmup_calls
    );
    let _ = writeln!(
        out,
        "| offered | completed/s | kept up | dropped | p50 ms | p99 ms | RSS after warm-up | RSS at the end | RSS max | growth per million calls |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n| {:.0}/s | {:.0} | {:.2} | {} | {:.2} | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.3} MiB |\n",
        r.rate,
        r.summary.calls as f64 / r.summary.elapsed_s.max(1e-9),
        r.kept_up,
        r.dropped,
        r.summary.latency.p50_ms,
        r.summary.latency.p99_ms,
        r.rss_after_warmup_mib,
        r.rss_end_mib,
        r.rss_max_mib,
        r.growth_mib_per_million
    );
    let _ = writeln!(
        out,
        "Targets: at most 64 MiB: **{}** (max {:.1} MiB); growth under 1 MiB per million calls after warm-up: **{}** ({:+.3} MiB).\n",
        if r.rss_max_mib <= 64.0 {
            "met"
        } else {
            "missed"
        },
        r.rss_max_mib,
        if r.growth_mib_per_million < 1.0 {
            "met"
        } else {
            "missed"
        },
        r.growth_mib_per_million
    );
    ops_table(&mut out, &r.summary);
    let _ = writeln!(
        out,
        "\nReconcile: {:?}.\n\n{}\n\n![soak](soak.png)",
        r.reconciled, r.audit
    );
    out
}

/// The section of `hub-load big-journal`.
pub fn big_journal(command: &str, r: &BigJournalResult) -> String {
    let mut out = String::new();
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let _ = writeln!(
        out,
        "## Reads against a journal of {} transactions\n\n`{command}` ({})\n\nThe journal seeded by `hub::journal::seed` with {} transactions of {} partners (each with its two events: {} rows in all), spread over 12 days, then a hub (echo providers) on it; each query closed loop, {} connections x {} streams, {:.0} s, each call naming a random seeded transaction or position. Seeding took {:.0} s; the file is {:.2} GiB ({:.2} GiB after the run). The journal is deleted afterwards. Hub RSS at the end: {}.\n",
        r.rows,
        machine(),
        r.rows,
        r.partners,
        r.rows * 3,
        r.connections,
        r.streams,
        r.seconds,
        r.seed_seconds,
        gib(r.db_bytes),
        gib(r.db_bytes_after),
        r.hub_rss_kib
            .map(|k| format!("{:.1} MiB", mib(k)))
            .unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        out,
        "| query | calls | ok calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | rows per call | p99 < 10 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
    );
    for q in &r.queries {
        latency_row(
            &mut out,
            &format!("{} ({})", q.query.name(), q.what),
            &q.summary,
            &format!(
                " {:.1} | {} |",
                q.rows_per_call,
                if q.summary.latency.p99_ms < 10.0 {
                    "met"
                } else {
                    "**missed**"
                }
            ),
        );
    }
    out
}
