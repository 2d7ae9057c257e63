#!/usr/bin/env bash
# test.sh — the test command: installs what is missing (scripts/deps.sh), builds chatstream twice (Release, and Debug with
# AddressSanitizer + UndefinedBehaviorSanitizer), runs the unit tests and fuzz-corpus
# replays under both, then the integration tests against real Kafka and PostgreSQL
# (started and stopped by the ctest fixture through scripts/services.sh).
#
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only tests with this ctest label (unit, fuzz, integration)
#   scripts/test.sh -R persist      only tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

scripts/deps.sh   # Debian packages; a no-op when they are all there

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCS_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$JOBS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [[ $# -gt 0 ]]; then
  (cd build && ctest --output-on-failure "$@")
  exit
fi
echo "== unit + fuzz replay, ASan+UBSan build ==" >&2
(cd build-asan && ctest --output-on-failure -L 'unit|fuzz' -j "$JOBS")
echo "== unit + fuzz replay + integration, Release build ==" >&2
(cd build && ctest --output-on-failure)
