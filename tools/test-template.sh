#!/bin/sh
# The plugin SDK as a vendor sees it: install a build of plmm into a
# temporary directory (meson install --destdir), copy
# plugins/templates/npu-backend out of the source tree, build it against the
# installed plmm-backend.pc only, check it exports one symbol, certify it for
# the llm-npu profile with the installed plmm-conformance (the template's own
# `meson test`), install it beside the engine's plugins, load it with the
# installed `plmm backends` and, when the shared models are there, run it
# inside the engine: agreement with the CPU backend, blob cache reuse,
# invalidation by an option, corrupt cache files rebuilt.
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
pcvar() { # a path variable of plmm-backend.pc, inside the staged tree
    v=$(pkg-config --variable="$1" plmm-backend)
    [ -n "$v" ] || fail "plmm-backend.pc has no variable '$1'"
    case $v in
    "$dest"/*) echo "$v" ;; # pkgconf applies the sysroot to variables
    *) echo "$dest$v" ;;
    esac
}
libdir=$(pcvar libdir)
plugindir=$(pcvar plugindir)
conformance=$(pcvar conformance)
bindir=$(pcvar bindir)
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
# a sanitized plmm build checks the template with the same sanitizers
san=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))')
set -- "-Dplugindir=$plugindir"
[ "$san" = "none" ] || set -- "$@" "-Db_sanitize=$san" -Db_lundef=false
meson setup "$@" "$tmp/tb" "$src" >"$tmp/setup.log" 2>&1 ||
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
PLMM_PLUGIN_PATH="$plugindir"
export LD_LIBRARY_PATH PLMM_PLUGIN_PATH

echo "== plmm-conformance --profile llm-npu (the template's meson test, on its build directory)"
meson test -C "$tmp/tb" --print-errorlogs conformance ||
    fail "plmm-conformance does not certify the template for llm-npu"
grep -E '^(e2e\.|[0-9]+ passed|CERTIFIED)' "$tmp/tb/meson-logs/testlog.txt" || true

echo "== meson install of the template (beside the engine's plugins)"
meson install -C "$tmp/tb" --no-rebuild >"$tmp/tinstall.log" 2>&1 ||
    { cat "$tmp/tinstall.log" >&2; fail "meson install of the template failed"; }
for f in plmm-npu-template.so npu-template.plugin; do
    [ -f "$plugindir/$f" ] || fail "the template did not install $f into the plugin directory"
done

echo "== plmm backends"
"$bindir/plmm" backends --backends npu-template,cpu >"$tmp/backends.txt" 2>&1 ||
    { cat "$tmp/backends.txt" >&2; fail "plmm backends failed with the template"; }
cat "$tmp/backends.txt"
grep -Eq "^ +npu-template +backend .* loaded +$plugindir/npu-template.plugin" "$tmp/backends.txt" ||
    fail "plmm backends does not list the installed npu-template as loaded"
grep -Eq '^ +\[0\] npu-template ' "$tmp/backends.txt" ||
    fail "the npu-template backend did not open"

# ---- the template inside the engine, on a real model (when ../shared has it) ----
shared=${PLMM_SHARED_DIR:-$root/../shared}
model="$shared/models/stories260K-Q8_0.gguf"
if [ ! -f "$model" ]; then
    echo "== end to end: SKIP ($model absent; set PLMM_SHARED_DIR)"
    echo "test-template: PASS"
    exit 0
fi
echo "== end to end: $(basename "$model"), greedy, npu-template + cpu against cpu alone"
cache="$tmp/cache"
# over 16 tokens: prefill runs a bucket-16 chunk, the rest bucket 1
prompt="Once upon a time, there was a little girl named Lily. She loved to play outside in the park"
ini() { # weight_format -> an INI file using the test's blob cache
    printf '[engine]\ncache_dir = %s\nlog_level = debug\n[backend.npu-template]\nweight_format = %s\n' \
        "$cache" "$1" >"$tmp/$1.ini"
    echo "$tmp/$1.ini"
}
gen() { # label ini backends
    "$bindir/plmm" run -c "$2" -m "$model" -p "$prompt" -n 32 --temp 0 --ids \
        --backends "$3" >"$tmp/$1.ids" 2>"$tmp/$1.log" ||
        { cat "$tmp/$1.log" >&2; fail "plmm run ($1, --backends $3) failed"; }
}
count() { # pattern log
    grep -c "$1" "$2" || true
}
f32=$(ini f32)
gen cpu "$f32" cpu
gen first "$f32" npu-template,cpu
gen second "$f32" npu-template,cpu
gen f16 "$(ini f16)" npu-template,cpu
python3 - "$tmp/cpu.ids" "$tmp/first.ids" "$tmp/second.ids" <<'PY' || fail "token agreement"
import sys
ref, a, b = (open(p).read().split() for p in sys.argv[1:4])
same = sum(1 for x, y in zip(ref, a) if x == y)
print(f"top-1 agreement with cpu: {same}/{len(ref)} positions; cached run identical: {a == b}")
sys.exit(0 if ref and len(a) == len(ref) and same >= 0.9 * len(ref) and a == b else 1)
PY
c1=$(count "compiled a" "$tmp/first.log") l1=$(count "loaded a" "$tmp/first.log")
c2=$(count "compiled a" "$tmp/second.log") l2=$(count "loaded a" "$tmp/second.log")
c3=$(count "compiled a" "$tmp/f16.log")
echo "blob cache: first run compiled $c1 / loaded $l1, second run compiled $c2 / loaded $l2," \
    "weight_format = f16 compiled $c3"
[ "$c1" -gt 0 ] && [ "$l1" -eq 0 ] || fail "the first run did not compile its partitions"
[ "$c2" -eq 0 ] && [ "$l2" -eq "$c1" ] || fail "the second run did not reuse the cached blobs"
[ "$c3" -gt 0 ] || fail "a changed option did not invalidate the cached blobs"
for f in "$cache"/*.blob; do # corrupt every cached blob: each must be rebuilt
    python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x40; open(p, "wb").write(b)' "$f"
done
gen rebuilt "$f32" npu-template,cpu
c4=$(count "compiled a" "$tmp/rebuilt.log") r4=$(count "recompiling" "$tmp/rebuilt.log")
echo "after corrupting the cache: $r4 blob(s) rejected, $c4 recompiled"
[ "$r4" -gt 0 ] && [ "$c4" -gt 0 ] || fail "corrupt cache files were not detected and rebuilt"
cmp -s "$tmp/first.ids" "$tmp/rebuilt.ids" || fail "output changed after rebuilding the cache"
"$bindir/plmm" backends --plan -m "$model" --backends npu-template,cpu >"$tmp/plan.txt" 2>&1 ||
    { cat "$tmp/plan.txt" >&2; fail "plmm backends --plan failed"; }
grep -q 'npu-template .*\[partition, bucket 1\]' "$tmp/plan.txt" ||
    { cat "$tmp/plan.txt" >&2; fail "the plan shows no npu-template partition"; }
grep 'partitions:' "$tmp/plan.txt" | head -n 1
echo "test-template: PASS"
