#!/usr/bin/env bash
# Build every fuzz target with clang + libFuzzer (ASan + UBSan) and run each from its seed corpus;
# prints executions per second, total executions, seconds and findings per target.
#   tests/fuzz/run.sh [-j JOBS] [SECONDS]          each target for SECONDS (default 60)
#   tests/fuzz/run.sh [-j JOBS] --runs N [SECONDS] each target until N executions (cap: SECONDS,
#                                                  default 7200)
# JOBS targets run at once (default 1). Inputs that crash, leak or time out are written as
# tests/fuzz/fuzz_<target>-crash-* etc.; each run's corpus grows in build-fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=1 runs=-1 secs=
if [ "${1:-}" = -j ]; then jobs=$2; shift 2; fi
if [ "${1:-}" = --runs ]; then runs=$2; shift 2; secs=${1:-7200}; else secs=${1:-60}; fi
[ "$(id -u)" = 0 ] && ./deploy/setup.sh >/dev/null && { dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || apt-get install -y -q libclang-rt-14-dev clang; }
cmake -S . -B build-fuzz -DTS_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null

one() { # BINARY RUNS SECONDS: run one target, print its row
  local bin=$1 name work log t0 maxlen execs rate found
  name=$(basename "$bin")
  work=build-fuzz/corpus/${name#fuzz_}
  mkdir -p "$work"
  [ -d "tests/fuzz/corpus/${name#fuzz_}" ] && cp -r "tests/fuzz/corpus/${name#fuzz_}"/. "$work"/
  log=build-fuzz/$name.log
  maxlen=8192; [ "$name" = fuzz_tscut ] && maxlen=70000  # tscut needs several pieces' worth of stream
  t0=$(date +%s)
  "$bin" -runs="$2" -max_total_time="$3" -print_final_stats=1 -max_len=$maxlen -rss_limit_mb=2048 \
    -artifact_prefix="tests/fuzz/$name-" "$work" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(compgen -G "tests/fuzz/$name-*" | wc -l || true)
  printf '%-20s %10s %14s %10s %s\n' "$name" "${rate:-?}" "${execs:-?}" "$(( $(date +%s) - t0 ))" "$found"
}
export -f one
printf '%-20s %10s %14s %10s %s\n' target execs/s total seconds findings
ls build-fuzz/fuzz/fuzz_* | xargs -P "$jobs" -I{} bash -c 'one "$@"' _ {} "$runs" "$secs"
