#!/usr/bin/env bash
# Builds and runs the test suite under sanitizers:
#   asan: every test (unit and integration, the daemon included) under AddressSanitizer +
#         UndefinedBehaviorSanitizer;
#   tsan: the units that run threads or a loop with the worker pool (core, the async queue,
#         scheduler, the HTTP server, the cron trigger, the Redis connection and trigger, Kafka's
#         pure pieces), and
#         the Redis, Kafka and drain integration tests with the daemon itself built with
#         ThreadSanitizer (librdkafka's C11 threads are made visible to it by
#         tests/sanitize/tsan_c11_threads.c).
# Any sanitizer report fails the run. Execution environments of a sanitizer build run without
# their memory limit (core/sanitizers.h: the shadow memory cannot live under RLIMIT_DATA); the
# tests of that limit run in the normal build.
# Usage: tests/sanitize.sh [asan|tsan|all]
set -euo pipefail
which=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)

configure() {  # DIR FLAGS [EXTRA CMAKE ARGS...]
  local dir=$1 flags=$2
  shift 2
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$flags" "$@" >/dev/null
}

if [ "$which" = asan ] || [ "$which" = all ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer: every test"
  configure "$root/build-asan" \
    "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  cmake --build "$root/build-asan" -j2
  bash "$root/scripts/install-js-deps.sh" "$root/build-asan"
  (cd "$root/build-asan" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --output-on-failure -j2 --timeout 600) ||
    { bash "$root/scripts/test-failures.sh" "$root/build-asan"; exit 8; }
fi

if [ "$which" = tsan ] || [ "$which" = all ]; then
  echo "== ThreadSanitizer: core, async queue, scheduler, HTTP server, cron trigger, Redis, Kafka"
  configure "$root/build-tsan" "-fsanitize=thread -O1" \
    -DSWITCHYARD_UNIT_TESTS="core;http;async;scheduler;triggers"
  tsan_tests=(unit_core unit_async_queue_store unit_scheduler unit_http_server unit_cron_trigger unit_redis_connection
    unit_redis_trigger unit_kafka integration_redis integration_kafka integration_drain)
  cmake --build "$root/build-tsan" -j2 --target "${tsan_tests[@]}"
  pattern=$(IFS='|'; echo "^(${tsan_tests[*]})\$")
  (cd "$root/build-tsan" &&
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitize/tsan.supp \
      ctest --output-on-failure -R "$pattern" --timeout 600) ||
    { bash "$root/scripts/test-failures.sh" "$root/build-tsan"; exit 8; }
fi
