#!/usr/bin/env bash
# Execution environments: (1) the hello function through the HTTP trigger, in-process pooled and
# isolated (`isolation: process`, the same library in switchyard-environment, min_environments
# = concurrency), same settings, one daemon per concurrency, wrk -t1 -c64; target: isolated >=
# 0.5x in-process pooled. The ratio depends on the concurrency (how many processes share the
# two cores), so each of CONCURRENCY (a list) is reported. (2) The Runtime API round trip per
# invocation and (3) the cold start of an environment (spawn to ready, target median <= 5 ms
# for a native one), from environment_bench.
# Usage: [ROUNDS=3] bench/environments.sh BUILD_DIR [DURATION_SECONDS] [CONCURRENCY...]
set -euo pipefail
build=${1:-build}
duration=${2:-10}
rounds=${ROUNDS:-3}
shift $(($# < 2 ? $# : 2))
concurrencies=("${@:-2 4 8}")
read -r -a concurrencies <<<"${concurrencies[*]}"
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
echo "== Environments: wrk -t1 -c64 -d${duration}s (2-core machine)"
for concurrency in "${concurrencies[@]}"; do
  dir="$work/c$concurrency"
  mkdir -p "$dir/functions.d"
  http_port=$(free_port)
  admin_port=$(free_port)
  cat >"$dir/switchyard.yaml" <<YAML
workers: 2
manifests: functions.d
state_dir: $dir/state
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
    } >"$dir/functions.d/hello-$mode.yaml"
  done
  "$bin" run --config "$dir/switchyard.yaml" &
  daemon=$!
  pids+=("$daemon")
  wait_port "$http_port"
  echo "-- concurrency $concurrency"
  # The two modes alternate, ROUNDS times: this VM's speed drifts by a fifth between minutes,
  # and a ratio is only fair between runs that are close in time. Each round's ratio is printed;
  # the median is the figure.
  ratios=()
  for ((round = 1; round <= rounds; round++)); do
    run_wrk "hello in-process pooled" "http://127.0.0.1:$http_port/pooled"
    pooled=$RESULT
    run_wrk "hello isolation: process" "http://127.0.0.1:$http_port/isolated"
    isolated=$RESULT
    ratios+=("$(awk -v i="$isolated" -v p="$pooled" 'BEGIN { printf "%.2f", i / p }')")
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v c="$concurrency" '{ r[NR] = $1 } END {
    printf "ratio isolated/in-process pooled at concurrency %d: %.2fx median of", c, r[int((NR + 1) / 2)]
    for (i = 1; i <= NR; i++) printf " %.2f", r[i]
    printf " (target >= 0.5x)\n"
  }'
  kill "$daemon"
  wait "$daemon" 2>/dev/null || true
done

echo "== Runtime API round trip and cold start (environment_bench)"
"$root/$build/bench/environment_bench" --benchmark_repetitions=3 2>/dev/null |
  awk '/_median/ {print}'
