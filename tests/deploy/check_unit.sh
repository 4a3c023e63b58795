#!/usr/bin/env bash
# Checks deploy/switchyard.service with systemd's own tools: `systemd-analyze verify` (with
# ExecStart pointed at the freshly built binary, since /usr/bin/switchyard is not installed in
# a build tree) and `systemd-analyze security --offline=true`, whose overall exposure must be at
# most 2.0. Exits 77 (ctest: skipped) with a clear message when systemd-analyze is absent.
# Usage: tests/deploy/check_unit.sh SOURCE_DIR SWITCHYARD_BINARY
set -euo pipefail
source_dir=$1
binary=$2
unit="$source_dir/deploy/switchyard.service"

if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze is not installed (apt-get install systemd)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/usr/bin/switchyard |ExecStart=$binary |" "$unit" > "$work/switchyard.service"
if ! grep -q "^ExecStart=$binary " "$work/switchyard.service"; then
  echo "FAIL: deploy/switchyard.service has no ExecStart=/usr/bin/switchyard line to check"
  exit 1
fi
echo "== systemd-analyze verify"
if ! systemd-analyze verify "$work/switchyard.service"; then
  echo "FAIL: systemd-analyze verify reported problems"
  exit 1
fi

echo "== systemd-analyze security --offline=true"
report=$(systemd-analyze security --offline=true "$unit" 2>&1)
level=$(echo "$report" | sed -n 's/.*Overall exposure level for switchyard.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  echo "$report"
  echo "FAIL: no overall exposure level in the report"
  exit 1
fi
echo "overall exposure level: $level (at most 2.0 required)"
if ! awk -v level="$level" 'BEGIN { exit !(level <= 2.0) }'; then
  echo "$report"
  echo "FAIL: exposure $level is above 2.0"
  exit 1
fi
echo "ok"
