#!/usr/bin/env bash
# Checks that every C and C++ file git tracks is as clang-format (the repository's .clang-format)
# writes it. Lists the files that differ and exits 1 when there are any; `--fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
if [ "${1:-}" = "--fix" ]; then
  fix=1
fi
if ! command -v clang-format >/dev/null; then
  echo "clang-format is missing: run scripts/install-deps.sh" >&2
  exit 2
fi

mapfile -t files < <(git ls-files '*.c' '*.cc' '*.h' '*.hpp')
if [ "$fix" -eq 1 ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
differ=()
for file in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
    differ+=("$file")
  fi
done
if [ ${#differ[@]} -gt 0 ]; then
  echo "${#differ[@]} file(s) differ from .clang-format (fix: bash scripts/check-format.sh --fix):"
  printf '  %s\n' "${differ[@]}"
  exit 1
fi
echo "format: ${#files[@]} files as .clang-format writes them"
