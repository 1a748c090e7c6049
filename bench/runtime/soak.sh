#!/usr/bin/env bash
# bench/runtime/soak.sh — the runtime soak, longer than the test's: N sequential `rharden run`s of
# /bin/true in a busybox rootfs, then ROUNDS rounds of M concurrent ones, then a fork bomb under
# --pids-limit 64, then K SIGTERMs and K SIGKILLs to rharden at random points; wall time per run,
# and what changed on the host.
#
# Usage:  sudo bench/runtime/soak.sh [RHARDEN_BINARY]   (default: the release build, bench/rharden_path.sh)
# Env:    N (default 10000), M (default 50), ROUNDS (default 20), K (default 50)
# Needs:  /bin/busybox (apt-get install busybox-static)
# Prints: per-run wall time (median, p99, max), runs per second, and the state diff: mounts
#         (/proc/self/mountinfo and /proc/1/mountinfo), rharden cgroups, processes left (found by
#         a token in their environment), zombies, this shell's descriptors, files in the cache and
#         TMPDIR. Exit 1 when anything was left or a run failed.
# The test version (1,000 + 50, in CI): crates/rharden/tests/it/soak.rs.
set -euo pipefail
export LC_ALL=C
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
RH=${1:-$(bash "$REPO/bench/rharden_path.sh")}
N=${N:-10000}; M=${M:-50}; ROUNDS=${ROUNDS:-20}; K=${K:-50}
[ "$(id -u)" = 0 ] || die "run as root (rharden maps ids and creates cgroups as root)"
[ -x "$RH" ] || die "no rharden binary at $RH (cargo build --release -p rharden)"
[ -x /bin/busybox ] || die "missing /bin/busybox (apt-get install busybox-static)"
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 (EPOCHREALTIME)"

# (/var/tmp: a long soak outlived a /tmp cleaner here)
W=$(mktemp -d "${TMPDIR:-/var/tmp}/rh-soak.XXXXXX"); trap 'rm -rf "$W"' EXIT
R=$W/rootfs
mkdir -p "$R"/{bin,etc,proc,dev,sys,tmp,run} "$W/cache" "$W/tmp"
cp /bin/busybox "$R/bin/busybox"; for a in sh true sleep; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' > "$R/etc/passwd"

TOKEN="rh-soak-$$-$RANDOM"
export RHARDEN_CACHE_DIR=$W/cache
# The token is in rharden's environment (so in its container's init, a fork of it) and, through
# --env, in the workload's; never in this shell's.
rh() { RHARDEN_SOAK_TOKEN=$TOKEN TMPDIR=$W/tmp exec "$RH" run --env "RHARDEN_SOAK_TOKEN=$TOKEN" "$@"; }

cgroups() { ls -d /sys/fs/cgroup/{pids,memory,cpu,unified,}/rharden/rharden-* 2>/dev/null | sort || true; }
left() { # processes with our token (launchers, inits, workloads), but this shell
  grep -lsz "^RHARDEN_SOAK_TOKEN=$TOKEN\$" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$" | sort -n || true
}
zombies() { ps -eo stat=,ppid=,pid=,comm= | awk -v me="$$" '$1 ~ /^Z/ && $2 == me' || true; }
snapshot() { # DIR
  mkdir -p "$1"
  sort /proc/self/mountinfo > "$1/mounts"; sort /proc/1/mountinfo > "$1/init-mounts"
  cgroups > "$1/cgroups"; left > "$1/processes"; zombies > "$1/zombies"
  # (not the pipes of this very pipeline)
  ls -l /proc/$$/fd 2>/dev/null | awk 'NR > 1 && $11 !~ /^pipe:/ { print $9, $10, $11 }' | sort > "$1/fds"
  (cd "$W" && find cache tmp -path 'cache/*/rootfs' -prune -o -print | sort) > "$1/files"
}
compare() { # LABEL — against the baseline; returns 1 on a difference
  local now=$W/state-$1 bad=0 f
  snapshot "$now"
  for f in mounts init-mounts cgroups processes zombies fds files; do
    if ! diff -q "$W/state-baseline/$f" "$now/$f" >/dev/null; then
      printf '  after %s, %s changed:\n' "$1" "$f"; diff "$W/state-baseline/$f" "$now/$f" | sed 's/^/    /' | head -20
      bad=1
    fi
  done
  [ $bad = 0 ] && printf '  after %s: host state unchanged (mounts, PID 1 mounts, cgroups, processes, zombies, fds, files)\n' "$1"
  return $bad
}
# Microseconds since the epoch, without a fork: `t=${EPOCHREALTIME/./}`.
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
stats() { # FILE of microseconds -> "median X ms, p99 Y ms, max Z ms"
  sort -n "$1" | awk '{ a[NR] = $1 } END { p = int(NR * 0.99); if (p < 1) p = 1;
    printf "median %.2f ms, p99 %.2f ms, max %.2f ms", a[int((NR + 1) / 2)] / 1000, a[p] / 1000, a[NR] / 1000 }'
}

(rh --rootfs "$R" -- /bin/true) || die "rharden does not run: $RH run --rootfs $R -- /bin/true"
snapshot "$W/state-baseline"
printf 'rharden %s, kernel %s, %s cores, load %s, %s\n' "$("$RH" --version | awk '{print $2}')" "$(uname -r)" \
  "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$(date -u +%FT%TZ)"
status=0

