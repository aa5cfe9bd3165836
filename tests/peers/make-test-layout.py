#!/usr/bin/env python3
"""Write a tiny single-layer OCI image layout (no Docker needed).

Usage: make-test-layout.py DIR [TAG] [CONTENT]

DIR gets oci-layout, index.json and blobs/sha256/*: one gzip tar layer holding
/hello.txt (CONTENT, default "hello from vouch\\n"), an image config and an
application/vnd.oci.image.manifest.v1+json manifest, referenced from
index.json with org.opencontainers.image.ref.name=TAG (default "v1").
Output is deterministic for the same CONTENT. Prints the manifest digest.
Push with: skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://HOST/REPO:TAG
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def put_blob(root: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    tag = sys.argv[2] if len(sys.argv) > 2 else "v1"
    content = (sys.argv[3] if len(sys.argv) > 3 else "hello from vouch\n").encode()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = tar_buf.getvalue()
    gz_buf = io.BytesIO()
    with gzip.GzipFile(fileobj=gz_buf, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    layer = gz_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    layer_digest = put_blob(root, layer)

    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = put_blob(root, config)

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    manifest_digest = put_blob(root, manifest)

    index_path = os.path.join(root, "index.json")
    manifests = []
    if os.path.exists(index_path):
        with open(index_path) as f:
            manifests = [
                m
                for m in json.load(f).get("manifests", [])
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
            ]
    manifests.append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    with open(index_path, "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f, separators=(",", ":"))
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(manifest_digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
