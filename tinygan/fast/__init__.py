"""The fast implementations of tinygan's operations, chosen once per process.

``tinygan/layers/`` writes every layer's math plainly (Conv2D as im2col and one GEMM, BatchNorm
with x_hat and the textbook dx). Each plain function that has a fast twin carries the
:func:`replaceable` mark; a call to it runs the twin of the implementation set in use:

- ``plain``: no twin; the layers' own textbook code runs. The oracle of every test.
- ``host``: the NumPy twins (:mod:`.conv`, :mod:`.norm`, :mod:`.elementwise`): work split over the
  host threads (:mod:`tinygan.threads`), im2col in blocks that stay in cache, a strided conv's
  input gradient by phases, per-channel work on wide rows (:mod:`.rows`).
- ``device``: the same twins arranged as CuPy runs them: one part, padding kept virtual, channel
  vectors broadcast, fused CUDA kernels (:mod:`.kernels`). On NumPy it runs the kernels' NumPy
  twins, which is how ``bench/count_ops.py`` counts a GPU step's operations on a CPU.

The set is ``TINYGAN_KERNELS`` (plain, host or device) or :func:`use`; by default ``host`` on
NumPy and ``device`` on CuPy. A twin takes the plain function's arguments and returns what it
returns, but its cache is its own: a forward's cache goes back only to the same set's backward.
"""
import functools
import os

from ..backend import backend_name

SETS = ("plain", "host", "device")
_state = {"set": None}
_twins = {}  # the name of a plain function -> its fast twin (filled below, by the twins' modules)


def use(name=None):
    """Choose the implementation set (None: ``TINYGAN_KERNELS``, else the backend's own); returns it."""
    name = name or os.environ.get("TINYGAN_KERNELS") or None
    if name is not None and name not in SETS:
        raise ValueError(f"TINYGAN_KERNELS / fast.use: the implementation set must be one of {SETS}, got {name!r}")
    _state["set"] = name
    return active()


def active():
    """The implementation set in use: the chosen one, else 'host' on NumPy and 'device' on CuPy."""
    if _state["set"] is None and os.environ.get("TINYGAN_KERNELS"):
        use()
    chosen = _state["set"] or ("host" if backend_name() == "numpy" else "device")
    if chosen == "host" and backend_name() != "numpy":
        raise ValueError("the 'host' implementation set runs on NumPy only; use 'device' or 'plain' on CuPy")
    return chosen


def on_host_rows():
    """True where the host set runs: per-channel work on wide rows, work split over host threads."""
    return active() == "host"


def twin(function):
    """Register ``function`` as the fast twin of the plain function of the same name."""
    if function.__name__ in _twins:
        raise ValueError(f"fast: {function.__name__} has a twin already")
    _twins[function.__name__] = function
    return function


def replaceable(plain):
    """Mark a plain function whose fast twin (registered under its name) runs instead, unless the set
    in use is 'plain' or the twin declines the arguments (returns NotImplemented: a case it does not
    speed up). The plain function stays reachable as ``.plain``."""
    name = plain.__name__

    @functools.wraps(plain)
    def call(*args, **kwargs):
        fast = _twins.get(name)
        if fast is not None and active() != "plain":
            result = fast(*args, **kwargs)
            if result is not NotImplemented:
                return result
        return plain(*args, **kwargs)
    call.plain = plain
    return call


def twin_names():
    """The names of every plain function that has a fast twin."""
    return sorted(_twins)


from . import conv, elementwise, norm, upsample_conv  # noqa: E402,F401  (their twins register themselves)
