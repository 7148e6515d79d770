#!/usr/bin/env bash
# Runs the Ruby binding's tests (minitest). Needs ruby and the ffi gem: apt-get install -y ruby ruby-ffi
# Uses $BITCASK_LIB when set; otherwise builds the library (cargo build --release --locked) from the
# repository root and points BITCASK_LIB / BITCASK_LIB_DIR at it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

fail() { echo "bindings/ruby/test.sh: $*" >&2; exit 1; }

command -v ruby >/dev/null 2>&1 || fail "ruby not found (apt-get install -y ruby ruby-ffi)"
ruby -e 'require "ffi"' >/dev/null 2>&1 || fail "the ffi gem is missing (apt-get install -y ruby-ffi)"
ruby -e 'require "minitest"' >/dev/null 2>&1 || fail "minitest is missing (apt-get install -y ruby-minitest)"

if [ -z "${BITCASK_LIB:-}" ]; then
  (cd "$root" && cargo build --release --locked --lib)
  export BITCASK_LIB_DIR="$root/target/release"
  export BITCASK_LIB="$BITCASK_LIB_DIR/libbitcask.so"
fi
[ -f "$BITCASK_LIB" ] || fail "BITCASK_LIB=$BITCASK_LIB does not exist"

cd "$here"
exec ruby -w -Ilib -e '
  files = Dir["test/test_*.rb"].sort
  abort "bindings/ruby/test.sh: no tests found" if files.empty?
  files.each { |f| require File.expand_path(f) }
' -- "$@"
