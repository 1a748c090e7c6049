#!/usr/bin/env bash
# bench/runtime/pair.sh — two commands timed side by side: ROUNDS hyperfine sessions of RUNS/ROUNDS
# runs each, in alternating order (A first in odd rounds, B first in even ones), their times pooled.
# A host that drifts during the benchmark (other load; net namespaces the kernel is still freeing) then
# weighs on both alike; one session per tool gave ratios that moved by ±0.2 from run to run.
#
# Usage:  pair.sh OUT_DIR NAME_A CMD_A NAME_B CMD_B     (called by bench.sh)
# Env:    RUNS (default 100), WARMUP (default 5), ROUNDS (default 5)
# Writes: OUT_DIR/NAME.{csv,json} for both, in hyperfine's CSV columns (seconds).
set -euo pipefail
[ $# = 5 ] || { echo "usage: $0 OUT_DIR NAME_A CMD_A NAME_B CMD_B" >&2; exit 2; }
out=$1 name_a=$2 cmd_a=$3 name_b=$4 cmd_b=$5
RUNS=${RUNS:-100}; WARMUP=${WARMUP:-5}; ROUNDS=${ROUNDS:-5}
w=$(mktemp -d "${TMPDIR:-/tmp}/rh-bench-pair.XXXXXX"); trap 'rm -rf "$w"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then pair=(-n "$name_a" "$cmd_a" -n "$name_b" "$cmd_b")
  else pair=(-n "$name_b" "$cmd_b" -n "$name_a" "$cmd_a"); fi
  hyperfine -N --style basic --warmup "$WARMUP" --runs $(( (RUNS + ROUNDS - 1) / ROUNDS )) \
    --export-json "$w/round-$round.json" "${pair[@]}" >/dev/null
done
python3 - "$out" "$w"/round-*.json <<'PY'
import json, statistics, sys
out, files = sys.argv[1], sys.argv[2:]
pooled = {}
for f in files:
    for r in json.load(open(f))["results"]:
        p = pooled.setdefault(r["command"], {"times": [], "user": [], "system": []})
        p["times"] += r["times"]; p["user"].append(r["user"]); p["system"].append(r["system"])
for name, p in pooled.items():
    t = p["times"]
    row = [statistics.mean(t), statistics.stdev(t), statistics.median(t),
           statistics.mean(p["user"]), statistics.mean(p["system"]), min(t), max(t)]
    with open(f"{out}/{name}.csv", "w") as csv:
        csv.write("command,mean,stddev,median,user,system,min,max\n")
        csv.write(",".join([name] + [repr(v) for v in row]) + "\n")
    json.dump({"command": name, "times": t}, open(f"{out}/{name}.json", "w"))
PY
