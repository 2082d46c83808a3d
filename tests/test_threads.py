"""Host threads: the split into parts, and every threaded layer of the host set against itself on one
thread (outputs and gradients equal up to the order of float sums, gradchecks with uneven parts);
the device set's conv on NumPy against the naive conv."""
import numpy as np
import pytest

import layer_cases
from tinygan import fast, threads
from tinygan.gradcheck import check_layer
from tinygan.ema import WeightAverage
from tinygan.layers import Conv2D, Dense, Sequential
from tinygan.optim import Adam

F64 = np.float64


@pytest.fixture
def host_threads(monkeypatch):
    """Set the host thread count inside a test (and split even tiny work); restore the
    default afterwards."""
    monkeypatch.setattr(threads, "MIN_PART_ELEMENTS", 1)
    yield threads.set_threads
    threads.set_threads(1)


def test_parts_cover_the_range_in_order():
    for size in (1, 2, 5, 31, 32):
        for count in (1, 2, 3, 8):
            spans = threads.parts(size, count)
            assert len(spans) == min(size, count)
            assert spans[0][0] == 0 and spans[-1][1] == size
            assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(spans, spans[1:]))
            assert max(b - a for a, b in spans) - min(b - a for a, b in spans) <= 1


def test_run_parts_returns_results_in_order_and_never_nests(host_threads):
    host_threads(3)
    outer = threads.run_parts(lambda a, b: (a, b, threads.run_parts(lambda c, d: (c, d), 10, 10)), 7, 7)
    assert [(a, b) for a, b, _ in outer] == threads.parts(7, 3)
    assert all(nested == [(0, 10)] for _, _, nested in outer)  # inside a part: one part
    assert threads.run_parts(lambda a, b: b - a, 2, 2) == [1, 1]


def test_sum_parts_adds_the_parts_in_order(host_threads):
    host_threads(3)
    values = np.arange(7.0)
    assert threads.sum_parts(lambda a, b: values[a:b].sum(), 7, 7) == 21.0
    sums = threads.sum_parts(lambda a, b: (values[a:b].sum(), np.float64(b - a)), 7, 7)
    assert sums == (21.0, 7.0)
    assert threads.sum_parts(lambda a, b: None, 7, 7) is None  # nothing to add (a frozen layer's slopes)


def test_small_work_stays_in_one_part(host_threads, monkeypatch):
    host_threads(2)
    monkeypatch.setattr(threads, "MIN_PART_ELEMENTS", 100)
    assert threads.run_parts(lambda a, b: (a, b), 8, 199) == [(0, 8)]
    assert threads.run_parts(lambda a, b: (a, b), 8, 200) == [(0, 4), (4, 8)]


def test_thread_count_from_the_environment(monkeypatch):
    for name in ("TINYGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # OpenMP's nested list: its first number
    assert threads.default_threads() == 4
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.default_threads() == 1  # OPENBLAS_NUM_THREADS=1 mpiexec ...: one core per process
    monkeypatch.setenv("TINYGAN_THREADS", "3")
    assert threads.default_threads() == 3
    monkeypatch.setenv("TINYGAN_THREADS", "two")
    with pytest.raises(ValueError, match="TINYGAN_THREADS must be a positive integer, got 'two'"):
        threads.default_threads()
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        threads.set_threads(0)


def test_several_threads_keep_openblas_to_one_and_one_gives_it_back(host_threads):
    blas = threads._openblas()
    if blas is None:
        pytest.skip("NumPy's BLAS here is not OpenBLAS: tinygan uses one host thread")
    host_threads(1)
    own = blas[1]()
    assert host_threads(2) == 2 and threads.threads() == 2 and blas[1]() == 1
    assert host_threads(1) == 1 and blas[1]() == own


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("index", range(layer_cases.COUNT))
def test_threaded_layers_match_one_thread(host_threads, index, frozen):
    layer, x, labels, dy, reset = layer_cases.case(index)
    layer.freeze(frozen)
    results = []
    for count in (1, 3):
        host_threads(count)
        reset()
        results.append(layer_cases.run(layer.train(True), x, dy, labels))
    layer_cases.assert_same(*results)
    if frozen:  # the input gradient alone: nothing added to the parameters' (a frozen PReLU's parts return None)
        assert not any(grad.any() for grad in results[1][2].values())
    elif not isinstance(layer, Sequential):  # the gradcheck itself, with uneven parts (5 images over 3 threads)
        spectral = getattr(layer, "spectral", None)
        for training in (True, False) if spectral is None else (False,):  # (power iteration moves with w)
            check_layer(layer.train(training), x, before_forward=reset)


def test_adam_in_parts_matches_one_part(host_threads):
    rng = np.random.default_rng(0)
    results = {}
    for count in (1, 3):
        host_threads(count)
        model = Dense(7, 5, rng=np.random.default_rng(1), dtype=F64)
        opt = Adam(model, lr=0.01)
        for _ in range(3):
            model.grads["w"][...] = rng.standard_normal((7, 5))
            model.grads["b"][...] = rng.standard_normal(5)
            opt.step()
        results[count] = model.flat[0].copy()
        rng = np.random.default_rng(0)
    np.testing.assert_array_equal(results[1], results[3])


def test_flat_zero_grad_and_weight_average_in_parts(host_threads):
    host_threads(3)
    model, average = (Dense(7, 5, rng=np.random.default_rng(seed), dtype=F64) for seed in (1, 2))
    Adam(model, lr=0.01)  # flattens the model
    model.flat[1][...] = 1.0
    model.zero_grad()
    assert not model.grads["w"].any() and not model.grads["b"].any()
    ema = WeightAverage(model, average, 0.9)
    before = average.flat[0].copy()  # the average flattened itself, a copy of the model's weights
    model.flat[0][...] += 1.0
    ema.update(1)
    np.testing.assert_allclose(average.flat[0], 0.9 * before + 0.1 * model.flat[0], rtol=1e-13, atol=1e-15)


@pytest.fixture
def device_set():
    """Run the fast implementations as on CuPy (narrow channel rows, one part, strided conv backward
    through dy spread out with zeros), on NumPy."""
    fast.use("device")
    yield
    fast.use(None)


@pytest.mark.parametrize("kernel,stride,size,padding", [(3, 2, 6, "same"), (3, 2, 7, "same"), (3, 2, 6, "valid"),
                                                        (3, 2, 5, ((0, 1), (2, 1))), (3, 1, 5, "same"), (1, 2, 5, 0)])
def test_conv_in_the_device_set_matches_the_naive_reference(device_set, kernel, stride, size, padding):
    from reference import conv2d_naive, conv2d_naive_backward
    rng = np.random.default_rng(0)
    layer = Conv2D(3, 4, kernel, stride, padding, rng=rng, dtype=F64)
    layer.params["b"][...] = rng.standard_normal(4)
    x = rng.standard_normal((2, size, size + 1, 3))
    y, cache = layer.forward(x)
    pads = layer.pads(size, size + 1)
    np.testing.assert_allclose(y, conv2d_naive(x, layer.params["w"], layer.params["b"], stride, pads), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy, cache)
    dx_ref, dw_ref, db_ref = conv2d_naive_backward(dy, x, layer.params["w"], stride, pads)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["w"], dw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)
