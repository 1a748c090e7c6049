#!/usr/bin/env python3
"""List the layer blobs of an image for the benchmark's limit command.

usage: layers.py IMAGE  ->  one line per layer: FILE<TAB>OFFSET<TAB>SIZE<TAB>CODEC
(for a directory layout OFFSET is 0 and SIZE the file size; for a tar, where the blob's
bytes sit inside it). CODEC is gzip, zstd or none, from the blob's magic bytes.
"""
import json, os, sys, tarfile

def codec(head):
    if head.startswith(b"\x1f\x8b"): return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"): return "zstd"
    return "none"

def main(img):
    if os.path.isdir(img):
        def read(name): return open(os.path.join(img, name), "rb").read()
        def locate(name):
            p = os.path.realpath(os.path.join(img, name)); return p, 0, os.path.getsize(p)
    else:
        tf = tarfile.open(img)
        members = {m.name.lstrip("./"): m for m in tf.getmembers()}
        def member(name):
            m = members[name.lstrip("./")]
            while m.issym() or m.islnk():
                target = m.linkname if m.islnk() else os.path.normpath(os.path.join(os.path.dirname(m.name), m.linkname))
                m = members[target.lstrip("./")]
            return m
        def read(name): return tf.extractfile(member(name)).read()
        def locate(name):
            m = member(name); return img, m.offset_data, m.size
    names = []
    try:
        manifest = json.loads(read("manifest.json")); names = manifest[0]["Layers"]
    except (KeyError, FileNotFoundError):
        index = json.loads(read("index.json"))
        desc = index["manifests"][0]
        m = json.loads(read("blobs/sha256/" + desc["digest"][7:]))
        names = ["blobs/sha256/" + l["digest"][7:] for l in m["layers"]]
    for n in names:
        path, off, size = locate(n)
        with open(path, "rb") as f:
            f.seek(off); head = f.read(4)
        print(f"{path}\t{off}\t{size}\t{codec(head)}")

if __name__ == "__main__":
    main(sys.argv[1])
