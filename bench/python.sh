#!/usr/bin/env bash
# The Python runtime: bench/python/app.py (the handler of the Python functions' README section)
# behind the HTTP trigger, `runtime: python3`, concurrency 2, against the same handler as a WSGI
# app under gunicorn with 2 sync workers, wrk -t1 -c16 on both in the same run. Target: at least
# 1.2x gunicorn's requests/s with a p99 no worse. Then the cold start (a new environment's spawn
# to its runtime's first `next`, what Lambda reports as Init Duration, and to its first answer)
# and what switchyard adds around the handler per invocation.
# Usage: bench/python.sh BUILD_DIR [DURATION_SECONDS]
set -euo pipefail
build=${1:-build}
duration=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$root/$build/switchyard"
source "$here/lib.sh"

run_wrk() {
  local name=$1 url=$2
  local out rps p99 errors
  out=$(wrk -t1 -c16 -d"${duration}s" --latency -s "$work/post.lua" "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-32s %10s req/s   p99 %-9s %s\n' "$name" "$rps" "$p99" "$errors"
  RESULT=$rps
  P99=$p99
}

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"Ada"}'
wrk.headers["Content-Type"] = "application/json"
LUA
mkdir -p "$work/functions.d"
http_port=$(free_port)
admin_port=$(free_port)
gunicorn_port=$(free_port)
cat >"$work/switchyard.yaml" <<YAML
workers: 2
manifests: functions.d
state_dir: $work/state
http: { address: 127.0.0.1, port: $http_port }
admin: { address: 127.0.0.1, port: $admin_port }
logging: { level: warn, format: text }
YAML
cat >"$work/functions.d/greet.yaml" <<YAML
name: greet
runtime: python3
handler: app.lambda_handler
code: $here/python
concurrency: 2
min_environments: 2
queue: 1000
timeout: 3s
triggers:
  - http: { path: /greet, methods: [POST] }
YAML

echo "== Python: wrk -t1 -c16 -d${duration}s, 2 processes each (2-core machine)"
"$bin" run --config "$work/switchyard.yaml" &
pids+=("$!")
wait_port "$http_port"
run_wrk "switchyard python3 (2 envs)" "http://127.0.0.1:$http_port/greet"
ours=$RESULT
ours_p99=$P99
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true

(cd "$here/python" && exec /usr/bin/python3 -m gunicorn -w 2 -k sync -b "127.0.0.1:$gunicorn_port" \
  --log-level warning wsgi_app:application) &
pids+=("$!")
wait_port "$gunicorn_port"
run_wrk "gunicorn 2 sync workers" "http://127.0.0.1:$gunicorn_port/greet"
theirs=$RESULT
theirs_p99=$P99
awk -v a="$ours" -v b="$theirs" -v pa="$ours_p99" -v pb="$theirs_p99" 'BEGIN {
  printf "ratio switchyard/gunicorn %.2fx (target >= 1.2x); p99 %s vs %s\n", a / b, pa, pb
}'

echo "== Cold start (spawn to the first next, as Lambda's Init Duration; and to the first answer) and round trip per invocation (environment_bench)"
# python:1 is bench/python/app.py in the python3 runtime, python:0 a native library in
# switchyard-environment: the round trip is start() to finish through the Runtime API, which is
# what switchyard and its runtime client add around the handler.
"$root/$build/bench/environment_bench" --benchmark_repetitions=3 2>/dev/null |
  awk '/_median/ {print}'
