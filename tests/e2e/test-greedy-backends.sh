#!/bin/sh
# Greedy generation of `plmm run` on each GPU backend (vulkan, opencl) must
# equal the cpu backend's, token for token, on every model of
# $PLMM_SHARED_DIR/models (and the F16 models test-golden regenerates into
# $PLMM_BUILD_DIR/golden-models). Each backend runs alone with
# fallback = strict, so no node silently falls back to the CPU.
#
# A backend without a usable device is reported and skipped; exit 77 when
# no model or no GPU backend is available. PLMM_GREEDY_TOKENS sets the
# number of generated tokens (default 24).
set -u

fail() { echo "test-greedy-backends: $*" >&2; exit 1; }
build=${PLMM_BUILD_DIR:?set PLMM_BUILD_DIR (meson test does)}
plmm=$build/tools/plmm
[ -x "$plmm" ] || fail "no $plmm"
shared=${PLMM_SHARED_DIR:-}
if [ -z "$shared" ] || [ ! -d "$shared/models" ]; then
    echo "SKIP: no models (set PLMM_SHARED_DIR; ../shared/models is absent)"
    exit 77
fi
n=${PLMM_GREEDY_TOKENS:-24}
text='Once upon a time, there was a little girl named Lily. She loved to play outside in the park.'

models=''
for m in "$shared"/models/*.gguf "$build"/golden-models/*.gguf; do
    [ -f "$m" ] && models="$models $m"
done
[ -n "$models" ] || { echo "SKIP: no .gguf files in $shared/models"; exit 77; }

usable=''
for b in vulkan opencl; do
    if "$plmm" backends --backends "$b" >/dev/null 2>&1; then
        usable="$usable $b"
    else
        echo "skip $b: $("$plmm" backends --backends "$b" 2>&1 | tail -n 1)"
    fi
done
[ -n "$usable" ] || { echo "SKIP: neither vulkan nor opencl has a usable device"; exit 77; }

err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
run_ids() { # model backend: ids on stdout; on failure the last error line
    if ! "$plmm" run -m "$1" --backends "$2" --set engine.fallback=strict -p "$text" \
        -n "$n" --temp 0 --ids 2> "$err"; then
        tail -n 1 "$err"
        return 1
    fi
}

bad=0 checked=0
for m in $models; do
    name=$(basename "$m" .gguf)
    ref=$(run_ids "$m" cpu) || fail "$name: cpu: $ref"
    [ "$(printf '%s' "$ref" | wc -w)" -gt 0 ] || fail "$name: cpu generated nothing"
    line="$name:"
    for b in $usable; do
        if ! ids=$(run_ids "$m" "$b"); then
            line="$line $b FAILED ($(printf '%s' "$ids" | tail -n 1))"
            bad=$((bad + 1))
        elif [ "$ids" = "$ref" ]; then
            line="$line $b ok"
        else
            at=$(printf '%s\n%s\n' "$ref" "$ids" | awk 'NR == 1 { k = split($0, a) }
                NR == 2 { split($0, c); for (i = 1; i <= k; i++) if (a[i] != c[i]) { print i - 1; exit } }')
            line="$line $b DIFFERS at token ${at:-?}"
            bad=$((bad + 1))
        fi
        checked=$((checked + 1))
    done
    echo "$line"
done
echo "greedy-backends: $checked comparisons of $n tokens, $bad failed"
[ "$bad" -eq 0 ]
