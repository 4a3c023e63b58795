#!/usr/bin/env bash
# Resource bounds of the running daemon: peak RSS (VmHWM), open file descriptors and threads
# under load that must not make them grow without bound.
#   1. http:  idle HTTP connections: 1,000 then 10,000 kept open (limits.max_connections 20000);
#   2. flood: a flood of 429s: wrk -c256 for SECONDS against a function with 1 slot and no queue;
#   3. redis: a deep Redis stream: 10,000 then 100,000 entries waiting, consumed by a 4-slot
#             function;
#   4. kafka: a deep Kafka topic (the kafka_mock process): 8 partitions holding 20,000, 200,000
#             then 400,000 records of 100 bytes, consumed by a slow 2-slot function.
# Each figure is printed; the point is that RSS stays flat as the depth or count grows.
# Usage: bash bench/resources.sh BUILD_DIR [SECONDS] [SECTION,...]  (default: every section)
set -euo pipefail
build_dir=$(cd "${1:?usage: $0 BUILD_DIR [SECONDS] [http,flood,redis,kafka]}" && pwd)
seconds=${2:-10}
sections=${3:-http,flood,redis,kafka}
bin="$build_dir/switchyard"
examples="$build_dir/examples"
source "$(dirname "$0")/lib.sh"

# wanted SECTION: whether SECTION was asked for.
wanted() {
  [[ ",$sections," == *",$1,"* ]]
}

# start_daemon DIR: runs the daemon on DIR/switchyard.yaml; sets daemon_pid, http_port.
start_daemon() {
  local dir=$1
  "$bin" run --config "$dir/switchyard.yaml" 2> "$dir/log" &
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 1 200); do
    if grep -q " ready: " "$dir/log"; then break; fi
    sleep 0.05
  done
  if ! grep -q " ready: " "$dir/log"; then
    cat "$dir/log" >&2
    exit 1
  fi
  http_port=$(grep -o "http listening on [0-9.]*:[0-9]*" "$dir/log" | head -1 | sed 's/.*://' || true)
}

# report LABEL: the daemon's peak RSS, current RSS, fds and threads.
report() {
  local status="/proc/$daemon_pid/status"
  printf '%-44s peak RSS %7d KiB  RSS %7d KiB  fds %6d  threads %3d\n' "$1" \
    "$(awk '/VmHWM/ {print $2}' "$status")" "$(awk '/VmRSS/ {print $2}' "$status")" \
    "$(ls "/proc/$daemon_pid/fd" | wc -l)" "$(awk '/Threads/ {print $2}' "$status")"
}

stop_daemon() {
  kill "$daemon_pid"
  wait "$daemon_pid" || true
}

config() {  # DIR EXTRA_YAML
  mkdir -p "$1/functions.d" "$1/state"
  cat > "$1/switchyard.yaml" <<YAML
workers: 2
manifests: functions.d
state_dir: $1/state
http: { address: 127.0.0.1, port: 0 }
admin: { address: 127.0.0.1, port: 0 }
logging: { level: info, format: text }
limits: { max_connections: 20000, idle_timeout: 10m }
$2
YAML
}

ulimit -n "$(ulimit -Hn)"  # The daemon and the client each hold one end of every connection.

# ---- 1. Idle HTTP connections ----
if wanted http; then
config "$work/http" ""
cat > "$work/http/functions.d/hello.yaml" <<YAML
name: hello
library: $examples/libhello.so
triggers:
  - http: { path: /hello }
YAML
start_daemon "$work/http"
echo "== idle HTTP connections"
report "started"
for count in 1000 10000; do
  python3 - "$http_port" "$count" <<'PY' &
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, count = int(sys.argv[1]), int(sys.argv[2])
sockets = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    sockets.append(s)
# One request on the last one proves the server still answers with all of them open.
sockets[-1].sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
sockets[-1].recv(4096)
time.sleep(3)
PY
  holder=$!
  sleep 2.5
  report "$count idle connections open"
  wait "$holder"
done
sleep 1
report "after they closed"
stop_daemon
fi

