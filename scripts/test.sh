#!/usr/bin/env bash
# The one test command: ./scripts/test.sh
#
# Works on a fresh machine: installs cargo-nextest (cargo install --locked) if
# `cargo nextest` is missing, and grpcurl into .tools/venv (see scripts/tools.sh),
# then runs every test of the workspace:
#   1. cargo test --workspace --doc                   (doctests; nextest skips them)
#   2. cargo nextest run --workspace --no-fail-fast   (unit + integration tests)
# Both steps always run; the script fails if either fails. Doctests go first so
# that the run closes on nextest's summary (the count of tests actually run),
# not on a doctest "0 passed" line from crates without doc examples.
#
# Integration tests find grpcurl through the GRPCURL environment variable and
# the Python with the SDK's pinned packages (grpcio, pytest, ...) through
# TOOLS_PYTHON (both installed into .tools/venv), and promtool (Debian package
# prometheus) through PROMTOOL; this script installs and exports them (an
# already-set variable is kept). Nothing is skipped for want of a tool. (No
# HUB_* names here: those are the hub's configuration overrides.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

say() { printf '==> test: %s\n' "$*"; }

bash "${ROOT}/scripts/tools.sh" nextest >/dev/null
if [[ -z "${GRPCURL:-}" ]]; then
  GRPCURL="$(bash "${ROOT}/scripts/tools.sh" grpcurl)"
fi
if [[ -z "${TOOLS_PYTHON:-}" ]]; then
  TOOLS_PYTHON="$(bash "${ROOT}/scripts/tools.sh" python)"
fi
if [[ -z "${PROMTOOL:-}" ]]; then
  PROMTOOL="$(bash "${ROOT}/scripts/tools.sh" promtool)"
fi
export GRPCURL TOOLS_PYTHON PROMTOOL
say "GRPCURL=${GRPCURL}"
say "TOOLS_PYTHON=${TOOLS_PYTHON}"
say "PROMTOOL=${PROMTOOL}"

status=0

say "cargo test --workspace --doc"
cargo test --workspace --doc || status=$?

say "cargo nextest run --workspace --no-fail-fast"
cargo nextest run --workspace --no-fail-fast || { rc=$?; [[ ${status} -ne 0 ]] || status=${rc}; }

if [[ ${status} -ne 0 ]]; then
  say "FAILED (exit ${status})"
else
  say "all tests passed"
fi
exit "${status}"
