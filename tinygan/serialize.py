"""Saving and loading parameters, buffers and optimiser state as .npz files.

Files are written atomically (to a temporary file beside the target, then renamed), so
a crash mid-write leaves the previous file intact.
"""
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_device, to_host


def model_state(model):
    """All parameters and buffers of ``model`` as host arrays, keyed 'path.key'."""
    state = {}
    for path, layer in model.walk():
        for key, value in list(layer.params.items()) + list(layer.buffers().items()):
            state[f"{path}.{key}"] = to_host(value)
    return state


def load_model_state(model, state, source="state"):
    """Copy arrays from ``state`` into ``model`` in place. Missing, extra or misshapen
    entries are a ValueError naming the parameter and both shapes."""
    expected = set()
    for path, layer in model.walk():
        for key, value in list(layer.params.items()) + list(layer.buffers().items()):
            name = f"{path}.{key}"
            expected.add(name)
            if name not in state:
                raise ValueError(f"{source}: no entry for parameter {name} of shape {tuple(value.shape)}")
            saved = state[name]
            if tuple(saved.shape) != tuple(value.shape):
                raise ValueError(f"{source}: parameter {name} has shape {tuple(saved.shape)}, "
                                 f"the model expects {tuple(value.shape)}")
            value[...] = to_device(saved, dtype=value.dtype)
    prefix = f"{model.name}/"
    extra = sorted(k for k in state if (k.startswith(prefix) or k.startswith(f"{model.name}."))
                   and k not in expected)
    if extra:
        raise ValueError(f"{source}: entries {extra[:5]} match no parameter of {model.name}")


def save_npz_atomic(path, arrays):
    """Write ``arrays`` (name -> array or scalar) to ``path`` as .npz, atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **{k: np.asarray(v) for k, v in arrays.items()})
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; follow the umask like open()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_npz(path):
    """Read a .npz written by :func:`save_npz_atomic` into a dict; a missing or damaged
    file is a ValueError naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz checkpoint ({err})") from err
