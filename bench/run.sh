#!/usr/bin/env bash
# bench/run.sh - build and run the bitcask-vs-peers benchmark, write results/results.md and
# results/chart.png. See bench/README.md.
#
#   bench/run.sh [--keys N] [--stores a,b,c] [--runs R] [--sync-ops K]
#
#   --keys N       keys per store (default 1000000)
#   --stores LIST  comma-separated subset of: bitcask,lmdb,leveldb,rocksdb,kyoto,tkrzw,sqlite
#                  (default: all)
#   --runs R       rounds; every store runs once per round, in its own process, on a fresh
#                  directory; the report shows the median of the rounds (default 3)
#   --sync-ops K   synced puts per thread (default 2000)
#
# Environment: BENCH_DIR  parent of the temporary store directories (default /tmp)
#              CC         C compiler (default cc)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ALL_STORES="bitcask,lmdb,leveldb,rocksdb,kyoto,tkrzw,sqlite"

KEYS=1000000
STORES="$ALL_STORES"
RUNS=3
SYNC_OPS=2000

die() { echo "run.sh: ERROR: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --keys) KEYS="${2:?--keys needs a value}"; shift 2 ;;
        --keys=*) KEYS="${1#*=}"; shift ;;
        --stores) STORES="${2:?--stores needs a value}"; shift 2 ;;
        --stores=*) STORES="${1#*=}"; shift ;;
        --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
        --runs=*) RUNS="${1#*=}"; shift ;;
        --sync-ops) SYNC_OPS="${2:?--sync-ops needs a value}"; shift 2 ;;
        --sync-ops=*) SYNC_OPS="${1#*=}"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ "$KEYS" =~ ^[0-9]+$ ]] && [ "$KEYS" -ge 10 ] || die "--keys must be an integer >= 10"
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] || die "--runs must be an integer >= 1"
[[ "$SYNC_OPS" =~ ^[0-9]+$ ]] && [ "$SYNC_OPS" -ge 1 ] || die "--sync-ops must be an integer >= 1"

IFS=',' read -r -a SEL <<< "$STORES"
[ "${#SEL[@]}" -gt 0 ] || die "--stores is empty"
for s in "${SEL[@]}"; do
    case ",$ALL_STORES," in *",$s,"*) ;; *) die "unknown store '$s' (known: $ALL_STORES)" ;; esac
done

# ---------------------------------------------------------------- prerequisites
export CC="${CC:-cc}"
command -v "$CC" >/dev/null || die "C compiler '$CC' not found (apt-get install build-essential)"
command -v make >/dev/null || die "make not found (apt-get install make)"
command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"

# store -> header (under /usr/include), shared library, Debian package
declare -A HDR=([lmdb]=lmdb.h [leveldb]=leveldb/c.h [rocksdb]=rocksdb/c.h [kyoto]=kclangc.h
                [tkrzw]=tkrzw_langc.h [sqlite]=sqlite3.h)
declare -A LIB=([lmdb]=liblmdb.so [leveldb]=libleveldb.so [rocksdb]=librocksdb.so
                [kyoto]=libkyotocabinet.so [tkrzw]=libtkrzw.so [sqlite]=libsqlite3.so)
declare -A PKG=([lmdb]=liblmdb-dev [leveldb]=libleveldb-dev [rocksdb]=librocksdb-dev
                [kyoto]=libkyotocabinet-dev [tkrzw]=libtkrzw-dev [sqlite]=libsqlite3-dev)
missing=()
for s in "${SEL[@]}"; do
    [ "$s" = bitcask ] && continue
    if ! echo "#include <${HDR[$s]}>" | "$CC" -E -x c - >/dev/null 2>&1 \
       || [ "$("$CC" -print-file-name="${LIB[$s]}")" = "${LIB[$s]}" ]; then
        missing+=("$s (apt-get install ${PKG[$s]})")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do echo "run.sh: ERROR: peer library missing: $m" >&2; done
    exit 1
fi

if ! command -v gnuplot >/dev/null; then
    echo "run.sh: gnuplot not found; installing gnuplot-nox with apt-get" >&2
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y gnuplot-nox >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y gnuplot-nox >&2; } \
            || die "could not install gnuplot-nox"
    else
        die "gnuplot is missing and this is not root: apt-get install gnuplot-nox"
    fi
fi

# ---------------------------------------------------------------- build
cd "$HERE"
mkdir -p build/lib results
for s in "${SEL[@]}"; do
    if [ "$s" = bitcask ]; then
        command -v cargo >/dev/null || die "cargo not found (needed to build libbitcask)"
        echo "== building libbitcask (cargo build --release --locked --lib)" >&2
        (cd "$ROOT" && cargo build --release --locked --lib) >&2 || die "cargo build failed"
        [ -f "$ROOT/target/release/libbitcask.so" ] || die "no $ROOT/target/release/libbitcask.so"
        # private copy, so a rebuild by someone else during the run cannot change it
        rm -f build/lib/libbitcask.so build/lib/libbitcask.so.0.1
        cp "$ROOT/target/release/libbitcask.so" build/lib/libbitcask.so.0.1
        ln -s libbitcask.so.0.1 build/lib/libbitcask.so
    fi
