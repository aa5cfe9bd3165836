#!/usr/bin/env bash
# Re-runs the peer-tool interop facts recorded in tests/peers/NOTES.md against
# a throw-away docker-registry on 127.0.0.1: cosign and skopeo signing (ECDSA
# P-256 and Ed25519), each verifying the other's signatures, policy
# enforcement on unsigned images, and .sig layers being kept when the other
# tool appends. Prints one line per check and "N passed, N failed".
# Needs: tests/peers/fetch-peers.sh (run first, here), python3, openssl, curl, jq.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/fetch-peers.sh" >/dev/null
CACHE="${VOUCH_PEERS_DIR:-${HOME:-/root}/.cache/vouch-peers}"
export PATH="$CACHE/bin:$PATH"

W=$(mktemp -d)
REG_PID=
cleanup() {
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
export HOME="$W/home"   # keep cosign/skopeo from touching the real ~/.docker, ~/.sigstore
mkdir -p "$HOME"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG="127.0.0.1:$PORT"
cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $W/storage
  delete:
    enabled: true
http:
  addr: $REG
EOF
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do
    curl -fs "http://$REG/v2/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://$REG/v2/" >/dev/null || { cat "$W/registry.log" >&2; exit 1; }

pass=0 fail=0
check() { # check NAME EXPECT(ok|fail) CMD...
    local name=$1 expect=$2 rc=0
    shift 2
    "$@" >"$W/out.txt" 2>&1 </dev/null || rc=$?
    if { [ "$expect" = ok ] && [ $rc -eq 0 ]; } || { [ "$expect" = fail ] && [ $rc -ne 0 ]; }; then
        pass=$((pass + 1)); echo "ok   $name (rc=$rc)"
    else
        fail=$((fail + 1)); echo "FAIL $name (rc=$rc, wanted $expect)"; sed 's/^/     /' "$W/out.txt"
    fi
}

# --- images -----------------------------------------------------------------
D1=$(python3 "$HERE/make-test-layout.py" "$W/layout" v1 "image one")
D2=$(python3 "$HERE/make-test-layout.py" "$W/layout" v2 "image two")
for repo in cosign skopeo; do
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$W/layout:v1" "docker://$REG/test/$repo:v1"
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$W/layout:v2" "docker://$REG/test/$repo:v2"
done

# --- keys -------------------------------------------------------------------
cd "$W"
printf 'pw' >pass.txt
export COSIGN_PASSWORD=pw
cosign generate-key-pair --output-key-prefix ecdsa >/dev/null 2>&1          # ecdsa.key / ecdsa.pub (P-256)
openssl genpkey -algorithm ed25519 -out ed.pem                               # PKCS#8 "PRIVATE KEY"
openssl pkey -in ed.pem -pubout -out ed-openssl.pub
cosign import-key-pair --key ed.pem --output-key-prefix ed -y >/dev/null 2>&1  # ed.key / ed.pub
skopeo generate-sigstore-key --output-prefix sk --passphrase-file pass.txt >/dev/null  # sk.private / sk.pub (P-256)

mkdir -p registries.d
printf 'docker:\n  %s:\n    use-sigstore-attachments: true\n' "$REG" >registries.d/local.yaml
policy() { # policy FILE KEYPATH
    cat >"$1" <<EOF
{"default":[{"type":"reject"}],
 "transports":{"docker":{"$REG":[{"type":"sigstoreSigned","keyPath":"$W/$2","signedIdentity":{"type":"matchRepository"}}]}}}
EOF
}
policy pol-ecdsa.json ecdsa.pub
policy pol-ed.json ed-openssl.pub
policy pol-sk.json sk.pub

cosign_sign()   { cosign sign --key "$1" --tlog-upload=false -y "$2"; }
cosign_verify() { cosign verify --key "$1" --insecure-ignore-tlog=true "$2"; }
skopeo_sign()   { # skopeo_sign PRIVKEY REPO TAG
    skopeo --insecure-policy --registries.d registries.d copy -q --src-tls-verify=false --dest-tls-verify=false \
        --sign-by-sigstore-private-key "$1" --sign-passphrase-file pass.txt \
        "docker://$REG/$2:$3" "docker://$REG/$2:$3"
}
skopeo_verify() { # skopeo_verify POLICY REF
    rm -rf "$W/pulled"
    skopeo --policy "$1" --registries.d registries.d copy -q --src-tls-verify=false "docker://$2" "dir:$W/pulled"
}
sig_layers() { # sig_layers REPO DIGEST
    curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REG/v2/$1/manifests/sha256-${2#sha256:}.sig" | jq '.layers | length'
}
layers_are() { [ "$(sig_layers "$1" "$2")" = "$3" ]; }

C1="$REG/test/cosign@$D1" C2="$REG/test/cosign@$D2"
S1="$REG/test/skopeo@$D1" S2="$REG/test/skopeo@$D2"

# unsigned images are refused by both
check "cosign verify unsigned"                 fail cosign_verify ecdsa.pub "$C1"
check "skopeo policy rejects unsigned"         fail skopeo_verify pol-ecdsa.json "$C1"

# cosign signs (ECDSA, Ed25519); both tools verify
check "cosign sign ecdsa"                      ok   cosign_sign ecdsa.key "$C1"
check "cosign verify cosign-ecdsa"             ok   cosign_verify ecdsa.pub "$C1"
check "skopeo verify cosign-ecdsa"             ok   skopeo_verify pol-ecdsa.json "$C1"
check "skopeo verify cosign-ecdsa, wrong key"  fail skopeo_verify pol-sk.json "$C1"
check "cosign sign ed25519 (imported key)"     ok   cosign_sign ed.key "$C2"
check "cosign verify cosign-ed25519 (openssl pub)" ok cosign_verify ed-openssl.pub "$C2"
check "skopeo verify cosign-ed25519"           ok   skopeo_verify pol-ed.json "$C2"
check "unsigned D2 still unsigned in skopeo repo" fail cosign_verify ed-openssl.pub "$S2"

# skopeo signs (ECDSA own key, Ed25519 cosign-imported key); both tools verify
check "skopeo sign ecdsa"                      ok   skopeo_sign sk.private test/skopeo v1
check "skopeo verify skopeo-ecdsa"             ok   skopeo_verify pol-sk.json "$S1"
check "cosign verify skopeo-ecdsa"             ok   cosign_verify sk.pub "$S1"
check "skopeo sign ed25519"                    ok   skopeo_sign ed.key test/skopeo v2
check "skopeo verify skopeo-ed25519"           ok   skopeo_verify pol-ed.json "$S2"
check "cosign verify skopeo-ed25519"           ok   cosign_verify ed-openssl.pub "$S2"

# appending to the other tool's .sig manifest keeps the earlier layers
check "skopeo appends to cosign .sig"          ok   skopeo_sign sk.private test/cosign v1
check "  -> 2 layers"                          ok   layers_are test/cosign "$D1" 2
check "  cosign-ecdsa still verifies"          ok   cosign_verify ecdsa.pub "$C1"
check "cosign appends to skopeo .sig"          ok   cosign_sign ecdsa.key "$S1"
check "  -> 2 layers"                          ok   layers_are test/skopeo "$D1" 2
check "  skopeo-ecdsa still verifies"          ok   skopeo_verify pol-sk.json "$S1"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
