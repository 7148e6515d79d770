#!/usr/bin/env bash
# bench/scale.sh - scaling benchmark: fill and random-read throughput and memory per key at
# 1M, 10M and 50M keys, then random reads with the page cache limited by a memory cgroup.
# Writes results/scaling.jsonl, results/scaling.md and results/scaling.png. See bench/README.md.
#
#   bench/scale.sh [--keys 1000000,10000000,50000000] [--stores bitcask,lmdb,kyoto,tkrzw]
#                  [--cache-limit 1G] [--runs 3] [--reads 2000000]
#                  [--cold-reads 1000000] [--cold-secs 30] [--peer-max-secs 180]
#
#   --keys LIST        key counts (ascending); bitcask runs at every one
#   --stores LIST      bitcask and peers (any of lmdb,leveldb,rocksdb,kyoto,tkrzw,sqlite)
#   --cache-limit SZ   page cache the cache-limited reads may use (cgroup memory limit; K/M/G)
#   --runs R           rounds at key counts <= 10M (median reported); larger counts run once
#   --reads R          verified random gets after the fill (warm cache), per store and size
#   --cold-reads R     cache-limited gets per store (at every key count >= 10M, last round)
#   --cold-min-keys K  ... at every key count >= K instead (default 10000000)
#   --cold-secs S      ... or fewer if they take longer than S seconds (the report says so)
#   --peer-max-secs S  after the first key count a peer runs only if its projected time (its
#                      fastest round at the previous count x the key ratio) is under S, and it
#                      is stopped after 2*S
#
# Environment: BENCH_DIR parent of the temporary store directories (default /tmp); CC.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ALL_STORES="bitcask,lmdb,leveldb,rocksdb,kyoto,tkrzw,sqlite"

KEYS="1000000,10000000,50000000"
STORES="bitcask,lmdb,kyoto,tkrzw"
CACHE_LIMIT="1G"
RUNS=3
READS=2000000
COLD_READS=1000000
COLD_SECS=30
PEER_MAX_SECS=180
COLD_MIN_KEYS=10000000
CMDLINE="bench/scale.sh $*"

die() { echo "scale.sh: ERROR: $*" >&2; exit 1; }
say() { echo "$*" | tee -a "$LOG" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --keys|--stores|--cache-limit|--runs|--reads|--cold-reads|--cold-secs|--peer-max-secs|--cold-min-keys)
            [ $# -ge 2 ] || die "$1 needs a value"
            v="$2"; opt="$1"; shift 2 ;;
        --*=*) v="${1#*=}"; opt="${1%%=*}"; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    case "$opt" in
        --keys) KEYS="$v" ;; --stores) STORES="$v" ;; --cache-limit) CACHE_LIMIT="$v" ;;
        --runs) RUNS="$v" ;; --reads) READS="$v" ;; --cold-reads) COLD_READS="$v" ;;
        --cold-secs) COLD_SECS="$v" ;; --peer-max-secs) PEER_MAX_SECS="$v" ;;
        --cold-min-keys) COLD_MIN_KEYS="$v" ;;
        *) die "unknown argument: $opt (see --help)" ;;
    esac
done

int_ok() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]; }
IFS=',' read -r -a KLIST <<< "$KEYS"
[ "${#KLIST[@]}" -gt 0 ] || die "--keys is empty"
prev=0
for k in "${KLIST[@]}"; do
    int_ok "$k" 10 || die "--keys: '$k' is not an integer >= 10"
    [ "$k" -gt "$prev" ] || die "--keys must be ascending"
    [ "$k" -le 1000000000 ] || die "--keys: $k is above 1e9 (bench.c's limit)"
    prev=$k
done
IFS=',' read -r -a SEL <<< "$STORES"
[ "${#SEL[@]}" -gt 0 ] || die "--stores is empty"
for s in "${SEL[@]}"; do
    case ",$ALL_STORES," in *",$s,"*) ;; *) die "unknown store '$s' (known: $ALL_STORES)" ;; esac
