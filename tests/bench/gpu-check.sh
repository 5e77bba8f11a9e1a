#!/bin/sh
# Check the GPU backends of a build on one machine and print a compact
# summary: plmm-conformance for vulkan and opencl, greedy tokens of
# `plmm run` on cpu, vulkan and opencl (each compared with cpu), and
# `plmm bench` prefill/decode speed of each backend.
#
# usage: tests/bench/gpu-check.sh [options] BUILD_DIR MODEL.gguf
#   --shared DIR      models for the conformance end-to-end cases
#                     (PLMM_SHARED_DIR; default: ../shared beside the source
#                     tree when it exists, else those cases are skipped)
#   --backends LIST   GPU backends to check, space separated (default "vulkan opencl")
#   --prompt N        bench prompt tokens (default 512)
#   --gen N           bench decode tokens and greedy tokens (default 128)
#   --reps R          bench repetitions (default 3)
#   --threads N       CPU threads for the cpu backend (default: all)
#   --no-conformance  skip plmm-conformance (it takes minutes)
#   --out DIR         keep every log there (default: a temporary directory)
#
# The Vulkan loader and the OpenCL ICD loader are found the usual way:
# LD_LIBRARY_PATH, VK_ICD_FILENAMES / VK_DRIVER_FILES and OCL_ICD_VENDORS
# set by the caller are passed through untouched (the header shows them).
# Each backend takes its default device: the first discrete GPU (Vulkan),
# the first GPU or accelerator of any platform (OpenCL); CPU
# implementations such as lavapipe and PoCL only when nothing else exists.
# Pick another with e.g. PLMM_GPU_CHECK_SET="backend.vulkan.device=1".
# Exit status: 0 when every step passed, 1 when one failed, 2 usage error.
set -u

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

shared='' backends='vulkan opencl' prompt=512 gen=128 reps=3 threads=0 conf=1 out=''
while [ $# -gt 0 ]; do
    case $1 in
        --shared) [ $# -ge 2 ] || usage; shared=$2; shift 2 ;;
        --backends) [ $# -ge 2 ] || usage; backends=$2; shift 2 ;;
        --prompt) [ $# -ge 2 ] || usage; prompt=$2; shift 2 ;;
        --gen) [ $# -ge 2 ] || usage; gen=$2; shift 2 ;;
        --reps) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
        --threads) [ $# -ge 2 ] || usage; threads=$2; shift 2 ;;
        --no-conformance) conf=0; shift ;;
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) echo "gpu-check: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || usage
build=$1 model=$2
for v in "$prompt" "$gen" "$reps" "$threads"; do
    case $v in
        ''|*[!0-9]*) echo "gpu-check: '$v' is not a number" >&2; exit 2 ;;
    esac
done
plmm=$build/tools/plmm
conformance=$build/tests/conformance/plmm-conformance
[ -x "$plmm" ] || { echo "gpu-check: no $plmm (build the tree first)" >&2; exit 2; }
[ -r "$model" ] || { echo "gpu-check: cannot read model '$model'" >&2; exit 2; }
if [ -z "${PLMM_PLUGIN_PATH:-}" ]; then
    PLMM_PLUGIN_PATH=$(cd "$build/backends" && pwd) || exit 2
fi
export PLMM_PLUGIN_PATH
if [ -z "$shared" ]; then
    src=$(cd "$(dirname "$0")/../.." && pwd)
    [ -d "$src/../shared/models" ] && shared=$src/../shared
fi
if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 2
fi
mkdir -p "$out" || exit 2
extra=''
for s in ${PLMM_GPU_CHECK_SET:-}; do extra="$extra --set $s"; done

failed=0
summary=$out/summary.txt
: > "$summary"
say() { printf '%s\n' "$*" | tee -a "$summary"; }

say "== gpu-check: $(basename "$model") (build $build, logs in $out)"
say "   LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
say "   VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-} VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
say "   OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-}"

