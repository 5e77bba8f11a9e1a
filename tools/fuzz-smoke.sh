#!/bin/sh
# Build the libFuzzer targets with clang and run each for a while from its
# seed corpus. Exits non-zero if a target crashes, leaks, times out or fails
# to build.
#
# usage: tools/fuzz-smoke.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]
#   BUILD_DIR   configured here with CC=clang -Dfuzz=true (reused if present)
#   SECONDS     per target, default 60
#   TARGET      names such as gguf (default: every tests/fuzz/fuzz-*.c)
# New inputs go to BUILD_DIR/fuzz-corpus/NAME, crash files to
# BUILD_DIR/fuzz-artifacts/NAME/; the committed seeds are never modified.
set -eu

if [ $# -lt 1 ]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
build=$1
secs=${2:-60}
if [ $# -ge 2 ]; then shift 2; else shift 1; fi
src=$(cd "$(dirname "$0")/.." && pwd)

case $secs in
    ''|*[!0-9]*) echo "fuzz-smoke: SECONDS must be a number, got '$secs'" >&2; exit 2 ;;
esac

if [ $# -eq 0 ]; then
    for f in "$src"/tests/fuzz/fuzz-*.c; do
        n=${f##*/fuzz-}
        set -- "$@" "${n%.c}"
    done
fi

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$src" -Dfuzz=true -Dbuildtype=debugoptimized
else
    meson configure "$build" -Dfuzz=true
fi

targets=
for name in "$@"; do
    targets="$targets tests/fuzz/fuzz-$name"
done
# shellcheck disable=SC2086 # word splitting of the target list is intended
ninja -C "$build" $targets

failed=
for name in "$@"; do
    bin=$build/tests/fuzz/fuzz-$name
    seeds=$src/tests/fuzz/corpus/$name
    work=$build/fuzz-corpus/$name
    art=$build/fuzz-artifacts/$name
    log=$build/fuzz-$name.log
    mkdir -p "$work" "$art"
    echo "fuzz-smoke: $name for ${secs}s"
    # One process: the first crash, leak, UBSan report or slow input stops the
    # run with a non-zero status and leaves the input in $art.
    if "$bin" "$work" "$seeds" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1; then
        echo "fuzz-smoke: $name ok, $(find "$work" -type f | wc -l) inputs in $work"
    else
        failed="$failed $name"
        echo "fuzz-smoke: $name FAILED; log $log, inputs in $art" >&2
        tail -n 40 "$log" >&2
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz-smoke: failed:$failed" >&2
    exit 1
fi
