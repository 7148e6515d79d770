#!/usr/bin/env bash
# Tests of the Go binding: go vet, then go test -race. Fails (never skips) when Go, a C compiler
# or the library is missing. Uses BITCASK_LIB / BITCASK_LIB_DIR when set (scripts/test sets them);
# otherwise builds the library with cargo from the repository root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

fail() { echo "bindings/go/test.sh: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || fail "go not found (apt-get install -y golang-go)"
command -v "${CC:-gcc}" >/dev/null 2>&1 || fail "C compiler ${CC:-gcc} not found (cgo needs it)"

if [ -z "${BITCASK_LIB:-}" ]; then
  command -v cargo >/dev/null 2>&1 || fail "BITCASK_LIB unset and cargo not found"
  (cd "$root" && cargo build --release --locked --lib)
  export BITCASK_LIB="$root/target/release/libbitcask.so"
  export BITCASK_LIB_DIR="$root/target/release"
fi
: "${BITCASK_LIB_DIR:=$(dirname "$BITCASK_LIB")}"
[ -f "$BITCASK_LIB" ] || fail "library not found: $BITCASK_LIB"
[ -f "$BITCASK_LIB_DIR/libbitcask.so" ] || fail "no libbitcask.so in BITCASK_LIB_DIR=$BITCASK_LIB_DIR"

# -lbitcask links against libbitcask.so; at run time the loader asks for its SONAME.
soname="$(readelf -d "$BITCASK_LIB_DIR/libbitcask.so" 2>/dev/null |
  sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
soname="${soname:-libbitcask.so.0.1}"
if [ "$soname" != libbitcask.so ] && [ ! -e "$BITCASK_LIB_DIR/$soname" ]; then
  ln -sf libbitcask.so "$BITCASK_LIB_DIR/$soname" 2>/dev/null || true
  [ -e "$BITCASK_LIB_DIR/$soname" ] || fail "cannot create $BITCASK_LIB_DIR/$soname"
fi

# The cgo directives point at $root/target/release; a different BITCASK_LIB_DIR goes first.
lib_dir="$(cd "$BITCASK_LIB_DIR" && pwd)"
export CGO_ENABLED=1
export CGO_LDFLAGS="-L$lib_dir -Wl,-rpath,$lib_dir ${CGO_LDFLAGS:-}"
export GOFLAGS=-mod=mod GOPROXY=off

cd "$here"
echo "go: $(go version)"
unformatted="$(gofmt -l .)"
[ -z "$unformatted" ] || fail "gofmt needed: $unformatted"
go vet ./...
go test -race -count=1 ./...
