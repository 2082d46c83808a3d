#!/usr/bin/env bash
# bench/device_check.py (tinygan's CuPy kernels checked without a GPU) in a venv of its own at $VENV
# (default ~/.cache/tinygan-device-check), into which tinygan is installed with its own extra,
# pip install -e ".[cuda12]" (CuPy with NVRTC and the CUDA headers from wheels): so the check also
# shows that the extra resolves, that CuPy imports and that NVRTC compiles every kernel with it.
#     bash bench/device_check.sh [--quick] [--arch 90]     (from anywhere; needs python3 and g++)
# The venv is made anew when it has none or pyproject.toml changed since it was made.
# The arguments go to device_check.py; the exit status is its own (1 on a failure), or 3 when the
# extra could not be installed (nothing was checked: CI says so and goes on).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tinygan-device-check}
if ! cmp -s pyproject.toml "$VENV/tinygan-pyproject.toml" || ! "$VENV/bin/python" -c "import cupy" 2>/dev/null; then
  if [ -f "$VENV/pyvenv.cfg" ]; then rm -rf "$VENV"; fi  # a venv only, never another folder
  if ! { python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install --quiet -e ".[cuda12]" \
         && cp pyproject.toml "$VENV/tinygan-pyproject.toml"; }; then
    echo "device_check.sh: could not install tinygan[cuda12] into $VENV: nothing was checked" >&2
    exit 3
  fi
fi
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" bench/device_check.py "$@"
