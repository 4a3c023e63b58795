#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on its
# seed corpus. A crash, leak or hang fails the run and leaves the reproducer in the work dir.
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Default targets: every fuzzer (http_request, manifest, cron_schedule, payload, kafka_record,
# envelope, runtime_api, admin_request).
set -euo pipefail
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http_request manifest cron_schedule payload kafka_record envelope runtime_api admin_request)
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-fuzz"
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fsanitize-ignorelist=$root/tests/fuzz/ubsan_ignorelist.txt -g -O1"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DSWITCHYARD_BUILD_TESTS=OFF -DSWITCHYARD_BUILD_BENCH=OFF -DSWITCHYARD_BUILD_FUZZERS=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j2 --target http_request_fuzzer manifest_fuzzer cron_schedule_fuzzer payload_fuzzer \
  kafka_record_fuzzer envelope_fuzzer runtime_api_fuzzer admin_request_fuzzer
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  cp "$root/tests/fuzz/corpus/$target"/* "$corpus"/
  echo "== fuzzing $target for ${seconds}s"
  (cd "$build" && "./tests/fuzz/${target}_fuzzer" -max_total_time="$seconds" -timeout=10 \
    -max_len=8192 "$corpus" "$root/tests/fuzz/corpus/$target")
  rm -rf "$corpus"
done
echo "fuzzing: no crash"
