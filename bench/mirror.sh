#!/usr/bin/env bash
# The mirror's benchmark: a pull through `vouch mirror` against the same pull straight from
# the registry (skopeo copy, same client, loopback docker-registry), the first pull (one
# verification) against later ones (decision kept), manifest requests per second with the
# decision kept, and the mirror's peak RSS while it streams a large blob.
# See docs/performance.md ("Registry mirror") for how to read the figures.
#
# Usage: bash bench/mirror.sh [--quick] [--no-build]
#   --quick     a 20 MB image, a 100 MB blob and 5,000 manifest requests (a smoke test)
#   --no-build  use target/release/vouch as it is
#
# Knobs (environment):
#   BENCH_IMAGE_MB=100    size of the pulled image's layer
#   BENCH_BLOB_MB=1024    size of the blob streamed for the RSS figure
#   BENCH_REQUESTS=20000  manifest requests for the requests-per-second figure
#   BENCH_PARALLEL=32     requests in flight (curl --parallel-max)
#   BENCH_RUNS=3          runs per pull figure (best of)
#
# Prints the table and writes it to bench/results/mirror.md.
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
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

IMAGE_MB=${BENCH_IMAGE_MB:-100}
BLOB_MB=${BENCH_BLOB_MB:-1024}
REQUESTS=${BENCH_REQUESTS:-20000}
PARALLEL=${BENCH_PARALLEL:-32}
RUNS=${BENCH_RUNS:-3}
if [ "$QUICK" = 1 ]; then
    IMAGE_MB=20 BLOB_MB=100 REQUESTS=5000 RUNS=1
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cache/vouch-peers/bin:$PATH"
command -v skopeo >/dev/null || bash "$ROOT/tests/peers/fetch-peers.sh" >/dev/null
command -v docker-registry >/dev/null || { echo "docker-registry is missing (bash tests/peers/fetch-peers.sh)" >&2; exit 2; }
if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release --quiet -p vouch)
fi
VOUCH="$ROOT/target/release/vouch"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

# The registry.
PORT=$(free_port)
HOST="127.0.0.1:$PORT"
cat >"$WORK/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/storage}}
http: {addr: "$HOST"}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done

# An OCI layout with one random layer of $1 MB, pushed as bench/$2:v1 and signed.
export VOUCH_PASSWORD=bench
"$VOUCH" keygen --output-key-prefix "$WORK/release" >/dev/null
push_image() {
    local mb=$1 repo=$2 dir="$WORK/layout-$2"
    python3 - "$dir" "$mb" <<'PY'
import hashlib, json, os, sys
root, mb = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(root, "blobs", "sha256", d), "wb").write(data)
    return "sha256:" + d, len(data)
h, tmp = hashlib.sha256(), os.path.join(root, "layer.tmp")
with open(tmp, "wb") as f:
    for _ in range(mb):
        chunk = os.urandom(1 << 20)
        h.update(chunk)
        f.write(chunk)
layer = "sha256:" + h.hexdigest()
os.rename(tmp, os.path.join(root, "blobs", "sha256", h.hexdigest()))
config, csize = put(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": csize},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": mb << 20}]}
m, msize = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": manifest["mediaType"], "digest": m, "size": msize,
    "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print(m, layer)
PY
    skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false \
        "oci:$dir:v1" "docker://$HOST/bench/$repo:v1" >/dev/null
    "$VOUCH" --allow-insecure-registry sign "$HOST/bench/$repo:v1" --key "$WORK/release.key" >/dev/null
    rm -rf "$dir"
}
read -r IMAGE_DIGEST _ < <(push_image "$IMAGE_MB" image | tail -1)
read -r BLOB_MANIFEST BLOB_DIGEST < <(push_image "$BLOB_MB" blob | tail -1)

cat >"$WORK/policy.yaml" <<YML
version: 1
signers:
  release: {keys: [release.pub]}
rules:
  - name: bench
    images: ["$HOST/bench/**"]
    require: {signers: [release]}
default: deny
YML

# The mirror.
"$VOUCH" --allow-insecure-registry mirror --policy "$WORK/policy.yaml" --listen 127.0.0.1:0 \
    --upstream "$HOST" 2>"$WORK/mirror.log" &
