"""The registry of fast twins and the choice of implementation set (see :mod:`tinygan.fast`)."""
import functools
import os

from ..backend import backend_name

SETS = ("plain", "host", "device")
_state = {"set": None, "chosen": False}  # set: the chosen set's name, None for the backend's own
_twins = {}  # the name of a plain function -> its fast twin (filled as the twins' modules are imported)


def use(name=None):
    """Choose the implementation set (None: ``TINYGAN_KERNELS``, else the backend's own); returns it."""
    name = name or os.environ.get("TINYGAN_KERNELS") or None
    if name is not None and name not in SETS:
        raise ValueError(f"TINYGAN_KERNELS / fast.use: the implementation set must be one of {SETS}, got {name!r}")
    _state["set"], _state["chosen"] = name, True
    return active()


def active():
    """The implementation set in use: the chosen one (TINYGAN_KERNELS is read at the first call unless
    :func:`use` came first), else 'host' on NumPy and 'device' on CuPy."""
    if not _state["chosen"]:
        use()
    chosen, on_numpy = _state["set"], backend_name() == "numpy"
    if chosen is None:
        return "host" if on_numpy else "device"
    if chosen == "host" and not on_numpy:
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

