#!/bin/sh
# Cross-compile the CPU backend's kernels and tests/unit/test-cpu-kernels.c
# as a static AArch64 binary and run it under qemu-user, so the NEON and
# NEON+dotprod kernels are checked against the scalar reference on any
# build machine. Exit status: the test's (0 pass, 1 fail); 77 = skipped
# because the cross compiler or qemu is missing.
#
#   tools/test-neon.sh            (CC_AARCH64, QEMU_AARCH64 override the tools)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}

if ! command -v "$cc" >/dev/null 2>&1 || ! command -v "$qemu" >/dev/null 2>&1; then
    echo "SKIP: $cc or $qemu not installed"
    exit 77
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM

cpu="$root/backends/cpu"
flags="-std=c11 -O2 -g -pthread -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Werror -Wshadow
  -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef -Wvla
  -I$root/include -I$root/plugins/sdk -I$cpu -I$cpu/arch/arm -I$root/tests/unit"

objs=""
build() { # source [extra flags...]
    src=$1
    shift
    obj="$out/$(basename "$src" .c).o"
    # shellcheck disable=SC2086
    "$cc" $flags "$@" -c "$src" -o "$obj"
    objs="$objs $obj"
}

for f in kernels_generic kernels_select cpu_threads cpu_detect ops_check ops_run \
         ops_elementwise ops_matmul ops_attention; do
    build "$cpu/$f.c"
done
build "$cpu/arch/arm/neon.c" -march=armv8-a
build "$cpu/arch/arm/neon_dotprod.c" -march=armv8.2-a+dotprod
build "$root/plugins/sdk/sdk.c"
build "$root/tests/unit/test-cpu-kernels.c"

# shellcheck disable=SC2086
"$cc" -static -pthread -o "$out/test-cpu-kernels" $objs -lm

echo "running test-cpu-kernels (aarch64) under $qemu -cpu max"
"$qemu" -cpu max "$out/test-cpu-kernels"
