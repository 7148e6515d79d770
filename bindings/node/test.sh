#!/usr/bin/env bash
# Tests of the Node.js binding. Uses BITCASK_LIB (or BITCASK_LIB_DIR) when set; otherwise builds
# the library from the repository root. Fails (never skips) when node or npm is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

fail() { echo "bindings/node/test.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (need Node.js >= 18; tested on 20)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || fail "node $(node --version) is too old (need >= 18)"

if [ -z "${BITCASK_LIB:-}" ]; then
  if [ -z "${BITCASK_LIB_DIR:-}" ]; then
    command -v cargo >/dev/null 2>&1 || fail "cargo is not installed and BITCASK_LIB is not set"
    (cd "$root" && cargo build --release --locked)
    export BITCASK_LIB_DIR="$root/target/release"
  fi
  export BITCASK_LIB="$BITCASK_LIB_DIR/libbitcask.so"
fi
[ -f "$BITCASK_LIB" ] || fail "BITCASK_LIB=$BITCASK_LIB does not exist"

# koffi, exactly as pinned in package-lock.json (prebuilt: nothing compiles).
if ! (cd "$here" && node -e '
  const v = require("koffi/package.json").version;
  if (v !== require("./package.json").dependencies.koffi) process.exit(1);
  require("koffi");' >/dev/null 2>&1); then
  command -v npm >/dev/null 2>&1 || fail "npm is not installed (needed once to install koffi)"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

cd "$here"
exec node --test test/*.test.js
