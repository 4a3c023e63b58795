#!/usr/bin/env bash
# Installs the npm packages the integration tests use as clients (tests/js/package.json) into
# <build>/js/node_modules. Idempotent: nothing is fetched when they are already there.
set -euo pipefail

build_dir=${1:?usage: install-js-deps.sh BUILD_DIR}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
target="$build_dir/js"

if [ -f "$target/node_modules/@aws-sdk/client-lambda/package.json" ] &&
  cmp -s "$source_dir/tests/js/package.json" "$target/package.json"; then
  exit 0
fi
mkdir -p "$target"
cp "$source_dir/tests/js/package.json" "$target/package.json"
echo "installing the JavaScript test clients into $target"
npm install --prefix "$target" --no-audit --no-fund --loglevel=error
