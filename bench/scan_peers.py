#!/usr/bin/env python3
"""Helper for bench/scan.sh: reads the raw results it wrote and prints the markdown tables.

usage: scan_peers.py table OUT      (OUT/scan/<image>/ as written by bench/scan.sh)
       scan_peers.py truth IMAGE    (the planted secrets this script knows for IMAGE, as JSON)

Which planted secret a tool found is decided per tool from what its output gives:
  rharden (--show-secrets) and credsweeper  the value itself;
  detect-secrets                            sha1 of the value (its `hashed_secret`);
  trivy                                     the value is masked with '*': the rule's kind and the mask's
                                            length must both fit the planted value.
A private key counts when a private-key finding carries a line of the planted key, or sits at the path the
key was planted at. The secret file ("My Big Secret", no structure) counts when a finding's value holds it
or a finding sits at its path (a sensitive-file-name finding).
"""
import hashlib, json, os, re, statistics, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ["rharden", "trivy", "detect-secrets", "credsweeper"]


def planted(image):
    """The planted secrets of IMAGE: a list of dicts (name, kind, value, path)."""
    base = os.path.basename(image.rstrip("/"))
    absimg = os.path.abspath(image)
    if base.startswith("secrets.") and "/tests/fixtures/real/" in absimg:
        exp, key = "tests/fixtures/recipes/secrets/expected.json", "tests/fixtures/recipes/secrets/id_ed25519"
        s = json.load(open(os.path.join(ROOT, exp)))["secrets"]
    elif base.startswith("leaky.") and "/tests/fixtures/example/" in absimg:
        exp, key = "tests/fixtures/example/expected.json", "tests/fixtures/recipes/secrets/id_ed25519"
        s = json.load(open(os.path.join(ROOT, exp)))["secrets"]
    elif base.startswith("secret-deleted.") and os.path.exists(os.path.join(os.path.dirname(absimg), "expected.json")):
        d = os.path.dirname(absimg)
        e = json.load(open(os.path.join(d, "expected.json")))["secret-deleted"]
        files = {f["path"]: f for f in e["deleted_files"]}
        aws = files["/root/.aws/credentials"]
        s = {"github_token": e["env"]["GITHUB_TOKEN"], "aws_access_key_id": aws["aws_access_key_id"],
             "aws_secret_access_key": aws["aws_secret_access_key"], "secret_file": files["/tmp/secret_key"]["content"]}
        key = os.path.join(d, files["/root/.ssh/id_ed25519"]["same_as_file"])
    else:
        return []
    key = key if os.path.isabs(key) else os.path.join(ROOT, key)
    return [
        {"name": "github_token", "kind": "github", "value": s["github_token"], "path": None},
        {"name": "aws_access_key_id", "kind": "aws-id", "value": s["aws_access_key_id"], "path": "/root/.aws/credentials"},
        {"name": "aws_secret_access_key", "kind": "aws-secret", "value": s["aws_secret_access_key"], "path": "/root/.aws/credentials"},
        {"name": "secret_file", "kind": "file", "value": s["secret_file"], "path": "/tmp/secret_key"},
        {"name": "ssh_private_key", "kind": "private-key", "value": open(key).read(), "path": "/root/.ssh/id_ed25519"},
    ]


