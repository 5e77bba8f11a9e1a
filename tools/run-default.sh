#!/usr/bin/env bash
# Installs what is missing, builds plmm and generates a story with the small
# default model shipped in models/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh
[ -d build ] || meson setup build --buildtype=release
meson compile -C build
exec build/tools/plmm run -m models/stories260K-Q8_0.gguf -p "Once upon a time" -n 128 "$@"
