#!/usr/bin/env bash
# vouch's benchmark: vouch, cosign 2.5 and "the floor" (the bare HTTP requests a verifier
# must make) side by side, in one run, on one machine, against a loopback docker-registry.
# See docs/performance.md for what is measured and how to read the figures.
#
# Usage: bash bench/run.sh [--quick] [--no-build]
#   --quick     N in {1, 100} only, no 10,000-image run (a CI smoke test, ~3.5 min;
#               the full run takes ~12 min on 2 cores, plus the first release build)
#   --no-build  use the release binaries already in target/release (default: cargo build
#               --release first; a no-op when they are up to date)
#
# Knobs (environment):
#   BENCH_JOBS=N           parallelism for vouch (--jobs) and the floor
#                          (default: vouch's own --jobs default)
#   BENCH_NS="1 100 1000"  image counts for the verify comparison
#   BENCH_BIG=10000        image count for the peak-RSS run (0: skip)
#   BENCH_COSIGN_BIG=1     also run cosign at BENCH_BIG images (slow; off by default)
#   BENCH_SIGN_NS="1 100 1000"  image counts for the sign comparison ("" to skip)
#   BENCH_LATENCY_MS=20    round trip added by the proxy (per request, and per new connection)
#   BENCH_LATENCY_N=100    image count for the latency comparison
#   BENCH_LATENCY_JOBS2=64 also run vouch and the floor at this --jobs through the proxy (0: skip)
#   BENCH_RUNS=3           runs per figure (best of); N=1 takes the median of BENCH_RUNS_N1=5
#   BENCH_SETUP_JOBS=128   vouch sign --jobs for signing the benchmark images
#   BENCH_KEEP=1           keep the work directory (registry storage, logs)
#
# Prints the tables at the end and writes them, with machine information, to
# bench/results/latest.md (bench/results/quick.md with --quick); every run is also
# appended to bench/results/history.md.
set -euo pipefail
export LC_ALL=C

QUICK=0
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
VOUCH="$TARGET/vouch"
FLOOR="$TARGET/floor"
SETUP="$TARGET/bench_setup"
PROXY="$TARGET/latency_proxy"
PEERS_DIR="${VOUCH_PEERS_DIR:-${HOME:-/root}/.cache/vouch-peers}"
COSIGN="$PEERS_DIR/bin/cosign"

if [ "$QUICK" = 1 ]; then
    NS="${BENCH_NS:-1 100}"
    BIG="${BENCH_BIG:-0}"
    SIGN_NS="${BENCH_SIGN_NS-1 100}"
    RESULTS="$ROOT/bench/results/quick.md"
else
    NS="${BENCH_NS:-1 100 1000}"
    BIG="${BENCH_BIG:-10000}"
    SIGN_NS="${BENCH_SIGN_NS-1 100 1000}"
    RESULTS="$ROOT/bench/results/latest.md"
fi
RUNS="${BENCH_RUNS:-3}"
RUNS_N1="${BENCH_RUNS_N1:-5}"
LATENCY_MS="${BENCH_LATENCY_MS:-20}"
LATENCY_N="${BENCH_LATENCY_N:-100}"
LATENCY_JOBS2="${BENCH_LATENCY_JOBS2:-64}"
SETUP_JOBS="${BENCH_SETUP_JOBS:-128}"

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

# --- tools ---------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    say "cargo build --release -p vouch -p vouch-e2e --bins (first time: ~15 min on 2 cores)"
    (cd "$ROOT" && cargo build --release --quiet -p vouch -p vouch-e2e --bins) ||
        die "release build failed"
fi
# The commit the binaries were built from (with --no-build: the tree now, which may differ).
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- cli crates policy Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    COMMIT="$COMMIT + uncommitted changes in cli/, crates/ or policy/"
fi
[ "$BUILD" = 1 ] || COMMIT="$COMMIT (tree at run time; --no-build)"
for b in "$VOUCH" "$FLOOR" "$SETUP" "$PROXY"; do
    [ -x "$b" ] || die "$b missing: run without --no-build"
done
if [ ! -x "$COSIGN" ] || ! command -v docker-registry >/dev/null 2>&1; then
    say "fetching cosign and docker-registry (tests/peers/fetch-peers.sh)"
    VOUCH_PEERS_DIR="$PEERS_DIR" bash "$ROOT/tests/peers/fetch-peers.sh" >&2
fi
if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing GNU time (peak RSS)"
        apt-get install -y -qq time >/dev/null
    else
        die "GNU time (/usr/bin/time) is needed for peak RSS: apt-get install time"
    fi
