"""Gradient checks (float64, central differences, random upstream gradient) for every
layer, in training and eval mode, plus conv against the naive reference: each test runs with the
plain implementations (the layers' own math) and with the fast ones of its backend."""
import inspect
import itertools

import numpy as np
import pytest

from reference import conv2d_naive, conv2d_naive_backward
from tinygan import fast, layers
from tinygan.backend import to_host
from tinygan.gradcheck import check_gradients, check_layer
from tinygan.models import Discriminator, Generator
from tinygan.layers import (BatchNorm, BilinearUpsample, ConditionalBatchNorm, Conv2D, Dense, Dropout, Flatten,
                            MinibatchStd, PixelNoise, PReLU, Reshape, Sequential, Sigmoid, SineWaves, SpatialMean, Upsample,
                            UpsampleConv2D, WeightedMean)

F64 = np.float64


@pytest.fixture(autouse=True, params=["plain", "fast"])
def implementations(request):
    """The plain implementations, or the fast ones the backend uses by default."""
    fast.use("plain" if request.param == "plain" else None)
    yield request.param
    fast.use(None)


def away_from_kink(rng, shape, margin=0.05):
    """Values with |x| >= margin, so PReLU's kink at 0 is never inside a finite difference."""
    return np.sign(rng.standard_normal(shape)) * (margin + rng.random(shape))


@pytest.mark.parametrize("training", [True, False])
def test_dense_gradients(xp, rng, training):
    layer = Dense(5, 4, rng=rng, dtype=F64).train(training)
    check_layer(layer, xp.asarray(rng.standard_normal((3, 5))))


CONV_CASES = list(itertools.product([1, 3], [1, 2], [5, 6], ["same", "valid", 1, ((0, 1), (2, 1))]))


@pytest.mark.parametrize("kernel,stride,size,padding", CONV_CASES)
def test_conv_gradients(xp, rng, kernel, stride, size, padding):
    layer = Conv2D(2, 3, kernel, stride, padding, rng=rng, dtype=F64)
    layer.params["b"][...] = xp.asarray(rng.standard_normal(3))
    x = xp.asarray(rng.standard_normal((2, size, size + 1, 2)))
    for training in (True, False):
        check_layer(layer.train(training), x)


@pytest.mark.parametrize("kernel,stride,size,padding,channels,filters",
                         [case + (3, 4) for case in CONV_CASES] +  # and one channel in or out: outer products
                         [(1, 1, 5, "same", 1, 4), (1, 1, 5, "same", 3, 1), (3, 1, 5, "same", 1, 1)] +
                         # col2im adds groups of neighbouring taps: k a multiple of s, not, and k < s
                         [(5, 2, 9, "same", 3, 4), (4, 2, 8, ((0, 1), (2, 1)), 3, 4), (3, 3, 8, "valid", 3, 4),
                          (2, 3, 7, 1, 3, 4)] +
                         # dx by phases (16 <= s*s*C <= 64 on the host): the same kernels and strides
                         [(3, 2, 9, "same", 4, 3), (3, 2, 8, "same", 16, 2), (5, 2, 9, "same", 6, 3),
                          (4, 2, 8, ((0, 1), (2, 1)), 5, 3), (3, 3, 8, "valid", 2, 3), (2, 3, 7, 1, 4, 2)])
