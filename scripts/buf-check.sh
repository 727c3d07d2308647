#!/usr/bin/env bash
# Checks the gRPC contracts in proto/ with buf (config: proto/buf.yaml):
#   1. buf lint      STANDARD + COMMENTS, no ignores
#   2. buf build     the contracts compile
#   3. buf breaking  FILE rules, against the contracts of the previous commit
#                    (HEAD~1; override with BUF_AGAINST_REF=<git ref>).
# The breaking check is skipped (exit 0, with a line saying so) only when there
# is no earlier contract: no previous commit, or one without .proto files
# under proto/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

PROTO_DIR="proto"
AGAINST_REF="${BUF_AGAINST_REF:-HEAD~1}"

say() { printf '==> buf-check: %s\n' "$*"; }

BUF="$(bash "${ROOT}/scripts/tools.sh" buf)"
say "using buf $("${BUF}" --version) (${BUF})"

say "buf lint ${PROTO_DIR}"
"${BUF}" lint "${PROTO_DIR}"
say "lint passed"

say "buf build ${PROTO_DIR}"
"${BUF}" build "${PROTO_DIR}" -o /dev/null
say "build passed"

skip() {
  say "breaking check SKIPPED: no earlier contract to compare against ($*)"
  exit 0
}

# --- find the baseline commit -------------------------------------------------
git rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"

resolve() { git rev-parse --verify --quiet "${AGAINST_REF}^{commit}" 2>/dev/null; }

if ! BASE="$(resolve)"; then
  # A shallow clone may just lack the parent: deepen by one and try again.
  if [[ "$(git rev-parse --is-shallow-repository 2>/dev/null)" == "true" ]]; then
    say "shallow clone: fetching one more commit of history"
    GIT_TERMINAL_PROMPT=0 git fetch --quiet --deepen=1 </dev/null 2>/dev/null || true
  fi
  BASE="$(resolve)" || skip "${AGAINST_REF} does not exist"
fi

if ! git ls-tree -r --name-only "${BASE}" -- "${PROTO_DIR}" | grep -q '\.proto$'; then
  skip "${AGAINST_REF} (${BASE:0:12}) has no .proto files under ${PROTO_DIR}/"
fi
if ! git cat-file -e "${BASE}:${PROTO_DIR}/buf.yaml" 2>/dev/null; then
  # buf then treats ${PROTO_DIR}/ of the baseline as a module root with default
  # layout, which is the same layout proto/buf.yaml declares.
  say "note: ${AGAINST_REF} has no ${PROTO_DIR}/buf.yaml; using its ${PROTO_DIR}/ as the module root"
fi

# --- breaking -------------------------------------------------------------------
GIT_DIR_ABS="$(git rev-parse --absolute-git-dir)"
AGAINST="${GIT_DIR_ABS}#ref=${BASE},subdir=${PROTO_DIR}"
say "buf breaking ${PROTO_DIR} --against '${AGAINST}' (baseline ${AGAINST_REF} = ${BASE:0:12})"
"${BUF}" breaking "${PROTO_DIR}" --against "${AGAINST}"
say "breaking check passed against ${AGAINST_REF} (${BASE:0:12})"
