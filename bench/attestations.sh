#!/usr/bin/env bash
# What attestations cost a verification: N images on a loopback docker-registry, each with one
# signature and two attestations (a vulnerability scan and SLSA v1 provenance, both `.att`
# layers), verified under a policy that requires the signature only, then under one that also
# requires both attestations (type, signer, max_age and a CEL condition each).
# See docs/performance.md ("Attestations") for how to read the figures.
#
# Usage: bash bench/attestations.sh [--no-build]
#   --no-build  use target/release/vouch and bench_setup as they are
#
# Knobs (environment):
#   BENCH_N=100     images
#   BENCH_RUNS=5    runs per figure (best of)
#   BENCH_JOBS=16   vouch verify --jobs
#   BENCH_LATENCY_MS=20  also measure through a proxy adding this round trip (0: skip)
#
# Prints the table and writes it to bench/results/attestations.md.
set -euo pipefail
export LC_ALL=C

BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

N=${BENCH_N:-100}
RUNS=${BENCH_RUNS:-5}
JOBS=${BENCH_JOBS:-16}
LATENCY_MS=${BENCH_LATENCY_MS:-20}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cache/vouch-peers/bin:$PATH"
command -v docker-registry >/dev/null || bash "$ROOT/tests/peers/fetch-peers.sh" >/dev/null
if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release --quiet -p vouch -p vouch-e2e --bin vouch --bin bench_setup --bin latency_proxy)
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
VOUCH="$TARGET/vouch"
SETUP="$TARGET/bench_setup"
PROXY="$TARGET/latency_proxy"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{($2 - $1) * 1000:.1f}')"; }
best() { sort -n | head -1; }

# The registry.
HOST="127.0.0.1:$("$SETUP" port)"
cat >"$WORK/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/storage}}
http: {addr: "$HOST"}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done

# The proxy (no added latency until the measurement through it).
PROXIED=""
if [ "$LATENCY_MS" != 0 ]; then
    coproc PX { exec "$PROXY" --upstream "$HOST"; }
    PIDS+=($PX_PID)
    read -r PROXIED <&"${PX[0]}"
fi

export VOUCH_PASSWORD=bench
for k in release scanner ci; do "$VOUCH" keygen --output-key-prefix "$WORK/$k" >/dev/null; done
V=("$VOUCH" --allow-insecure-registry)
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$WORK/scan.json" <<JSON
{"scanner": {"uri": "pkg:github/aquasecurity/trivy@0.58.0", "version": "0.58.0",
  "result": {"Results": [{"Target": "app", "Vulnerabilities": [
    {"VulnerabilityID": "CVE-2024-0001", "Severity": "LOW"},
    {"VulnerabilityID": "CVE-2024-0002", "Severity": "MEDIUM"}]}]}},
 "metadata": {"scanStartedOn": "$NOW", "scanFinishedOn": "$NOW"}}
JSON
cat >"$WORK/provenance.json" <<JSON
{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
  "externalParameters": {"workflow": {"repository": "https://github.com/acme/app", "path": ".github/workflows/release.yml"}}},
 "runDetails": {"builder": {"id": "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"},
  "metadata": {"finishedOn": "$NOW"}}}
JSON

# N images at registry address $1 (the registry, or the proxy: signatures name the
# repository as seen there), each signed and attested twice; references in refs-$1.txt.
images() {
    local host=$1 prefix=$2
    "$SETUP" push --registry "$HOST" --prefix "$prefix" --count "$N" --out "$WORK/pushed.txt" >/dev/null
    sed "s#^$HOST/#$host/#" "$WORK/pushed.txt" >"$WORK/refs-$host.txt"
    "${V[@]}" sign --from "$WORK/refs-$host.txt" --key "$WORK/release.key" --jobs 32 --output json >/dev/null
    local refs
    mapfile -t refs <"$WORK/refs-$host.txt"
    "${V[@]}" attest "${refs[@]}" --key "$WORK/scanner.key" --type vuln --predicate "$WORK/scan.json" >/dev/null
    "${V[@]}" attest "${refs[@]}" --key "$WORK/ci.key" --type slsaprovenance1 --predicate "$WORK/provenance.json" >/dev/null
}
images "$HOST" bench/direct
[ -n "$PROXIED" ] && images "$PROXIED" bench/proxied

# The two policies, for the registry at $1 (the proxy's address differs from the registry's).
policies() {
    local host=$1
    cat >"$WORK/signatures-$host.yaml" <<YML
version: 1
signers:
  release: {keys: [release.pub]}
rules:
  - name: bench
    images: ["$host/**"]
    require: {signers: [release]}
default: deny
YML
    cat >"$WORK/attestations-$host.yaml" <<YML
version: 1
signers:
  release: {keys: [release.pub]}
  scanner: {keys: [scanner.pub]}
  ci: {keys: [ci.pub]}
rules:
  - name: bench
    images: ["$host/**"]
    require:
      signers: [release]
      attestations:
        - type: vuln
          signers: [scanner]
          max_age: 7d
          condition: >-
            predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
              r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))
        - type: slsaprovenance1
          signers: [ci]
          condition: predicate.runDetails.builder.id.startsWith("https://github.com/acme/")
default: deny
YML
}

verify() { # $1 = policy (signatures|attestations), $2 = registry address; prints milliseconds
    local t0 t1
    t0=$(now)
    "${V[@]}" verify --policy "$WORK/$1-$2.yaml" --from "$WORK/refs-$2.txt" --jobs "$JOBS" \
        --no-cache --output json >"$WORK/out.json"
    t1=$(now)
    python3 - "$WORK/out.json" "$N" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
images = out["images"] if isinstance(out, dict) else out
assert len(images) == int(sys.argv[2]), "not every image was reported"
assert all(i.get("decision", "").startswith("allow") for i in images), "an image was refused"
PY
    elapsed "$t0" "$t1"
}

measure() { # $1 = registry address; prints "signatures-ms attestations-ms"
    policies "$1"
    verify signatures "$1" >/dev/null # warm the registry, the page cache and the connections
    local sigs atts
    sigs=$(for _ in $(seq "$RUNS"); do verify signatures "$1"; done | best)
    atts=$(for _ in $(seq "$RUNS"); do verify attestations "$1"; done | best)
    echo "$sigs $atts"
}

read -r SIGS ATTS < <(measure "$HOST")
RATIO=$(python3 -c "print(f'{$ATTS / $SIGS:.2f}')")
LATENCY_ROW=""
if [ -n "$PROXIED" ]; then
    echo "rtt $LATENCY_MS" >&"${PX[1]}"
    read -r LSIGS LATTS < <(measure "$PROXIED")
    LRATIO=$(python3 -c "print(f'{$LATTS / $LSIGS:.2f}')")
    LATENCY_ROW="| through a proxy adding $LATENCY_MS ms per round trip: signature only / with both attestations | ${LSIGS} ms / ${LATTS} ms (${LRATIO}x) |"
fi

RESULTS="$ROOT/bench/results/attestations.md"
mkdir -p "$(dirname "$RESULTS")"
{
    echo "# vouch attestations benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
    echo
    echo "| figure ($N images, --jobs $JOBS, no cache, best of $RUNS) | value |"
    echo "| --- | --- |"
    echo "| loopback: verify --policy requiring the signature | ${SIGS} ms |"
    echo "| loopback: verify --policy requiring the signature and both attestations | ${ATTS} ms (${RATIO}x) |"
    [ -n "$LATENCY_ROW" ] && echo "$LATENCY_ROW"
} | tee "$RESULTS"
