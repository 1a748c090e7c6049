#!/usr/bin/env bash
# Runs one fuzz target for SECONDS with the seed corpus, and appends the result to runs.tsv.
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds come from
# `cargo run -p rharden-testkit --bin fuzz-seeds` (small images in every form, the shipped
# policies and profiles, the secret rules' test cases) and, for image_archive, the hostile corpus
# (tests/fixtures/hostile/generate.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1 seconds=$2
shift 2
corpus=fuzz/corpus/$target
if [ ! -d "$corpus" ]; then
  seeds=$(mktemp -d)
  cargo run -q -p rharden-testkit --bin fuzz-seeds -- "$seeds"
  mkdir -p "$corpus"
  cp "$seeds/$target"/* "$corpus"/ 2>/dev/null || true
  if [ "$target" = image_archive ]; then
    # The hostile corpus's single-file images under 64 KiB (libFuzzer's -max_len below), but
    # not its decompression bombs: they are meant to inflate to the 1 GiB limit before they are
    # refused, which takes longer than -timeout under the fuzzer's instrumentation.
    tests/fixtures/hostile/generate.sh "$seeds/hostile" >/dev/null
    tail -n +2 "$seeds/hostile/cases.tsv" | while IFS=$'\t' read -r name _ image _; do
      case $name in *bomb*) continue ;; esac
      f=$seeds/hostile/$image
      if [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 65536 ]; then cp "$f" "$corpus/hostile-$name"; fi
    done
  fi
  rm -rf "$seeds"
fi
mkdir -p fuzz/artifacts/$target
log=$(mktemp)
cd fuzz
# -rss_limit_mb: memory bounded is part of the contract (an input needing more is a finding);
# -timeout: one input taking longer than 10 s is a hang.
cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
  -artifact_prefix="artifacts/$target/" -print_final_stats=1 "$@" 2>&1 | tee "$log" | grep -E "^#|==|panicked|SUMMARY|ERROR" | tail -5 || true
execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
crashes=$(find "artifacts/$target" -type f | wc -l)
printf '%s\t%s\t%ss\texecs=%s\tcov=%s\tartifacts=%s\n' "$(date -u +%FT%TZ)" "$target" "$seconds" "$execs" "$cov" "$crashes" | tee -a runs.tsv
rm -f "$log"
