#!/usr/bin/env bash
# Build every fuzz target with clang + libFuzzer and run each for SECONDS (default 60) from its
# seed corpus; prints executions per second, total executions and findings per target.
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
[ "$(id -u)" = 0 ] && ./deploy/setup.sh && { dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || apt-get install -y -q libclang-rt-14-dev clang; }
cmake -S . -B build-fuzz -DTS_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
printf '%-22s %12s %14s %s\n' target execs/s total findings
for bin in build-fuzz/fuzz/fuzz_*; do
  name=$(basename "$bin")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  log=$(mktemp)
  "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="tests/fuzz/$name-" "$work" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(compgen -G "tests/fuzz/$name-*" | wc -l || true)
  printf '%-22s %12s %14s %s\n' "$name" "${rate:-?}" "${execs:-?}" "$found"
  rm -rf "$work" "$log"
done
