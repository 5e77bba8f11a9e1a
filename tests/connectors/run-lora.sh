#!/bin/sh
# Generate the LoRA test files from stories260K-F32 (make-lora.py), run
# test-lora on them, then check `plmm run --lora` against the merged model.
# usage: run-lora.sh PYTHON MAKE_LORA TEST_LORA [PLMM]
set -eu
base=${PLMM_SHARED_DIR:-}/models/stories260K-F32.gguf
if [ -z "${PLMM_SHARED_DIR:-}" ] || [ ! -f "$base" ]; then
    echo "SKIP: needs PLMM_SHARED_DIR with models/stories260K-F32.gguf"
    exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/plmm-lora.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$1" "$2" "$base" "$out"
"$3" "$out"
[ $# -ge 4 ] || exit 0
plmm=$4
gen() { "$plmm" run -p "Once upon a time" -n 24 --temp 0 "$@" 2>/dev/null; }
with=$(gen -m "$base" --lora "$out/lora-f32.gguf" --lora-scale 0.75)
merged=$(gen -m "$out/merged.gguf")
plain=$(gen -m "$base")
if [ "$with" != "$merged" ] || [ "$with" = "$plain" ]; then
    printf 'plmm run --lora: adapter "%s"\nmerged "%s"\nbase "%s"\n' "$with" "$merged" "$plain"
    exit 1
fi
if err=$("$plmm" run -m "$base" -p x --lora "$out/bad-name.gguf" 2>&1); then
    echo "plmm run accepted a bad adapter"
    exit 1
fi
case $err in
    *blk.99.attn_q.weight*) ;;
    *) echo "plmm run --lora: unexpected error: $err"; exit 1 ;;
esac
echo "plmm run --lora: greedy text equals the merged model's"
