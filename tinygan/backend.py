"""The array backend: CuPy on a usable CUDA device, else NumPy.

Every layer is written once against ``xp`` (the array module in use). Pick the
backend with ``TINYGAN_BACKEND=numpy|cupy`` or :func:`set_backend`; with no choice
made, CuPy is used when it imports and sees a CUDA device, NumPy otherwise.
Asking for CuPy where it cannot run is an error, never a silent fallback; so is a CuPy that sees
a device but cannot compile a kernel (NVRTC or the CUDA headers missing), whichever way it was
chosen. The errors name the extra of tinygan that installs what is missing.
"""
import ctypes
import os
import sys

import numpy

_state = {"xp": None}


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (CuPy missing, no CUDA device, no kernel compiler, or
    no NCCL for several processes on CuPy)."""


def cupy_extra(cupy):
    """The extra of tinygan that installs this CuPy's parts: 'cuda12' or 'cuda13', by its CUDA."""
    try:
        return f"cuda{cupy.cuda.runtime.runtimeGetVersion() // 1000}"
    except Exception:  # any CuPy error type: name the common one
        return "cuda12"


def cupy_with_device():
    """Return ``(cupy_module_or_None, reason)``: whether CuPy imports and sees a CUDA device."""
    try:
        import cupy
    except ImportError as err:
        return None, (f"cupy is not installed ({err}); install it with pip install -e \".[cuda12]\" "
                      f"(or \".[cuda13]\" for a CUDA 13 driver)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver/runtime missing: any CuPy error type
        return None, f"cupy imports but CUDA is unusable ({err})"
    if count < 1:
        return None, "cupy imports but sees no CUDA device"
    return cupy, "ok"


def compile_problem(cupy):
    """None when ``cupy`` compiles and runs a small kernel on the current device (NVRTC and the
    CUDA headers found; CuPy keeps the result in its disk cache), else why not, in one line."""
    try:
        _ = cupy.arange(2, dtype=cupy.float32) + 1
    except Exception as err:  # NVRTC or the headers missing: CuPy raises several types
        cause = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        return (f"CuPy sees a CUDA device but cannot compile a kernel ({cause[:200]}): it needs NVRTC and the "
                f"CUDA headers; install them with pip install -e \".[{cupy_extra(cupy)}]\"")
    return None


def cupy_status():
    """Return ``(cupy_module_or_None, reason)``: why CuPy can or cannot be used (it imports,
    sees a CUDA device and compiles a kernel)."""
    cupy, reason = cupy_with_device()
    problem = None if cupy is None else compile_problem(cupy)
    return (None, problem) if problem else (cupy, reason)


def set_backend(name=None):
    """Select the backend by name ('numpy', 'cupy' or None for automatic); return xp."""
    name = name or os.environ.get("TINYGAN_BACKEND") or "auto"
    if name not in ("auto", "numpy", "cupy"):
        raise ValueError(f"backend must be 'numpy', 'cupy' or 'auto', got {name!r}")
    if name == "numpy":
        _state["xp"] = numpy
    else:
        cupy, reason = cupy_with_device()
        if cupy is None and name == "cupy":
            raise BackendUnavailable(f"backend 'cupy' was requested but {reason}")
        problem = None if cupy is None else compile_problem(cupy)
        if problem:
            raise BackendUnavailable(problem)
        _state["xp"] = cupy if cupy is not None else numpy
    return _state["xp"]


def get_xp():
    """The array module in use (numpy or cupy)."""
    return _state["xp"] if _state["xp"] is not None else set_backend()


def array_module(array):
    """The module of ``array``: cupy for a CuPy array, else numpy (whatever backend is in use).
    Never imports CuPy: a CuPy array exists only once CuPy is imported."""
    return sys.modules["cupy"] if type(array).__module__.startswith("cupy") else numpy


def backend_name():
    """'numpy' or 'cupy', by the module's name (a stand-in module named 'numpy', as the op
    counter of bench/count_ops.py installs, counts as NumPy)."""
    return "numpy" if get_xp().__name__ == "numpy" else "cupy"


def to_device(array, dtype=None):
    """Copy a host (or device) array onto the current backend."""
    xp = get_xp()
    return xp.asarray(array, dtype=dtype)


def to_host(array):
    """Return a NumPy array for a NumPy or CuPy array."""
    return array.get() if hasattr(array, "get") and not isinstance(array, numpy.ndarray) else numpy.asarray(array)


def synchronize():
    """Wait for queued device work to finish (a no-op on NumPy); use before timing."""
    if backend_name() == "cupy":
        get_xp().cuda.Stream.null.synchronize()


def keep_freed_host_memory():
    """Ask glibc's malloc to keep freed memory (up to 1 GB) for reuse instead of handing it
    back to the system, and to serve arrays of up to 32 MB from that store. A NumPy training
    step frees and allocates the same large arrays every time; by default each comes back
    as fresh pages that the kernel must fault in and zero again (about a tenth of a CPU step
    here). Process-wide; returns False where it does nothing (CuPy, another C library)."""
    if backend_name() != "numpy":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    trim_threshold, mmap_threshold = -1, -3  # glibc's M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    return bool(mallopt(mmap_threshold, 32 << 20)) and bool(mallopt(trim_threshold, 1 << 30))


def rng(seed=None):
    """A seeded random generator for the current backend (xp.random.default_rng)."""
    return get_xp().random.default_rng(seed)
