"""Small float64 layers that exercise every fast twin, with their inputs: shared by the tests of the
host threads (tests/test_threads.py) and of the fast implementations against the plain ones
(tests/test_fast.py)."""
import numpy as np

from tinygan.backend import to_device, to_host
from tinygan.layers import (BatchNorm, ConditionalBatchNorm, Conv2D, Dense, MinibatchStd, PReLU, Sequential, Sigmoid,
                            Upsample, UpsampleConv2D)

F64 = np.float64


def layers(rng):
    """(layer, input shape) pairs: every layer with a fast twin, and each twin's special cases."""
    return [
        (Conv2D(3, 4, 3, 1, rng=rng, dtype=F64), (5, 6, 7, 3)),
        (Conv2D(3, 4, 3, 2, rng=rng, dtype=F64, spectral_norm=True), (5, 7, 6, 3)),
        (Conv2D(4, 3, 3, 2, rng=rng, dtype=F64), (5, 7, 6, 4)),  # dx by phases on the host
        (Conv2D(1, 4, 1, 1, rng=rng, dtype=F64), (5, 6, 7, 1)),  # a 1x1 conv of one channel: an outer product
        (Conv2D(3, 2, 3, 2, "valid", rng=rng, dtype=F64), (5, 7, 6, 3)),  # dx by col2im on the host
        (BatchNorm(3, dtype=F64), (5, 4, 6, 3)),
        (BatchNorm(6, dtype=F64, affine=False), (5, 6)),
        (PReLU(3, dtype=F64), (5, 4, 6, 3)),
        (PReLU(3, dtype=F64, name="steep"), (5, 4, 6, 3)),  # slopes above 1 and below 0: the general formula
        (PReLU((4, 6, 3), dtype=F64), (5, 4, 6, 3)),  # a slope per value: the plain way in every set
        (Upsample(2), (5, 3, 4, 3)),
        (Dense(6, 4, rng=rng, dtype=F64), (5, 6)),
        (Sequential([ConditionalBatchNorm(3, 4, dtype=F64)]), (5, 4, 6, 3)),
        (UpsampleConv2D(3, 2, rng=rng, dtype=F64, spectral_norm=True), (5, 3, 4, 3)),
        (Dense(6, 4, rng=rng, dtype=F64, spectral_norm=True), (5, 6)),
        (Sigmoid(), (5, 4, 6, 1)),
        (MinibatchStd(), (5, 6)),
    ]


COUNT = 17  # len(layers(rng))


def case(index):
    """Layer ``index`` of :func:`layers` (with random parameters and statistics), its input (away from
    PReLU's kink), labels, a random dy, and a function that puts its state (a spectral norm's u, the
    running statistics) back where it started: a training forward moves them."""
    rng = np.random.default_rng(index)
    layer, shape = layers(rng)[index]
    for _, owner, key in layer.named_parameters():  # slopes in [0, 1), scales in [0.5, 1.5)
        size = owner.params[key].shape
        value = {"alpha": rng.random(size), "gamma": 0.5 + rng.random(size)}.get(key, rng.standard_normal(size))
        owner.params[key][...] = to_device(value)
    if layer.name == "steep":
        layer.params["alpha"][...] = to_device(np.array([0.3, 1.7, -0.4]))
    for _, owner in layer.walk():
        if isinstance(owner, BatchNorm):
            owner.running_mean[...] = to_device(rng.standard_normal(owner.channels))
            owner.running_var[...] = to_device(0.5 + rng.random(owner.channels))
    x = to_device(np.sign(rng.standard_normal(shape)) * (0.05 + rng.random(shape)))
    labels = to_device(rng.integers(0, 4, shape[0]))
    state = [(sub, key, value.copy()) for _, sub in layer.walk() for key, value in sub.buffers().items()]

    def reset():  # into the arrays in use now (power iteration replaces u by a new array)
        for sub, key, start in state:
            sub.buffers()[key][...] = start
    out = forward(layer, x, labels)[0]
    reset()
    return layer, x, labels, to_device(rng.standard_normal(out.shape)), reset


def forward(layer, x, labels):
    return layer.forward(x, labels) if isinstance(layer, Sequential) else layer.forward(x)


def run(layer, x, dy, labels):
    """(y, dx, {parameter: gradient}, {buffer: value}) of one forward and backward, as host arrays."""
    layer.zero_grad()
    y, cache = forward(layer, x, labels)
    dx = layer.backward(dy, cache)
    grads = {f"{path}.{key}": to_host(sub.grads[key]).copy() for path, sub, key in layer.named_parameters()}
    buffers = {f"{path}.{key}": to_host(value).copy() for path, sub in layer.walk() for key, value in sub.buffers().items()}
    return to_host(y), to_host(dx), grads, buffers


def assert_same(first, second, rtol=1e-12, atol=1e-12):
    """Two results of :func:`run` agree up to the order of float sums."""
    for name, a, b in (("y", first[0], second[0]), ("dx", first[1], second[1])):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=name)
    for got, want in ((first[2], second[2]), (first[3], second[3])):
        assert got.keys() == want.keys()
        for key in got:
            np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=atol, err_msg=key)
