"""Which implementation set runs: plain, host or device (see :mod:`tinygan.fast`), chosen once per process."""
import os

from ..backend import backend_name

SETS = ("plain", "host", "device")
_state = {"set": None, "chosen": False}  # set: the chosen set's name, None for the backend's own


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