# 1. Sequential.
fails=0; t0=${EPOCHREALTIME/./}
for ((i = 0; i < N; i++)); do
  a=${EPOCHREALTIME/./}; (rh --rootfs "$R" -- /bin/true) || fails=$((fails + 1)); b=${EPOCHREALTIME/./}
  echo $((b - a))
done > "$W/seq.us"
t1=${EPOCHREALTIME/./}
printf '%d sequential: %s s, %s runs/s; per run %s; %d failed\n' "$N" "$(ms $(((t1 - t0) / 1000)))" \
  "$((N * 1000000 / (t1 - t0)))" "$(stats "$W/seq.us")" "$fails"
[ $fails = 0 ] || status=1
compare sequential || status=1

# 2. Concurrent, in rounds.
fails=0; : > "$W/conc.us"; t0=${EPOCHREALTIME/./}
for ((r = 0; r < ROUNDS; r++)); do
  a=${EPOCHREALTIME/./}; pids=()
  for ((i = 0; i < M; i++)); do rh --rootfs "$R" -- /bin/true & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  b=${EPOCHREALTIME/./}; echo $((b - a)) >> "$W/conc.us"
done
t1=${EPOCHREALTIME/./}
printf '%d rounds of %d concurrent: %s s, %s runs/s; per round %s; %d failed\n' "$ROUNDS" "$M" \
  "$(ms $(((t1 - t0) / 1000)))" "$((ROUNDS * M * 1000000 / (t1 - t0)))" "$(stats "$W/conc.us")" "$fails"
[ $fails = 0 ] || status=1
compare concurrent || status=1

# 3. A fork bomb under --pids-limit 64 for 3 s (busybox sh exits when a fork fails, so the bomb
#    runs in subshells; the workload ends on its own after `sleep`, forked before the bomb).
nproc_host() { local p=(/proc/[0-9]*); echo ${#p[@]}; }
before=$(nproc_host)
rh --pids-limit 64 --rootfs "$R" -- /bin/sh -c \
  "sleep 3 & s=\$!; ( while :; do sh -ic 'b(){ b|b& }; b; while :; do sleep 1000 & done'; done ) >/dev/null 2>&1 & wait \$s; exit 7" &
bomb=$!; most=0; worst=0; sleep 0.3
cg=$(ls -d /sys/fs/cgroup/{pids,unified,}/rharden/rharden-"$bomb"-* 2>/dev/null | head -1 || true)
while kill -0 "$bomb" 2>/dev/null; do
  n=$(nproc_host); [ "$n" -gt "$most" ] && most=$n
  a=${EPOCHREALTIME/./}; /bin/true; b=${EPOCHREALTIME/./}; [ $((b - a)) -gt "$worst" ] && worst=$((b - a))
  if [ -n "$cg" ]; then # (the cgroup is gone once the run ends: keep the last values read)
    c=$(cat "$cg/pids.peak" 2>/dev/null || true); [ -n "$c" ] && peak=$c
    c=$(awk '{print $2}' "$cg/pids.events" 2>/dev/null || true); [ -n "$c" ] && refused=$c
  fi
  sleep 0.05
done
code=0; wait "$bomb" || code=$?
printf 'fork bomb (--pids-limit 64, 3 s): exit %s, cgroup peak %s tasks, %s forks refused; host processes %d before, at most %d during; slowest host /bin/true %s ms\n' \
  "$code" "${peak:-n/a}" "${refused:-n/a}" "$before" "$most" "$(ms "$worst")"
[ "$code" = 7 ] || status=1
compare "fork bomb" || status=1

# 4. SIGTERM and SIGKILL to rharden, K times each at a random point (0-30 ms: the start, or the
#    workload running). SIGTERM: the start aborted (125), the workload's trap (42), or 143:
#    rharden killed before it created anything, or the shell before it set its trap. SIGKILL: the container dies with rharden; the next run
#    removes the cgroups the killed ones left.
gone() { # wait up to 2 s for no process with the token
  local i; for ((i = 0; i < 200; i++)); do [ -z "$(left)" ] && return 0; sleep 0.01; done; return 1
}
declare -A codes=()
for ((i = 0; i < K; i++)); do
  rh --rootfs "$R" -- /bin/sh -c 'trap "exit 42" TERM; sleep 1000 & wait' & p=$!
  sleep "$(printf '0.%03d' $((RANDOM % 30)))"; kill -TERM "$p"; c=0; wait "$p" || c=$?
  codes[$c]=$(( ${codes[$c]:-0} + 1 ))
done
printf '%d SIGTERMs: exit codes' "$K"; for c in "${!codes[@]}"; do printf ' %s×%d' "$c" "${codes[$c]}"; done; echo
for c in "${!codes[@]}"; do case $c in 42|125|143) ;; *) status=1 ;; esac; done
gone || status=1
compare SIGTERM || status=1
for ((i = 0; i < K; i++)); do
  rh --rootfs "$R" -- /bin/sleep 1000 & p=$!
  sleep "$(printf '0.%03d' $((RANDOM % 30)))"; kill -KILL "$p"; wait "$p" 2>/dev/null || true
done
a=${EPOCHREALTIME/./}; gone || status=1; b=${EPOCHREALTIME/./}
stale=$(cgroups | wc -l)
(rh --rootfs "$R" -- /bin/true) || status=1
printf '%d SIGKILLs: containers gone %s ms later; %d cgroups left, then removed by the next run\n' "$K" \
  "$(ms $((b - a)))" "$stale"
compare "SIGKILL and a run" || status=1
exit $status
