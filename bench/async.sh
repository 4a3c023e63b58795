#!/usr/bin/env bash
# Asynchronous HTTP invocations (X-Amz-Invocation-Type: Event) answered 202 after the durable
# queue's group commit: wrk -t1 -c64 POSTs to the hello function of bench/http (pooled), with the
# records written per fsync. Given a second build dir (a build from before the durable queue,
# whose asynchronous invocations were kept in memory), measures it too in the same run and prints
# the ratio (issue target: durable >= 0.5x in-memory).
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

# measure NAME BIN EXAMPLES_DIR: starts that daemon on bench/http's config, runs wrk, prints
# "NAME req/s p99 202s" and sets RESULT to its req/s.
measure() {
  local name=$1 bin=$2 examples=$3
  local http_port admin_port state out
  http_port=$(free_port)
  admin_port=$(free_port)
  state="$work/state-$name"
  mkdir -p "$state"
  SWITCHYARD_BENCH_PORT=$http_port SWITCHYARD_BENCH_ADMIN_PORT=$admin_port \
    SWITCHYARD_STATE_DIR="$state" SWITCHYARD_EXAMPLES_LIB="$examples" \
    "$bin" run --config "$here/http/switchyard.yaml" &
  local pid=$!
  pids+=("$pid")
  wait_port "$http_port"
  wait_port "$admin_port"
  out=$(wrk -t1 -c64 -d"${duration}s" --latency -s "$work/event.lua" "http://127.0.0.1:$http_port/pooled")
  local rps p99 requests non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local writes commits
  writes=$(metric "$admin_port" switchyard_async_writes_total)
  commits=$(metric "$admin_port" switchyard_async_fsyncs_total)
  printf '%-26s %10s req/s   p99 %-9s requests %-8s non-2xx %-6s' "$name" "$rps" "$p99" \
    "$requests" "${non2xx:-0}"
  if [ "${commits%.*}" != "0" ]; then
    awk -v w="$writes" -v c="$commits" 'BEGIN {printf "   %d records in %d fsyncs (%.1f per fsync)", w, c, w / c}'
  fi
  echo
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  RESULT=$rps
}

echo "== asynchronous HTTP invocations: wrk -t1 -c64 -d${duration}s POST /pooled (Event), 2-core machine"
measure "durable queue" "$root/$build/switchyard" "$root/$build/examples"
durable=$RESULT
if [ -n "$baseline" ]; then
  measure "baseline (in memory)" "$baseline/switchyard" "$baseline/examples"
  awk -v d="$durable" -v b="$RESULT" 'BEGIN {printf "ratio durable/in-memory %.2fx (target >= 0.5x)\n", d / b}'
fi
