#!/usr/bin/env bash
# The admission webhook's benchmark: `vouch serve` (release build) behind the API server's side
# of the protocol (also a release build: a debug client measures itself), against a loopback
# docker-registry. Prints a Markdown table (docs/performance.md, "Admission webhook").
#
# Usage: bash bench/admission.sh [REVIEWS]   (default 5000 warm reviews, 200 at a time)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p vouch
cargo build --release --quiet -p vouch-e2e --bin admission_bench
cargo build --quiet -p vouch   # the harness signs with the debug binary
VOUCH_BIN="$PWD/target/release/vouch" target/release/admission_bench "${1:-5000}"