fi
HYPERFINE=$(command -v hyperfine || true)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- work dir, registry ----------------------------------------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/vouch-bench.XXXXXX")
REGISTRY_PID=""
PROXY_PID=""
cleanup() {
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
    [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null
    wait 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "work directory kept: $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
mkdir -p "$W/home" "$W/logs" "$W/storage"

wait_port() { # PORT: wait until something listens there
    local i
    for ((i = 0; i < 150; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

PORT=$("$SETUP" port)
cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $W/storage
http:
  addr: 127.0.0.1:$PORT
  secret: vouch-bench-$RANDOM$RANDOM
EOF
docker-registry serve "$W/registry.yml" >/dev/null 2>"$W/logs/registry.log" &
REGISTRY_PID=$!
wait_port "$PORT" || die "docker-registry did not start: $(cat "$W/logs/registry.log")"
REG="127.0.0.1:$PORT"

# Every tool runs with an empty home: no credentials, no caches from elsewhere.
export HOME="$W/home"
export XDG_CACHE_HOME="$W/vouch-cache"
export TUF_ROOT="$W/home/.sigstore" SIGSTORE_NO_CACHE=1
export VOUCH_PASSWORD=bench COSIGN_PASSWORD=bench NO_COLOR=1
unset DOCKER_CONFIG REGISTRY_AUTH_FILE VOUCH_ALLOW_INSECURE_REGISTRY COSIGN_EXPERIMENTAL

"$VOUCH" keygen --output-key-prefix "$W/bench" >/dev/null 2>&1 || die "vouch keygen failed"
KEY="$W/bench.key"
PUB="$W/bench.pub"

# --- what this vouch can do ----------------------------------------------------------------
VERIFY_HELP=$("$VOUCH" verify --help)
SIGN_HELP=$("$VOUCH" sign --help)
has() { grep -q -- "$2" <<<"$1"; }
if has "$VERIFY_HELP" "--jobs"; then
    DEFAULT_JOBS=$(grep -A4 -- "--jobs" <<<"$VERIFY_HELP" | grep -o 'default: [0-9]*' | head -1 | grep -o '[0-9]*' || true)
    JOBS="${BENCH_JOBS:-${DEFAULT_JOBS:-16}}"
    VJOBS=(--jobs "$JOBS")
    VOUCH_PARALLEL="--jobs $JOBS"
else
    JOBS="${BENCH_JOBS:-16}"
    VJOBS=()
    VOUCH_PARALLEL="sequential (no --jobs in this build)"
fi
if has "$SIGN_HELP" "--jobs"; then SJOBS=(--jobs "$JOBS"); else SJOBS=(); fi
HAS_OFFLINE=0
has "$VERIFY_HELP" "--offline" && HAS_OFFLINE=1

VOUCH_VERIFY_BASE=("$VOUCH" --allow-insecure-registry verify --key "$PUB")
VOUCH_VERIFY=("${VOUCH_VERIFY_BASE[@]}" "${VJOBS[@]}")
VOUCH_SIGN=("$VOUCH" --allow-insecure-registry sign --key "$KEY" "${SJOBS[@]}")
COSIGN_VERIFY=("$COSIGN" verify --key "$PUB" --insecure-ignore-tlog=true --allow-insecure-registry)
COSIGN_SIGN=("$COSIGN" sign --key "$KEY" --tlog-upload=false --allow-insecure-registry -y)

# Signs the references in FILE with one vouch call (for setup; not timed).
sign_all() {
    local file=$1 log=$2
    if has "$SIGN_HELP" "--from" && has "$SIGN_HELP" "--jobs"; then
        "$VOUCH" --allow-insecure-registry sign --key "$KEY" --jobs "$SETUP_JOBS" --from "$file" \
            >/dev/null 2>>"$log"
    else
        # An older vouch: sequential, one image at a time per process; spread over processes.
        xargs -P 16 -n 20 "$VOUCH" --allow-insecure-registry sign --key "$KEY" <"$file" \
            >/dev/null 2>>"$log"
    fi
}

# --- timing ------------------------------------------------------------------------------
declare -A MS RSS OK CPU REGCPU
us_to_ms() { # microseconds -> "123.4"
    printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100))
}

# CPU time (user + system) the registry has used so far, in ms.
CLK_TCK=$(getconf CLK_TCK)
registry_cpu_ms() { awk -v hz="$CLK_TCK" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$REGISTRY_PID/stat"; }

# timed KEY RUNS PREP CMD...: runs CMD RUNS times (PREP, a shell snippet run before each
# run and not timed, may replace the command in the array CMD), stdout to /dev/null, stderr
# to logs/KEY.log. Records the best time (the median when RUNS >= 5), the highest peak RSS,
# the mean CPU time of the command and of the registry, and whether every run exited 0.
timed() {
    local key=$1 runs=$2 prep=$3
    shift 3
    CMD=("$@")
    local times=() rss=0 ok=1 cpu=0 reg=0 i s e r0 line
    for ((i = 0; i < runs; i++)); do
        if [ -n "$prep" ]; then eval "$prep"; fi
        r0=$(registry_cpu_ms)
        s=$EPOCHREALTIME
        if ! /usr/bin/time -f '%M %U %S' -o "$W/rss" "${CMD[@]}" >/dev/null 2>>"$W/logs/$key.log"; then
            ok=0
        fi
        e=$EPOCHREALTIME
        reg=$((reg + $(registry_cpu_ms) - r0))
        times+=($((${e/./} - ${s/./})))
        read -r -a line < <(tail -n 1 "$W/rss")
        if [[ "${line[0]:-}" =~ ^[0-9]+$ ]]; then
            if [ "${line[0]}" -gt "$rss" ]; then rss=${line[0]}; fi
            cpu=$((cpu + $(awk -v u="${line[1]}" -v s="${line[2]}" 'BEGIN { printf "%d", (u + s) * 1000 }')))
        fi
    done
    local sorted
    mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
    if [ "$runs" -ge 5 ]; then
        MS[$key]=$(us_to_ms "${sorted[$((runs / 2))]}")
    else
        MS[$key]=$(us_to_ms "${sorted[0]}")
    fi
    RSS[$key]=$rss
    CPU[$key]=$((cpu / runs))
    REGCPU[$key]=$((reg / runs))
    OK[$key]=$ok
    if [ "$ok" = 0 ]; then
        say "  $key: FAILED (see below)"
        tail -n 5 "$W/logs/$key.log" >&2
    else
        say "  $key: ${MS[$key]} ms, peak RSS $((rss / 1024)) MiB, CPU ${CPU[$key]} ms, registry CPU ${REGCPU[$key]} ms"
    fi
}

runs_for() { if [ "$1" = 1 ]; then echo "$RUNS_N1"; else echo "$RUNS"; fi; }
cold_cache="rm -rf '$XDG_CACHE_HOME'"

# --- setup: images, signed once by vouch ------------------------------------------------------
MAXN=0
for n in $NS "$BIG"; do if [ "$n" -gt "$MAXN" ]; then MAXN=$n; fi; done
say "setup: pushing $MAXN images to $REG"
"$SETUP" push --registry "$REG" --prefix bench/verify --count "$MAXN" \
    --out "$W/verify.refs" --tags-out "$W/verify.tags" 2>>"$W/logs/setup.log" ||
    die "push failed: $(tail -n 5 "$W/logs/setup.log")"
s=$EPOCHREALTIME
say "setup: vouch sign of $MAXN images (--jobs $SETUP_JOBS)"
sign_all "$W/verify.refs" "$W/logs/setup.log" || die "setup signing failed: $(tail -n 5 "$W/logs/setup.log")"
e=$EPOCHREALTIME
SETUP_SIGN_MS=$(us_to_ms $((${e/./} - ${s/./})))
say "setup: signed in $SETUP_SIGN_MS ms"
mapfile -t VREFS <"$W/verify.refs"
mapfile -t VTAGS <"$W/verify.tags"

# --- verify, loopback ------------------------------------------------------------------------
for n in $NS; do
    runs=$(runs_for "$n")
    say "verify, loopback, N=$n (digest references, $runs runs)"
    refs=("${VREFS[@]:0:n}")
    timed "vouch.$n" "$runs" "$cold_cache" "${VOUCH_VERIFY[@]}" "${refs[@]}"
    timed "floor.$n" "$runs" "" "$FLOOR" --refs "$W/verify.refs" --count "$n" --jobs "$JOBS"
    timed "floorR.$n" "$runs" "" "$FLOOR" --refs "$W/verify.refs" --count "$n" --jobs "$JOBS" --referrers
    timed "floorM.$n" "$runs" "" "$FLOOR" --refs "$W/verify.refs" --count "$n" --jobs "$JOBS" --manifest-only
    timed "floor1.$n" "$runs" "" "$FLOOR" --refs "$W/verify.refs" --count "$n" --jobs 1
    timed "cosign.$n" "$runs" "" "${COSIGN_VERIFY[@]}" "${refs[@]}"
done

# One image, fresh process, many runs.
HF=""
if [ -n "$HYPERFINE" ]; then
    say "verify, loopback, N=1: hyperfine, 30 runs each"
    one="${VREFS[0]}"
    "$HYPERFINE" -N --warmup 3 --runs 30 --export-csv "$W/hf.csv" \
        --prepare "rm -rf $XDG_CACHE_HOME" -n "vouch (cold cache)" "${VOUCH_VERIFY[*]} $one" \
        -n "floor (1 job)" "$FLOOR --refs $W/verify.refs --count 1 --jobs 1" \
        -n "cosign" "${COSIGN_VERIFY[*]} $one" \
        >"$W/logs/hyperfine.log" 2>&1 || say "hyperfine failed: $(tail -n 3 "$W/logs/hyperfine.log")"
    # Warm cache: the preceding run filled it.
    "${VOUCH_VERIFY[@]}" "$one" >/dev/null 2>&1 || true
    "$HYPERFINE" -N --warmup 3 --runs 30 --export-csv "$W/hf-warm.csv" \
        -n "vouch (warm cache)" "${VOUCH_VERIFY[*]} $one" \
        >>"$W/logs/hyperfine.log" 2>&1 || true
    if [ -s "$W/hf.csv" ]; then HF=1; fi
fi

# Tag references: one more manifest request per image, for everyone.
TAGN=$(for n in $NS; do echo "$n"; done | sort -n | tail -n 1)
say "verify, loopback, N=$TAGN tag references"
timed "vouch-tag.$TAGN" "$RUNS" "$cold_cache" "${VOUCH_VERIFY[@]}" "${VTAGS[@]:0:TAGN}"
head -n "$TAGN" "$W/verify.tags" >"$W/tags.refs"
timed "floor-tag.$TAGN" "$RUNS" "" "$FLOOR" --refs "$W/tags.refs" --jobs "$JOBS"
timed "cosign-tag.$TAGN" "$RUNS" "" "${COSIGN_VERIFY[@]}" "${VTAGS[@]:0:TAGN}"

# Warm cache.
if [ "$HAS_OFFLINE" = 1 ]; then
    say "verify, warm cache, N=$TAGN"
    rm -rf "$XDG_CACHE_HOME"
    "${VOUCH_VERIFY[@]}" "${VREFS[@]:0:TAGN}" >/dev/null 2>&1 || say "filling the cache failed"
    timed "vouch-offline.$TAGN" "$RUNS" "" "${VOUCH_VERIFY[@]}" --offline "${VREFS[@]:0:TAGN}"
    timed "vouch-warm.$TAGN" "$RUNS" "" "${VOUCH_VERIFY[@]}" "${VREFS[@]:0:TAGN}"
else
    say "verify, warm cache: this vouch has no --offline; pending"
fi

# --- verify through a latency-injecting proxy ----------------------------------------------------
say "verify through a proxy adding $LATENCY_MS ms per round trip, N=$LATENCY_N"
coproc PX { exec "$PROXY" --upstream "$REG"; }
PROXY_PID=$PX_PID
PXW=${PX[1]}
read -r PH <&"${PX[0]}" || die "latency_proxy did not start"
px() { echo "$*" >&"$PXW"; }
px_stats() { # FILE: traffic since the last call
    rm -f "$1"
    px stats "$1"
    local i
    for ((i = 0; i < 100; i++)); do
        if [ -s "$1" ]; then return 0; fi
        sleep 0.05
    done
    echo "requests=? connections=?" >"$1"
}
"$SETUP" push --registry "$REG" --prefix bench/latency --count "$LATENCY_N" \
    --out "$W/latency-direct.refs" 2>>"$W/logs/setup.log" || die "push failed"
sed "s|^$REG/|$PH/|" "$W/latency-direct.refs" >"$W/latency.refs"
# Signed through the proxy's address, so the signatures name the repositories as seen there.
sign_all "$W/latency.refs" "$W/logs/setup.log" || die "signing through the proxy failed"
mapfile -t LREFS <"$W/latency.refs"
px rtt "$LATENCY_MS"
declare -A PXS
for tool in vouch floor floorM cosign; do
    px_stats "$W/px.reset"
    case $tool in
        vouch) timed "vouch.lat" "$RUNS" "$cold_cache" "${VOUCH_VERIFY[@]}" "${LREFS[@]}" ;;
        floor) timed "floor.lat" "$RUNS" "" "$FLOOR" --refs "$W/latency.refs" --jobs "$JOBS" ;;
        floorM) timed "floorM.lat" "$RUNS" "" "$FLOOR" --refs "$W/latency.refs" --jobs "$JOBS" --manifest-only ;;
        cosign) timed "cosign.lat" "$RUNS" "" "${COSIGN_VERIFY[@]}" "${LREFS[@]}" ;;
    esac
    px_stats "$W/px.$tool"
    PXS[$tool]=$(cat "$W/px.$tool")
