#!/usr/bin/env bash
# Benchmarks for images read from deployment files (docs/performance.md, "Images from
# deployment files"), on a loopback docker-registry:
#   1. extraction: `vouch images -f` on a 5,000-document (~10 MB) Kubernetes stream, wall time
#      and peak RSS (GNU time), best of BENCH_RUNS; and the in-process time of the extraction
#      alone (`cargo bench -p vouch-deploy --bench extract`);
#   2. `vouch verify --policy p.yaml -f chart.yaml` over BENCH_DEPLOY_N (200) distinct signed
#      images against the same verify given the references directly (`--from`), both with
#      `--no-cache`, best of BENCH_RUNS each.
#
# Usage: bash bench/deploy.sh [--no-build]
# Knobs: BENCH_RUNS=7, BENCH_DEPLOY_N=200, BENCH_KEEP=1 (keep the work directory).
# Writes bench/results/deploy.md.
set -euo pipefail
export LC_ALL=C

BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
VOUCH="$TARGET/vouch"
SETUP="$TARGET/bench_setup"
RUNS="${BENCH_RUNS:-7}"
N="${BENCH_DEPLOY_N:-200}"
PEERS_DIR="${VOUCH_PEERS_DIR:-${HOME:-/root}/.cache/vouch-peers}"
export PATH="$PEERS_DIR/bin:$PATH"

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

if [ "$BUILD" = 1 ]; then
    say "cargo build --release -p vouch -p vouch-e2e --bins"
    (cd "$ROOT" && cargo build --release --quiet -p vouch -p vouch-e2e --bins) || die "release build failed"
fi
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed for peak RSS: apt-get install time"
command -v docker-registry >/dev/null 2>&1 || VOUCH_PEERS_DIR="$PEERS_DIR" bash "$ROOT/tests/peers/fetch-peers.sh" >&2

