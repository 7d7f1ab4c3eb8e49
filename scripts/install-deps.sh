#!/usr/bin/env bash
# Installs what AgentTrainer needs from Debian and is not on a fresh machine: the data sets, PyTorch with
# OpenBLAS (the trainer protocol's Python client and its tests), a font
# for the eval report's plots (ScottPlot's SkiaSharp reads fonts from /usr/share/fonts); with
# --browser (the tests) also Chromium, for the dashboard's browser tests (Playwright drives Debian's build and
# downloads nothing), and PostgreSQL, for the store tests. Idempotent: installs only what is missing.
set -euo pipefail

packages=()
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] || packages+=(dataset-fashion-mnist)
[[ -f /usr/share/games/fortunes/fortunes ]] || packages+=(fortunes)
[[ -d /usr/share/fonts/truetype/dejavu ]] || packages+=(fonts-dejavu-core)
# PyTorch for the trainer protocol's client and its tests; OpenBLAS, or Debian's torch runs on the reference BLAS
# (about 15x slower).
[[ -f /usr/lib/python3/dist-packages/torch/__init__.py ]] || packages+=(python3-torch)
[[ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]] || packages+=(libopenblas0-pthread)
[[ ${1:-} == --browser && ! -x /usr/bin/chromium ]] && packages+=(chromium)
# The store tests run against a real PostgreSQL they start themselves (initdb in a folder of their own).
if [[ ${1:-} == --browser ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  packages+=(postgresql)
fi
((${#packages[@]} == 0)) && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to apt-get install ${packages[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: apt-get install ${packages[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
