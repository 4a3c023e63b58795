#!/usr/bin/env bash
# After a failed ctest run: the failing checks of doctest tests, one line each (test case, place,
# check, values), printed last so that a log read from its end shows why, not only which test.
# Usage: scripts/test-failures.sh BUILD_DIR [MAX_LINES]
set -uo pipefail
log="${1:?build directory}/Testing/Temporary/LastTest.log"
max="${2:-12}"
[ -f "$log" ] || exit 0
awk '
  /^TEST CASE:/ { sub(/^TEST CASE: +/, ""); test_case = $0; next }
  /^ *SUBCASE:/ { sub(/^ *SUBCASE: +/, ""); test_case = test_case " / " $0; next }
  /: (FATAL )?ERROR: / {
    line = $0; sub(/^.*\//, "", line)  # the file name, not its directory
    getline values
    if (values ~ /^ +values: /) { sub(/^ +values: +/, "", values); line = line " -- " values }
    print "failed: " test_case ": " line
  }
' "$log" | cut -c1-400 | tail -n "$max"