done
# Parallelism is the lever against latency: the same at a higher --jobs.
if [ "${#VJOBS[@]}" -gt 0 ] && [ "$LATENCY_JOBS2" -gt 0 ]; then
    timed "vouch.lat2" "$RUNS" "$cold_cache" "${VOUCH_VERIFY_BASE[@]}" --jobs "$LATENCY_JOBS2" "${LREFS[@]}"
    timed "floor.lat2" "$RUNS" "" "$FLOOR" --refs "$W/latency.refs" --jobs "$LATENCY_JOBS2"
fi
exec {PXW}>&-
wait "$PROXY_PID" 2>/dev/null || true
PROXY_PID=""

# --- sign ------------------------------------------------------------------------------------
# Each run signs a fresh set of images: PREP loads the next set into CMD.
next_set() { # TOOL N
    local refs
    mapfile -t refs <"$W/sign-$1-$2-$sign_run.refs"
    sign_run=$((sign_run + 1))
    if [ "$1" = vouch ]; then CMD=("${VOUCH_SIGN[@]}" "${refs[@]}"); else CMD=("${COSIGN_SIGN[@]}" "${refs[@]}"); fi
}
for n in $SIGN_NS; do
    if [ "$n" -ge 1000 ]; then sruns=1; else sruns=$(runs_for "$n"); fi
    say "sign, N=$n ($sruns runs, fresh images each run)"
    for tool in vouch cosign; do
        for ((r = 0; r < sruns; r++)); do
            "$SETUP" push --registry "$REG" --prefix "bench/sign-$tool-$n-$r" --count "$n" \
                --out "$W/sign-$tool-$n-$r.refs" 2>>"$W/logs/setup.log" || die "push failed"
        done
    done
    sign_run=0
    timed "vouch-sign.$n" "$sruns" "next_set vouch $n" true
    sign_run=0
    timed "cosign-sign.$n" "$sruns" "next_set cosign $n" true
