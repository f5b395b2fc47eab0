#!/usr/bin/env python3
"""Write an OCI image layout with N gzip layers of busybox-based content, for benchmarks.

usage: mkimage.py DIR TAG LAYERS [SEED]
Layer 1 holds /bin/busybox and applet links; layers 2..N hold a few files of random bytes.
"""
import gzip, hashlib, io, json, os, sys, tarfile

def blob(dir, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(f"{dir}/blobs/sha256", exist_ok=True)
    with open(f"{dir}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in files:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o755
                tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, compresslevel=6, mtime=0)

def main():
    out, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = sys.argv[4] if len(sys.argv) > 4 else "0"
    busybox = open("/bin/busybox", "rb").read()
    layers = [[("bin", "dir", None), ("bin/busybox", "file", busybox)]
              + [(f"bin/{a}", "link", "busybox") for a in ("sh", "ls", "cat", "echo", "true", "sleep")]]
    for i in range(1, count):
        layers.append([(f"data{i}", "dir", None)] + [
            (f"data{i}/f{j}", "file", hashlib.sha256(f"{seed}-{i}-{j}".encode()).digest() * 4096)
            for j in range(4)])
    descriptors, diff_ids = [], []
    for files in layers:
        tar_bytes, gz = layer(files)
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        descriptors.append(blob(out, gz, "application/vnd.oci.image.layer.v1.tar+gzip"))
    config = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
              "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": f"layer {i}"} for i in range(count)]}
    config_desc = blob(out, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": descriptors}
    manifest_desc = blob(out, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(f"{out}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(f"{out}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, f)

main()