def kind_of(rule):
    r = rule.lower()
    if "private" in r and "key" in r or r.startswith("pem"):
        return "private-key"
    if "github" in r:
        return "github"
    if "aws" in r and ("secret" in r):
        return "aws-secret"
    if "aws" in r and ("access-key-id" in r or "access key" in r or "client id" in r or "key-id" in r):
        return "aws-id"
    return rule


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def findings(tool, d):
    """Normalised findings of TOOL in the image's result dir D: dicts rule, value, sha1, mask, paths."""
    out = []
    rootfs = open(os.path.join(d, "rootfs.path")).read().strip() if os.path.exists(os.path.join(d, "rootfs.path")) else ""
    def rel(p):
        """P (absolute, or relative to the cwd or to the rootfs) as a path inside the rootfs."""
        r = os.path.normpath(rootfs) if rootfs else ""
        for q in (os.path.normpath(os.path.abspath(p)), os.path.normpath(os.path.join(r, p)) if r else None):
            if q and r and q.startswith(r + "/"):
                return q[len(r):]
        return "/" + os.path.normpath(p).lstrip("/")
    if tool == "rharden":
        for f in (load(os.path.join(d, "rharden.out"), {}) or {}).get("findings", []):
            paths = [l.get("path") for l in f.get("locations", []) if l.get("source") == "layer"]
            out.append({"rule": f["rule_id"], "value": f.get("evidence"), "paths": paths})
    elif tool == "trivy":
        for r in (load(os.path.join(d, "trivy.out"), {}) or {}).get("Results", []) or []:
            for s in r.get("Secrets", []) or []:
                runs = re.findall(r"\*+", s.get("Match", ""))
                t = r.get("Target", "")
                out.append({"rule": s["RuleID"], "mask": max(map(len, runs)) if runs else 0,
                            "paths": [t] if t.startswith("/") else []})
    elif tool == "detect-secrets":
        seen = set()
        for fname, items in ((load(os.path.join(d, "detect-secrets.out"), {}) or {}).get("results", {}) or {}).items():
            for it in items:
                k = (fname, it["hashed_secret"], it["type"])
                if k in seen:
                    continue
                seen.add(k)
                out.append({"rule": it["type"], "sha1": it["hashed_secret"], "paths": [rel(fname)]})
    elif tool == "credsweeper":
        for c in load(os.path.join(d, "credsweeper.json"), []) or []:
            for l in c.get("line_data_list", []):
                out.append({"rule": c["rule"], "value": l.get("value"), "paths": [rel(l.get("path", ""))]})
    return out


def key_lines(text):
    return {l.strip() for l in text.splitlines() if l.strip() and "-----" not in l and len(l.strip()) >= 8}


def matches(item, f):
    """How finding F shows planted ITEM: 'value', 'path' or None."""
    v, kind = item["value"], item["kind"]
    if kind == "private-key":
        if f.get("value") and key_lines(f["value"]) & key_lines(v):
            return "value"
        if kind_of(f["rule"]) == "private-key" and item["path"] in f["paths"]:
            return "path"
        return None
    if kind == "file":
        if f.get("value") and v in f["value"]:
            return "value"
        if item["path"] in f["paths"]:
            return "path"
        return None
    if f.get("value") is not None:
        return "value" if f["value"].strip() == v or v in f["value"] else None
    if f.get("sha1") is not None:
        return "value" if f["sha1"] == hashlib.sha1(v.encode()).hexdigest() else None
    if f.get("mask") is not None:  # trivy: masked value
        return "masked" if kind_of(f["rule"]) == kind and f["mask"] == len(v) else None
    return None


def last_line(path):
    try:
        lines = open(path).read().strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def median_ms(hf, name):
    if not hf:
        return None
    for r in hf["results"]:
        if r["command"] == name:
            return r["median"] * 1000
    return None


def fmt_ms(ms):
    if ms is None:
        return "—"
    return f"{ms/1000:.1f} s" if ms >= 10000 else f"{ms:.0f} ms"