done

# --- peak RSS at BIG images ----------------------------------------------------------------------
if [ "$BIG" -gt 0 ]; then
    say "verify, loopback, N=$BIG (peak RSS; 1 run)"
    timed "vouch.$BIG" 1 "$cold_cache" "${VOUCH_VERIFY[@]}" "${VREFS[@]:0:BIG}"
    timed "floor.$BIG" 1 "" "$FLOOR" --refs "$W/verify.refs" --count "$BIG" --jobs "$JOBS"
    if [ "${BENCH_COSIGN_BIG:-0}" = 1 ]; then
        timed "cosign.$BIG" 1 "" "${COSIGN_VERIFY[@]}" "${VREFS[@]:0:BIG}"
    fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
val() { # KEY: "12.3 ms", FAILED, or —
    if [ -z "${MS[$1]:-}" ]; then
        echo "—"
    elif [ "${OK[$1]}" = 0 ]; then
        echo "FAILED"
    else
        echo "${MS[$1]} ms"
    fi
}
num() { if [ -n "${MS[$1]:-}" ] && [ "${OK[$1]}" = 1 ]; then echo "${MS[$1]}"; fi; }
ratio() { # KEY_A KEY_B: A / B
    local a b
    a=$(num "$1")
    b=$(num "$2")
    if [ -n "$a" ] && [ -n "$b" ]; then awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "—" }'; else echo "—"; fi
}
mib() { # KEY: peak RSS in MiB
    if [ -n "${RSS[$1]:-}" ] && [ "${RSS[$1]}" -gt 0 ]; then awk -v k="${RSS[$1]}" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo "—"; fi
}
cpu() { if [ -n "${CPU[$1]:-}" ]; then echo "${CPU[$1]}"; else echo "—"; fi; }
regcpu() { if [ -n "${REGCPU[$1]:-}" ]; then echo "${REGCPU[$1]}"; else echo "—"; fi; }
per_run() { # "requests=R connections=C ..." FIELD: value divided by RUNS
    local v
    v=$(grep -o "$2=[0-9]*" <<<"$1" | cut -d= -f2)
    if [ -n "$v" ]; then awk -v v="$v" -v r="$RUNS" 'BEGIN { printf "%g", v / r }'; else echo "?"; fi
}
check() { # DESCRIPTION MEASURED OK(0/1/"")
    local status="not measured"
    if [ "$3" = 1 ]; then status="met"; elif [ "$3" = 0 ]; then status="**missed**"; fi
    echo "| $1 | $2 | $status |"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'; }

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
MEM=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
COSIGN_VERSION=$(grep '^cosign ' "$PEERS_DIR/versions" 2>/dev/null | cut -d' ' -f2 || true)

report() {
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$QUICK" = 1 ] && echo ' (quick)')"
    echo
    echo "- machine: $(nproc) CPUs ($CPU), $MEM RAM, Linux $(uname -r); load average at start $LOAD_START, at end $LOAD_END"
    echo "- vouch $("$VOUCH" --version | awk '{ print $2 }') at $COMMIT (release build of $(date -u -r "$VOUCH" '+%Y-%m-%d %H:%M UTC')), $VOUCH_PARALLEL"
    echo "- cosign ${COSIGN_VERSION:-?} (Debian), default settings; docker-registry $(docker-registry --version | awk '{ print $3 }'), filesystem storage, on 127.0.0.1"
    echo "- floor: \`floor --jobs $JOBS\` (and \`--jobs 1\`), one keep-alive connection per job"
    echo "- wall time per process, best of $RUNS runs (N=1: median of $RUNS_N1), peak RSS from GNU time"
    echo "- setup: $MAXN images pushed and signed by one \`vouch sign --jobs $SETUP_JOBS\` in $SETUP_SIGN_MS ms"
    echo
    echo "### Verify, loopback, digest references (vouch with an empty cache)"
    echo
    echo "| N | vouch | floor ($JOBS jobs) | floor (1 job) | cosign | vouch / floor | cosign / vouch | peak RSS vouch | peak RSS cosign | floor, .sig manifest only ($JOBS jobs) | vouch / (floor, manifest only) | floor + referrers ($JOBS jobs) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in $NS; do
        echo "| $n | $(val "vouch.$n") | $(val "floor.$n") | $(val "floor1.$n") | $(val "cosign.$n") | $(ratio "vouch.$n" "floor.$n") | $(ratio "cosign.$n" "vouch.$n") | $(mib "vouch.$n") | $(mib "cosign.$n") | $(val "floorM.$n") | $(ratio "vouch.$n" "floorM.$n") | $(val "floorR.$n") |"
    done
    echo
    echo "The floor fetches each image's \`.sig\` manifest and its signature blob (2 requests). \"floor, .sig manifest"
    echo "only\" skips the blob, as vouch does when the payload is the unannotated one it can compute from the digest"
    echo "and repository (1 request). \"floor + referrers\" adds the Sigstore-bundle lookup a verifier of OCI referrers"
    echo "makes (\`GET …/referrers/<digest>\`, then the \`sha256-<hex>\` fallback tag when that is 404, as on"
    echo "Distribution 2.8); vouch makes it only for images whose \`.sig\` signatures do not verify."
    echo
    echo "(The N=1 row includes a few ms of the harness's own process overhead; the hyperfine table below does not.)"
    echo
    echo "CPU time per run (user + system, ms; mean of the runs), of the tool and of the registry. On $(nproc) cores the"
    echo "registry and the client share the CPUs: when their sum nears $(nproc) × the wall time, the run is CPU-bound."
    echo
    echo "| N | vouch | floor ($JOBS jobs) | floor (1 job) | cosign | registry, serving vouch | … floor ($JOBS jobs) | … floor (1 job) | … cosign |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in $NS; do
        echo "| $n | $(cpu "vouch.$n") | $(cpu "floor.$n") | $(cpu "floor1.$n") | $(cpu "cosign.$n") | $(regcpu "vouch.$n") | $(regcpu "floor.$n") | $(regcpu "floor1.$n") | $(regcpu "cosign.$n") |"
    done
    if [ -n "$HF" ]; then
        echo
        echo "### One image, fresh process (hyperfine, 30 runs after 3 warm-ups)"
        echo
        echo "| command | median | min | mean ± σ |"
        echo "|---|---:|---:|---:|"
        tail -q -n +2 "$W/hf.csv" "$W/hf-warm.csv" 2>/dev/null |
            awk -F, '{ printf "| %s | %.1f ms | %.1f ms | %.1f ± %.1f ms |\n", $1, $4 * 1000, $7 * 1000, $2 * 1000, $3 * 1000 }'
    fi
    echo
    echo "### Verify, loopback, tag references (one more manifest request per image)"
    echo
    echo "| N | vouch | floor ($JOBS jobs) | cosign | vouch / floor | cosign / vouch |"
    echo "|---:|---:|---:|---:|---:|---:|"
    echo "| $TAGN | $(val "vouch-tag.$TAGN") | $(val "floor-tag.$TAGN") | $(val "cosign-tag.$TAGN") | $(ratio "vouch-tag.$TAGN" "floor-tag.$TAGN") | $(ratio "cosign-tag.$TAGN" "vouch-tag.$TAGN") |"
    echo
    echo "### Verify with a warm cache, N=$TAGN digest references"
    echo
    echo "| vouch --offline | vouch (warm cache, online: re-reads each .sig manifest) | vouch (empty cache, from above) |"
    echo "|---:|---:|---:|"
    if [ "$HAS_OFFLINE" = 1 ]; then
        echo "| $(val "vouch-offline.$TAGN") | $(val "vouch-warm.$TAGN") | $(val "vouch.$TAGN") |"
    else
        echo "| pending (no --offline in this build) | pending | $(val "vouch.$TAGN") |"
    fi
    echo
    echo "### Verify through a proxy adding $LATENCY_MS ms per round trip (each request, each new connection), N=$LATENCY_N"
    echo
    echo "| N | vouch | floor ($JOBS jobs) | floor, manifest only | cosign | vouch / floor | vouch / (floor, manifest only) | cosign / vouch |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| $LATENCY_N | $(val vouch.lat) | $(val floor.lat) | $(val floorM.lat) | $(val cosign.lat) | $(ratio vouch.lat floor.lat) | $(ratio vouch.lat floorM.lat) | $(ratio cosign.lat vouch.lat) |"
    if [ -n "${MS[vouch.lat2]:-}" ]; then
        echo
        echo "At --jobs $LATENCY_JOBS2 (vouch and the floor): vouch $(val vouch.lat2), floor $(val floor.lat2), vouch / floor $(ratio vouch.lat2 floor.lat2), cosign / vouch $(ratio cosign.lat vouch.lat2)."
    fi
    echo
    echo "Requests per run, as the proxy saw them:"
    echo
    echo "| tool | requests | manifest GETs | blob GETs | referrers GETs | HEADs | other (GET /v2/) | new connections |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for tool in vouch floor floorM cosign; do
        local s="${PXS[$tool]:-}"
        echo "| $tool | $(per_run "$s" requests) | $(per_run "$s" manifest_gets) | $(per_run "$s" blob_gets) | $(per_run "$s" referrers_gets) | $(per_run "$s" heads) | $(per_run "$s" other) | $(per_run "$s" connections) |"
    done
    if [ -n "$SIGN_NS" ]; then
        echo
        echo "### Sign, loopback, fresh images each run (N=1: median of $RUNS_N1; N ≥ 1000: one run)"
        echo
        echo "| N | vouch sign | cosign sign | vouch / cosign | peak RSS vouch | peak RSS cosign |"
        echo "|---:|---:|---:|---:|---:|---:|"
        for n in $SIGN_NS; do
            echo "| $n | $(val "vouch-sign.$n") | $(val "cosign-sign.$n") | $(ratio "vouch-sign.$n" "cosign-sign.$n") | $(mib "vouch-sign.$n") | $(mib "cosign-sign.$n") |"
        done
    fi
    if [ "$BIG" -gt 0 ]; then
        echo
        echo "### N=$BIG, loopback (one run)"
        echo
        echo "| tool | time | peak RSS | CPU (ms) | registry CPU (ms) |"
        echo "|---|---:|---:|---:|---:|"
        echo "| vouch | $(val "vouch.$BIG") | $(mib "vouch.$BIG") | $(cpu "vouch.$BIG") | $(regcpu "vouch.$BIG") |"
        echo "| floor ($JOBS jobs) | $(val "floor.$BIG") | $(mib "floor.$BIG") | $(cpu "floor.$BIG") | $(regcpu "floor.$BIG") |"
        if [ "${BENCH_COSIGN_BIG:-0}" = 1 ]; then
            echo "| cosign | $(val "cosign.$BIG") | $(mib "cosign.$BIG") | $(cpu "cosign.$BIG") | $(regcpu "cosign.$BIG") |"
        else
            echo "| cosign | skipped (BENCH_COSIGN_BIG=1 to run it) | | | |"
        fi
    fi
    echo
    echo "### Targets"
    echo
    echo "| target | measured | |"
    echo "|---|---:|---|"
    local r
    if [ -n "$(num vouch.1000)" ] && [ -n "$(num floor.1000)" ]; then
        r=$(awk -v a="$(num vouch.1000)" -v b="$(num floor.1000)" 'BEGIN { printf "%.2f", a / b }')
        check "loopback, N=1000: vouch ≤ 1.2× the floor" "${r}×" "$(le "$r" 1.2)"
    else
        check "loopback, N=1000: vouch ≤ 1.2× the floor" "—" ""
    fi
    if [ -n "$(num vouch.1000)" ] && [ -n "$(num floorM.1000)" ]; then
        r=$(awk -v a="$(num vouch.1000)" -v b="$(num floorM.1000)" 'BEGIN { printf "%.2f", a / b }')
        check "(stricter) loopback, N=1000: vouch ≤ 1.2× the manifest-only floor" "${r}×" "$(le "$r" 1.2)"
    fi
    if [ -n "$(num vouch.1000)" ] && [ -n "$(num cosign.1000)" ]; then
        r=$(awk -v a="$(num cosign.1000)" -v b="$(num vouch.1000)" 'BEGIN { printf "%.2f", a / b }')
        check "loopback, N=1000: vouch ≥ 2× faster than cosign" "${r}×" "$(ge "$r" 2)"
    else
        check "loopback, N=1000: vouch ≥ 2× faster than cosign" "—" ""
    fi
    if [ -n "$(num vouch.lat)" ] && [ -n "$(num cosign.lat)" ] && [ "$LATENCY_N" = 100 ]; then
        r=$(awk -v a="$(num cosign.lat)" -v b="$(num vouch.lat)" 'BEGIN { printf "%.2f", a / b }')
        check "$LATENCY_MS ms round trip, N=100: vouch ≥ 10× faster than cosign" "${r}×" "$(ge "$r" 10)"
    else
        check "20 ms round trip, N=100: vouch ≥ 10× faster than cosign" "—" ""
    fi
    if [ "$TAGN" = 1000 ] && [ -n "$(num vouch-offline.1000)" ]; then
        check "warm cache, 1000 digest references: ≤ 100 ms" "$(num vouch-offline.1000) ms" "$(le "$(num vouch-offline.1000)" 100)"
    else
        check "warm cache, 1000 digest references: ≤ 100 ms" "—" ""
    fi
    if [ -n "$(num floor.1000)" ] && [ -n "$(num cosign.1000)" ]; then
        r=$(awk -v a="$(num cosign.1000)" -v b="$(num floor.1000)" 'BEGIN { printf "%.2f", a / b }')
        echo "| (for reference) loopback, N=1000: the floor is this much faster than cosign | ${r}× | |"
    fi
    local one=""
    if [ -n "$HF" ]; then
        one=$(awk -F, 'NR == 2 { printf "%.1f", $4 * 1000 }' "$W/hf.csv")
    else
        one=$(num vouch.1)
    fi
    if [ -n "$one" ]; then
        check "one image, fresh process, loopback: ≤ 15 ms" "$one ms" "$(le "$one" 15)"
    else
        check "one image, fresh process, loopback: ≤ 15 ms" "—" ""
    fi
    if [ "$BIG" = 10000 ] && [ -n "$(num vouch.10000)" ]; then
        check "peak RSS at N=10,000: ≤ 64 MiB" "$(mib vouch.10000)" "$(le "${RSS[vouch.10000]}" 65536)"
    else
        check "peak RSS at N=10,000: ≤ 64 MiB" "—" ""
    fi
    echo
    echo "Reproduce: \`bash bench/run.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`"
}

mkdir -p "$(dirname "$RESULTS")"
report >"$W/report.md"
{
    echo "# vouch benchmark results"
    echo
    echo "Written by \`bench/run.sh\`; see docs/performance.md for what the figures mean."
    echo
    cat "$W/report.md"
} >"$RESULTS"
{
    echo
    cat "$W/report.md"
} >>"$ROOT/bench/results/history.md"
echo
cat "$W/report.md"
say "written to ${RESULTS#"$ROOT"/} (and appended to bench/results/history.md)"
