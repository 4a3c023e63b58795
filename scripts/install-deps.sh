#!/usr/bin/env bash
# Installs the Debian 12 packages switchyard builds, tests and benchmarks with.
# Idempotent: when every package is already installed, apt is not touched at all.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libuv1-dev librdkafka-dev libhiredis-dev libyaml-cpp-dev libyaml-dev rapidjson-dev
  doctest-dev libhttp-parser-dev libcli11-dev libspdlog-dev libfmt-dev
  libsystemd-dev libhowardhinnant-date-dev libbenchmark-dev libjemalloc-dev
  redis-server kcat wrk nginx-light awscli python3-boto3 prometheus
  curl  # the custom runtimes of the examples and tests are bash + curl, as AWS's tutorial
  python3 libzip-dev  # the python3 runtime; its code may be the .zip deployed to Lambda
  python3-gunicorn  # bench/python.sh's peer
  libssl-dev  # SHA-256 and HMAC: the Lambda API's CodeSha256 and Signature Version 4
  libsqlite3-dev sqlite3  # the durable queue of asynchronous invocations; the CLI to inspect it
)

# The AWS SDK for JavaScript is a test client (scripts/install-js-deps.sh). A Node.js from
# elsewhere (NodeSource) brings its own npm, which Debian's npm package would conflict with.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
