"""Fast twins of the element-wise and small operations: upsampling, PReLU, Sigmoid, dense
products and column sums, the spectral norm's pieces, Adam and the weight average.

In the host set each splits its rows (or images, or a flat buffer) over the host threads
(:func:`tinygan.threads.run_parts`) and works in place with the fused kernels' NumPy twins;
in the device set the same code runs as one part and each fused kernel is one CUDA launch.
"""
from .. import threads
from ..backend import get_xp
from ..threads import run_parts, sum_parts
from . import kernels
from .sets import on_host_rows
from .rows import channel_rows, fold_channels, tile_channels


def upsample_forward(x, factor):
    """x (N, H, W, C) -> (N, factor * H, factor * W, C), each pixel repeated factor x factor times."""
    n, h, w, c = x.shape
    y = get_xp().empty((n, h, factor, w, factor, c), dtype=x.dtype)

    def images(n0, n1):
        y[n0:n1] = x[n0:n1, :, None, :, None, :]
    run_parts(images, n, y.size)
    return y.reshape(n, h * factor, w * factor, c)


def upsample_backward(dy, factor):
    """dy (N, fH, fW, C) -> dx (N, H, W, C): each factor x factor block summed."""
    n, hf, wf, c = dy.shape
    blocks = dy.reshape(n, hf // factor, factor, wf // factor, factor, c)
    if not on_host_rows():  # one reduction on CuPy
        return blocks.sum(axis=(2, 4))
    dx = get_xp().empty((n, hf // factor, wf // factor, c), dtype=dy.dtype)

    def images(n0, n1):  # f * f strided adds beat a sum over two inner axes
        dx[n0:n1] = blocks[n0:n1, :, 0, :, 0]
        for i in range(factor):
            for j in range(factor):
                if i or j:
                    dx[n0:n1] += blocks[n0:n1, :, i, :, j]
    run_parts(images, n, dy.size)
    return dx


def _per_channel(x, alpha):
    """x as :func:`channel_rows` and the slopes tiled along a row, when ``alpha`` holds one slope per
    channel (shape (C,) or (1, ..., C)); else None (other slope shapes take the plain way)."""
    if alpha.size != x.shape[-1]:
        return None
    rows = channel_rows(x, alpha.size)
    return rows, tile_channels(alpha.reshape(-1), rows)


def prelu_forward(x, alpha):
    """y = x where x > 0, alpha * x elsewhere, for one slope per channel; returns (y, x)."""
    per_channel = _per_channel(x, alpha)
    if per_channel is None:
        return NotImplemented
    rows, slopes = per_channel
    y = get_xp().empty_like(rows)
    run_parts(lambda n0, n1: kernels.prelu(rows[n0:n1], slopes, y[n0:n1]), rows.shape[0], rows.size)
    return y.reshape(x.shape), x


def prelu_backward(dy, x, alpha, need_dalpha=True):
    """(dx, dalpha of alpha's shape or None), for one slope per channel."""
    per_channel = _per_channel(x, alpha)
    if per_channel is None:
        return NotImplemented
    rows, slopes = per_channel
    dy_rows = dy.reshape(rows.shape)
    dx = get_xp().empty_like(dy_rows)

    def part(n0, n1):  # dx of these rows, and their share of the slopes' gradient (None when not needed)
        return kernels.prelu_backward(dy_rows[n0:n1], rows[n0:n1], slopes, dx[n0:n1], need_dalpha)
    total = sum_parts(part, rows.shape[0], rows.size)  # (rows.shape[1],), None when not needed
    dalpha = None if total is None else fold_channels(total, alpha.size).reshape(alpha.shape)
    return dx.reshape(x.shape), dalpha


def sigmoid_forward(x):
    """y = (1 + tanh(x / 2)) / 2, in place on the host threads."""
    xp, rows = get_xp(), x.reshape(x.shape[0], -1)
    y = xp.empty_like(rows)

    def part(n0, n1):
        xp.multiply(rows[n0:n1], 0.5, out=y[n0:n1])
        xp.tanh(y[n0:n1], out=y[n0:n1])
        y[n0:n1] += 1
        y[n0:n1] *= 0.5
    run_parts(part, rows.shape[0], 4 * rows.size)  # tanh costs several passes
    return y.reshape(x.shape)


def sigmoid_backward(dy, y):
    """dx = dy * y * (1 - y)."""
    rows = y.reshape(y.shape[0], -1)
    dy_rows, dx = dy.reshape(rows.shape), get_xp().empty_like(rows)

    def part(n0, n1):
        get_xp().subtract(1, rows[n0:n1], out=dx[n0:n1])
        dx[n0:n1] *= rows[n0:n1]
        dx[n0:n1] *= dy_rows[n0:n1]
    run_parts(part, rows.shape[0], rows.size)
    return dx.reshape(dy.shape)


def matmul(a, b):
    """a (M, K) @ b (K, N), split over the host threads (:func:`tinygan.threads.matmul`)."""
    return threads.matmul(a, b)


def column_sums(a):
    """Column sums (C,) of a (M, C), as a product with a vector of ones (:func:`kernels.column_sums`)."""
    return kernels.column_sums(a)


def l2_norm(v):
    """|v| as a 0-d array (one reduction kernel on CuPy: no read to the host)."""
    return kernels.l2_norm(v)


def normalise(v, eps):
    """v / (|v| + eps)."""
    return kernels.unit(v, kernels.l2_norm(v), eps)


def scale_weight(matrix, sigma):
    """matrix / sigma, by rows on the host threads."""
    out = get_xp().empty_like(matrix)
    run_parts(lambda r0, r1: get_xp().divide(matrix[r0:r1], sigma, out=out[r0:r1]), matrix.shape[0], matrix.size)
    return out


def spectral_weight_grad(grad, v, u, inner, sigma):
    """(grad - inner * v u^T) / sigma for grad (fan_in, fan_out), v (fan_in,), u (fan_out,), one fused
    kernel by rows on the host threads."""
    out, v = get_xp().empty_like(grad), v[:, None]
    run_parts(lambda r0, r1: kernels.spectral_grad(grad[r0:r1], v[r0:r1], u[None, :], inner, sigma, out[r0:r1]),
              grad.shape[0], grad.size)
    return out


def adam_update(param, grad, m, v, beta1, beta2, step_size, eps):
    """One Adam update of the flat buffers ``param``, ``m``, ``v`` in place (one kernel per part)."""
    run_parts(lambda i0, i1: kernels.adam(param[i0:i1], grad[i0:i1], m[i0:i1], v[i0:i1], beta1, beta2, step_size,
                                          eps), param.shape[0], param.size)


def moving_average(averaged, weights, decay):
    """averaged = decay * averaged + (1 - decay) * weights, in place, by parts of the flat buffers."""
    def part(i0, i1):
        averaged[i0:i1] *= decay
        averaged[i0:i1] += (1 - decay) * weights[i0:i1]
    run_parts(part, averaged.shape[0], 2 * averaged.size)


def fill_zeros(flat):
    """Set a flat buffer to zero, by parts."""
    run_parts(lambda i0, i1: flat[i0:i1].fill(0), flat.shape[0], flat.size)
