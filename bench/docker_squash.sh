#!/usr/bin/env bash
# Benchmark: `rharden flatten` against docker-squash (PyPI), side by side in one hyperfine run, on the
# same docker-archive. docker-squash needs a Docker daemon: this script starts a private dockerd
# (data-root and socket in a temp dir, no network, its own containerd namespace), loads the image
# into it (not timed), and times
#   - docker-squash --output-path OUT/ds.tar --load-image false IMAGE   (squash every layer, write a tar)
#   - rharden flatten IMG -o OUT/rh.tar --format docker-archive --compression none --force
# both writing an uncompressed docker-archive, as docker-squash does. Peak RSS: /usr/bin/time -f %M.
#
# usage: bench/docker_squash.sh IMAGE.docker.tar [OUT]   (default OUT bench/out/docker-squash)
# env:   RUNS (3); PEERS_VENV (bench/out/venv) holding docker-squash (INSTALL_PEERS=1 pip-installs it)
# needs: root, docker.io (dockerd), hyperfine, python3, cargo
set -euo pipefail
cd "$(dirname "$0")/.."
IMG=${1:?usage: bench/docker_squash.sh IMAGE.docker.tar [OUT]}
OUT=${2:-bench/out/docker-squash}
RUNS=${RUNS:-3}
VENV=${PEERS_VENV:-bench/out/venv}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
IMG=$(cd "$(dirname "$IMG")" && pwd)/$(basename "$IMG")
for t in dockerd docker hyperfine python3; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install -y docker.io hyperfine python3)" >&2; exit 1; }
done
if [ ! -x "$VENV/bin/docker-squash" ]; then
  if [ "${INSTALL_PEERS:-0}" = 1 ]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q docker-squash
  else
    echo "needs docker-squash: python3 -m venv $VENV && $VENV/bin/pip install docker-squash (or INSTALL_PEERS=1)" >&2
    exit 1
  fi
fi
cargo build --release -q -p rharden
RH=$(bash bench/rharden_path.sh)

RUN_DIR=$(mktemp -d /tmp/rh-squash.XXXXXX)
ROOT=$OUT/docker-root
export DOCKER_HOST="unix://$RUN_DIR/docker.sock" DOCKER_CONFIG=$RUN_DIR/cfg
mkdir -p "$ROOT" "$DOCKER_CONFIG"
dockerd --data-root "$ROOT" --exec-root "$RUN_DIR/x" --pidfile "$RUN_DIR/docker.pid" -H "$DOCKER_HOST" \
  --storage-driver overlay2 --iptables=false --ip6tables=false --bridge=none \
  --containerd-namespace rharden-bench --containerd-plugins-namespace rharden-bench-plugins \
  >"$OUT/dockerd.log" 2>&1 &
DOCKERD=$!
cleanup() {
  kill -TERM "$DOCKERD" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$DOCKERD" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$DOCKERD" 2>/dev/null || true
  { grep -o " $RUN_DIR/[^ ]*\| $ROOT/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$RUN_DIR" "$ROOT" "$OUT/ds.tar" "$OUT/rh.tar"
}
trap cleanup EXIT
for _ in $(seq 1 150); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker version >/dev/null || { tail -5 "$OUT/dockerd.log" >&2; exit 1; }

echo "==> docker load $IMG (not timed)"
ref=$(docker load -i "$IMG" | sed -n 's/^Loaded image: //p; s/^Loaded image ID: //p' | head -1)
[ -n "$ref" ] || { echo "docker load printed no image" >&2; exit 1; }
layers=$(docker image inspect -f '{{len .RootFS.Layers}}' "$ref")
echo "==> $ref: $layers layers; load $(uptime | sed 's/.*load average: //')"

hyperfine -N --runs "$RUNS" --export-json "$OUT/hyperfine.json" \
  --prepare "rm -f $OUT/ds.tar $OUT/rh.tar" \
  -n docker-squash "$VENV/bin/docker-squash --output-path $OUT/ds.tar --load-image false $ref" \
  -n "rharden flatten" "$RH flatten $IMG -o $OUT/rh.tar --format docker-archive --compression none --force"

rm -f "$OUT/ds.tar" "$OUT/rh.tar"
/usr/bin/time -o "$OUT/ds.rss" -f %M "$VENV/bin/docker-squash" --output-path "$OUT/ds.tar" --load-image false "$ref" >/dev/null 2>&1
rm -f "$OUT/ds.tar"
/usr/bin/time -o "$OUT/rh.rss" -f %M "$RH" flatten "$IMG" -o "$OUT/rh.tar" --format docker-archive --compression none --force >/dev/null
ds_rss=$(tail -1 "$OUT/ds.rss") rh_rss=$(tail -1 "$OUT/rh.rss")
python3 - "$OUT/hyperfine.json" "$ds_rss" "$rh_rss" "$IMG" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ds, rh = runs["docker-squash"]["median"], runs["rharden flatten"]["median"]
print(f"| image | rharden flatten | docker-squash | docker-squash / rharden | RSS rharden | RSS docker-squash |")
print(f"|---|---|---|---|---|---|")
print(f"| {sys.argv[4].split('/')[-1]} | {rh:.2f} s | {ds:.2f} s | {ds / rh:.1f}× | {int(sys.argv[3]) // 1024} MiB | {int(sys.argv[2]) // 1024} MiB |")
PY
