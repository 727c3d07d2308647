#!/bin/sh
# Reproduces load-tests/report/: builds the release binaries, runs the
# ceiling benchmark and every scenario (each ending with the money audit),
# writes REPORT.md and the JSON results, and plots the scenarios.
# Extra arguments go to `hub-load all` (e.g. --rate 1000 --seconds 60).
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p hub -p hub-load -p sandbox-json-hmac -p sandbox-json-rsa -p sandbox-form-md5
target/release/hub-load --out load-tests/report all "$@"
if [ ! -x target/plot-venv/bin/python ]; then
    python3 -m venv target/plot-venv
    target/plot-venv/bin/pip install -q matplotlib
fi
target/plot-venv/bin/python load-tests/plot.py load-tests/report
