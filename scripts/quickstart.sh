#!/usr/bin/env bash
# The vouch quickstart on an OCI image layout: no registry, no network.
# keygen → sample image → sign → verify (OK) → tamper → verify (refused, with the reason).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p vouch
vouch=$PWD/target/debug/vouch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VOUCH_PASSWORD=quickstart-password   # never do this outside a demo: use a secret store

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$work|\$WORK|g; s|$vouch|vouch|g"; "$@"; }

step "1. Make a key pair (encrypted private key, mode 0600)"
run "$vouch" keygen --output-key-prefix "$work/release"

step "2. A sample image (an OCI layout from keys-example/)"
cp -r keys-example/sample-image "$work/image"
echo "image: oci:\$WORK/image:v1"

step "3. Sign it (the signature goes into the same layout, cosign's tag format)"
run "$vouch" sign "oci:$work/image:v1" --key "$work/release.key" -a env=prod

step "4. Verify it"
run "$vouch" verify "oci:$work/image:v1" --key "$work/release.pub" -a env=prod

step "5. Tamper: swap the image behind tag v1 and carry the old signature over"
python3 - "$work/image" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
index_path = os.path.join(root, "index.json")
index = json.load(open(index_path))
entry = next(m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "v1")
old = entry["digest"]
blob = lambda d: os.path.join(root, "blobs", "sha256", d.split(":")[1])
manifest = json.load(open(blob(old)))
manifest["annotations"] = {"org.opencontainers.image.description": "not what was signed"}
data = json.dumps(manifest, separators=(",", ":")).encode()
new = "sha256:" + hashlib.sha256(data).hexdigest()
open(blob(new), "wb").write(data)
entry["digest"], entry["size"] = new, len(data)
old_sig = next(m for m in index["manifests"]
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == old.replace(":", "-") + ".sig")
copied = dict(old_sig, annotations={"org.opencontainers.image.ref.name": new.replace(":", "-") + ".sig"})
index["manifests"].append(copied)
json.dump(index, open(index_path, "w"))
print(f"v1 now points at {new}\nand {old}'s signature was copied onto it")
PY

step "6. Verify again: refused, and the report says why"
status=0
run "$vouch" verify "oci:$work/image:v1" --key "$work/release.pub" -a env=prod || status=$?
if [ "$status" -ne 1 ]; then
    echo "quickstart: expected exit code 1 (refused), got $status" >&2
    exit 1
fi
printf '\nexit code %s: refused, as it should be. Quickstart done.\n' "$status"
