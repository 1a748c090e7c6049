#!/usr/bin/env bash
# Benchmark: `rharden inspect` (a full read with every digest checked) against the limit
# (decompress + sha256 every layer blob once, bench/limit.sh), side by side in one hyperfine
# run per image, plus peak RSS. Also builds rharden with the miniz inflate backend to compare.
#
# usage: bench/inspect.sh [OUT]   (default bench/out; needs hyperfine, python3, gzip, zstd,
#        and tests/fixtures/real from tests/fixtures/build-images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}
RUNS=${RUNS:-5}
mkdir -p "$OUT"
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }

cargo build --release -q -p rharden
cargo build --release -q -p rharden --no-default-features --target-dir target/bench-miniz
ZLIBRS=$(bash bench/rharden_path.sh)
MINIZ=$(bash bench/rharden_path.sh "$PWD/target/bench-miniz")

LARGE=$OUT/large
if [ ! -f "$LARGE/large.docker.tar" ]; then
  python3 bench/gen_image.py "$LARGE" --gib "${LARGE_GIB:-1.0}" --layers "${LARGE_LAYERS:-40}"
fi

images=(
  tests/fixtures/real/secrets.docker.tar
  tests/fixtures/real/secrets.oci.tar
  tests/fixtures/real/secrets.zstd.oci.tar
  tests/fixtures/example/leaky.oci.tar
  "$LARGE/large.docker.tar"
  "$LARGE/large.oci.tar"
  "$LARGE/large.oci-dir"
  "$LARGE/large.zstd.oci-dir"
)
for extra in ${EXTRA_IMAGES:-}; do images+=("$extra"); done

results=$OUT/inspect-results.md
{
  echo "| image | stored | rharden (zlib-rs) | miniz build | limit | rharden / limit | miniz / limit | rharden peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$results"
for img in "${images[@]}"; do
  [ -e "$img" ] || { echo "skip $img (missing)" >&2; continue; }
  name=$(basename "$img")
  list=$OUT/$name.layers
  python3 bench/layers.py "$img" > "$list"
  json=$OUT/$name.hyperfine.json
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$json" \
    -n rharden "$ZLIBRS inspect --format json $img" \
    -n miniz "$MINIZ inspect --format json $img" \
    -n limit "bash bench/limit.sh $list" >&2
  rss=$( { /usr/bin/time -f '%M' "$ZLIBRS" inspect --format json "$img" >/dev/null; } 2>&1 | tail -1)
  stored=$(du -sb "$img" | cut -f1)
  python3 - "$json" "$name" "$stored" "$rss" >> "$results" <<'PY'
import json, sys
path, name, stored, rss = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = {x["command"]: x for x in json.load(open(path))["results"]}
med = lambda k: r[k]["median"]
print(f"| {name} | {stored/1e6:.1f} MB | {med('rharden')*1000:.0f} ms | {med('miniz')*1000:.0f} ms | {med('limit')*1000:.0f} ms "
      f"| {med('rharden')/med('limit'):.2f}x | {med('miniz')/med('limit'):.2f}x | {rss/1024:.1f} MiB |")
PY
done
cat "$results"
