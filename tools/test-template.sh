#!/bin/sh
# The plugin SDK as a vendor sees it: install a build of plmm into a
# temporary directory (meson install --destdir), copy
# plugins/templates/npu-backend out of the source tree, build it against the
# installed plmm-backend.pc only, check it exports one symbol, load it with
# the installed `plmm backends` and certify it with the installed
# plmm-conformance (through the template's own `meson test`).
#
#   tools/test-template.sh [BUILD_DIR]       (default: build)
#
# Exit status: 0 pass, 1 fail. Run as the meson test 'npu-template'
# (suite sdk), so tools/test.sh and CI run it with every build.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)

fail() {
    echo "test-template: $*" >&2
    exit 1
}

for tool in meson ninja pkg-config python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plmm-template.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dest="$tmp/root"

echo "== meson install --destdir (from $build)"
meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "meson install failed"; }

pc=$(find "$dest" -name plmm-backend.pc -print | head -n 1)
[ -n "$pc" ] || fail "plmm-backend.pc was not installed"
# The .pc names the configured prefix; the sysroot makes pkg-config (and
# meson through it) resolve every path inside the staged tree instead.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
libdir=$(pkg-config --variable=libdir plmm-backend)
plugindir=$(pkg-config --variable=plugindir plmm-backend)
conformance=$(pkg-config --variable=conformance plmm-backend)
bindir=$(pkg-config --variable=bindir plmm-backend)
for f in "$libdir/libplmm-sdk.a" "$plugindir/cpu.plugin" "$conformance" "$bindir/plmm"; do
    [ -e "$f" ] || fail "not installed: ${f#"$dest"}"
done
for h in plmm/backend.h plmm/types.h plmm/plmm.h plmm-1/plmm_sdk.h; do
    [ -n "$(find "$dest" -path "*/include/$h" -print)" ] || fail "header not installed: $h"
done
echo "pkg-config: $(pkg-config --cflags --libs plmm-backend)"

echo "== build the template out of tree"
src="$tmp/npu-backend"
cp -R "$root/plugins/templates/npu-backend" "$src"
meson setup "$tmp/tb" "$src" >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log" >&2; fail "meson setup of the template failed"; }
ninja -C "$tmp/tb" >"$tmp/ninja.log" 2>&1 ||
    { cat "$tmp/ninja.log" >&2; fail "the template does not build against the installed SDK"; }
so="$tmp/tb/plmm-npu-template.so"
[ -f "$so" ] && [ -f "$tmp/tb/npu-template.plugin" ] || fail "no plugin or manifest built"
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ')
    [ "$syms" = "plmm_plugin_entry " ] || fail "the plugin exports '$syms', expected only plmm_plugin_entry"
fi

# Installed binaries find the installed libplmm and plugins, never the build tree.
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PLMM_PLUGIN_PATH="$tmp/tb:$plugindir"
export LD_LIBRARY_PATH PLMM_PLUGIN_PATH

echo "== plmm backends"
"$bindir/plmm" backends --backends npu-template,cpu >"$tmp/backends.txt" 2>&1 ||
    { cat "$tmp/backends.txt" >&2; fail "plmm backends failed with the template"; }
cat "$tmp/backends.txt"
grep -Eq '^ +npu-template +backend .* loaded ' "$tmp/backends.txt" ||
    fail "plmm backends does not list npu-template as loaded"
grep -Eq '^ +\[0\] npu-template ' "$tmp/backends.txt" ||
    fail "the npu-template backend did not open"

echo "== plmm-conformance (the template's meson test)"
meson test -C "$tmp/tb" --print-errorlogs conformance ||
    fail "plmm-conformance does not certify the template for what it declares"
sed -n '/conformance-declared: /p' "$tmp/tb/meson-logs/testlog.txt"
echo "test-template: PASS"
