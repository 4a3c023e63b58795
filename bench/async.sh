#!/usr/bin/env bash
# Asynchronous HTTP invocations (X-Amz-Invocation-Type: Event) answered 202 after the durable
# queue's group commit: wrk -t1 -c64 POSTs to the hello function of bench/http (pooled), with the
# records written per fsync. Given a second build dir (a build from before the durable queue,
# whose asynchronous invocations were kept in memory), measures it too in the same run and prints
# the ratio (issue target: durable >= 0.5x in-memory). Then the same load with the function's
# queue shared instead (async.queue.redis_stream on a redis-server started here; kafka_topic on
# librdkafka's mock cluster, when the tests' kafka_mock is built), each against the local file:
# what a shared queue costs (a round trip to Redis or Kafka to accept, read and settle each).
# Usage: bench/async.sh BUILD_DIR [BASELINE_BUILD_DIR] [DURATION_SECONDS]
set -euo pipefail
build=${1:-build}
baseline=${2:-}
duration=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/lib.sh"

cat >"$work/event.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench"}'
wrk.headers["X-Amz-Invocation-Type"] = "Event"
wrk.headers["Content-Type"] = "application/json"
LUA

# metric ADMIN_PORT SERIES: the value of one /metrics series, 0 when absent.
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 {print $2; f=1} END {if (!f) print 0}'
}

# measure NAME BIN EXAMPLES_DIR [CONFIG]: starts that daemon on CONFIG (bench/http's by
# default), runs wrk, prints "NAME req/s accepted/s ran/s p99 non-2xx" and sets RESULT to its
# accepted/s.
measure() {
  local name=$1 bin=$2 examples=$3 config=${4:-$here/http/switchyard.yaml}
  local http_port admin_port state out
  http_port=$(free_port)
  admin_port=$(free_port)
  state="$work/state-$name"
  mkdir -p "$state"
  SWITCHYARD_BENCH_PORT=$http_port SWITCHYARD_BENCH_ADMIN_PORT=$admin_port \
    SWITCHYARD_STATE_DIR="$state" SWITCHYARD_EXAMPLES_LIB="$examples" \
    "$bin" run --config "$config" &
  local pid=$!
  pids+=("$pid")
  wait_port "$http_port"
  wait_port "$admin_port"
  # A second first, not counted: a shared queue's first write waits for its connection (a Kafka
  # producer's id and metadata), which is not what a running daemon pays.
  wrk -t1 -c64 -d1s -s "$work/event.lua" "http://127.0.0.1:$http_port/pooled" >/dev/null
  local ok_series='switchyard_events_total{function="hello-pooled",outcome="ok"}' ran_before ran
  ran_before=$(metric "$admin_port" "$ok_series")
  out=$(wrk -t1 -c64 -d"${duration}s" --latency -s "$work/event.lua" "http://127.0.0.1:$http_port/pooled")
  local rps p99 requests non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local writes commits
  writes=$(metric "$admin_port" switchyard_async_writes_total)
  commits=$(metric "$admin_port" switchyard_async_fsyncs_total)
  # Accepted (202) per second: a queue that fills up answers 429 fast, which is no throughput.
  # Run (to success) per second over the same time: a queue whose reader falls behind accepts
  # faster than it runs, until its bound answers 429.
  local accepted
  accepted=$(awk -v r="$requests" -v n="${non2xx:-0}" -v d="$duration" 'BEGIN {printf "%.0f", (r - n) / d}')
  ran=$(awk -v a="$(metric "$admin_port" "$ok_series")" -v b="$ran_before" -v d="$duration" \
    'BEGIN {printf "%.0f", (a - b) / d}')
  printf '%-26s %8s req/s %8s accepted/s %8s ran/s  p99 %-9s non-2xx %-6s' "$name" "$rps" \
    "$accepted" "$ran" "$p99" "${non2xx:-0}"
  if [ "${commits%.*}" != "0" ]; then
    awk -v w="$writes" -v c="$commits" 'BEGIN {printf "   %d records in %d fsyncs (%.1f per fsync)", w, c, w / c}'
  fi
  echo
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  RESULT=$accepted
}

echo "== asynchronous HTTP invocations: wrk -t1 -c64 -d${duration}s POST /pooled (Event), 2-core machine"
measure "durable queue" "$root/$build/switchyard" "$root/$build/examples"
durable=$RESULT
if [ -n "$baseline" ]; then
  measure "baseline (in memory)" "$baseline/switchyard" "$baseline/examples"
  awk -v d="$durable" -v b="$RESULT" 'BEGIN {printf "ratio durable/in-memory %.2fx (target >= 0.5x)\n", d / b}'
fi

# shared_config DIR DAEMON_LINES QUEUE: bench/http's config and its pooled hello, plus
# DAEMON_LINES, with the function's asynchronous queue `QUEUE` (a flow mapping's entries).
shared_config() {
  local dir=$1 daemon=$2 queue=$3
  mkdir -p "$dir/functions.d"
  cp "$here/http/switchyard.yaml" "$dir/switchyard.yaml"
  printf '%s\n' "$daemon" >>"$dir/switchyard.yaml"
  cp "$here/http/functions.d/hello-pooled.yaml" "$dir/functions.d/"
  printf 'async:\n  queue: { %s }\n' "$queue" >>"$dir/functions.d/hello-pooled.yaml"
}

echo "-- the same load, the queue shared"
redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save "" \
  --appendonly no >"$work/redis/log" 2>&1 &
pids+=("$!")
wait_port "$redis_port"
shared_config "$work/shared-redis" "redis: { url: \"redis://127.0.0.1:$redis_port\" }" \
  "redis_stream: bench-async"
measure "shared Redis stream" "$root/$build/switchyard" "$root/$build/examples" \
  "$work/shared-redis/switchyard.yaml"
awk -v s="$RESULT" -v d="$durable" 'BEGIN {printf "ratio shared Redis stream/durable file (accepted/s) %.2fx\n", s / d}'
mock="$root/$build/tests/integration/kafka_mock"
if [ -x "$mock" ]; then
  start_mock "$work/mock" async.bench 2 0
  shared_config "$work/shared-kafka" "kafka: { brokers: \"$bootstrap\" }" \
    "kafka_topic: async.bench, events: 1000000"
  measure "shared Kafka topic (mock)" "$root/$build/switchyard" "$root/$build/examples" \
    "$work/shared-kafka/switchyard.yaml"
  awk -v s="$RESULT" -v d="$durable" 'BEGIN {printf "ratio shared Kafka topic/durable file (accepted/s) %.2fx\n", s / d}'
else
  echo "($mock is not built: the shared Kafka topic is not measured)"
fi
