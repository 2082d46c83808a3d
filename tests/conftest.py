"""Shared fixtures: the backend each test runs on, where the test data lives, a short
training run and one quickly trained judge.

Tests that take the ``xp`` fixture run once per backend: NumPy always, CuPy when it
imports and sees a CUDA device (skipped with the reason otherwise). With
TINYGAN_BACKEND=cupy an unusable CuPy fails the run instead of skipping.

Real MNIST (``MNIST_DIR``) is the first of these folders that holds the four published
``.gz`` files: ``$TINYGAN_DATA``, ``../shared/data/mnist`` beside the repository, the
tinygan cache (where a first training run downloads them). Tests that need it carry
``requires_mnist`` and are skipped, naming all three, when there is none. Uncompressed
files, which tinygan also reads, do not count: tests check the .gz files' published
checksums, serve them as downloads and corrupt copies of them.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from tinygan import backend, judge_model, train
from tinygan.data import DigitSet, canvas_colours, load_mnist, mnist
from tinygan.data.mnist import MNIST_FILES, default_cache_dir

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist"
MNIST_GZ_NAMES = [spec.gz_name for spec in MNIST_FILES]


def holds_mnist(directory):
    """True if ``directory`` holds the four MNIST .gz files."""
    return all((directory / name).is_file() for name in MNIST_GZ_NAMES)


def find_test_mnist():
    """The folder of real MNIST for the tests (see the module docstring), or None. Called
    at import, before any test points TINYGAN_CACHE at a temporary folder."""
    from_environment = os.environ.get("TINYGAN_DATA")
    candidates = [Path(from_environment).expanduser()] if from_environment else []
    return next((c for c in candidates + [SHARED_MNIST, default_cache_dir()] if holds_mnist(c)), None)


MNIST_DIR = find_test_mnist()
requires_mnist = pytest.mark.skipif(
    MNIST_DIR is None,
    reason=f"real MNIST ({', '.join(MNIST_GZ_NAMES)}) not found in TINYGAN_DATA "
           f"({os.environ.get('TINYGAN_DATA') or 'unset'}), in {SHARED_MNIST} or in the tinygan cache "
           f"{default_cache_dir()}")


def use_test_mnist(monkeypatch):
    """Point TINYGAN_DATA at MNIST_DIR, or unset it when there is none (so tinygan falls back
    to synthetic digits)."""
    if MNIST_DIR is None:
        monkeypatch.delenv("TINYGAN_DATA", raising=False)
    else:
        monkeypatch.setenv("TINYGAN_DATA", str(MNIST_DIR))


@pytest.fixture
def offline_data(tmp_path, monkeypatch):
    """Real MNIST when the tests have it, else the synthetic fallback; a fresh cache folder
    (and so no judge but the shipped one) in tmp_path; never the network."""
    use_test_mnist(monkeypatch)
    monkeypatch.setenv("TINYGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))


def run_train(out, *flags, log=lambda message: None):
    """``python -m tinygan.train`` on the tiny preset, batch 4, into ``out``; returns the exit status.
    No evaluations unless ``flags`` ask for them (--eval-every N)."""
    args = train.parse_args(["--preset", "tiny", "--batch-size", "4", "--out", str(out), "--log-every", "2",
                             "--sample-every", "3", "--checkpoint-every", "3", "--eval-every", "0", *flags])
    return train.run(args, log=log)


@pytest.fixture(scope="session")
def quick_judge():
    """A judge trained for one epoch on 3000 MNIST digits (seconds), the 2000 test digits it is
    measured on, and its accuracy there. Shared: tests must not train or change it."""
    if MNIST_DIR is None:
        pytest.skip(requires_mnist.kwargs["reason"])
    digits, labels = load_mnist("train", data_dir=MNIST_DIR, download=False)
    model = judge_model.fit_judge(judge_model.build_judge(0), digits[:3000], labels[:3000], epochs=1,
                                  log=lambda m: None)
    test_digits, test_labels = load_mnist("test", data_dir=MNIST_DIR, download=False)
    test = DigitSet(test_digits[:2000], test_labels[:2000], "mnist")
    return model.eval(), test, judge_model.accuracy(model, canvas_colours(test.images), test.labels)


@pytest.fixture(scope="session", autouse=True)
def numpy_for_shared_fixtures():
    """Module-scoped fixtures (a trained judge, say) are built before any test's own
    fixtures run: build them on NumPy too, never on TINYGAN_BACKEND's choice, so that a
    test on NumPy never meets CuPy parameters."""
    backend.set_backend("numpy")


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