done
int_ok "$RUNS" 1 || die "--runs must be an integer >= 1"
int_ok "$READS" 1 || die "--reads must be an integer >= 1"
int_ok "$COLD_READS" 1 || die "--cold-reads must be an integer >= 1"
int_ok "$COLD_SECS" 1 || die "--cold-secs must be an integer >= 1"
int_ok "$PEER_MAX_SECS" 1 || die "--peer-max-secs must be an integer >= 1"
int_ok "$COLD_MIN_KEYS" 10 || die "--cold-min-keys must be an integer >= 10"
[[ "$CACHE_LIMIT" =~ ^([0-9]{1,6})([KkMmGg]?)$ ]] || die "--cache-limit: '$CACHE_LIMIT' is not a size like 1G or 512M"
case "${BASH_REMATCH[2]}" in
    [Gg]) LIMIT_BYTES=$(( BASH_REMATCH[1] << 30 )) ;; [Mm]) LIMIT_BYTES=$(( BASH_REMATCH[1] << 20 )) ;;
    [Kk]) LIMIT_BYTES=$(( BASH_REMATCH[1] << 10 )) ;; *) LIMIT_BYTES=${BASH_REMATCH[1]} ;;
esac
int_ok "$LIMIT_BYTES" $((16 << 20)) || die "--cache-limit must be at least 16M"

# ---------------------------------------------------------------- prerequisites
export CC="${CC:-cc}"
command -v "$CC" >/dev/null || die "C compiler '$CC' not found (apt-get install build-essential)"
command -v make >/dev/null || die "make not found (apt-get install make)"
command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
command -v cargo >/dev/null || die "cargo not found (needed to build libbitcask)"
declare -A HDR=([lmdb]=lmdb.h [leveldb]=leveldb/c.h [rocksdb]=rocksdb/c.h [kyoto]=kclangc.h
                [tkrzw]=tkrzw_langc.h [sqlite]=sqlite3.h)
declare -A LIB=([lmdb]=liblmdb.so [leveldb]=libleveldb.so [rocksdb]=librocksdb.so
                [kyoto]=libkyotocabinet.so [tkrzw]=libtkrzw.so [sqlite]=libsqlite3.so)
declare -A PKG=([lmdb]=liblmdb-dev [leveldb]=libleveldb-dev [rocksdb]=librocksdb-dev
                [kyoto]=libkyotocabinet-dev [tkrzw]=libtkrzw-dev [sqlite]=libsqlite3-dev)
for s in "${SEL[@]}"; do
    [ "$s" = bitcask ] && continue
    if ! echo "#include <${HDR[$s]}>" | "$CC" -E -x c - >/dev/null 2>&1 \
       || [ "$("$CC" -print-file-name="${LIB[$s]}")" = "${LIB[$s]}" ]; then
        die "peer library missing: $s (apt-get install ${PKG[$s]})"
    fi
done

mkdir -p "$HERE/results"
OUT="$HERE/results/scaling.jsonl"
LOG="$HERE/build/scale/scale.log"
BUILD="$HERE/build/scale"
mkdir -p "$BUILD/lib"
: > "$LOG"
BENCH_PARENT="${BENCH_DIR:-/tmp}"
mkdir -p "$BENCH_PARENT"

# ---------------------------------------------------------------- room on this machine
# Per key: ~127 B of bitcask data (more for the B-tree/hash peers, ~200 B for LMDB), so the
# disk needs ~300 B/key for the largest store (only one store exists at a time); bitcask's
# keydir needs ~50 B/key of RAM plus the driver's 4 B/key fill order, so ~80 B/key with slack.
avail_disk=$(( $(df -Pk "$BENCH_PARENT" | awk 'NR==2 {print $4}') * 1024 ))
avail_mem=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) * 1024 ))
FIT=()
for k in "${KLIST[@]}"; do
    need_disk=$(( k * 300 )); need_mem=$(( k * 80 + (1 << 30) ))
    if [ "$need_disk" -gt "$avail_disk" ] || [ "$need_mem" -gt "$avail_mem" ]; then
        echo "scale.sh: SCALING DOWN: $k keys need ~$((need_disk >> 30)) GiB disk and ~$((need_mem >> 30)) GiB RAM;" \
             "$BENCH_PARENT has $((avail_disk >> 30)) GiB free, MemAvailable is $((avail_mem >> 30)) GiB - dropping $k" >&2
        echo "{\"store\":\"-\",\"test\":\"scaled_down\",\"keys\":$k,\"need_disk\":$need_disk,\"need_mem\":$need_mem,\"avail_disk\":$avail_disk,\"avail_mem\":$avail_mem}" >> "$LOG.drop"
    else
        FIT+=("$k")
    fi
done
[ "${#FIT[@]}" -gt 0 ] || die "not even ${KLIST[0]} keys fit on this machine"

