"""Shared fixtures: the backend each test runs on, and where the test data lives.

Tests that take the ``xp`` fixture run once per backend: NumPy always, CuPy when it
imports and sees a CUDA device (skipped with the reason otherwise). With
TINYGAN_BACKEND=cupy an unusable CuPy fails the run instead of skipping.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from tinygan import backend

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"


@pytest.fixture(autouse=True)
def numpy_by_default():
    """Every test starts on NumPy (also under TINYGAN_BACKEND=cupy); the ``xp`` fixture
    switches to the backend under test."""
    previous = backend._state["xp"]
    backend.set_backend("numpy")
    yield
    backend._state["xp"] = previous


def pytest_generate_tests(metafunc):
    if "xp" in metafunc.fixturenames:
        metafunc.parametrize("xp", ["numpy", "cupy"], indirect=True)


@pytest.fixture
def xp(request):
    """The array module of the backend under test, selected for the test's duration."""
    name = request.param
    if name == "cupy":
        cupy, reason = backend.cupy_status()
        if cupy is None:
            if os.environ.get("TINYGAN_BACKEND") == "cupy":
                pytest.fail(f"TINYGAN_BACKEND=cupy but {reason}")
            pytest.skip(f"CuPy backend unavailable: {reason}")
    return backend.set_backend(name)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def converge_spectral_norms(model, iterations=200):
    """Run every spectrally normalised layer's power iteration until ``u`` is its weight's
    top right-singular vector; return a function that puts those ``u`` back (call it
    before each forward of a gradcheck, so each forward starts from the same ``u``)."""
    saved = []
    for _, layer in model.walk():
        if getattr(layer, "spectral", None) is not None:
            w = layer.params["w"]
            for _ in range(iterations):
                layer.spectral.power_iteration(w.reshape(-1, w.shape[-1]))
            saved.append((layer.spectral.u, layer.spectral.u.copy()))

    def restore():
        for u, value in saved:
            u[...] = value

    restore.saved = saved
    return restore
