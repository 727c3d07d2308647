#!/usr/bin/env bash
# Regenerates the committed code generated from proto/:
#
#   scripts/generate.sh          rewrite the generated files in place
#   scripts/generate.sh --check  regenerate into a scratch directory and fail,
#                                showing the difference, if the committed files
#                                differ (CI runs this)
#
# What is generated (each a python package tree, written whole):
#   sdk/python/src/settlement_sdk/_pb   settlement.v1 messages and stubs
#
# Rust code is generated at build time (proto/build.rs) and never committed.
# The generator is the pinned grpcio-tools of sdk/python/requirements-dev.txt,
# installed into .tools/venv by scripts/tools.sh, so every machine produces
# the same bytes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: scripts/generate.sh [--check]" >&2; exit 2 ;;
esac

PY="$(bash scripts/tools.sh python)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "${SCRATCH}"' EXIT

# generate DEST IMPORT_PREFIX PROTO...
#   Compiles PROTO (paths under proto/) so that the modules live under the
#   Python package IMPORT_PREFIX (dotted) and land in DEST (a directory under
#   the repo). Every directory of the tree gets an __init__.py.
generate() {
  local dest="$1" prefix="$2"
  shift 2
  local virtual="${prefix//.//}"
  local out="${SCRATCH}/out"
  rm -rf "${out}"
  mkdir -p "${out}"
  "${PY}" -m grpc_tools.protoc \
    "-I${virtual}=proto" \
    --python_out="${out}" --pyi_out="${out}" --grpc_python_out="${out}" \
    "${@/#/${virtual}/}"
  find "${out}/${virtual}" -type d -exec touch {}/__init__.py \;
  if ${check}; then
    if ! diff -ru "${dest}" "${out}/${virtual}"; then
      echo "scripts/generate.sh: ${dest} is stale; run scripts/generate.sh and commit" >&2
      return 1
    fi
  else
    rm -rf "${dest}"
    mkdir -p "$(dirname "${dest}")"
    cp -r "${out}/${virtual}" "${dest}"
    echo "generated ${dest}"
  fi
}

status=0
generate sdk/python/src/settlement_sdk/_pb settlement_sdk._pb \
  settlement/v1/settlement.proto || status=1
generate adapters/plugins/python-json-hmac/json_hmac_plugin/_pb json_hmac_plugin._pb \
  adapter/v1/adapter.proto || status=1

if ${check} && [[ ${status} -eq 0 ]]; then
  echo "generated code is up to date"
fi
exit "${status}"