# ---- 2. A flood of 429s ----
if wanted flood; then
config "$work/flood" ""
cat > "$work/flood/functions.d/sleep.yaml" <<YAML
name: sleep
library: $examples/libsleep.so
concurrency: 1
queue: 0
triggers:
  - http: { path: /sleep }
YAML
start_daemon "$work/flood"
echo "== a flood of 429s: wrk -t2 -c256 -d${seconds}s, 1 slot, no queue, 100 ms per event"
report "started"
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "100"
LUA
out=$(wrk -t2 -c256 -d"${seconds}s" -s "$work/post.lua" "http://127.0.0.1:$http_port/sleep")
echo "$out" | grep -E "requests in|Non-2xx|Socket errors" | sed 's/^/  wrk: /'
report "after the flood"
stop_daemon
fi

# ---- 3. A deep Redis stream ----
if wanted redis; then
redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save "" \
  --appendonly no > "$work/redis/log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  if redis-cli -p "$redis_port" ping > /dev/null 2>&1; then break; fi
  sleep 0.05
done
echo "== a deep Redis stream (4 slots, queue 100, 2 ms per entry)"
for depth in 10000 100000; do
  redis-cli -p "$redis_port" del jobs > /dev/null
  python3 -c "
import sys
for i in range($depth):
    sys.stdout.write('XADD jobs * data 2\r\n')
" | redis-cli -p "$redis_port" --pipe > /dev/null
  config "$work/deep$depth" "redis: { url: \"redis://127.0.0.1:$redis_port/0\" }"
  cat > "$work/deep$depth/functions.d/sleep.yaml" <<YAML
name: sleep
library: $examples/libsleep.so
concurrency: 4
queue: 100
triggers:
  - redis: { stream: jobs, group: deep$depth }
YAML
  start_daemon "$work/deep$depth"
  sleep "$seconds"
  lag=$(redis-cli -p "$redis_port" xinfo groups jobs | awk 'prev == "lag" {print; exit} {prev = $0}')
  report "depth $depth, after ${seconds}s (lag $lag)"
  stop_daemon
done
fi

# ---- 4. A deep Kafka topic ----
if wanted kafka; then
mock="$build_dir/tests/integration/kafka_mock"
recorder="$build_dir/tests/integration/libkafka_recorder.so"
for file in "$mock" "$recorder"; do
  if [ ! -e "$file" ]; then
    echo "$file is missing: build the tests (kafka_mock, kafka_recorder) first" >&2
    exit 1
  fi
done
# Each partition buffers up to twice max.partition.fetch.bytes (2 MiB by default; each record
# counts its value and key plus 128 bytes: about 9,000 of these records), so RSS grows with the
# depth until the buffers are full (20,000 records are below it, 200,000 past it), and is flat
# after; with 64 KiB fetches (a 128 KiB bound) every depth is past it. KAFKA_DEPTHS overrides
# the depths.
echo "== a deep Kafka topic (8 partitions of 100-byte records; 2 slots, queue 100, 2 ms per record)"
for depth in ${KAFKA_DEPTHS:-20000 200000 400000}; do
  start_mock "$work/kafka$depth" deep 8 "$depth" 100  # One mock cluster per depth.
  for fetch in default 65536; do
    dir="$work/kafka$depth/$fetch"
    properties=""
    if [ "$fetch" != default ]; then
      properties=", properties: { max.partition.fetch.bytes: \"$fetch\" }"
    fi
    config "$dir" "kafka: { brokers: \"$bootstrap\"$properties }"
    cat > "$dir/functions.d/slow.yaml" <<YAML
name: slow
library: $recorder
concurrency: 2
queue: 100
env: { OUT_FILE: "$dir/out", SLEEP_US: "2000" }
triggers:
  - kafka: { topic: deep, group_id: deep-$fetch, ordering: none }
YAML
    start_daemon "$dir"
    sleep "$seconds"
    report "depth $depth, fetch $fetch, ${seconds}s: $(cat "$dir/out" 2> /dev/null | wc -l) done"
    stop_daemon
  done
  exec {mock_fd}>&-
done
fi
