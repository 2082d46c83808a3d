"""Weight initialisers. Each takes ``(shape, rng, fan_in, fan_out, dtype)`` and returns a
host NumPy array; layers move it to the backend."""
import numpy as np


def glorot_uniform(shape, rng, fan_in, fan_out, dtype=np.float32):
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Keras' default)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, rng=None, fan_in=None, fan_out=None, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


INITIALISERS = {"glorot_uniform": glorot_uniform, "zeros": zeros}


def get_initialiser(name_or_fn):
    """Look an initialiser up by name, or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in INITIALISERS:
        raise ValueError(f"unknown initialiser {name_or_fn!r}; choose from {sorted(INITIALISERS)}")
    return INITIALISERS[name_or_fn]
