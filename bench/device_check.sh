#!/usr/bin/env bash
# bench/device_check.py (tinygan's CuPy kernels checked without a GPU) in a venv of its own with
# CuPy and NVIDIA's NVRTC and CUDA runtime wheels (the parts of the .[cuda12] extra the check needs;
# the whole extra, CuPy's [ctk], is about 3 GB of CUDA libraries), made on first use at $VENV
# (default ~/.cache/tinygan-device-check).
#     bash bench/device_check.sh [--quick] [--arch 90]     (from anywhere; needs python3 and g++)
# The arguments go to device_check.py; the exit status is its own (1 on a failure), or 3 when CuPy and
# NVRTC could not be installed (nothing was checked: CI says so and goes on).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tinygan-device-check}
if ! "$VENV/bin/python" -c "import cupy, nvidia.cuda_nvrtc, nvidia.cuda_runtime, PIL" 2>/dev/null; then
  if ! { python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install --quiet "cupy-cuda12x==14.*" \
         "nvidia-cuda-nvrtc-cu12==12.9.*" "nvidia-cuda-runtime-cu12==12.9.*" numpy pillow; }; then
    echo "device_check.sh: could not install CuPy and NVRTC into $VENV: nothing was checked" >&2
    exit 3
  fi
fi
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" bench/device_check.py "$@"