MIRROR_PID=$!
PIDS+=($MIRROR_PID)
MIRROR=""
for _ in $(seq 100); do
    MIRROR=$(grep -o '"address":"[^"]*"' "$WORK/mirror.log" | head -1 | cut -d'"' -f4 || true)
    [ -n "$MIRROR" ] && break
    sleep 0.1
done
[ -n "$MIRROR" ] || { cat "$WORK/mirror.log" >&2; exit 1; }

pull() { # $1 = registry address; prints seconds
    local out="$WORK/pulled" t0 t1
    rm -rf "$out"
    t0=$(now)
    skopeo --insecure-policy copy --quiet --preserve-digests --src-tls-verify=false \
        "docker://$1/bench/image:v1" "oci:$out:v1" >/dev/null
    t1=$(now)
    rm -rf "$out"
    elapsed "$t0" "$t1"
}
best() { sort -n | head -1; }

pull "$HOST" >/dev/null # warm the page cache and the registry
FIRST=$(pull "$MIRROR")
DIRECT=$(for _ in $(seq "$RUNS"); do pull "$HOST"; done | best)
WARM=$(for _ in $(seq "$RUNS"); do pull "$MIRROR"; done | best)

# Manifest requests with the decision kept: by digest and by tag.
requests() { # $1 = reference; prints requests per second
    local cfg="$WORK/curl.cfg" t0 t1
    python3 - "$cfg" "http://$MIRROR/v2/bench/image/manifests/$1" "$REQUESTS" <<'PY'
import sys
cfg, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(cfg, "w") as f:
    f.write('header = "Accept: application/vnd.oci.image.manifest.v1+json"\n')
    f.write('fail\nsilent\n')
    for _ in range(n):
        f.write(f'url = "{url}"\noutput = "/dev/null"\n')
PY
    curl -s -o /dev/null "http://$MIRROR/v2/bench/image/manifests/$1" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
    t0=$(now)
    curl -s --parallel --parallel-max "$PARALLEL" -K "$cfg" >/dev/null 2>&1
    t1=$(now)
    python3 -c "print(int($REQUESTS / ($t1 - $t0)))"
}
RPS_DIGEST=$(requests "$IMAGE_DIGEST")
RPS_TAG=$(requests v1)

# Peak RSS while streaming the large blob (after allowing its manifest).
RSS_BEFORE=$(awk '/VmHWM/ {print $2}' "/proc/$MIRROR_PID/status")
curl -fs -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$MIRROR/v2/bench/blob/manifests/$BLOB_MANIFEST"
T0=$(now)
curl -fs -o /dev/null "http://$MIRROR/v2/bench/blob/blobs/$BLOB_DIGEST"
T1=$(now)
RSS_AFTER=$(awk '/VmHWM/ {print $2}' "/proc/$MIRROR_PID/status")
STREAM=$(elapsed "$T0" "$T1")

RATIO=$(python3 -c "print(f'{$WARM / $DIRECT:.2f}')")
RESULTS="$ROOT/bench/results/mirror.md"
mkdir -p "$(dirname "$RESULTS")"
{
    echo "# vouch mirror benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))"
    echo
    echo "| figure | value |"
    echo "| --- | --- |"
    echo "| skopeo copy of a ${IMAGE_MB} MB image, direct (best of $RUNS) | ${DIRECT} s |"
    echo "| same through the mirror, decision kept (best of $RUNS) | ${WARM} s (${RATIO}x direct) |"
    echo "| same through the mirror, first pull (one verification) | ${FIRST} s |"
    echo "| manifest GETs by digest, decision kept, $PARALLEL in flight | ${RPS_DIGEST}/s |"
    echo "| manifest GETs by tag (one upstream GET each), $PARALLEL in flight | ${RPS_TAG}/s |"
    echo "| streaming a ${BLOB_MB} MB blob through the mirror | ${STREAM} s |"
    echo "| mirror peak RSS before / after that stream | $((RSS_BEFORE / 1024)) / $((RSS_AFTER / 1024)) MiB |"
} | tee "$RESULTS"
