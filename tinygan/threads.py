"""Host threads: the fast implementations' NumPy work split over the CPU's cores.

NumPy runs each elementwise operation on one core, and OpenBLAS's own threads help only
inside a matrix product (and busy-wait between products, keeping the other core from
NumPy's work). So the host set of :mod:`tinygan.fast` splits the heavy work (convolutions,
BatchNorm, PReLU, Upsample, Adam) into one part per host thread, by images or by rows, and runs
the parts at once: NumPy releases the GIL inside its loops and BLAS calls. OpenBLAS is then
kept to one thread, so that the two kinds of thread never compete for a core. This module is
the one place that starts threads; layers never call it.

How many: one until an entry point (``python -m tinygan.train``, a benchmark) calls
:func:`set_threads`, which changes process-wide state (the pool, OpenBLAS's thread count) once and
visibly. Its default: ``TINYGAN_THREADS`` if set, else ``OPENBLAS_NUM_THREADS`` or
``OMP_NUM_THREADS`` if set (``OPENBLAS_NUM_THREADS=1 mpiexec -n 2 ...`` keeps each process on one
core), else the cores this process may use. On CuPy there is one part.

The parts depend only on the sizes and the thread count, never on timing, and partial
sums are added in part order: a run is reproducible for a given thread count.
"""
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .backend import backend_name, get_xp

_state = {"threads": None, "pool": None, "blas": None, "blas_threads": None}
MIN_PART_ELEMENTS = 1 << 15
_inside = threading.local()  # .active: this thread is running a part (parts never split again)
_OPENBLAS_PREFIXES = (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "64_"), ("openblas_", ""))


def default_threads():
    """TINYGAN_THREADS, else OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (their first number), else
    the usable cores."""
    value = os.environ.get("TINYGAN_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"TINYGAN_THREADS must be a positive integer, got {value!r}")
        return int(value)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # OpenMP allows lists such as "4,2"
        first = os.environ.get(name, "").split(",")[0].strip()
        if first.isdigit() and int(first) >= 1:
            return int(first)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy loaded (found in /proc/self/maps),
    or None (another BLAS, or no /proc): then tinygan cannot keep BLAS to one thread."""
    if _state["blas"] is None:
        _state["blas"] = False
        try:
            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        except OSError:
            paths = []
        for path in paths:
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in _OPENBLAS_PREFIXES:
                setter = getattr(library, f"{prefix}set_num_threads{suffix}", None)
                getter = getattr(library, f"{prefix}get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    _state["blas"] = (setter, getter)
                    break
            if _state["blas"]:
                break
    return _state["blas"] or None


def set_threads(count=None):
    """Use ``count`` host threads (None: :func:`default_threads`); returns the count in use.
    More than one needs OpenBLAS (NumPy's usual BLAS), which is then kept to one thread (one
    host thread gives it back its own count); with another BLAS tinygan uses one host thread
    and leaves the cores to the BLAS."""
    count = default_threads() if count is None else int(count)
    if count < 1:
        raise ValueError(f"threads must be a positive integer, got {count}")
    blas = _openblas() if count > 1 or _state["blas_threads"] is not None else None
    if count > 1 and blas is None:
        count = 1
    elif count > 1:
        if _state["blas_threads"] is None:
            _state["blas_threads"] = blas[1]()
        blas[0](1)
    elif _state["blas_threads"] is not None:
        blas[0](_state["blas_threads"])
        _state["blas_threads"] = None
    if _state["pool"] is not None and _state["threads"] != count:
        _state["pool"].shutdown()
        _state["pool"] = None
    if count > 1 and _state["pool"] is None:
        _state["pool"] = ThreadPoolExecutor(count - 1, thread_name_prefix="tinygan")
    _state["threads"] = count
    return count


def threads():
    """Host threads in use: 1 on CuPy, and until :func:`set_threads` is called."""
    if backend_name() != "numpy":
        return 1
    return _state["threads"] or 1


def parts(size, count=None):
    """Split range(size) into at most ``count`` (default: :func:`threads`) contiguous
    (start, stop) parts of near-equal length, none empty."""
    count = max(1, min(threads() if count is None else count, size))
    return [(size * i // count, size * (i + 1) // count) for i in range(count)]


def run_parts(work, size, elements):
    """Call ``work(start, stop)`` for every part of range(size), at once on the host threads;
    return the results in part order. ``elements``: about how many array values the whole
    work touches; parts of fewer than MIN_PART_ELEMENTS are not worth a thread's hand-over.
    Inside a part, work runs as one part."""
    count = 1 if getattr(_inside, "active", False) else min(threads(), max(1, elements // MIN_PART_ELEMENTS))
    spans = parts(size, count)
    if len(spans) == 1:
        return [work(*spans[0])]
    futures = [_state["pool"].submit(_as_part, work, *span) for span in spans[1:]]
    first = _as_part(work, *spans[0])
    return [first] + [future.result() for future in futures]


def sum_parts(work, size, elements):
    """:func:`run_parts`, then the parts' results added in part order (a fixed order, so the
    sum is reproducible for a given thread count). ``work`` returns an array, or a tuple of
    arrays added element by element, or None (then the sum is None)."""
    results = run_parts(work, size, elements)
    total = results[0]
    for more in results[1:] if total is not None else ():
        total = tuple(a + b for a, b in zip(total, more)) if isinstance(total, tuple) else total + more
    return total


def _as_part(work, start, stop):
    _inside.active = True
    try:
        return work(start, stop)
    finally:
        _inside.active = False


def matmul(a, b):
    """a (M, K) @ b (K, N), the rows of a (or, when N > M, the columns of b) split over the
    host threads; each part writes its own block of the result."""
    xp = get_xp()
    if threads() == 1:
        return a @ b
    out = xp.empty((a.shape[0], b.shape[1]), dtype=xp.result_type(a, b))
    if a.shape[0] >= b.shape[1]:
        run_parts(lambda i0, i1: xp.matmul(a[i0:i1], b, out=out[i0:i1]), a.shape[0], out.size + a.size)
    else:
        run_parts(lambda j0, j1: xp.matmul(a, b[:, j0:j1], out=out[:, j0:j1]), b.shape[1], out.size + b.size)
    return out
