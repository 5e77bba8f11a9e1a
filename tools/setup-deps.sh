#!/usr/bin/env bash
# Installs the Debian 12 packages plmm needs to build and test (only the
# missing ones). Runs apt-get through sudo when not root.
set -euo pipefail

pkgs=(
  gcc g++ meson ninja-build pkg-config   # toolchain
  libinih-dev libsodium-dev              # engine dependencies
  libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev  # E-model connectors, plmm serve
  clang libclang-rt-14-dev               # fuzzers (libFuzzer) and the clang build
  python3                                # regenerates the unshipped test models
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user  # NEON kernels, tested under emulation
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers vulkan-tools  # Vulkan backend, lavapipe
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo  # OpenCL backend, certified on PoCL
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
