"""Every fast implementation against the plain one (the layers' textbook math), on each backend: the
host set with one and with several threads and the device set on NumPy, the device set on CuPy when a
GPU is there; in training, in eval and frozen. And every registered twin is exercised here."""
import numpy as np
import pytest

import layer_cases
from tinygan import fast, threads
from tinygan.ema import WeightAverage
from tinygan.layers import Dense
from tinygan.optim import Adam


@pytest.fixture
def implementation(monkeypatch):
    """Select an implementation set (and host threads) inside a test; the default afterwards."""
    monkeypatch.setattr(threads, "MIN_PART_ELEMENTS", 1)  # split even tiny work

    def select(name, count=1):
        fast.use(name)
        threads.set_threads(count)
    yield select
    fast.use(None)
    threads.set_threads(1)


def fast_sets(xp):
    """(set, host threads) pairs to test on this backend."""
    return [("host", 1), ("host", 3), ("device", 1)] if xp.__name__ == "numpy" else [("device", 1)]


@pytest.mark.parametrize("mode", ["training", "eval", "frozen"])
@pytest.mark.parametrize("index", range(layer_cases.COUNT))
def test_fast_layers_match_the_plain_ones(xp, implementation, index, mode):
    layer, x, labels, dy, reset = layer_cases.case(index)
    layer.train(mode != "eval").freeze(mode == "frozen")
    results = {}
    for name, count in [("plain", 1)] + fast_sets(xp):
        implementation(name, count)
        reset()
        results[name, count] = layer_cases.run(layer, x, dy, labels)
    for key, result in results.items():
        layer_cases.assert_same(result, results["plain", 1])


def test_every_twin_is_exercised(implementation, monkeypatch):
    called = set()
    for name, function in list(fast.registry._twins.items()):
        monkeypatch.setitem(fast.registry._twins, name, lambda *a, _n=name, _f=function, **k: called.add(_n) or _f(*a, **k))
    for index in range(layer_cases.COUNT):
        layer, x, labels, dy, _ = layer_cases.case(index)
        layer_cases.run(layer, x, dy, labels)
    _optimiser_and_average(Dense(7, 5, rng=np.random.default_rng(1), dtype=np.float64))
    assert called == set(fast.TWINS)


def _optimiser_and_average(model):
    """Three Adam steps of ``model`` with fixed gradients, a zeroed gradient and a weight average of it:
    its flat parameters, gradients, moments and average."""
    rng = np.random.default_rng(0)
    average = Dense(7, 5, rng=np.random.default_rng(2), dtype=np.float64)
    opt = Adam(model, lr=0.01)
    ema = WeightAverage(model, average, 0.9)
    for step in range(3):
        model.flat[1][...] = rng.standard_normal(model.flat[1].shape)
        opt.step()
        ema.update(step)
    gradients = model.flat[1].copy()
    model.zero_grad()
    assert not model.flat[1].any()
    return [model.flat[0], gradients, *opt.flat[2:], average.flat[0]]


def test_fast_adam_weight_average_and_zeroing_match_the_plain_ones(implementation):
    results = {}
    for name, count in [("plain", 1), ("host", 1), ("host", 3), ("device", 1)]:
        implementation(name, count)
        results[name, count] = _optimiser_and_average(Dense(7, 5, rng=np.random.default_rng(1), dtype=np.float64))
    for result in results.values():
        for got, want in zip(result, results["plain", 1]):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_the_set_is_chosen_by_name(monkeypatch):
    monkeypatch.setenv("TINYGAN_KERNELS", "plain")
    assert fast.use() == "plain" and fast.active() == "plain"
    monkeypatch.delenv("TINYGAN_KERNELS")
    assert fast.use(None) == "host"  # NumPy's own
    with pytest.raises(ValueError, match="must be one of .*got 'fastest'"):
        fast.use("fastest")
    fast.use(None)


def test_layers_use_no_fast_machinery():
    """tinygan/layers/ shows the plain math: it imports from tinygan.fast only the mark of a replaceable
    function, and nothing of the host threads or the fused kernels."""
    from pathlib import Path
    folder = Path(fast.__file__).resolve().parents[1] / "layers"
    for path in sorted(folder.glob("*.py")):
        imports = [line.strip() for line in path.read_text().splitlines() if line.startswith(("from ", "import "))]
        machinery = [line for line in imports if "threads" in line or "kernels" in line or
                     (".fast" in line and line != "from ..fast import replaceable")]
        assert not machinery, f"{path.name}: {machinery}"
