#!/usr/bin/env bash
# Benchmark on a generated 4 GiB image (issue 8, "Large images"): `rharden scan` and `rharden
# flatten` side by side with their limits in one hyperfine run each, with peak RSS recorded in the
# same runs (GNU time around each rharden command).
#   scan:    limit = decompress and hash every layer blob once (bench/limit.sh);
#            rharden scan (every analyzer) and rharden scan --analyzers secrets.
#   flatten: limit = that read + `pigz -6` (`gzip -6` without pigz) of the squashed layer; rharden flatten
#            to an OCI dir, gzip.
#
# usage: bash bench/large.sh [OUT]   (default bench/out; image in OUT/large4, table in OUT/large-results.md)
# env:   GIB (4.0) and LAYERS (40) for the generated image; RUNS (1) hyperfine runs;
#        SCAN_IMAGES (large.docker.tar) which forms to scan, of large.docker.tar and large.oci-dir.
# needs: hyperfine, GNU time (/usr/bin/time), python3, gzip, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}
RUNS=${RUNS:-1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cargo build --release -q -p rharden
RH=$(bash bench/rharden_path.sh)
IMG=$OUT/large4
[ -f "$IMG/large.docker.tar" ] || python3 bench/gen_image.py "$IMG" --gib "${GIB:-4.0}" --layers "${LAYERS:-40}"
work=$OUT/large-work
rm -rf "$work"; mkdir -p "$work"
results=$OUT/large-results.md
# Peak RSS of every timed run, appended to work/<name>.rss (KiB, one line per run).
T="/usr/bin/time -f %M -a -o"

for name in ${SCAN_IMAGES:-large.docker.tar}; do
  img=$IMG/$name
  python3 bench/layers.py "$img" > "$work/$name.layers"
  # Exit 1 (the policy failed) is a finished scan; 2 is an error, which must not be timed.
  rc=0; "$RH" scan --analyzers hygiene --format json --output "$work/scan.json" "$img" || rc=$?
  [ "$rc" -le 1 ] || { echo "rharden scan $img: exit $rc" >&2; exit 1; }
  hyperfine -N -i --warmup 0 --runs "$RUNS" --export-json "$work/scan-$name.json" \
    -n limit "bash bench/limit.sh $work/$name.layers" \
    -n rharden "$T $work/scan-$name.all.rss $RH scan --format json --output $work/scan.json $img" \
    -n rharden-secrets "$T $work/scan-$name.secrets.rss $RH scan --analyzers secrets --format json --output $work/scan.json $img" >&2
done

# flatten, gzip (the result's layer, uncompressed, for the limit's compression half, compressed by the
# fastest common tool, as bench/limit.sh)
if command -v pigz >/dev/null; then GZIP6="pigz -6 -c"; else GZIP6="gzip -6 -c"; fi
img=$IMG/large.oci-dir
[ -f "$work/large.oci-dir.layers" ] || python3 bench/layers.py "$img" > "$work/large.oci-dir.layers"
"$RH" flatten "$img" -o "$work/result.tar" --format docker-archive --compression none --force >/dev/null
layer=$(tar -tf "$work/result.tar" | grep '\.tar$' | head -1)
tar -xOf "$work/result.tar" "$layer" > "$work/layer.tar"
rm -f "$work/result.tar"
hyperfine -N --warmup 0 --runs "$RUNS" --export-json "$work/flatten.json" \
  --prepare "rm -rf $work/out" \
  -n rharden "$T $work/flatten.rss $RH flatten $img -o $work/out --format oci-dir --compression gzip" \
  -n limit "bash -c 'bash bench/limit.sh $work/large.oci-dir.layers && $GZIP6 $work/layer.tar > /dev/null'" >&2
rm -rf "$work/out" "$work/layer.tar"

python3 - "$work" "$IMG" "${SCAN_IMAGES:-large.docker.tar}" > "$results" <<'PY'
import json, os, sys
work, img, scanned = sys.argv[1], sys.argv[2], sys.argv[3].split()
def times(f):
    return {x["command"]: x["median"] for x in json.load(open(f))["results"]}
def peak(f):
    return max(int(l) for l in open(f) if l.strip().isdigit()) / 1024
def size(p):
    if os.path.isdir(p):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)
    return os.path.getsize(p)
print("| job | image | stored | limit | rharden | rharden / limit | peak RSS |")
print("|---|---|---|---|---|---|---|")
for name in scanned:
    t = times(f"{work}/scan-{name}.json")
    stored = size(f"{img}/{name}") / 1e6
    for label, cmd, rss in [("scan (every analyzer)", "rharden", "all"), ("scan --analyzers secrets", "rharden-secrets", "secrets")]:
        print(f"| {label} | {name} | {stored:.0f} MB | {t['limit']:.2f} s | {t[cmd]:.2f} s | **{t[cmd]/t['limit']:.2f}×** | {peak(f'{work}/scan-{name}.{rss}.rss'):.1f} MiB |")
t = times(f"{work}/flatten.json")
print(f"| flatten --compression gzip | large.oci-dir | {size(img + '/large.oci-dir')/1e6:.0f} MB | {t['limit']:.2f} s | {t['rharden']:.2f} s | **{t['rharden']/t['limit']:.2f}×** | {peak(work + '/flatten.rss'):.1f} MiB |")
PY
rm -rf "$work"
cat "$results"
