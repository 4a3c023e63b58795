#!/usr/bin/env bash
# Kafka benchmark: end-to-end records/s through switchyard's Kafka trigger and a no-op function
# (kafka_recorder without an output file), with offset commits, in each ordering mode, against
# kcat consuming the same topic to /dev/null, on the same mock cluster in the same run.
#
# The mock cluster (librdkafka's, 3 brokers) keeps about 5 MB per partition, so the topic has
# 8 partitions of RECORDS_PER_PARTITION (default 40,000) 100-byte records. switchyard's time runs
# from its consumer's partition assignment (the time on the daemon's log line; the mock's group
# join delay is not counted: kcat reads without a group) to the moment the function has handled
# every record (the no-op writes that time to a file itself, so that nothing polls the daemon
# while it is measured); kcat's from start to exit. Each mode also shows the daemon's CPU time per
# record, over all its threads and on the loop thread alone (from /proc, start-up included): on a
# small machine the CPU is what runs out. kcat runs three times and its best run counts; each
# switchyard mode runs RUNS times (default 2; a new consumer group each time) and its best counts.
# Usage: bench/kafka.sh BUILD_DIR [RECORDS_PER_PARTITION]
# Environment: MODES (default "partition:pool partition:inline key:pool key:inline none:pool
# none:inline"), CONCURRENCY (the function's, default 8), WORKERS (the daemon's, default 2), RUNS
# (per mode, default 2). Comparing builds: configure a second build directory (for example with
# -DSWITCHYARD_MALLOC=system) and run the script on each.
set -euo pipefail
build=${1:-build}
per_partition=${2:-40000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$root/$build/switchyard"
mock="$root/$build/tests/integration/kafka_mock"
recorder="$root/$build/tests/integration/libkafka_recorder.so"
for file in "$bin" "$mock" "$recorder"; do
  if [ ! -e "$file" ]; then
    echo "$file is missing: build the tests (kafka_mock, kafka_recorder) first" >&2
    exit 1
  fi
done
if ! command -v kcat >/dev/null; then
  echo "kcat is not installed" >&2
  exit 1
fi
partitions=8
records=$((partitions * per_partition))
source "$(dirname "$0")/lib.sh"

now() { date +%s.%N; }

start_mock "$work/mock" bench "$partitions" "$records" 100
echo "mock cluster $bootstrap: topic bench, $partitions partitions x $per_partition records of 100 bytes"

# kcat: the same topic, from the beginning, to /dev/null.
kcat_rate=0
for _ in 1 2 3; do
  start=$(now)
  kcat -b "$bootstrap" -C -t bench -e -o beginning -q >/dev/null
  end=$(now)
  rate=$(awk -v n="$records" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
  if [ "$rate" -gt "$kcat_rate" ]; then kcat_rate=$rate; fi
done
printf '  %-28s %10s records/s (best of 3)\n' "kcat -C (no group, no commits)" "$kcat_rate"

# run_once ORDERING EXECUTION RUN: one daemon, a new consumer group; prints its records/s.
run_once() {
  local ordering=$1 execution=$2 dir="$work/$1-$2-$3" port
  mkdir -p "$dir/functions.d"
  port=$(free_port)
  cat >"$dir/switchyard.yaml" <<YAML
workers: ${WORKERS:-2}
manifests: functions.d
state_dir: $dir
http: { enabled: false }
admin:
  address: 127.0.0.1
  port: $port
logging: { level: info, format: text }
kafka:
  brokers: "$bootstrap"
YAML
  cat >"$dir/functions.d/noop.yaml" <<YAML
name: noop
library: $recorder
concurrency: ${CONCURRENCY:-8}
queue: 1000
execution: $execution
env:
  DONE_AFTER: "$records"
  DONE_FILE: "$dir/done"
triggers:
  - kafka: { topic: bench, group_id: bench-$ordering-$execution-$3, ordering: $ordering }
YAML
  "$bin" run --config "$dir/switchyard.yaml" 2>"$dir/log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 6000); do
    if [ -s "$dir/done" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.01
  done
  # CPU time so far (start-up included): the whole daemon, and its loop thread (the main one).
  local cpu=0 loop=0
  if [ -r "/proc/$pid/stat" ]; then
    cpu=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    loop=$(awk '{print $14 + $15}' "/proc/$pid/task/$pid/stat")
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  local assigned
  assigned=$(grep -m1 'assigned partition(s)' "$dir/log" | awk '{print $1}' || true)
  if [ ! -s "$dir/done" ] || [ -z "$assigned" ]; then
    echo "  $ordering ($execution): did not finish; log:" >&2
    tail -20 "$dir/log" >&2
    return 1
  fi
  awk -v n="$records" -v a="$(date -d "$assigned" +%s.%N)" -v b="$(cat "$dir/done")" \
    -v cpu="$cpu" -v loop="$loop" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f %.2f %.2f", n / (b - a), cpu / hz * 1e6 / n, loop / hz * 1e6 / n }'
}

run_mode() {
  local ordering=$1 execution=$2 best=0 rate cpu loop best_cpu best_loop
  for run in $(seq 1 "${RUNS:-2}"); do
    read -r rate cpu loop < <(run_once "$ordering" "$execution" "$run") || true
    if [ -z "$rate" ]; then return 1; fi  # run_once said why.
    if [ "$rate" -gt "$best" ]; then best=$rate best_cpu=$cpu best_loop=$loop; fi
  done
  local ratio
  ratio=$(awk -v r="$best" -v k="$kcat_rate" 'BEGIN { printf "%.2f", r / k }')
  printf '  %-28s %10s records/s  %sx kcat  (CPU %s us/record, loop thread %s)\n' \
    "switchyard $ordering ($execution)" "$best" "$ratio" "$best_cpu" "$best_loop"
  echo "$ordering-$execution $best $ratio" >>"$work/results"
}

# A no-op function never blocks, so it may run inline on the loop thread; pooled runs show the
# cost of the hand-off to worker threads.
for mode in ${MODES:-partition:pool partition:inline key:pool key:inline none:pool none:inline}; do
  run_mode "${mode%%:*}" "${mode##*:}"
done

echo
echo "target: at least 0.9x kcat in none and key modes"
status=0
while read -r ordering rate ratio; do
  case "$ordering" in partition-*) continue ;; esac
  if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }'; then
    echo "  $ordering: ${ratio}x  met"
  else
    echo "  $ordering: ${ratio}x  BELOW TARGET"
    status=3
  fi
done <"$work/results"
exit "$status"
