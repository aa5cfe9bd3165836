#!/usr/bin/env bash
# Makes the serving certificate for vouch's webhook with openssl: a CA (kept and reused if
# DIR already holds one, so re-running rotates the serving certificate without changing
# caBundle) and an ECDSA P-256 certificate for vouch-webhook.vouch-system.svc signed by it.
# Then stores it in the vouch-webhook-tls Secret and applies webhooks.yaml with the CA as
# caBundle.
#
#   deploy/kubernetes/gen-certs.sh [--dir DIR] [--days N] [--no-apply]
#
#   --dir DIR    where the CA and certificate files go (default: a new temporary directory;
#                keep ca.key somewhere safe, or use cert-manager.yaml instead)
#   --days N     serving certificate lifetime (default 365; the CA gets 10 years)
#   --no-apply   do not run kubectl: write DIR/secret.yaml and DIR/webhooks.yaml to apply
#                yourself (kubectl apply -f DIR/secret.yaml, then DIR/webhooks.yaml)
#
# Needs openssl (and kubectl unless --no-apply). Exits 2 on bad usage.
set -euo pipefail

namespace=vouch-system
service=vouch-webhook
secret=vouch-webhook-tls
here=$(cd "$(dirname "$0")" && pwd)
dir=""
days=365
apply=1

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    --no-apply) apply=0; shift ;;
    -h|--help) usage ;;
    *) echo "gen-certs.sh: unknown argument: $1" >&2; usage ;;
  esac
done
case "$days" in ''|*[!0-9]*) echo "gen-certs.sh: --days needs a number" >&2; exit 2 ;; esac
if [ -z "$dir" ]; then dir=$(mktemp -d); fi
mkdir -p "$dir"
umask 077
cd "$dir"

host="$service.$namespace.svc"
if [ -s ca.key ] && [ -s ca.crt ]; then
  echo "reusing the CA in $dir" >&2
else
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout ca.key -out ca.crt -days 3650 -subj "/CN=vouch webhook CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout tls.key -out tls.csr -subj "/CN=$host" 2>/dev/null
# The API server checks the name it dials, <service>.<namespace>.svc, against the SANs.
cat > tls.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host,DNS:$service.$namespace,DNS:$service,DNS:$host.cluster.local
EXT
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -days "$days" -sha256 -extfile tls.ext -out tls.crt 2>/dev/null
rm -f tls.csr tls.ext
openssl verify -CAfile ca.crt tls.crt >/dev/null

b64() { base64 < "$1" | tr -d '\n'; }
cat > secret.yaml <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: $secret
  namespace: $namespace
  labels:
    app.kubernetes.io/name: vouch
data:
  tls.crt: $(b64 tls.crt)
  tls.key: $(b64 tls.key)
  ca.crt: $(b64 ca.crt)
YAML
sed "s|caBundle: \"\"|caBundle: $(b64 ca.crt)|" "$here/webhooks.yaml" > webhooks.yaml
grep -q "caBundle: $(b64 ca.crt)" webhooks.yaml

if [ "$apply" = 1 ]; then
  kubectl apply -f secret.yaml
  # vouch re-reads its certificate when the Secret changes; wait for it to be ready before
  # the API server starts calling it.
  kubectl -n "$namespace" rollout status deployment/"$service" --timeout=180s
  kubectl apply -f webhooks.yaml
fi
echo "certificates in $dir (ca.key signs serving certificates: keep it private)" >&2
