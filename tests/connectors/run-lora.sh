#!/bin/sh
# Generate the LoRA test files from stories260K-F32 (make-lora.py), then run
# test-lora on them. usage: run-lora.sh PYTHON MAKE_LORA TEST_LORA
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
