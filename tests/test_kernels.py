"""The fused kernels (tinygan.fast.kernels) against their plain formulas in float64: on NumPy the
twins, on CuPy (when a GPU is there) the CUDA kernels themselves."""
import numpy as np
import pytest

from tinygan.fast import kernels
from tinygan.backend import to_host


def host(*arrays):
    return [None if a is None else to_host(a) for a in arrays]


@pytest.mark.parametrize("alpha", [[0.0, 0.25, 1.0], [0.3, 1.7, -0.4]])  # the second: a slope above 1
def test_prelu(xp, rng, alpha):
    alpha = np.array(alpha)
    x, dy = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    x[0] = 0.0
    on = [xp.asarray(a) for a in (x, dy, alpha)]
    y = kernels.prelu(on[0], on[2], xp.empty_like(on[0]))
    np.testing.assert_array_equal(to_host(y), np.where(x > 0, x, alpha * x))
    dx = xp.empty_like(on[0])
    slope_sums = kernels.prelu_backward(on[1], on[0], on[2], dx)
    np.testing.assert_allclose(to_host(dx), np.where(x > 0, dy, alpha * dy), rtol=1e-15)
    np.testing.assert_allclose(to_host(slope_sums), (dy * np.minimum(x, 0)).sum(0), rtol=1e-13)
    dx_only = xp.empty_like(on[0])
    assert kernels.prelu_backward(on[1], on[0], on[2], dx_only, slope_grad=False) is None
    np.testing.assert_array_equal(to_host(dx_only), to_host(dx))


def test_column_sums_and_norms(xp, rng):
    a, b, v = rng.standard_normal((7, 5)), rng.standard_normal((7, 5)), rng.standard_normal(9)
    np.testing.assert_allclose(to_host(kernels.square_sums(xp.asarray(a))), (a * a).sum(0), rtol=1e-13)
    np.testing.assert_allclose(to_host(kernels.product_sums(xp.asarray(a), xp.asarray(b))), (a * b).sum(0), rtol=1e-13)
    norm = kernels.l2_norm(xp.asarray(v))
    np.testing.assert_allclose(float(to_host(norm)), np.linalg.norm(v), rtol=1e-14)
    np.testing.assert_allclose(to_host(kernels.unit(xp.asarray(v), norm, 1e-12)), v / (np.linalg.norm(v) + 1e-12), rtol=1e-14)


def test_sample_product_sums(xp, rng):
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    out = xp.empty((3, 5))
    assert kernels.sample_product_sums(xp.asarray(a), xp.asarray(b), out) is out
    np.testing.assert_allclose(to_host(out), (a * b).sum(axis=1), rtol=1e-13)


@pytest.mark.parametrize("chunk", [1, 8, 10 ** 6])  # one row per chunk, two rows and a short last one, one chunk
def test_host_sums_in_chunks(xp, rng, monkeypatch, chunk):
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", chunk)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((7, 5))
    np.testing.assert_allclose(to_host(kernels.square_sums(xp.asarray(a))), (a * a).sum(0), rtol=1e-13)
    np.testing.assert_allclose(to_host(kernels.product_sums(xp.asarray(a), xp.asarray(b))), (a * b).sum(0), rtol=1e-13)
    slope_sums = kernels.prelu_backward(xp.asarray(b), xp.asarray(a), xp.full(5, 0.2), xp.empty((7, 5)))
    np.testing.assert_allclose(to_host(slope_sums), (b * np.minimum(a, 0)).sum(0), rtol=1e-13)


def test_batch_norm_kernels(xp, rng):
    c, count, eps, momentum = 4, 10.0, 1e-3, 0.9
    squares, mean = rng.random(c) * 5, rng.standard_normal(c)
    running = [rng.standard_normal(c), rng.random(c) + 0.5]
    on_running = [xp.asarray(r.copy()) for r in running]
    inv_std = kernels.batch_norm_statistics(xp.asarray(squares), xp.asarray(mean), count, eps, momentum, *on_running)
    var = squares / count
    np.testing.assert_allclose(to_host(inv_std), 1 / np.sqrt(var + eps), rtol=1e-14)
    np.testing.assert_allclose(to_host(on_running[0]), momentum * running[0] + (1 - momentum) * mean, rtol=1e-14)
    np.testing.assert_allclose(to_host(on_running[1]), momentum * running[1] + (1 - momentum) * var, rtol=1e-14)

    centred, gamma, beta = rng.standard_normal((6, c)), rng.standard_normal(c), rng.standard_normal(c)
    scale, shift = gamma / np.sqrt(var + eps), beta
    y = kernels.scale_shift(xp.asarray(centred), xp.asarray(scale), xp.asarray(shift), xp.empty((6, c)))
    np.testing.assert_allclose(to_host(y), centred * scale + shift, rtol=1e-13, atol=1e-15)

    sum_dy, sum_dy_centred = rng.standard_normal(c), rng.standard_normal(c)
    factors = kernels.batch_norm_coefficients(xp.asarray(gamma), inv_std, xp.asarray(sum_dy), xp.asarray(sum_dy_centred), count)
    inv = 1 / np.sqrt(var + eps)
    for got, want in zip(host(*factors), (gamma * inv, gamma * inv ** 3 * sum_dy_centred / count, gamma * inv * sum_dy / count)):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    dy = rng.standard_normal((6, c))
    dx = kernels.batch_norm_input_grad(xp.asarray(dy), xp.asarray(centred), *factors, xp.empty((6, c)))
    want = dy * gamma * inv - centred * gamma * inv ** 3 * sum_dy_centred / count - gamma * inv * sum_dy / count
    np.testing.assert_allclose(to_host(dx), want, rtol=1e-12, atol=1e-14)


def test_spectral_grad(xp, rng):
    g, v, u = rng.standard_normal((5, 3)), rng.standard_normal((5, 1)), rng.standard_normal((1, 3))
    got = kernels.spectral_grad(*(xp.asarray(a) for a in (g, v, u)), 0.7, 1.3, xp.empty((5, 3)))
    np.testing.assert_allclose(to_host(got), (g - 0.7 * v * u) / 1.3, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("pads,dilation,stride", [((1, 1, 1, 1), 1, 1), ((0, 1, 2, 0), 1, 2), ((2, 3, 2, 3), 2, 1)])
def test_im2col_reads_a_virtual_padding(xp, rng, pads, dilation, stride):
    x = rng.standard_normal((3, 4, 5, 2))
    top, bottom, left, right = pads
    spread = np.zeros((3, 3 * dilation + 1 + top + bottom, 4 * dilation + 1 + left + right, 2))
    spread[:, top:top + 3 * dilation + 1:dilation, left:left + 4 * dilation + 1:dilation] = x
    kernel = 3
    out_h, out_w = (spread.shape[1] - kernel) // stride + 1, (spread.shape[2] - kernel) // stride + 1
    block = (1, 3, 1, out_h)  # images 1-2, output rows from 1
    cols = xp.empty((2, out_h - 1, out_w, kernel, kernel, 2))
    kernels.im2col(xp.asarray(x), pads, dilation, block, kernel, stride, out_w, cols)
    want = np.empty(cols.shape)
    for b in range(2):
        for r in range(out_h - 1):
            for c in range(out_w):
                row, col = (1 + r) * stride, c * stride
                want[b, r, c] = spread[1 + b, row:row + kernel, col:col + kernel]
    np.testing.assert_array_equal(to_host(cols), want)