def test_conv_matches_naive_reference(xp, rng, kernel, stride, size, padding, channels, filters):
    layer = Conv2D(channels, filters, kernel, stride, padding, rng=rng, dtype=F64)
    layer.params["b"][...] = xp.asarray(rng.standard_normal(filters))
    x = rng.standard_normal((2, size, size + 1, channels))
    y, cache = layer.forward(xp.asarray(x))
    pads = layer.pads(size, size + 1)
    w, b = to_host(layer.params["w"]), to_host(layer.params["b"])
    np.testing.assert_allclose(to_host(y), conv2d_naive(x, w, b, stride, pads), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(xp.asarray(dy), cache)
    dx_ref, dw_ref, db_ref = conv2d_naive_backward(dy, x, w, stride, pads)
    np.testing.assert_allclose(to_host(dx), dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_host(layer.grads["w"]), dw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_host(layer.grads["b"]), db_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [4, 32])  # dx by phases (s*s*C = 16), by col2im (s*s*C = 128)
def test_strided_conv_dx_on_even_images(xp, rng, channels):
    """Even sizes and 'same' padding (0, 1): the phases land in dx seen as (N, H/2, 2, W/2, 2, C)."""
    layer = Conv2D(channels, 3, 3, 2, rng=rng, dtype=F64)
    x = rng.standard_normal((2, 8, 6, channels))
    y, cache = layer.forward(xp.asarray(x))
    dy = rng.standard_normal(y.shape)
    dx_ref, _, _ = conv2d_naive_backward(dy, x, to_host(layer.params["w"]), 2, layer.pads(8, 6))
    np.testing.assert_allclose(to_host(layer.backward(xp.asarray(dy), cache)), dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_upsample_conv_gradients(xp, rng, training):
    layer = UpsampleConv2D(2, 3, rng=rng, dtype=F64).train(training)
    layer.params["b"][...] = xp.asarray(rng.standard_normal(3))
    check_layer(layer, xp.asarray(rng.standard_normal((2, 3, 4, 2))))


def test_upsample_conv_is_upsample_then_conv(xp, rng):
    """Its four 2x2 phase convolutions give what Upsample(2) and the 3x3 conv give, and the
    same gradients; its parameters are the conv's, under the conv's name."""
    fused = UpsampleConv2D(3, 4, rng=np.random.default_rng(1), dtype=F64)
    two = Sequential([Upsample(2), Conv2D(3, 4, 3, rng=np.random.default_rng(1), dtype=F64)])
    assert fused.name == "Conv2D" and sorted(fused.params) == ["b", "w"]
    for layer in (fused, two.layers[1]):
        layer.params["b"][...] = xp.asarray(np.arange(4.0))
    x = xp.asarray(rng.standard_normal((3, 5, 6, 3)))
    (y1, c1), (y2, c2) = fused.forward(x), two.forward(x)
    np.testing.assert_allclose(to_host(y1), to_host(y2), rtol=1e-12, atol=1e-12)
    dy = xp.asarray(rng.standard_normal(y1.shape))
    np.testing.assert_allclose(to_host(fused.backward(dy, c1)), to_host(two.backward(dy, c2)), rtol=1e-12, atol=1e-12)
    for key in ("w", "b"):
        np.testing.assert_allclose(to_host(fused.grads[key]), to_host(two.layers[1].grads[key]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_blocking_does_not_change_results(xp, rng, monkeypatch, stride):
    """One output row per block (tiny budget) of the fast conv gives the same result as one block."""
    x = xp.asarray(rng.standard_normal((3, 9, 8, 4)))
    dy = None
    results = []
    for block_bytes in (1, 1 << 30):
        monkeypatch.setattr(fast.conv, "block_budget", lambda w, budget=block_bytes: budget)
        layer = Conv2D(4, 5, 3, stride, rng=np.random.default_rng(0), dtype=F64)
        layer.params["b"][...] = xp.arange(5.0)  # added block by block
        y, cache = layer.forward(x)
        dy = xp.asarray(rng.standard_normal(y.shape)) if dy is None else dy
        results.append((to_host(y), to_host(layer.backward(dy, cache)), to_host(layer.grads["w"])))
    for small, large in zip(*results):
        np.testing.assert_allclose(small, large, rtol=1e-12, atol=1e-12)


def test_conv_same_padding_output_sizes():
    layer = Conv2D(1, 1, 3, 2)
    assert layer.output_shape(128, 128) == (64, 64)
    assert layer.output_shape(7, 7) == (4, 4)
    assert layer.pads(128, 128) == (0, 1, 0, 1)  # TensorFlow puts the odd pixel after
    assert Conv2D(1, 1, 3, 1).pads(5, 6) == (1, 1, 1, 1)


@pytest.mark.parametrize("factor", [2, 3])
def test_upsample_gradients(xp, rng, factor):
    layer = Upsample(factor)
    x = xp.asarray(rng.standard_normal((2, 3, 2, 2)))
    y, _ = layer.forward(x)
    assert y.shape == (2, 3 * factor, 2 * factor, 2)
    assert float(y[1, factor * 2, factor - 1, 1]) == float(x[1, 2, 0, 1])
    check_layer(layer, x)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_gradients(xp, rng, shape, training, affine):
    layer = BatchNorm(3, dtype=F64, affine=affine)
    if affine:
        layer.params["gamma"][...] = xp.asarray(1 + rng.random(3))
        layer.params["beta"][...] = xp.asarray(rng.standard_normal(3))
    layer.running_mean[...] = xp.asarray(rng.standard_normal(3))
    layer.running_var[...] = xp.asarray(0.5 + rng.random(3))
    check_layer(layer.train(training), xp.asarray(rng.standard_normal(shape) * 2 + 1))


def test_batchnorm_statistics(xp, rng):
    layer = BatchNorm(2, momentum=0.9, eps=1e-5, dtype=F64)
    x = rng.standard_normal((4, 3, 3, 2)) * [1.0, 3.0] + [2.0, -1.0]
    y, _ = layer.forward(xp.asarray(x))
    rows = x.reshape(-1, 2)
    np.testing.assert_allclose(to_host(y).reshape(-1, 2).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(to_host(y).reshape(-1, 2).std(0), np.sqrt(rows.var(0) / (rows.var(0) + 1e-5)))
    np.testing.assert_allclose(to_host(layer.running_mean), 0.1 * rows.mean(0))
    np.testing.assert_allclose(to_host(layer.running_var), 0.9 + 0.1 * rows.var(0))
    layer.eval()
    y_eval, _ = layer.forward(xp.asarray(x))
    expected = (x - to_host(layer.running_mean)) / np.sqrt(to_host(layer.running_var) + 1e-5)
    np.testing.assert_allclose(to_host(y_eval), expected, rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: PReLU(3, dtype=F64),                                   # one slope per channel
    lambda: PReLU((4, 5, 3), dtype=F64),                           # none shared (Keras default)
    lambda: PReLU((1, 1, 3), dtype=F64),                           # shared over H and W
])
@pytest.mark.parametrize("training", [True, False])
def test_prelu_gradients(xp, rng, make, training):
    layer = make().train(training)
    layer.params["alpha"][...] = xp.asarray(rng.random(layer.alpha_shape))
    check_layer(layer, xp.asarray(away_from_kink(rng, (2, 4, 5, 3))))


@pytest.mark.parametrize("row_values", [1, 30])  # host rows of one image row (4 x 3 values), of two
def test_per_channel_layers_on_rows_of_some_image_rows(xp, rng, monkeypatch, row_values):
    """PReLU, BatchNorm, conditional BatchNorm and a conv's bias on host rows of k < H image rows
    (:func:`tinygan.fast.rows.channel_rows`), gradchecked in training and eval."""
    monkeypatch.setattr(fast.rows, "ROW_VALUES", row_values)
    x = xp.asarray(away_from_kink(rng, (2, 6, 4, 3)))
    expected = ((12, 12) if row_values == 1 else (6, 24)) if fast.on_host_rows() else (48, 3)
    assert fast.rows.channel_rows(x, 3).shape == expected
    prelu, norm = PReLU(3, dtype=F64), BatchNorm(3, dtype=F64)
    prelu.params["alpha"][...] = xp.asarray(rng.random(3))
    conditional = ConditionalBatchNorm(3, 4, dtype=F64)
    conv = Conv2D(3, 3, 3, rng=rng, dtype=F64)
    for layer, key, shape in ((norm, "gamma", 3), (norm, "beta", 3), (conditional, "gamma", (4, 3)),
                              (conditional, "beta", (4, 3)), (conv, "b", 3)):
        layer.params[key][...] = xp.asarray(rng.standard_normal(shape) + (key == "gamma"))
    labels = xp.asarray(np.array([3, 1]))
    for training in (True, False):
        for layer in (prelu, norm, conv):
            check_layer(layer.train(training), x)
        parameters = [(name, owner.params[k], owner.grads[k]) for name, owner, k in conditional.named_parameters()]
        conditional.train(training)
        check_gradients(lambda inputs: conditional.forward(inputs, labels), conditional.backward, x, parameters)


def test_dropout_gradients_with_fixed_mask(xp, rng):
    from tinygan.backend import rng as backend_rng
    layer = Dropout(0.4)

    def reseed():
        layer.rng = backend_rng(7)

    check_layer(layer, xp.asarray(rng.standard_normal((4, 6))), before_forward=reseed)


def test_dropout_behaviour(xp):
    from tinygan.backend import rng as backend_rng
    x = xp.ones((200, 100))
    layer = Dropout(0.25, rng=backend_rng(3))
    y, mask = layer.forward(x)
    kept = to_host(y != 0)
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(to_host(y)[kept], 1 / 0.75, rtol=1e-6)
    layer.rng = backend_rng(3)
    np.testing.assert_array_equal(to_host(layer.forward(x)[0]), to_host(y))  # reproducible
    y_eval, _ = layer.eval().forward(x)
    assert y_eval is x
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("n_classes", [None, 3])
def test_pixel_noise_gradients_with_fixed_noise(xp, rng, training, n_classes):
    from tinygan.backend import rng as backend_rng
    layer = PixelNoise(4, n_classes, dtype=F64).train(training)
    layer.params["weight"][...] = xp.asarray(rng.standard_normal(layer.params["weight"].shape))
    labels = None if n_classes is None else xp.asarray(np.array([2, 0, 2]))
    parameters = [(name, owner.params[k], owner.grads[k]) for name, owner, k in layer.named_parameters()]

    def forward(x):
        layer.rng = backend_rng(7)  # the same noise every call
        return layer.forward(x, labels)

    check_gradients(forward, layer.backward, xp.asarray(rng.standard_normal((3, 5, 6, 4))), parameters)


def test_pixel_noise_behaviour(xp):
    from tinygan.backend import rng as backend_rng
    x = xp.zeros((2, 64, 64, 3))
    layer = PixelNoise(3, 2, rng=backend_rng(3), dtype=F64)
    assert float(abs(layer.forward(x, xp.asarray(np.array([0, 1])))[0]).max()) == 0  # weights start at 0: y = x
    layer.params["weight"][...] = xp.asarray(np.array([[0.5, 1.0, 2.0], [0.0, 0.0, 0.0]]))
    layer.rng = backend_rng(3)
    y = to_host(layer.eval().forward(x, xp.asarray(np.array([0, 1])))[0])  # drawn in eval mode too
    assert float(abs(y[1]).max()) == 0  # class 1: no noise
    np.testing.assert_allclose(y[0].std(axis=(0, 1)), [0.5, 1.0, 2.0], rtol=0.05)  # one normal per pixel, scaled
    np.testing.assert_allclose(y[0, ..., 2], 4 * y[0, ..., 0])  # the same noise in every channel
    layer.rng = backend_rng(3)
    labels = xp.asarray(np.array([0, 1]))
    np.testing.assert_array_equal(to_host(layer.forward(x, labels)[0]), y)  # reproducible
    assert bool((to_host(layer.forward(x, labels)[0])[0] != y[0]).all())  # fresh noise at every call
    with pytest.raises(ValueError, match="PixelNoise: expected integer labels of shape"):
        layer.forward(x, xp.asarray(np.array([0, 1, 1])))


@pytest.mark.parametrize("training", [True, False])
def test_sine_waves_gradients(xp, rng, training):
    layer = SineWaves(6, periods=(2, 3, 5)).train(training)
    check_layer(layer, xp.asarray(rng.standard_normal((4, 12))))


def test_sine_waves_are_straight_and_evenly_spaced(xp):
    layer = SineWaves(64, periods=(8, 16))
    gains, phases = np.array([[1.0, 0.0, 0.0, 2.0]]), np.array([[0.25, 0.0, 0.0, 0.5]])
    waves = to_host(layer.forward(xp.asarray(np.concatenate([gains, phases], axis=1)))[0])[0]
    assert waves.shape == (64, 64, 4)
    rows = waves[..., 0]  # down the rows, period 8, phase pi / 4: the same along each row
    np.testing.assert_allclose(rows, rows[:, :1] * np.ones((1, 64)), atol=1e-12)
    np.testing.assert_allclose(rows[:, 0], np.sin(2 * np.pi * np.arange(64) / 8 + np.pi / 4), atol=1e-12)
    assert float(abs(waves[..., 1]).max()) == 0 and float(abs(waves[..., 2]).max()) == 0  # strength 0: no wave
    columns = waves[..., 3]  # across the columns, period 16, strength 2, phase pi / 2: the same down each column
    np.testing.assert_allclose(columns, np.ones((64, 1)) * 2 * np.cos(2 * np.pi * np.arange(64) / 16)[None], atol=1e-12)
    with pytest.raises(ValueError, match="SineWaves"):
        layer.forward(xp.zeros((1, 5)))


@pytest.mark.parametrize("layer", [Sigmoid(), Flatten(), Reshape((3, 8)), SpatialMean()])
def test_stateless_layer_gradients(xp, rng, layer):
    check_layer(layer, xp.asarray(rng.standard_normal((2, 4, 3, 2)) * 3))


@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 1, 2, 3)])
def test_bilinear_upsample_gradients(xp, rng, shape):
    check_layer(BilinearUpsample(), xp.asarray(rng.standard_normal(shape)))


def bilinear_loops(x):
    """Bilinear 2x upsampling by its definition: output pixel (i, j) samples the input at
    ((i + 1/2) / 2 - 1/2, (j + 1/2) / 2 - 1/2), edges repeated."""
    n, height, width, channels = x.shape
    out = np.zeros((n, 2 * height, 2 * width, channels))
    for i in range(2 * height):
        for j in range(2 * width):
            y, x_ = (i + 0.5) / 2 - 0.5, (j + 0.5) / 2 - 0.5
            top, left = int(np.floor(y)), int(np.floor(x_))
            fy, fx = y - top, x_ - left
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    out[:, i, j] += wy * wx * x[:, min(max(top + dy, 0), height - 1), min(max(left + dx, 0), width - 1)]
    return out


def test_bilinear_upsample_matches_its_definition(xp, rng):
    x = rng.standard_normal((2, 3, 5, 2))
    np.testing.assert_allclose(to_host(BilinearUpsample().forward(xp.asarray(x))[0]), bilinear_loops(x), atol=1e-12)
    flat = np.full((1, 3, 3, 1), 0.7)  # a constant stays constant, a ramp stays a ramp inside
    np.testing.assert_allclose(to_host(BilinearUpsample().forward(xp.asarray(flat))[0]), 0.7, atol=1e-12)


def test_spatial_mean_is_each_channels_mean(xp):
    x = xp.asarray(np.arange(2 * 2 * 3 * 2, dtype=F64).reshape(2, 2, 3, 2))
    np.testing.assert_allclose(to_host(SpatialMean().forward(x)[0]), [[5.0, 6.0], [17.0, 18.0]])


def test_weighted_mean_gradients_and_values(xp, rng):
    x, weights = xp.asarray(rng.standard_normal((2, 3, 4, 2))), rng.random((2, 3, 4))
    weights[1] = 0.0  # an image with no place picked
    layer, weights = WeightedMean(), xp.asarray(weights)
    check_gradients(lambda inputs: layer.forward(inputs, weights), layer.backward, x, [])
    expected = (to_host(x) * to_host(weights)[..., None]).sum(axis=(1, 2))
    np.testing.assert_allclose(to_host(layer.forward(x, weights)[0]), expected, atol=1e-12)
    np.testing.assert_array_equal(to_host(layer.forward(x, weights)[0])[1], 0.0)
    with pytest.raises(ValueError, match=r"WeightedMean: expected weights of shape \(2, 3, 4\)"):
        layer.forward(x, weights[:, :2])


@pytest.mark.parametrize("training", [True, False])
def test_minibatch_std_gradients(xp, rng, training):
    check_layer(MinibatchStd().train(training), xp.asarray(rng.standard_normal((5, 4)) * 2))


def test_minibatch_std_value(xp):
    x = xp.asarray([[0.0, 1.0], [2.0, 1.0]])  # stds 1 and 0
    y, _ = MinibatchStd(eps=0.0).forward(x)
    np.testing.assert_allclose(to_host(y), [[0.0, 1.0, 0.5], [2.0, 1.0, 0.5]])


def test_sigmoid_is_finite_for_large_inputs(xp):
    y, _ = Sigmoid().forward(xp.asarray([[-1e4, 0.0, 1e4]]))
    np.testing.assert_allclose(to_host(y), [[0.0, 0.5, 1.0]])


def small_stack(rng, dropout_seed=None):
    from tinygan.backend import rng as backend_rng
    return Sequential([
        Conv2D(1, 3, 3, 2, rng=rng, dtype=F64), BatchNorm(3, dtype=F64), PReLU(3, dtype=F64),
        Upsample(2), Conv2D(3, 2, 1, rng=rng, dtype=F64), Sigmoid(),
        Dropout(0.3, rng=backend_rng(dropout_seed)), Flatten(), Dense(2 * 6 * 6, 2, rng=rng, dtype=F64),
        Sigmoid()], name="stack")


@pytest.mark.parametrize("training", [True, False])
def test_sequential_stack_gradients(xp, rng, training):
    from tinygan.backend import rng as backend_rng
    model = small_stack(rng).train(training)
    dropout = model.layers[6]

    def reseed():
        dropout.rng = backend_rng(11)

    check_layer(model, xp.asarray(rng.standard_normal((3, 6, 6, 1))), before_forward=reseed,
                max_elementwise=40, rtol=1e-5)


def test_gradients_accumulate_until_zeroed(xp, rng):
    layer = Dense(3, 2, rng=rng, dtype=F64)
    x = xp.asarray(rng.standard_normal((4, 3)))
    dy = xp.ones((4, 2))
    for _ in range(2):
        _, cache = layer.forward(x)
        layer.backward(dy, cache)
    np.testing.assert_allclose(to_host(layer.grads["w"]), 2 * to_host(x.T @ dy))
    layer.zero_grad()
    assert float(abs(layer.grads["w"]).sum()) == 0


def test_sequential_names_are_unique():
    model = Sequential([Dense(2, 2), Dense(2, 2), Dense(2, 2)], name="m")
    assert [layer.name for layer in model.layers] == ["Dense", "Dense_1", "Dense_2"]
    assert [name for name, _, _ in model.named_parameters()][:3] == ["m/Dense.w", "m/Dense.b", "m/Dense_1.w"]


@pytest.mark.parametrize("layer,x,message", [
    (Conv2D(3, 4, name="conv1"), np.zeros((2, 8, 8), np.float32), r"conv1: expected a 4-D input of shape \(N, \?, \?, 3\), got shape \(2, 8, 8\)"),
    (Conv2D(3, 4, name="conv1"), np.zeros((2, 8, 8, 1), np.float32), r"conv1: expected input of shape \(N, \?, \?, 3\), got shape \(2, 8, 8, 1\)"),
    (Conv2D(3, 4, name="conv1"), np.zeros((2, 8, 8, 3), np.float64), "conv1: input dtype float64 does not match parameter dtype float32"),
    (Conv2D(3, 4, name="conv1"), np.zeros((2, 8, 8, 3), np.int64), "conv1: expected a floating-point input"),
    (Conv2D(3, 4, padding="valid", name="conv1"), np.zeros((2, 2, 2, 3), np.float32), "smaller than the 3x3 kernel"),
    (Dense(10, 4, name="fc"), np.zeros((2, 12), np.float32), r"fc: expected input of shape \(N, 10\), got shape \(2, 12\)"),
    (BatchNorm(8, name="bn"), np.zeros((2, 3, 8), np.float32), r"bn: expected input of shape \(N, 8\) or \(N, H, W, 8\)"),
    (PReLU(5, name="act"), np.zeros((2, 4), np.float32), r"act: slope shape \(5,\) does not fit input shape \(2, 4\)"),
    (Reshape((3, 3), name="rs"), np.zeros((2, 8), np.float32), r"rs: cannot reshape input of shape \(2, 8\) to \(N, 3, 3\)"),
    (Upsample(2, name="up"), "not an array", "up: expected an array, got str"),
])
def test_bad_input_names_layer_and_shapes(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        Conv2D(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be"):
        Conv2D(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        Upsample(1.5)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=1.0)


def test_skipped_gradients_change_nothing_else(xp, rng):
    """need_dx=False gives the same parameter gradients and no input gradient; a frozen
    model gives the same input gradient and adds no parameter gradient."""
    model = small_stack(rng, dropout_seed=3).eval()
    x = xp.asarray(rng.standard_normal((3, 6, 6, 1)))
    y, cache = model.forward(x)
    dy = xp.asarray(rng.standard_normal(y.shape))
    dx = to_host(model.backward(dy, cache))
    grads = {name: to_host(layer.grads[key]).copy() for name, layer, key in model.named_parameters()}
    model.zero_grad()
    assert model.backward(dy, cache, need_dx=False) is None
    for name, layer, key in model.named_parameters():
        np.testing.assert_array_equal(to_host(layer.grads[key]), grads[name], err_msg=name)
    model.zero_grad()
    np.testing.assert_array_equal(to_host(model.freeze().backward(dy, cache)), dx)
    assert all(float(abs(layer.grads[key]).sum()) == 0 for _, layer, key in model.named_parameters())
    assert not model.freeze(False).layers[0].frozen


def test_every_backward_takes_need_dx():
    """One rule for the input gradient: backward(dy, cache, need_dx=True) on every layer and model."""
    classes = [getattr(layers, name) for name in layers.__all__ if isinstance(getattr(layers, name), type)]
    classes = [cls for cls in classes if cls is not layers.Layer] + [Generator, Discriminator]
    assert len(classes) > 10  # the list is not empty by mistake
    for cls in classes:
        parameters = list(inspect.signature(cls.backward).parameters.values())
        assert [p.name for p in parameters[2:]] == ["cache", "need_dx"], cls.__name__
        assert parameters[3].default is True, cls.__name__


def test_sequential_skips_dx_even_when_its_first_layer_cannot(xp, rng):
    model = Sequential([Flatten(), Dense(12, 2, rng=rng, dtype=F64)])
    y, cache = model.forward(xp.asarray(rng.standard_normal((3, 4, 3))))
    dy = xp.asarray(rng.standard_normal(y.shape))
    assert model.backward(dy, cache).shape == (3, 4, 3)
    grads = {name: to_host(layer.grads[key]).copy() for name, layer, key in model.named_parameters()}
    model.zero_grad()
    assert model.backward(dy, cache, need_dx=False) is None
    for name, layer, key in model.named_parameters():
        np.testing.assert_array_equal(to_host(layer.grads[key]), grads[name], err_msg=name)
