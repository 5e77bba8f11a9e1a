#!/usr/bin/env bash
# Builds and runs the whole test suite twice — a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build — then runs every
# fuzz target for a bounded time. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh

fuzz_seconds="${PLMM_FUZZ_SECONDS:-30}"

[ -d build ] || meson setup build
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1 meson test -C build-asan --print-errorlogs --num-processes 2 \
  --timeout-multiplier 4

tools/fuzz-smoke.sh build-fuzz "$fuzz_seconds"

# ARM64 NEON kernels: cross-compiled and run under qemu-user
tools/test-neon.sh

# One closing line over both builds' meson results
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
ok = bad = skip = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:
            bad += 1
print(f"tests: {ok} passed, {bad} failed, {skip} skipped")
sys.exit(1 if bad else 0)
PY
