#!/usr/bin/env python3
"""Generate a large multi-layer OCI image for benchmarks (deterministic: seeded).

usage: gen_image.py OUT_DIR [--gib 1.0] [--layers 40]

Writes OUT_DIR/large.oci-dir/ (gzip layers), OUT_DIR/large.oci.tar (the same as a tar),
OUT_DIR/large.zstd.oci-dir/ (zstd layers, when the zstd CLI exists) and
OUT_DIR/large.docker.tar (uncompressed docker-archive). Each layer holds many small files
and a few large ones; content mixes random bytes and text so gzip gets ~2-3x, like real
images.
"""
import argparse, gzip, hashlib, io, json, os, random, shutil, subprocess, tarfile

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def content(rng, size):
    # 40% random bytes, 60% repetitive text, in 4 KiB pieces.
    out = bytearray()
    words = [b"lorem", b"ipsum", b"container", b"layer", b"secret", b"/usr/lib/", b"0123456789"]
    while len(out) < size:
        if rng.random() < 0.4:
            out += rng.randbytes(4096)
        else:
            out += b" ".join(rng.choice(words) for _ in range(600))
    return bytes(out[:size])

def layer_tar(rng, index, budget):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        used, n = 0, 0
        # a few large files, then many small ones
        big = budget // 2
        for k in range(2):
            data = content(rng, big // 2)
            ti = tarfile.TarInfo(f"data/layer{index}/big{k}.bin"); ti.size = len(data); ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data)); used += len(data)
        while used < budget:
            size = rng.choice([0, 100, 900, 3000, 12000, 40000])
            data = content(rng, size)
            ti = tarfile.TarInfo(f"usr/share/layer{index}/d{n // 100}/f{n}.txt"); ti.size = len(data); ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data)); used += len(data) + 512; n += 1
        if index > 0:  # delete something from the layer below, as builds do
            ti = tarfile.TarInfo(f"data/layer{index - 1}/.wh.big0.bin"); ti.mtime = 1700000000
            tf.addfile(ti)
    return buf.getvalue()

def write_oci(root, blobs, config, media):
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    def put(b):
        with open(os.path.join(root, "blobs", "sha256", sha(b)[7:]), "wb") as f:
            f.write(b)
    layers = []
    for b in blobs:
        put(b); layers.append({"mediaType": media, "digest": sha(b), "size": len(b)})
    put(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": layers}).encode()
    put(manifest)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(manifest), "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out"); ap.add_argument("--gib", type=float, default=1.0); ap.add_argument("--layers", type=int, default=40)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(42)
    per_layer = int(a.gib * (1 << 30)) // a.layers
    tmp = os.path.join(a.out, "layers.tmp"); os.makedirs(tmp, exist_ok=True)
    diff_ids, paths = [], []
    for i in range(a.layers):
        t = layer_tar(rng, i, per_layer)
        diff_ids.append(sha(t))
        p = os.path.join(tmp, f"{i}.tar")
        with open(p, "wb") as f: f.write(t)
        paths.append(p)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"RUN generate layer {i}"} for i in range(a.layers)]}).encode()
    # gzip layers (pigz when present: same format, faster to generate)
    gz = []
    for p in paths:
        if shutil.which("pigz"):
            gz.append(subprocess.run(["pigz", "-6", "-n", "-c", p], check=True, capture_output=True).stdout)
        else:
            with open(p, "rb") as f: gz.append(gzip.compress(f.read(), 6, mtime=0))
    write_oci(os.path.join(a.out, "large.oci-dir"), gz, config, "application/vnd.oci.image.layer.v1.tar+gzip")
    subprocess.run(["tar", "-C", os.path.join(a.out, "large.oci-dir"), "-cf", os.path.join(a.out, "large.oci.tar"), "."], check=True)
    if shutil.which("zstd"):
        zs = [subprocess.run(["zstd", "-3", "-q", "-c", p], check=True, capture_output=True).stdout for p in paths]
        write_oci(os.path.join(a.out, "large.zstd.oci-dir"), zs, config, "application/vnd.oci.image.layer.v1.tar+zstd")
    # docker-archive, uncompressed layers named by digest (like podman)
    darch = os.path.join(a.out, "docker.tmp"); os.makedirs(darch, exist_ok=True)
    names = []
    for p, d in zip(paths, diff_ids):
        name = d[7:] + ".tar"; shutil.move(p, os.path.join(darch, name)); names.append(name)
    cname = sha(config)[7:] + ".json"
    with open(os.path.join(darch, cname), "wb") as f: f.write(config)
    with open(os.path.join(darch, "manifest.json"), "w") as f:
        json.dump([{"Config": cname, "RepoTags": ["large:latest"], "Layers": names}], f)
    subprocess.run(["tar", "-C", darch, "-cf", os.path.join(a.out, "large.docker.tar"), "."], check=True)
    shutil.rmtree(darch); shutil.rmtree(tmp)

if __name__ == "__main__":
    main()
