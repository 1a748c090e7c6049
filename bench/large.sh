#!/usr/bin/env bash
# Benchmark on a generated 4 GiB image (issue 8, "Large images"): `rharden scan` and `rharden
# flatten` side by side with their limits in one hyperfine run each, and their peak RSS.
#   scan:    limit = decompress and hash every layer blob once (bench/limit.sh);
#            rharden scan (every analyzer) and rharden scan --analyzers secrets, on the docker-archive.
#   flatten: limit = that read + `gzip -6` of the squashed layer; rharden flatten to an OCI dir, gzip.
#
# usage: bash bench/large.sh [OUT]   (default bench/out; image in OUT/large4, table in OUT/large-results.md)
# env:   GIB (4.0) and LAYERS (40) for the generated image; RUNS (1) hyperfine runs.
# needs: hyperfine, GNU time (/usr/bin/time), python3, gzip, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}
RUNS=${RUNS:-1}
mkdir -p "$OUT"
cargo build --release -q -p rharden
RH=$PWD/target/release/rharden
IMG=$OUT/large4
[ -f "$IMG/large.docker.tar" ] || python3 bench/gen_image.py "$IMG" --gib "${GIB:-4.0}" --layers "${LAYERS:-40}"
work=$OUT/large-work
rm -rf "$work"; mkdir -p "$work"
results=$OUT/large-results.md

rss() { { /usr/bin/time -f '%M' "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1; }

# scan, on the uncompressed docker-archive and on the gzip OCI layout
for img in "$IMG/large.docker.tar" "$IMG/large.oci-dir"; do
  name=$(basename "$img")
  python3 bench/layers.py "$img" > "$work/$name.layers"
  # Exit 1 (the policy failed) is a finished scan; 2 is an error, which must not be timed.
  rc=0; "$RH" scan --format json --output "$work/scan.json" "$img" || rc=$?
  [ "$rc" -le 1 ] || { echo "rharden scan $img: exit $rc" >&2; exit 1; }
  hyperfine -N -i --warmup 0 --runs "$RUNS" --export-json "$work/scan-$name.json" \
    -n limit "bash bench/limit.sh $work/$name.layers" \
    -n rharden "$RH scan --format json --output $work/scan.json $img" \
    -n rharden-secrets "$RH scan --analyzers secrets --format json --output $work/scan.json $img" >&2
  echo "$(rss "$RH" scan --format json --output "$work/scan.json" "$img") $(rss "$RH" scan --analyzers secrets --format json --output "$work/scan.json" "$img")" > "$work/scan-$name.rss"
done

# flatten, gzip (the result's layer for the limit's compression half)
img=$IMG/large.oci-dir
"$RH" flatten "$img" -o "$work/result.tar" --format docker-archive --compression none --force >/dev/null
layer=$(tar -tf "$work/result.tar" | grep '\.tar$' | head -1)
tar -xOf "$work/result.tar" "$layer" > "$work/layer.tar"
rm -f "$work/result.tar"
hyperfine -N --warmup 0 --runs "$RUNS" --export-json "$work/flatten.json" \
  --prepare "rm -rf $work/out" \
  -n rharden "$RH flatten $img -o $work/out --format oci-dir --compression gzip" \
  -n limit "bash -c 'bash bench/limit.sh $work/large.oci-dir.layers && gzip -6 -c $work/layer.tar > /dev/null'" >&2
rm -rf "$work/out"
rss "$RH" flatten "$img" -o "$work/out" --format oci-dir --compression gzip > "$work/flatten.rss"
rm -rf "$work/out" "$work/layer.tar"

python3 - "$work" "$IMG" > "$results" <<'PY'
import json, os, sys
work, img = sys.argv[1], sys.argv[2]
def times(f):
    return {x["command"]: x["median"] for x in json.load(open(f))["results"]}
size = lambda p: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs) if os.path.isdir(p) else os.path.getsize(p)
print("| job | image | stored | limit | rharden | rharden / limit | peak RSS |")
print("|---|---|---|---|---|---|---|")
for name in ["large.docker.tar", "large.oci-dir"]:
    t = times(f"{work}/scan-{name}.json")
    all_rss, sec_rss = (int(x) for x in open(f"{work}/scan-{name}.rss").read().split())
    stored = size(f"{img}/{name}") / 1e6
    print(f"| scan (all analyzers) | {name} | {stored:.0f} MB | {t['limit']:.2f} s | {t['rharden']:.2f} s | **{t['rharden']/t['limit']:.2f}×** | {all_rss/1024:.1f} MiB |")
    print(f"| scan --analyzers secrets | {name} | {stored:.0f} MB | {t['limit']:.2f} s | {t['rharden-secrets']:.2f} s | **{t['rharden-secrets']/t['limit']:.2f}×** | {sec_rss/1024:.1f} MiB |")
t = times(f"{work}/flatten.json")
rss = int(open(f"{work}/flatten.rss").read())
print(f"| flatten --compression gzip | large.oci-dir | {size(img + '/large.oci-dir')/1e6:.0f} MB | {t['limit']:.2f} s | {t['rharden']:.2f} s | **{t['rharden']/t['limit']:.2f}×** | {rss/1024:.1f} MiB |")
PY
rm -rf "$work"
cat "$results"