# The device each backend takes (its init log line names it).
for b in $backends; do
    # shellcheck disable=SC2086
    if "$plmm" backends --backends "$b" --set engine.log_level=info $extra \
        > "$out/backends-$b.txt" 2>&1; then
        dev=$(grep -m1 "info: $b: " "$out/backends-$b.txt" | sed "s/^.*info: $b: //")
        say "   $b: ${dev:-device not reported}"
    else
        say "   $b: NOT AVAILABLE ($(tail -n 1 "$out/backends-$b.txt"))"
        failed=1
    fi
done

# 1. conformance
if [ "$conf" -eq 1 ]; then
    [ -x "$conformance" ] || { say "conformance: $conformance missing"; failed=1; conf=0; }
fi
if [ "$conf" -eq 1 ]; then
    for b in $backends; do
        start=$(date +%s)
        sets=''
        for s in ${PLMM_GPU_CHECK_SET:-}; do
            case $s in backend."$b".*) sets="$sets --set $s" ;; esac
        done
        # shellcheck disable=SC2086
        PLMM_SHARED_DIR=${shared:-/nonexistent} "$conformance" --timeout 120 \
            --json "$out/conformance-$b.json" $sets "$b" > "$out/conformance-$b.txt" 2>&1
        rc=$?
        verdict=$(grep -E 'CERTIFIED' "$out/conformance-$b.txt" | tail -n 1)
        counts=$(grep -E '^[0-9]+ passed, ' "$out/conformance-$b.txt" | tail -n 1)
        say "conformance $b: ${verdict:-no verdict (rc $rc)}; ${counts:-}; $(($(date +%s) - start)) s"
        if [ "$rc" -ne 0 ]; then
            failed=1
            grep -E ' FAIL' "$out/conformance-$b.txt" | head -n 5 | tee -a "$summary"
        fi
    done
fi

# 2. greedy tokens, each backend alone (strict: no silent CPU fallback)
text='Once upon a time, there was a little girl named Lily. She loved to play outside in the park.'
run_ids() { # backend -> ids on stdout
    # shellcheck disable=SC2086
    "$plmm" run -m "$model" --backends "$1" -t "$threads" --set engine.fallback=strict $extra \
        -p "$text" -n "$gen" --temp 0 --ids 2> "$out/run-$1.err"
}
ref=$(run_ids cpu) || { say "greedy: cpu failed: $(tail -n 1 "$out/run-cpu.err")"; failed=1; }
printf '%s\n' "$ref" > "$out/run-cpu.ids"
for b in $backends; do
    ids=$(run_ids "$b")
    rc=$?
    printf '%s\n' "$ids" > "$out/run-$b.ids"
    if [ $rc -ne 0 ]; then
        say "greedy $b: FAILED ($(tail -n 1 "$out/run-$b.err"))"
        failed=1
    elif [ "$ids" = "$ref" ]; then
        say "greedy $b: same $(printf '%s' "$ids" | wc -w) tokens as cpu"
    else
        at=$(printf '%s\n%s\n' "$ref" "$ids" | awk 'NR == 1 { n = split($0, a) }
            NR == 2 { m = split($0, b); for (i = 1; i <= (n < m ? n : m); i++)
                      if (a[i] != b[i]) { print i - 1; exit } print (n < m ? n : m) }')
        say "greedy $b: DIFFERS from cpu at token $at (see $out/run-*.ids)"
        failed=1
    fi
done

# 3. speed
say "bench: prompt $prompt tokens in one batch, $gen decode tokens, $reps repetitions"
for b in cpu $backends; do
    # shellcheck disable=SC2086
    if "$plmm" bench -m "$model" --backends "$b" -t "$threads" --set engine.fallback=strict \
        $extra -p "$prompt" -n "$gen" -r "$reps" > "$out/bench-$b.txt" 2>&1; then
        pp=$(awk '$1 == "prefill" { print $3, $4, $5, $6 }' "$out/bench-$b.txt")
        tg=$(awk '$1 == "decode" { print $3, $4, $5, $6 }' "$out/bench-$b.txt")
        say "  $b: prefill $pp | decode $tg"
    else
        say "  $b: FAILED ($(tail -n 1 "$out/bench-$b.txt"))"
        failed=1
    fi
done
say "== gpu-check: $([ $failed -eq 0 ] && echo PASS || echo FAIL)"
exit $failed