done
echo "== building drivers: ${SEL[*]}" >&2
make -s STORES="${SEL[*]}" >&2 || die "make failed"
for s in "${SEL[@]}"; do [ -x "build/bench_$s" ] || die "build/bench_$s was not built"; done

# ---------------------------------------------------------------- machine
BENCH_PARENT="${BENCH_DIR:-/tmp}"
mkdir -p "$BENCH_PARENT"
TMP="$(mktemp -d "$BENCH_PARENT/bitcask-bench.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

FS="$(findmnt -no FSTYPE,SOURCE,OPTIONS -T "$TMP" 2>/dev/null | head -1 || true)"
[ -n "$FS" ] || FS="$(df -T "$TMP" | awk 'NR==2 {print $2, $1}')"
ROT="$(lsblk -ndo ROTA "$(findmnt -no SOURCE -T "$TMP" 2>/dev/null)" 2>/dev/null || true)"
CPU="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
[ -n "$CPU" ] || CPU="$(lscpu 2>/dev/null | awk -F': +' '/Model name/ {print $2; exit}')"
GITREV="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
GITDIRTY="$(cd "$ROOT" && git status --porcelain -- src Cargo.toml Cargo.lock build.rs 2>/dev/null | wc -l)"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
python3 - "$HERE/results/machine.json" <<EOF
import json, sys, os
info = {
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
  "cpu": """$CPU""".strip(),
  "cores": $(nproc),
  "mem_gib": round(int(open('/proc/meminfo').read().split()[1]) / 1048576, 1),
  "kernel": "$(uname -sr)",
  "os": """$(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")""",
  "filesystem": """$FS""",
  "rotational": """$ROT""",
  "bench_dir": "$BENCH_PARENT",
  "cc": """$("$CC" --version | head -1)""",
  "loadavg_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "keys": $KEYS, "runs": $RUNS, "sync_ops": $SYNC_OPS,
  "stores": "$(IFS=,; echo "${SEL[*]}")",
  "bitcask": "commit $GITREV" + (" + $GITDIRTY uncommitted change(s) under src/ or Cargo files" if $GITDIRTY else ""),
  "versions": {
    "lmdb": "$(pkgver liblmdb-dev)", "leveldb": "$(pkgver libleveldb-dev)",
    "rocksdb": "$(pkgver librocksdb-dev)", "kyoto": "$(pkgver libkyotocabinet-dev)",
    "tkrzw": "$(pkgver libtkrzw-dev)", "sqlite": "$(pkgver libsqlite3-dev)",
  },
}
json.dump(info, open(sys.argv[1], "w"), indent=1)
EOF

# ---------------------------------------------------------------- run
OUT="$HERE/results/results.jsonl"
LOG="$HERE/results/run.log"
: > "$OUT"
: > "$LOG"
echo "== $KEYS keys, stores ${SEL[*]}, $RUNS round(s), stores under $TMP ($FS)" | tee -a "$LOG" >&2
start=$(date +%s)
for r in $(seq 1 "$RUNS"); do
    for s in "${SEL[@]}"; do
        dir="$TMP/$s.$r"
        echo "-- round $r/$RUNS: $s" | tee -a "$LOG" >&2
        t0=$(date +%s)
        set +e
        "$HERE/build/bench_$s" --keys "$KEYS" --dir "$dir" --sync-ops "$SYNC_OPS" \
            2>&1 > "$TMP/out.jsonl" | tee -a "$LOG" >&2
        rc=${PIPESTATUS[0]}
        set -e
        if [ $rc -ne 0 ]; then
            die "bench_$s failed (exit $rc) in round $r; see $LOG"
        fi
        grep -q '"test":"done"' "$TMP/out.jsonl" || die "bench_$s did not finish; see $LOG"
        sed "s/^{/{\"run\":$r,/" "$TMP/out.jsonl" >> "$OUT"
        echo "   ($s: $(( $(date +%s) - t0 )) s)" | tee -a "$LOG" >&2
        rm -rf "$dir"
        # Let the removal's journal commit (with discards: ext4 here is mounted -o discard)
        # and any writeback finish before the next store starts, rather than during its first
        # phases on one of the two cores.
        sync
        sleep 2
    done
done
echo "== all runs done in $(( $(date +%s) - start )) s" | tee -a "$LOG" >&2
python3 -c '
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["loadavg_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
m["run_secs"] = int(sys.argv[2])
json.dump(m, open(p, "w"), indent=1)
' "$HERE/results/machine.json" "$(( $(date +%s) - start ))"

# ---------------------------------------------------------------- report
python3 "$HERE/report.py" --results "$OUT" --machine "$HERE/results/machine.json" \
    --md "$HERE/results/results.md" --png "$HERE/results/chart.png" --work "$HERE/build" \
    || die "report failed"
echo "== wrote $HERE/results/results.md and $HERE/results/chart.png" >&2
