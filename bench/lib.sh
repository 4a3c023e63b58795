# Sourced by the benchmark scripts: a scratch directory and the child processes listed in `pids`
# are cleaned up at exit, and free_port prints a TCP port nothing listens on.
work=$(mktemp -d /tmp/switchyard-bench-XXXXXX)  # mktemp template: the X's become random.
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
