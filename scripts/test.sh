#!/usr/bin/env bash
# The whole test suite. Installs what it needs first: Debian's docker-registry and the
# interop peers (cosign 2.5, skopeo 1.18 from Debian 13, unpacked into a cache) and the
# pulling clients for the pull-through tests (oras 1.2, podman 5.4, containerd 1.7, same way),
# and SoftHSM2 with OpenSC's pkcs11-tool (host apt) for the PKCS#11 token tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
bash tests/peers/fetch-peers.sh

echo "== formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
python3 scripts/module-cycles.py >/dev/null

echo "== tests"
cargo test --workspace

echo "== fuzz smoke (every target, bounded time)"
bash scripts/fuzz.sh "${VOUCH_FUZZ_SECONDS:-20}"

echo "== quickstart"
bash scripts/quickstart.sh >/dev/null
echo "quickstart: ok"
