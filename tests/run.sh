#!/usr/bin/env bash
# Set up (dependencies from Debian), build with warnings as errors, run every test with ctest.
# Usage: tests/run.sh [--sanitize]   (--sanitize: AddressSanitizer + UndefinedBehaviorSanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] && ./deploy/setup.sh
build=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-Werror)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  flags+=(-DTS_SANITIZE=ON)
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 600 -j2
