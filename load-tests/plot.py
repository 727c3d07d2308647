#!/usr/bin/env python3
"""Plots throughput and p99 over time for each scenario JSON written by
`hub-load` (load-tests/report/<scenario>.json -> <scenario>.png), and the
hub's resident memory against calls of `hub-load soak` (soak.json ->
soak.png).

Usage: plot.py REPORT_DIR [SCENARIO ...]   (needs matplotlib)
"""

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(path: pathlib.Path) -> pathlib.Path:
    run = json.loads(path.read_text())
    series = run["series"]
    t = [p["t_s"] for p in series]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    top.plot(t, [p["ok_per_s"] for p in series], label="OK answers/s")
    top.plot(t, [p["errors_per_s"] for p in series], label="errors/s", color="tab:red")
    top.set_ylabel("calls/s")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.plot(t, [p["p99_ms"] for p in series], label="p99", color="tab:purple")
    bottom.plot(t, [p["p50_ms"] for p in series], label="p50", color="tab:green")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency, ms (log)")
    bottom.set_xlabel("seconds since the load started")
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3, which="both")
    for event in run.get("events", []):
        for ax in (top, bottom):
            ax.axvline(event["t_s"], color="grey", linestyle="--", linewidth=0.8)
        top.annotate(
            event["what"][:40],
            (event["t_s"], top.get_ylim()[1]),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
        )
    fig.suptitle(
        f"{run['name']}: {run['rate']:.0f} calls/s offered, mix {run['mix']}; "
        f"audit {'clean' if not run['audit']['discrepancies'] else 'FAILED'}",
        fontsize=10,
    )
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def plot_soak(path: pathlib.Path) -> pathlib.Path:
    run = json.loads(path.read_text())
    rss = run["rss"]
    calls = [s["calls"] / 1e6 for s in rss]
    mib = [s["rss_kib"] / 1024 for s in rss]
    warm = run["warmup_calls"] / 1e6
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5))
    top.plot(calls, mib, label="hub RSS")
    top.axvline(warm, color="grey", linestyle="--", linewidth=0.8, label="end of warm-up")
    after = [(c, m) for c, m in zip(calls, mib) if c >= warm]
    if after:
        c0, m0 = after[0]
        slope = run["growth_mib_per_million"]
        mean_c = sum(c for c, _ in after) / len(after)
        mean_m = sum(m for _, m in after) / len(after)
        xs = [c0, after[-1][0]]
        top.plot(
            xs,
            [mean_m + slope * (x - mean_c) for x in xs],
            color="tab:red",
            linewidth=0.8,
            label=f"least squares: {slope:+.3f} MiB per million calls",
        )
    top.axhline(64, color="tab:orange", linestyle=":", linewidth=0.8, label="64 MiB target")
    top.set_xlabel("million calls completed")
    top.set_ylabel("MiB")
    top.set_ylim(bottom=0)
    top.legend(loc="lower right", fontsize=8)
    top.grid(alpha=0.3)
    series = run["series"]
    t = [p["t_s"] for p in series]
    bottom.plot(t, [p["ok_per_s"] for p in series], label="OK answers/s")
    bottom.plot(t, [p["errors_per_s"] for p in series], label="errors/s", color="tab:red")
    bottom.axhline(run["rate"], color="grey", linestyle=":", linewidth=0.8, label="offered")
    bottom.set_xlabel("seconds since the load started")
    bottom.set_ylabel("calls/s")
    bottom.legend(loc="lower right", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.suptitle(
        f"soak: {run['rate']:.0f} calls/s offered, {run['calls']} calls, mix {run['mix']}; "
        f"audit {'clean' if not run['audit']['discrepancies'] else 'FAILED'}",
        fontsize=10,
    )
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    report = pathlib.Path(sys.argv[1])
    names = sys.argv[2:] or ["ramp", "spike", "outage", "slow", "kill", "soak"]
    for name in names:
        path = report / f"{name}.json"
        if path.exists():
            print(plot_soak(path) if name == "soak" else plot(path))


if __name__ == "__main__":
    main()
