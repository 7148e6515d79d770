#!/usr/bin/env bash
# Tests the Python binding the way users get it: `pip install` of this directory into a fresh
# venv, then the unittest suite (tests/) against the installed package, from outside the source
# tree so the checkout cannot shadow it.
#
# Uses $BITCASK_LIB (path of libbitcask.so) when set, else $BITCASK_LIB_DIR/libbitcask.so, else
# builds the library with `cargo build --release --locked` in the repository root.
# $PYTHON picks the interpreter (default python3; needs the venv module and ensurepip).
# Exits non-zero when Python, the library or any test is missing or failing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
START=$SECONDS

fail() { echo "python binding: FAIL: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || fail "'$PYTHON' not found (install python3 and python3-venv)"
"$PYTHON" -c 'import sys, ctypes, venv, ensurepip; assert sys.version_info >= (3, 8), sys.version' \
    || fail "$PYTHON lacks ctypes/venv/ensurepip or is older than 3.8 (apt-get install python3 python3-venv)"

if [ -z "${BITCASK_LIB:-}" ]; then
    if [ -n "${BITCASK_LIB_DIR:-}" ] && [ -f "$BITCASK_LIB_DIR/libbitcask.so" ]; then
        BITCASK_LIB="$BITCASK_LIB_DIR/libbitcask.so"
    else
        command -v cargo >/dev/null 2>&1 || fail "cargo not found and BITCASK_LIB not set"
        echo "building libbitcask (cargo build --release --locked)"
        (cd "$ROOT" && cargo build --release --locked) || fail "cargo build failed"
        BITCASK_LIB_DIR="$ROOT/target/release"
        BITCASK_LIB="$BITCASK_LIB_DIR/libbitcask.so"
    fi
fi
[ -f "$BITCASK_LIB" ] || fail "BITCASK_LIB=$BITCASK_LIB does not exist"
BITCASK_LIB="$(cd "$(dirname "$BITCASK_LIB")" && pwd)/$(basename "$BITCASK_LIB")"
export BITCASK_LIB
export BITCASK_LIB_DIR="${BITCASK_LIB_DIR:-$(dirname "$BITCASK_LIB")}"
export PYTHONDONTWRITEBYTECODE=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bitcask-python.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "creating venv with $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
"$PYTHON" -m venv "$WORK/venv" || fail "python3 -m venv failed (apt-get install python3-venv)"
VPY="$WORK/venv/bin/python"

# Install from a copy: an in-tree setuptools build would leave build/ and *.egg-info here.
mkdir "$WORK/src"
cp -R "$HERE/pyproject.toml" "$HERE/README.md" "$HERE/bitcask" "$WORK/src/"
PIP=("$VPY" -m pip install --quiet --disable-pip-version-check --no-cache-dir)
if ! "${PIP[@]}" "$WORK/src"; then
    # Offline? Build with the venv's own setuptools (bundled with Python < 3.12) instead.
    echo "pip install with build isolation failed; retrying with --no-build-isolation" >&2
    "${PIP[@]}" --no-build-isolation "$WORK/src" || fail "pip install bindings/python failed"
fi

cd "$WORK"
INSTALLED="$("$VPY" -c 'import bitcask; print(bitcask.__file__)')" || fail "installed package does not import"
case "$INSTALLED" in
    "$WORK/venv/"*) echo "testing installed package $INSTALLED against $BITCASK_LIB" ;;
    *) fail "imported bitcask from $INSTALLED, not from the venv" ;;
esac

TIMEOUT=()
command -v timeout >/dev/null 2>&1 && TIMEOUT=(timeout 300)
# -X dev: faulthandler (a crash prints the Python stack), debug allocator hooks, warnings shown.
"${TIMEOUT[@]}" "$VPY" -X dev -m unittest discover -s "$HERE/tests" -t "$HERE/tests" \
    || fail "unit tests failed"
echo "python binding: OK ($((SECONDS - START)) s)"
