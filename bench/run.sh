#!/usr/bin/env bash
# Runs switchyard's benchmarks against a build and compares them with their targets.
# Usage: bash bench/run.sh BUILD_DIR   (`make bench` passes `build`)
#
# One section per benchmark; each prints its figures, then its targets and whether they were
# met. Below-target figures are reported, not fatal: set SWITCHYARD_BENCH_STRICT=1 to make them
# fail the run. SWITCHYARD_BENCH_MIN_TIME (seconds per benchmark, default 2) and
# SWITCHYARD_BENCH_REPETITIONS (default 3) trade time for steadier figures.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_dir=$1
min_time=${SWITCHYARD_BENCH_MIN_TIME:-2}
repetitions=${SWITCHYARD_BENCH_REPETITIONS:-3}
strict=${SWITCHYARD_BENCH_STRICT:-0}
results_dir=$(mktemp -d)
trap 'rm -rf "$results_dir"' EXIT
missed=0

section() {
  echo
  echo "== $1 =="
}

# median CSV BENCHMARK_NAME: the median items_per_second of BENCHMARK_NAME's repetitions in
# Google Benchmark's CSV output (the single run's figure when there was only one).
median() {
  awk -F, -v name="\"$2\"" -v aggregate="\"$2_median\"" '
    $1 == aggregate { found = $7 } $1 == name && single == "" { single = $7 }
    END { print (found != "" ? found : single) }' "$1"
}

# check_target CSV BENCHMARK_NAME MIN_ITEMS_PER_SECOND LABEL
check_target() {
  local csv=$1 name=$2 target=$3 label=$4 median
  median=$(median "$csv" "$name")
  if [ -z "$median" ]; then
    echo "  $label: no result for $name"
    missed=1
    return
  fi
  if awk -v m="$median" -v t="$target" 'BEGIN { exit !(m >= t) }'; then
    printf '  %-34s %12.0f events/s  target >= %s  met\n' "$label" "$median" "$target"
  else
    printf '  %-34s %12.0f events/s  target >= %s  BELOW TARGET\n' "$label" "$median" "$target"
    missed=1
  fi
}

section "dispatch path (bench/dispatch_bench.cc): admission -> invocation -> completion"
bench="$build_dir/bench/dispatch_bench"
if [ ! -x "$bench" ]; then
  echo "$bench is missing: configure with -DSWITCHYARD_BUILD_BENCH=ON and build it" >&2
  exit 1
fi
echo "no-op function; $(nproc) CPU(s); ${repetitions} repetitions of ${min_time}s each"
"$bench" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_out="$results_dir/dispatch.csv" --benchmark_out_format=csv
echo
echo "targets (median of the repetitions, on a 2-core machine):"
check_target "$results_dir/dispatch.csv" "BM_DispatchPooled/threads:2/real_time" 1000000 \
  "pooled, 2 worker threads"
check_target "$results_dir/dispatch.csv" "BM_DispatchInline/real_time" 5000000 "inline"
printf '  %-34s %12.0f events/s  (for comparison)\n' "pooled, 1 worker thread" \
  "$(median "$results_dir/dispatch.csv" "BM_DispatchPooled/threads:1/real_time")"

section "HTTP trigger (bench/http.sh): wrk against switchyard and nginx in the same run"
bash "$(dirname "$0")/http.sh" "$build_dir" "${SWITCHYARD_BENCH_HTTP_SECONDS:-10}"

section "Asynchronous HTTP invocations (bench/async.sh): 202 after the durable queue's group commit"
bash "$(dirname "$0")/async.sh" "$build_dir" "" "${SWITCHYARD_BENCH_HTTP_SECONDS:-10}"

section "cron trigger (bench/cron.sh): per-second lateness and idle CPU with 10,000 schedules"
bash "$(dirname "$0")/cron.sh" "$build_dir" "${SWITCHYARD_BENCH_CRON_SECONDS:-30}"

section "resource bounds (bench/resources.sh): idle connections, a 429 flood, a deep Redis stream"
bash "$(dirname "$0")/resources.sh" "$build_dir" "${SWITCHYARD_BENCH_RESOURCE_SECONDS:-10}"

section "Kafka trigger (bench/kafka.sh): switchyard and kcat on the same mock cluster, same run"
if bash "$(dirname "$0")/kafka.sh" "$build_dir" "${SWITCHYARD_BENCH_KAFKA_RECORDS_PER_PARTITION:-40000}"; then
  :
else
  status=$?
  if [ "$status" -eq 3 ]; then
    missed=1  # Ran, below target.
  else
    echo "  the Kafka benchmark did not run (exit $status)"
    missed=1
  fi
fi

section "execution environments (bench/environments.sh): isolated against in-process, same run"
bash "$(dirname "$0")/environments.sh" "$build_dir" "${SWITCHYARD_BENCH_HTTP_SECONDS:-10}"

section "python3 runtime (bench/python.sh): switchyard and gunicorn, same handler, same run"
bash "$(dirname "$0")/python.sh" "$build_dir" "${SWITCHYARD_BENCH_HTTP_SECONDS:-10}"

echo
if [ "$missed" -ne 0 ]; then
  echo "some benchmarks are below their targets"
  if [ "$strict" = 1 ]; then
    exit 1
  fi
else
  echo "every benchmark met its target"
fi