# ---------------------------------------------------------------- cgroup for the limited reads
# cgroup v2 with the memory controller if the unified hierarchy has it, else the v1 memory
# controller (v1 groups go under this shell's own memory cgroup, so whatever limit that one has
# still applies). Every cache-limited run gets a fresh group, so peaks and charges left by the
# previous store cannot count against the next one.
CG_PARENT=""; CG_KIND=""; CG_BLOCKED=""; CG=""
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control \
        || echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    if grep -qw memory /sys/fs/cgroup/cgroup.subtree_control; then
        CG_PARENT=/sys/fs/cgroup; CG_KIND=v2
    else
        CG_BLOCKED="cgroup v2 is mounted but its memory controller cannot be enabled in cgroup.subtree_control"
    fi
elif [ -d /sys/fs/cgroup/memory ]; then
    CG_PARENT="/sys/fs/cgroup/memory$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)"
    CG_KIND=v1
else
    CG_BLOCKED="no cgroup memory controller is mounted (neither v2 nor v1)"
fi
cg_make() {  # creates $CG with the cache limit; returns 1 (and sets CG_BLOCKED) if it cannot
    CG="$CG_PARENT/bitcask-scale-$$-$1"
    if ! mkdir "$CG" 2>/dev/null; then CG_BLOCKED="cannot create $CG (not root?)"; CG=""; return 1; fi
    local f=memory.limit_in_bytes
    [ "$CG_KIND" = v2 ] && f=memory.max
    if ! echo "$LIMIT_BYTES" > "$CG/$f" 2>/dev/null || [ "$(cat "$CG/$f")" != "$LIMIT_BYTES" ]; then
        CG_BLOCKED="could not set $CG/$f to $LIMIT_BYTES"; rmdir "$CG"; CG=""; return 1
    fi
    # no swap here, but if there were, anonymous memory must not be pushed out instead of cache
    if [ "$CG_KIND" = v2 ]; then echo 0 > "$CG/memory.swap.max" 2>/dev/null || true
    else echo 0 > "$CG/memory.swappiness" 2>/dev/null || true; fi
}
cg_remove() { if [ -n "$CG" ] && [ -d "$CG" ]; then rmdir "$CG" 2>/dev/null || true; fi; CG=""; }
if [ -z "$CG_BLOCKED" ] && cg_make probe; then cg_remove; fi
CG_DESC=""
[ "$CG_KIND" = v2 ] && CG_DESC="cgroup v2 memory group (memory.max)"
[ "$CG_KIND" = v1 ] && CG_DESC="cgroup v1 memory group (memory.limit_in_bytes), a child of the shell's own"
if [ -n "$CG_BLOCKED" ]; then
    # The fallback, a data set larger than free memory, would need MemAvailable / 130 B keys
    # (~170M here): hours of filling on this class of machine. So say what blocked it instead.
    echo "scale.sh: WARNING: cache-limited reads skipped: $CG_BLOCKED" >&2
fi

TMP="$(mktemp -d "$BENCH_PARENT/bitcask-scale.XXXXXX")"
cleanup() { rm -rf "$TMP"; cg_remove; }
trap cleanup EXIT

# ---------------------------------------------------------------- build
echo "== building libbitcask (cargo build --release --locked --lib)" >&2
(cd "$ROOT" && cargo build --release --locked --lib) >&2 || die "cargo build failed"
[ -f "$ROOT/target/release/libbitcask.so" ] || die "no $ROOT/target/release/libbitcask.so"
# private copy, so a rebuild by someone else during the run cannot change it
rm -f "$BUILD/lib/libbitcask.so" "$BUILD/lib/libbitcask.so.0.1"
cp "$ROOT/target/release/libbitcask.so" "$BUILD/lib/libbitcask.so.0.1"
ln -s libbitcask.so.0.1 "$BUILD/lib/libbitcask.so"
(cd "$HERE" && make -s BUILD="$BUILD" STORES="${SEL[*]}") >&2 || die "make failed"
for s in "${SEL[@]}"; do [ -x "$BUILD/bench_$s" ] || die "$BUILD/bench_$s was not built"; done

