#!/usr/bin/env bash
# Benchmark: `rharden flatten` against the limit (decompress every layer once + compress one
# layer of the result with the same codec) and against `umoci unpack` + `umoci repack`, side by
# side in one hyperfine run per image, plus peak RSS.
#
# usage: bench/flatten.sh [OUT]   (default bench/out; needs hyperfine, umoci, python3, gzip, zstd)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}
RUNS=${RUNS:-3}
mkdir -p "$OUT"
for t in hyperfine umoci; do command -v $t >/dev/null || { echo "needs $t (apt-get install -y $t)" >&2; exit 1; }; done

cargo build --release -q -p rharden
RH=$(bash bench/rharden_path.sh)
LARGE=$OUT/large
[ -f "$LARGE/large.docker.tar" ] || python3 bench/gen_image.py "$LARGE" --gib "${LARGE_GIB:-1.0}" --layers "${LARGE_LAYERS:-40}"

# image, codec of the new layer (the same as the input's layers, as the limit assumes)
cases=()
for codec in ${CODECS:-gzip zstd}; do
  case $codec in
    gzip) cases+=("$LARGE/large.oci-dir gzip") ;;
    zstd) cases+=("$LARGE/large.zstd.oci-dir zstd") ;;
  esac
done
for extra in ${EXTRA_IMAGES:-}; do cases+=("$extra gzip"); done

results=$OUT/flatten-results.md
{
  echo "| image | codec | rharden flatten | limit | umoci unpack+repack | rharden / limit | umoci / rharden | rharden peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$results"
for case in "${cases[@]}"; do
  read -r img codec <<< "$case"
  [ -e "$img" ] || { echo "skip $img (missing)" >&2; continue; }
  name=$(basename "$img")
  work=$OUT/flatten-$name
  rm -rf "$work"; mkdir -p "$work"
  python3 bench/layers.py "$img" > "$work/layers"
  # The result's layer, uncompressed, for the limit's compression half.
  "$RH" flatten "$img" -o "$work/result.tar" --format docker-archive --compression none --force >/dev/null
  layer=$(tar -tf "$work/result.tar" | grep '\.tar$' | head -1)
  tar -xOf "$work/result.tar" "$layer" > "$work/layer.tar"
  rm -f "$work/result.tar"
  # The fastest common tools, on every core (as bench/limit.sh): pigz, zstd -T0.
  case $codec in
    gzip) if command -v pigz >/dev/null; then compress="pigz -6 -c $work/layer.tar"; else compress="gzip -6 -c $work/layer.tar"; fi ;;
    zstd) compress="zstd -3 -T0 -q -c $work/layer.tar" ;;
  esac
  # umoci works in place on an OCI layout; each run gets a fresh copy (prepare, not timed).
  ref=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$img")
  json=$work/hyperfine.json
  hyperfine -N --warmup 0 --runs "$RUNS" --export-json "$json" \
    --prepare "rm -rf $work/out $work/umoci-oci $work/bundle" \
    -n rharden "$RH flatten $img -o $work/out --format oci-dir --compression $codec" \
    -n limit "bash -c 'bash bench/limit.sh $work/layers && $compress > /dev/null'" >&2
  if [ "$codec" = zstd ]; then
    # umoci 0.4.7 cannot read zstd layers ("unsupported layer media type"): no umoci column.
    echo '{"results": []}' > "$work/umoci.json"
  else
  hyperfine -N --warmup 0 --runs "$RUNS" --export-json "$work/umoci.json" \
    --prepare "bash -c 'rm -rf $work/umoci-oci $work/bundle && cp -r $img $work/umoci-oci'" \
    -n umoci "bash -c 'umoci unpack --image $work/umoci-oci:$ref $work/bundle >/dev/null && umoci repack --image $work/umoci-oci:flat $work/bundle >/dev/null'" >&2
  fi
  rm -rf "$work/out"
  rss=$( { /usr/bin/time -f '%M' "$RH" flatten "$img" -o "$work/out" --format oci-dir --compression "$codec" >/dev/null; } 2>&1 | tail -1)
  python3 - "$json" "$work/umoci.json" "$name" "$codec" "$rss" >> "$results" <<'PY'
import json, sys
a, u, name, codec, rss = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
r = {x["command"]: x["median"] for x in json.load(open(a))["results"]}
r.update({x["command"]: x["median"] for x in json.load(open(u))["results"]})
um = r.get('umoci')
print(f"| {name} | {codec} | {r['rharden']:.2f} s | {r['limit']:.2f} s | "
      + (f"{um:.2f} s" if um else "— (umoci cannot read zstd)")
      + f" | {r['rharden']/r['limit']:.2f}x | " + (f"{um/r['rharden']:.1f}x" if um else "—")
      + f" | {rss/1024:.0f} MiB |")
PY
  rm -rf "$work"
done
cat "$results"
