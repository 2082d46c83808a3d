"""The device path without a GPU: bench/device_check.py passes, and what it builds on (CuPy's call
checks replayed on NumPy arrays, a kernel's body run on the host) catches a wrong call and computes
the kernel's formula.

Runs where CuPy, NVIDIA's NVRTC and CUDA runtime wheels and g++ are installed (``bash
bench/device_check.sh`` makes such a venv); skipped elsewhere, naming what is missing. The check
sets CuPy's compiler for no device, so it runs in a process of its own.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def missing():
    """What the check needs and this environment lacks (empty: it can run)."""
    lacks = []
    for module in ("cupy", "nvidia.cuda_nvrtc", "nvidia.cuda_runtime"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # the parent package (nvidia) is not there
            found = False
        if not found:
            lacks.append(module)
    return lacks + ([] if shutil.which("g++") else ["g++"])


pytestmark = pytest.mark.skipif(bool(missing()), reason=f"the device check needs {', '.join(missing())}")


def python(*args, timeout=900):
    """Run Python with tinygan and bench/ importable, from the top of the checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_device_check_passes():
    result = python("bench/device_check.py", "--quick")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "device check: passed" in result.stdout


CALLS = """
import numpy as np
import device_check_cupy as cuda
import device_check_host as host
cuda.offline("90")
from tinygan.fast import kernels

x, scale, shift = np.random.default_rng(0).standard_normal((3, 64, 8))
launch = cuda.replay(kernels.cuda_kernel("scale_shift"), (x, scale[0], shift[0], np.empty_like(x)), {})
assert all(outcome.ok for outcome in launch.compile())
assert np.allclose(host.run(launch), x * scale[0] + shift[0], rtol=1e-12, atol=0)

sums = host.run(cuda.replay(kernels.cuda_kernel("product_sums"), (x, scale), {"axis": 0}))
assert sums.shape == (8,) and np.allclose(sums, (x * scale).sum(axis=0), rtol=1e-12, atol=0)

for args, error in [((x.astype(np.float32), 0.9, 0.999, 1e-3, 1e-8, x, x.copy(), x.copy()), "Type is mismatched"),
                    ((x, scale[0], shift[0], np.empty(8)), "Out shape is mismatched"),
                    ((x, scale[0]), "Wrong number of arguments")]:
    name = "adam" if len(args) == 8 else "scale_shift"
    try:
        cuda.replay(kernels.cuda_kernel(name), args, {})
    except (TypeError, ValueError) as err:
        assert error in str(err), err
    else:
        raise AssertionError(f"{name}: no error for {error}")
print("ok")
"""


def test_a_wrong_call_fails_as_on_the_gpu_and_a_body_computes_its_formula():
    result = python("-c", CALLS, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout[-4000:] + result.stderr[-4000:]