# ---------------------------------------------------------------- machine
FS="$(findmnt -no FSTYPE,SOURCE -T "$TMP" 2>/dev/null | head -1 || true)"
CPU="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
GITREV="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
GITDIRTY="$(cd "$ROOT" && git status --porcelain -- src Cargo.toml Cargo.lock build.rs 2>/dev/null | wc -l)"
RA="$(cat "/sys/block/$(basename "$(findmnt -no SOURCE -T "$TMP")")/queue/read_ahead_kb" 2>/dev/null || echo "?")"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
: > "$OUT"
python3 - >> "$OUT" <<EOF
import json, sys
info = {"store": "-", "test": "machine",
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "cpu": """$CPU""".strip(), "cores": $(nproc),
  "mem_gib": round(int(open('/proc/meminfo').read().split()[1]) / 1048576, 1),
  "kernel": "$(uname -sr)", "filesystem": """$FS""", "read_ahead_kb": "$RA",
  "bench_dir": "$BENCH_PARENT", "loadavg_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "command": """$CMDLINE""", "keys": "$(IFS=,; echo "${FIT[*]}")", "keys_asked": "$KEYS",
  "stores": "$(IFS=,; echo "${SEL[*]}")", "runs": $RUNS, "reads": $READS,
  "cold_reads": $COLD_READS, "cold_secs": $COLD_SECS, "cold_min_keys": $COLD_MIN_KEYS, "peer_max_secs": $PEER_MAX_SECS,
  "cache_limit": $LIMIT_BYTES, "cgroup": """$CG_DESC""",
  "cgroup_blocked": """$CG_BLOCKED""",
  "bitcask": "commit $GITREV" + (" + $GITDIRTY uncommitted change(s) under src/ or Cargo files" if $GITDIRTY else ""),
  "versions": {"lmdb": "$(pkgver liblmdb-dev)", "leveldb": "$(pkgver libleveldb-dev)",
    "rocksdb": "$(pkgver librocksdb-dev)", "kyoto": "$(pkgver libkyotocabinet-dev)",
    "tkrzw": "$(pkgver libtkrzw-dev)", "sqlite": "$(pkgver libsqlite3-dev)"}}
print(json.dumps(info))
EOF
if [ -f "$LOG.drop" ]; then cat "$LOG.drop" >> "$OUT"; rm -f "$LOG.drop"; fi

# ---------------------------------------------------------------- run
# appends the driver's JSON lines to $OUT tagged with run, keys and phase
tag() { sed "s/^{/{\"run\":$1,\"keys\":$2,\"phase\":\"$3\",/" "$TMP/out.jsonl" >> "$OUT"; }
omit() {  # store keys reason
    say "   OMITTED $1 at $2 keys: $3"
    python3 -c 'import json,sys; print(json.dumps({"store":sys.argv[1],"test":"omitted","keys":int(sys.argv[2]),"reason":sys.argv[3]}))' \
        "$1" "$2" "$3" >> "$OUT"
}
# Writes the store directory back to disk and drops its pages from the page cache, so the
# cache-limited reads start cold. Targeted (fsync + POSIX_FADV_DONTNEED per file) rather than
# echo 3 > /proc/sys/vm/drop_caches, which would empty the cache of everyone on a shared machine.
evict() {
    python3 - "$1" <<'EOF'
import os, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(d, f), os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
}
cached_bytes() {  # bytes of the store's files resident in the page cache
    find "$1" -type f -print0 | xargs -0 -r fincore -bno RES 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
cg_report() {  # store keys: what the cgroup saw during the reads
    local peak cache
    if [ "$CG_KIND" = v1 ]; then
        peak=$(cat "$CG/memory.max_usage_in_bytes")
        cache=$(awk '$1 == "total_cache" {print $2}' "$CG/memory.stat")
    else
        peak=$(cat "$CG/memory.peak" 2>/dev/null || echo 0)   # kernels >= 5.19
        cache=$(awk '$1 == "file" {print $2}' "$CG/memory.stat")
    fi
    echo "{\"store\":\"$1\",\"keys\":$2,\"test\":\"cgroup\",\"kind\":\"$CG_KIND\",\"limit\":$LIMIT_BYTES,\"peak\":$peak,\"cache_after\":${cache:-0},\"store_cached_before\":$3,\"store_bytes\":$4}" >> "$OUT"
}

declare -A SECS=()   # "store keys" -> median-ish seconds of one fill+read run
start=$(date +%s)
say "== keys ${FIT[*]}, stores ${SEL[*]}, stores under $TMP ($FS); cache limit $CACHE_LIMIT (${CG_KIND:-none})"
pk=0
for k in "${FIT[@]}"; do
    if [ "$k" -le 10000000 ]; then rounds=$RUNS; else rounds=1; fi
    for r in $(seq 1 "$rounds"); do
        for s in "${SEL[@]}"; do
            limit=0
            if [ "$s" != bitcask ] && [ "$pk" -gt 0 ]; then
                prev="${SECS["$s $pk"]:-}"
                if [ -z "$prev" ]; then
                    [ "$r" -eq 1 ] && omit "$s" "$k" "no run at a smaller key count to project its time from"
                    continue
                fi
                proj=$(( prev * k / pk ))
                if [ "$proj" -gt "$PEER_MAX_SECS" ]; then
                    [ "$r" -eq 1 ] && omit "$s" "$k" "projected ${proj} s (${prev} s at $pk keys x $((k / pk))) is over the ${PEER_MAX_SECS} s budget per run"
                    continue
                fi
                limit=$(( 2 * PEER_MAX_SECS ))
            fi
            dir="$TMP/$s.$k.$r"
            say "-- $k keys, round $r/$rounds: $s"
            t0=$(date +%s)
            set +e
            if [ "$limit" -gt 0 ]; then
                timeout "$limit" "$BUILD/bench_$s" --keys "$k" --dir "$dir" --mode scale-fill --reads "$READS" \
                    2>&1 > "$TMP/out.jsonl" | tee -a "$LOG" >&2
            else
                "$BUILD/bench_$s" --keys "$k" --dir "$dir" --mode scale-fill --reads "$READS" \
                    2>&1 > "$TMP/out.jsonl" | tee -a "$LOG" >&2
            fi
            rc=${PIPESTATUS[0]}
            set -e
            if [ "$rc" -eq 124 ]; then
                omit "$s" "$k" "stopped after ${limit} s (timeout)"
                rm -rf "$dir"; continue
            fi
            [ "$rc" -eq 0 ] || die "bench_$s failed (exit $rc) at $k keys; see $LOG"
            grep -q '"test":"done"' "$TMP/out.jsonl" || die "bench_$s did not finish; see $LOG"
            tag "$r" "$k" fill
            el=$(( $(date +%s) - t0 ))
            say "   ($s: $el s)"
            if [ -z "${SECS["$s $k"]:-}" ] || [ "$el" -lt "${SECS["$s $k"]}" ]; then SECS["$s $k"]=$el; fi

            if [ "$r" -eq "$rounds" ] && [ "$k" -ge "$COLD_MIN_KEYS" ] && [ -z "$CG_BLOCKED" ] && cg_make "$s-$k"; then
                store_bytes=$(du -sb "$dir/db" | cut -f1)
                evict "$dir/db"
                before=$(cached_bytes "$dir/db")
                say "   cache-limited reads: $s, $k keys, store $((store_bytes >> 20)) MiB, cache limit $CACHE_LIMIT, $((before >> 20)) MiB cached at start"
                set +e
                "$BUILD/bench_$s" --keys "$k" --dir "$dir" --mode scale-read --reads "$COLD_READS" \
                    --max-secs "$COLD_SECS" --join-cgroup "$CG/cgroup.procs" \
                    2>&1 > "$TMP/out.jsonl" | tee -a "$LOG" >&2
                rc=${PIPESTATUS[0]}
                set -e
                [ "$rc" -eq 0 ] || die "bench_$s scale-read failed (exit $rc) at $k keys; see $LOG"
                grep -q '"test":"done"' "$TMP/out.jsonl" || die "bench_$s scale-read did not finish; see $LOG"
                tag "$r" "$k" cold
                cg_report "$s" "$k" "$before" "$store_bytes"
                cg_remove
            fi
            rm -rf "$dir"
        done
    done
    pk=$k
done
el=$(( $(date +%s) - start ))
say "== all runs done in $el s"
if [ -n "$CG_BLOCKED" ]; then
    python3 -c 'import json,sys; print(json.dumps({"store":"-","test":"cold_blocked","reason":sys.argv[1]}))' \
        "$CG_BLOCKED" >> "$OUT"
fi
echo "{\"store\":\"-\",\"test\":\"end\",\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"run_secs\":$el}" >> "$OUT"

# ---------------------------------------------------------------- report
python3 "$HERE/scale_report.py" --results "$OUT" --md "$HERE/results/scaling.md" \
    --png "$HERE/results/scaling.png" --work "$BUILD" || die "report failed"
echo "== wrote $HERE/results/scaling.md and $HERE/results/scaling.png" >&2
