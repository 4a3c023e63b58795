#!/usr/bin/env bash
# Execution environments: (1) the hello function through the HTTP trigger, in-process pooled and
# isolated (`isolation: process`, the same library in switchyard-environment), same settings,
# one run, wrk -t1 -c64; target: isolated >= 0.5x in-process pooled. (2) The Runtime API round
# trip per invocation and (3) the cold start of a native environment (spawn to ready, target
# median <= 5 ms), from environment_bench.
# Usage: bench/environments.sh BUILD_DIR [DURATION_SECONDS] [CONCURRENCY]
set -euo pipefail
build=${1:-build}
duration=${2:-10}
concurrency=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$root/$build/switchyard"
source "$here/lib.sh"

run_wrk() {
  local name=$1 url=$2
  local out rps p99 errors
  out=$(wrk -t1 -c64 -d"${duration}s" --latency -s "$work/post.lua" "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-28s %12s req/s   p99 %-9s %s\n' "$name" "$rps" "$p99" "$errors"
  RESULT=$rps
}

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"Ada"}'
LUA
mkdir -p "$work/functions.d"
http_port=$(free_port)
admin_port=$(free_port)
cat >"$work/switchyard.yaml" <<YAML
workers: 2
manifests: functions.d
state_dir: $work/state
http: { address: 127.0.0.1, port: $http_port }
admin: { address: 127.0.0.1, port: $admin_port }
logging: { level: warn, format: text }
YAML
for mode in pooled isolated; do
  {
    echo "name: hello-$mode"
    echo "library: $root/$build/examples/libhello.so"
    if [ "$mode" = isolated ]; then
      echo "isolation: process"
      echo "min_environments: $concurrency"
    fi
    echo "concurrency: $concurrency"
    echo "queue: 1000"
    echo "timeout: 3s"
    echo "triggers:"
    echo "  - http: { path: /$mode, methods: [POST] }"
  } >"$work/functions.d/hello-$mode.yaml"
done

echo "== Environments: wrk -t1 -c64 -d${duration}s, concurrency $concurrency (2-core machine)"
"$bin" run --config "$work/switchyard.yaml" &
pids+=("$!")
wait_port "$http_port"
run_wrk "hello in-process pooled" "http://127.0.0.1:$http_port/pooled"
pooled=$RESULT
run_wrk "hello isolation: process" "http://127.0.0.1:$http_port/isolated"
isolated=$RESULT
awk -v i="$isolated" -v p="$pooled" 'BEGIN {
  printf "ratio isolated/in-process pooled %.2fx (target >= 0.5x)\n", i / p
}'

echo "== Runtime API round trip and cold start (environment_bench)"
"$root/$build/bench/environment_bench" --benchmark_repetitions=3 2>/dev/null |
  awk '/_median/ {print}'
