# Sourced by the benchmark scripts: a scratch directory and the child processes listed in `pids`
# are cleaned up at exit, free_port prints a TCP port nothing listens on, and wait_port waits
# for a listener.
work=$(mktemp -d /tmp/switchyard-bench-XXXXXX)  # mktemp template: the X's become random.
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wait_port PORT: waits (up to 10 s) until something accepts connections on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_mock DIR ARGS...: runs the kafka_mock process ($mock) with ARGS in DIR, its stdin a
# fifo held open on fd $mock_fd (it lives until that closes or the script exits); waits for its
# bootstrap line and sets `bootstrap`, or prints its errors and exits 1.
start_mock() {
  local dir=$1
  shift
  mkdir -p "$dir"
  mkfifo "$dir/mock.in"
  "$mock" "$@" <"$dir/mock.in" >"$dir/mock.out" 2>"$dir/mock.err" &
  pids+=("$!")
  exec {mock_fd}>"$dir/mock.in"
  for _ in $(seq 1 1200); do
    if grep -q '^bootstrap ' "$dir/mock.out"; then break; fi
    sleep 0.1
  done
  bootstrap=$(awk '/^bootstrap / {print $2}' "$dir/mock.out")
  if [ -z "$bootstrap" ]; then
    echo "the mock cluster did not start:" >&2
    cat "$dir/mock.err" >&2
    exit 1
  fi
}
