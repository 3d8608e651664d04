#!/usr/bin/env bash
# Builds switchboard (server, plugins, tests, bench) with every compiler found of gcc and clang
# at -O0 (Debug), -O2 (RelWithDebInfo) and -O3 (Release), warnings as errors, each in
# build-matrix/<cc>-<type>/. Packagers' builds are -O2/-O3 with their own flags: with
# -DSB_WERROR=OFF (CMAKE_ARGS) warnings are only printed.
#   tools/build-matrix.sh [TYPE ...]   (default: Debug RelWithDebInfo Release)
set -euo pipefail
cd "$(dirname "$0")/.."
types=("$@")
((${#types[@]})) || types=(Debug RelWithDebInfo Release)
jobs=$(nproc 2>/dev/null || echo 2)
failed=0
for cc in gcc clang; do
  command -v "$cc" >/dev/null 2>&1 || { echo "build-matrix: $cc not found, skipped"; continue; }
  for type in "${types[@]}"; do
    dir=build-matrix/$cc-$type
    echo "== $cc $type"
    if ! { CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" ${CMAKE_ARGS:-} >/dev/null &&
           cmake --build "$dir" -j "$jobs" >"$dir.log" 2>&1; }; then
      grep -E "error|warning" "$dir.log" | head -20 || true
      echo "build-matrix: $cc $type FAILED (full log: $dir.log)"
      failed=1
    fi
  done
done
exit $failed