W=$(mktemp -d "${TMPDIR:-/tmp}/vouch-deploy-bench.XXXXXX")
REGISTRY_PID=""
cleanup() {
    [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null
    wait 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
mkdir -p "$W/home" "$W/storage"

# cargo needs the real home (toolchain, registry): these run before it is swapped out.
say "writing the 5,000-document stream"
(cd "$ROOT" && cargo bench --quiet -p vouch-deploy --bench extract -- --write "$W/stream.yaml") 2>&1 | tail -n 1 >&2
IN_PROCESS=$(cd "$ROOT" && cargo bench --quiet -p vouch-deploy --bench extract 2>/dev/null | tail -n 1)

export HOME="$W/home" XDG_CACHE_HOME="$W/cache" VOUCH_PASSWORD=bench NO_COLOR=1
unset DOCKER_CONFIG VOUCH_ALLOW_INSECURE_REGISTRY

# best-of helper: runs "$@" RUNS times, wall time from the clock around it and peak RSS
# from GNU time; prints "best_ms max_rss_kib".
measure() {
    local best="" rss=0 cpu="" i start end ms kib c
    for ((i = 0; i < RUNS; i++)); do
        start=$(date +%s%N)
        /usr/bin/time -o "$W/time" -f '%M %U %S' "$@" >/dev/null 2>"$W/err" || die "$* failed: $(tail -n 3 "$W/err")"
        end=$(date +%s%N)
        ms=$(((end - start) / 1000000))
        read -r kib c < <(tail -n 1 "$W/time" | awk '{ printf "%d %d\n", $1, ($2 + $3) * 1000 }')
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        if [ -z "$cpu" ] || [ "$c" -lt "$cpu" ]; then cpu=$c; fi
        if [ "$kib" -gt "$rss" ]; then rss=$kib; fi
    done
    echo "$best $rss $cpu"
}

# --- 1. extraction ---------------------------------------------------------------------
IMAGES=$("$VOUCH" images -f "$W/stream.yaml" | wc -l)
read -r EXTRACT_MS EXTRACT_RSS EXTRACT_CPU < <(measure "$VOUCH" images -f "$W/stream.yaml")
STREAM_BYTES=$(wc -c <"$W/stream.yaml")
say "extraction: $IMAGES references, best $EXTRACT_MS ms, peak RSS $EXTRACT_RSS KiB; in process: $IN_PROCESS"

# --- 2. verify -f against references given directly ------------------------------------
PORT=$("$SETUP" port)
cat >"$W/registry.yml" <<REG
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/storage
http:
  addr: 127.0.0.1:$PORT
  secret: vouch-bench-$RANDOM
REG
docker-registry serve "$W/registry.yml" >/dev/null 2>"$W/registry.log" &
REGISTRY_PID=$!
for ((i = 0; i < 150; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
REG="127.0.0.1:$PORT"
say "pushing and signing $N images"
"$SETUP" push --registry "$REG" --prefix deploy --count "$N" --repos 20 --out "$W/digests.refs" \
    --tags-out "$W/tags.refs" 2>"$W/setup.log" || die "push failed: $(tail -n 3 "$W/setup.log")"
"$VOUCH" keygen --output-key-prefix "$W/bench" >/dev/null 2>&1
"$VOUCH" --allow-insecure-registry sign --key "$W/bench.key" --jobs 64 --from "$W/digests.refs" >/dev/null 2>>"$W/setup.log" ||
    die "signing failed"
cat >"$W/policy.yaml" <<POL
version: 1
signers:
  release:
    keys: [$W/bench.pub]
rules:
  - name: bench
    images: ["$REG/**"]
    require: {signers: [release]}
default: deny
POL
# A chart's rendered output: one Deployment per image (an init container and a sidecar share
# one more image each), as Helm prints it.
awk -v reg="$REG" '{
    printf "---\n# Source: bench/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app%d\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s\n          ports: [{containerPort: 8080}]\n", NR, $0
}' "$W/tags.refs" >"$W/chart.yaml"
[ "$("$VOUCH" images -f "$W/chart.yaml" --unique | wc -l)" = "$N" ] || die "chart does not hold $N images"
VERIFY=("$VOUCH" --allow-insecure-registry verify --policy "$W/policy.yaml" --no-cache)
"${VERIFY[@]}" -f "$W/chart.yaml" >/dev/null || die "verify -f failed"
# Interleaved, so that both see the same machine.
FILE_MS="" DIRECT_MS="" FILE_RSS=0 DIRECT_RSS=0
for ((r = 0; r < RUNS; r++)); do
    read -r ms kib _ < <(RUNS=1 measure "${VERIFY[@]}" -f "$W/chart.yaml")
    if [ -z "$FILE_MS" ] || [ "$ms" -lt "$FILE_MS" ]; then FILE_MS=$ms; fi
    if [ "$kib" -gt "$FILE_RSS" ]; then FILE_RSS=$kib; fi
    read -r ms kib _ < <(RUNS=1 measure "${VERIFY[@]}" --from "$W/tags.refs")
    if [ -z "$DIRECT_MS" ] || [ "$ms" -lt "$DIRECT_MS" ]; then DIRECT_MS=$ms; fi
    if [ "$kib" -gt "$DIRECT_RSS" ]; then DIRECT_RSS=$kib; fi
done
read -r CHART_MS _ _ < <(measure "$VOUCH" images -f "$W/chart.yaml")
say "verify --policy, $N images: -f chart.yaml $FILE_MS ms ($FILE_RSS KiB), direct $DIRECT_MS ms ($DIRECT_RSS KiB)"

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# vouch deployment-file benchmark ($(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT)"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- best of $RUNS runs each; release build"
    echo
    echo "| what | wall | peak RSS |"
    echo "|---|---:|---:|"
    echo "| \`vouch images -f\`, 5,000 documents, $STREAM_BYTES bytes, $IMAGES references (CPU, user + sys: $EXTRACT_CPU ms) | $EXTRACT_MS ms | $((EXTRACT_RSS / 1024)) MiB |"
    echo "| extraction alone, in process (\`cargo bench -p vouch-deploy\`) | ${IN_PROCESS#*: } | |"
    echo "| \`verify --policy --no-cache -f chart.yaml\`, $N images | $FILE_MS ms | $((FILE_RSS / 1024)) MiB |"
    echo "| \`verify --policy --no-cache --from refs.txt\`, the same $N references | $DIRECT_MS ms | $((DIRECT_RSS / 1024)) MiB |"
    echo "| \`vouch images -f chart.yaml\` (the extraction part of the above) | $CHART_MS ms | |"
} >"$ROOT/bench/results/deploy.md"
cat "$ROOT/bench/results/deploy.md"
