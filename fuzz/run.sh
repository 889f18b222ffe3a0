#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer on the stable toolchain (plain
# cargo with the sanitizer-coverage flags cargo-fuzz would pass; no
# cargo-fuzz install needed) and runs each for SECS seconds.
#   fuzz/run.sh [SECS] [TARGET...]     default: 45 seconds, every target
# A crash exits non-zero and leaves fuzz/artifacts/TARGET/crash-*, printed
# here as hex; minimise it and add it to fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-45}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proxy request_stream response_stream config)
FUZZ_RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-max-loads-per-memcmp=0 \
 --cfg fuzzing -Cdebug-assertions -Ccodegen-units=1"
triple=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps these flags off build scripts and proc-macros.
RUSTFLAGS="$FUZZ_RUSTFLAGS" cargo build --release --target "$triple" --bins --quiet
./seed.sh >/dev/null
status=0
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t" "corpus/$t"
  work=$(mktemp -d)
  echo "== fuzzing $t for ${secs}s"
  if ! "target/$triple/release/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -seed="${FUZZ_SEED:-1}" \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" "$work" "corpus/$t" 2>"$work.log"; then
    status=1
    grep -E "^(==|#|SUMMARY|panicked|thread)" "$work.log" | tail -20 || true
    for crash in "artifacts/$t"/crash-* "artifacts/$t"/timeout-* "artifacts/$t"/oom-*; do
      [ -f "$crash" ] && { echo "-- $crash:"; od -An -tx1 "$crash" | head -40; }
    done
  fi
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|cov: " "$work.log" | tail -3 || true
  # Keep what the run found (the corpus dir is not in git).
  cp -n "$work"/* "corpus/$t/" 2>/dev/null || true
  rm -rf "$work" "$work.log"
done
exit $status
