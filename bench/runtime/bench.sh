#!/usr/bin/env bash
# bench/runtime/bench.sh — start-to-exit latency of `/bin/true` in a busybox rootfs:
# `rharden run` (every default on) side by side with bwrap, runc and crun, in one hyperfine run.
#
# Usage:  sudo bench/runtime/bench.sh [RHARDEN_BINARY]   (default: the release build, bench/rharden_path.sh)
# Env:    RUNS (default 100), WARMUP (default 5), ROUNDS (default 5: rharden alternates with bwrap, and with crun)
# Needs:  apt-get install -y busybox-static bubblewrap runc crun hyperfine
# Writes: bench/out/runtime/{*.json,*.csv,results.csv,env.txt} and prints medians and ratios.
set -euo pipefail
export LC_ALL=C
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
RH=${1:-$(bash "$REPO/bench/rharden_path.sh")}
RUNS=${RUNS:-100}; WARMUP=${WARMUP:-5}
[ "$(id -u)" = 0 ] || die "run as root (runc/crun need it; rharden maps ids as root)"
[ -x "$RH" ] || die "no rharden binary at $RH (cargo build --release -p rharden)"
for c in hyperfine bwrap runc crun unshare; do command -v "$c" >/dev/null || die "missing $c"; done
[ -x /bin/busybox ] || die "missing /bin/busybox (apt-get install busybox-static)"

OUT=$REPO/bench/out/runtime; mkdir -p "$OUT"; rm -f "$OUT"/*.json "$OUT"/*.csv
W=$(mktemp -d "${TMPDIR:-/tmp}/rh-bench-runtime.XXXXXX"); trap 'rm -rf "$W"' EXIT

# The busybox rootfs (also the OCI bundle's rootfs), with every mount point rharden uses.
B=$W/bundle; R=$B/rootfs
mkdir -p "$R"/{bin,etc,proc,dev,sys,tmp,run}
cp /bin/busybox "$R/bin/busybox"; for a in sh true; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' > "$R/etc/passwd"
( cd "$B" && runc spec )
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/^\(\s*\)"sh"$/\1"\/bin\/true"/' "$B/config.json"
grep -q '"/bin/true"' "$B/config.json" || die "could not patch config.json"

{ hyperfine --version; "$RH" --version; bwrap --version; runc --version | sed -n 1p; crun --version | sed -n 1p
  uname -r; nproc; date -u +%FT%TZ; } > "$OUT/env.txt"

hf() { # name command
  local name=$1; shift
  "$@" >/dev/null 2>"$W/err" || die "$name does not run: $* -> $(cat "$W/err")"
  hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/$name.json" \
    --export-csv "$OUT/$name.csv" --command-name "$name" "$*" >/dev/null
}

# rharden and bwrap, the pair the first target compares, timed in alternating rounds (pair.sh).
RH_CMD="$RH run --rootfs $R -- /bin/true"
BWRAP_CMD="bwrap --ro-bind $R / --proc /proc --dev /dev --unshare-all /bin/true"
$RH_CMD >/dev/null 2>"$W/err" || die "rharden does not run: $RH_CMD -> $(cat "$W/err")"
$BWRAP_CMD >/dev/null 2>"$W/err" || die "bwrap does not run: $BWRAP_CMD -> $(cat "$W/err")"
export RUNS WARMUP
bash "$HERE/pair.sh" "$OUT" rharden "$RH_CMD" bwrap "$BWRAP_CMD"
hf runc runc run -b "$B" rh-bench-runc
# crun 1.8 refuses this host's hybrid cgroups ("cgroups in hybrid mode not supported"): it is
# measured in a private mount namespace without the cgroup2 mount (the host is untouched), and
# rharden is measured again in that same namespace for fairness.
if ! crun run -b "$B" rh-bench-crun >/dev/null 2>&1; then
  # crun and rharden alternate in that namespace too (pair.sh): the second target's pair.
  unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
    crun run -b '$B' rh-bench-crun >/dev/null && \
    bash '$HERE/pair.sh' '$OUT' crun 'crun run -b $B rh-bench-crun' rharden-same-ns-as-crun '$RH_CMD'"
else
  hf crun crun run -b "$B" rh-bench-crun
fi

{
  echo "command,median_ms,mean_ms,stddev_ms,min_ms,max_ms"
  for f in "$OUT"/*.csv; do
    [ "$(basename "$f")" = results.csv ] && continue
    awk -F, 'NR == 2 { printf "%s,%.2f,%.2f,%.2f,%.2f,%.2f\n", $1, $4*1000, $2*1000, $3*1000, $7*1000, $8*1000 }' "$f"
  done | sort -t, -k2 -g
} > "$OUT/results.csv"
column -t -s, "$OUT/results.csv"
med() { awk -F, -v n="$1" '$1 == n { print $2 }' "$OUT/results.csv"; }
echo
for peer in bwrap runc crun; do
  awk -v a="$(med rharden)" -v b="$(med "$peer")" -v p="$peer" 'BEGIN { if (b > 0) printf "rharden / %s = %.2f\n", p, a / b }'
done
awk -v a="$(med rharden-same-ns-as-crun)" -v b="$(med crun)" \
  'BEGIN { if (a > 0 && b > 0) printf "rharden / crun in the same namespace (the target) = %.2f\n", a / b }'