def table(out):
    base = os.path.join(out, "scan")
    names = [n for n in sorted(os.listdir(base)) if os.path.isfile(os.path.join(base, n, "image"))]
    order = json.load(open(os.path.join(base, "order.json"))) if os.path.exists(os.path.join(base, "order.json")) else names
    names = [n for n in order if n in names]
    timeout = open(os.path.join(base, "peer_timeout")).read().strip() if os.path.exists(os.path.join(base, "peer_timeout")) else "?"
    print("### Time and memory\n")
    print("Median wall time (hyperfine `-N`); peers on the rootfs do not include the unpack. "
          "Ratios: rharden / limit, Trivy / rharden. Peak RSS from `/usr/bin/time -f %M`.\n")
    print("`rharden` runs every analyzer (secrets, privilege, elf, bloat, hygiene: the default); "
          "`rharden secrets` runs `--analyzers secrets`, the same job as Trivy's `--scanners secret`.\n")
    print("| image | stored | limit | rharden | rharden secrets | Trivy | unpack (1 run) | detect-secrets (rootfs) | credsweeper (rootfs) | rharden / limit | Trivy / rharden secrets | RSS rharden | RSS Trivy | RSS detect-secrets | RSS credsweeper |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    secrets_rows, counts = [], []
    for n in names:
        d = os.path.join(base, n)
        image = open(os.path.join(d, "image")).read().strip()
        hf = load(os.path.join(d, "hyperfine.json"))
        hp = load(os.path.join(d, "hyperfine-peers.json"))
        stored = sum(int(l.split("\t")[2]) for l in open(os.path.join(d, "layers")) if l.strip())
        t = {k: median_ms(hf, k) for k in ("limit", "rharden", "rharden-secrets", "trivy")}
        rss, note = {}, {}
        for tool in TOOLS:
            rc = open(os.path.join(d, tool + ".rc")).read().strip() if os.path.exists(os.path.join(d, tool + ".rc")) else None
            tm = last_line(os.path.join(d, tool + ".time")).split()
            if rc is None:
                note[tool] = "not run"
            elif rc == "124":
                note[tool] = f"timeout (> {timeout} s)"
            elif tool == "trivy" and rc != "0":
                note[tool] = "cannot read"
            if tm and tool not in note:
                rss[tool] = int(tm[0]) / 1024
            if tool in ("detect-secrets", "credsweeper") and tool not in note:
                m = median_ms(hp, tool)
                if m is None and tm:
                    m, note[tool + "-single"] = float(tm[1]) * 1000, True
                t[tool] = m
        def cell(tool):
            if tool in note:
                return note[tool]
            s = fmt_ms(t.get(tool))
            return s + (" (1 run)" if note.get(tool + "-single") else "")
        up = os.path.join(d, "unpack.time")
        unpack = fmt_ms(float(last_line(up).split()[1]) * 1000) if len(last_line(up).split()) == 2 else "—"
        if os.path.exists(os.path.join(d, "rootfs.bytes")):
            unpack += f" ({int(open(os.path.join(d, 'rootfs.bytes')).read()) / 1e6:.0f} MB)"
        ratio_l = f"{t['rharden']/t['limit']:.2f}×" if t.get("rharden") and t.get("limit") else "—"
        ratio_t = f"{t['trivy']/t['rharden-secrets']:.1f}×" if t.get("trivy") and t.get("rharden-secrets") and "trivy" not in note else "—"
        r = lambda tool: f"{rss[tool]:.1f} MiB" if tool in rss else "—"
        print(f"| {n} | {stored/1e6:.1f} MB | {fmt_ms(t['limit'])} | {fmt_ms(t['rharden'])} | {fmt_ms(t.get('rharden-secrets'))} | {cell('trivy')} | {unpack} | {cell('detect-secrets')} "
              f"| {cell('credsweeper')} | {ratio_l} | {ratio_t} | {r('rharden')} | {r('trivy')} | {r('detect-secrets')} | {r('credsweeper')} |")
        items = planted(image)
        fs = {tool: findings(tool, d) for tool in TOOLS}
        counts.append((n, {tool: (note.get(tool) or len(fs[tool])) for tool in TOOLS}))
        for it in items:
            row = []
            for tool in TOOLS:
                if tool in note:
                    row.append(note[tool])
                    continue
                how = {m for f in fs[tool] for m in [matches(it, f)] if m}
                best = next((h for h in ("value", "masked", "path") if h in how), None)
                row.append(("found" + ("" if best == "value" else f" ({best})")) if best else "**missed**")
            secrets_rows.append((n, it["name"], row))
    print("\n### Planted secrets found\n")
    print("found = the tool reported that value (`masked`: Trivy's rule kind and mask length fit it; `path`: only a "
          "finding at the file it was planted in). Peers marked rootfs see only the final filesystem.\n")
    print("| image | planted secret | rharden | Trivy | detect-secrets (rootfs) | credsweeper (rootfs) |")
    print("|---|---|---|---|---|---|")
    for n, name, row in secrets_rows:
        print(f"| {n} | {name} | " + " | ".join(row) + " |")
    print("\n### Findings reported (all, planted or not)\n")
    print("rharden: findings (one per rule and value); Trivy: secrets entries; detect-secrets: (file, type, hash); "
          "credsweeper: (candidate, line).\n")
    print("| image | rharden | Trivy | detect-secrets (rootfs) | credsweeper (rootfs) |")
    print("|---|---|---|---|---|")
    for n, c in counts:
        print(f"| {n} | " + " | ".join(str(c[t]) for t in TOOLS) + " |")
    # any planted secret a peer found that rharden missed
    gaps = [(n, name) for n, name, row in secrets_rows
            if row[0].startswith("**missed") and any(x.startswith("found") for x in row[1:])]
    print("\nPlanted secrets a peer found and rharden missed: " +
          (", ".join(f"{name} in {n}" for n, name in gaps) if gaps else "none") + ".")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "truth":
        print(json.dumps([{k: (v if k != "value" or i["kind"] != "private-key" else "<key>") for k, v in i.items()}
                          for i in planted(sys.argv[2])], indent=1))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
