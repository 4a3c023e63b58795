#!/usr/bin/env bash
# HTTP benchmark: wrk -t1 -c64 for 10 s against switchyard's hello route (inline and pooled) and
# against nginx answering `return 200` with 2 workers, all in one run on this machine.
# Prints req/s, p99 latency, peak RSS and the ratio switchyard/nginx.
# Usage: bench/http.sh BUILD_DIR [DURATION_SECONDS]
set -euo pipefail
build=${1:-build}
duration=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$root/$build/switchyard"
source "$(dirname "$0")/lib.sh"

# run_wrk NAME URL PID: prints "NAME req/s p99 peakRSS" and stores req/s in RESULT.
run_wrk() {
  local name=$1 url=$2 pid=$3
  local out
  out=$(wrk -t1 -c64 -d"${duration}s" --latency "$url")
  local rps p99 rss
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  rss=0
  for p in $pid $(pgrep -P "$pid" 2>/dev/null || true); do
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    rss=$((rss + hwm))
  done
  printf '%-22s %12s req/s   p99 %-9s peak RSS %6d KiB %s\n' "$name" "$rps" "$p99" "$rss" "$errors"
  RESULT=$rps
}

echo "== HTTP: wrk -t1 -c64 -d${duration}s (2-core machine; peers measured in the same run)"

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 "Hello, world!"; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")
wait_port "$nginx_port"
run_wrk "nginx return 200" "http://127.0.0.1:$nginx_port/" "$nginx_pid"
nginx_rps=$RESULT

http_port=$(free_port)
admin_port=$(free_port)
SWITCHYARD_BENCH_PORT=$http_port SWITCHYARD_BENCH_ADMIN_PORT=$admin_port \
  SWITCHYARD_STATE_DIR="$work/state" SWITCHYARD_EXAMPLES_LIB="$root/$build/examples" \
  "$bin" run --config "$here/http/switchyard.yaml" &
sy_pid=$!
pids+=("$sy_pid")
wait_port "$http_port"
run_wrk "switchyard inline" "http://127.0.0.1:$http_port/inline" "$sy_pid"
inline_rps=$RESULT
run_wrk "switchyard pooled" "http://127.0.0.1:$http_port/pooled" "$sy_pid"
pooled_rps=$RESULT

awk -v i="$inline_rps" -v p="$pooled_rps" -v n="$nginx_rps" 'BEGIN {
  printf "ratio inline/nginx %.2fx (target >= 1.0x), pooled/nginx %.2fx (target >= 0.7x); p99 target <= 2ms\n", i / n, p / n
}'
