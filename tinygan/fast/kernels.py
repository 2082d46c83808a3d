"""Fused kernels of the fast implementations, each with a NumPy twin of the same formula.

On CuPy each function is one CUDA kernel (a ``cupy.ElementwiseKernel``, or a
``cupy.ReductionKernel`` for the column sums, compiled at first use): one launch and one
sweep over memory instead of the three to six of the plain array form. On NumPy the twin
computes the same formula in a few in-place NumPy operations into the caller's output; the
tests compare both against the layers' plain definitions in float64. Arguments broadcast as
in NumPy: a per-feature vector against (rows, features).
"""
import contextlib

import numpy

from ..backend import backend_name, get_xp

_ones = {}  # (length, dtype, backend) -> a vector of ones, made once
CHUNK_ELEMENTS = 1 << 18  # values per chunk of a product summed on the host (1 MB of float32)


def column_sums(matrix):
    """Column sums of a 2-D array (M, C), as a product with a vector of ones (kept between
    calls): for a tall, narrow array this BLAS call is about ten times faster than
    ``matrix.sum(axis=0)``."""
    xp = get_xp()
    key = (matrix.shape[0], matrix.dtype.str, xp.__name__)
    if key not in _ones:
        _ones[key] = xp.ones(matrix.shape[0], dtype=matrix.dtype)
    return _ones[key] @ matrix


_CUDA = {}  # name -> compiled CuPy kernel, made at first use

_SOURCES = {
    "prelu": ("T x, T alpha", "T y", "y = x > 0 ? x : alpha * x"),
    "prelu_input_grad": ("T dy, T x, T alpha", "T dx", "dx = x > 0 ? dy : alpha * dy"),
    "batch_norm_statistics": (
        "T square_sums, T mean, T count, T eps, T momentum", "T inv_std, T running_mean, T running_var",
        "T var = square_sums / count; inv_std = 1 / sqrt(var + eps);"
        " running_mean = momentum * running_mean + (1 - momentum) * mean;"
        " running_var = momentum * running_var + (1 - momentum) * var"),
    "scale_shift": ("T x, T scale, T shift", "T y", "y = x * scale + shift"),
    "batch_norm_coefficients": (
        "T gamma, T inv_std, T sum_dy, T sum_dy_centred, T count", "T scale, T centred_coef, T shift",
        "scale = gamma * inv_std; centred_coef = scale * inv_std * inv_std * sum_dy_centred / count;"
        " shift = scale * sum_dy / count"),
    "batch_norm_input_grad": ("T dy, T centred, T scale, T centred_coef, T shift", "T dx",
                              "dx = dy * scale - centred * centred_coef - shift"),
    "unit": ("T v, T norm, T eps", "T out", "out = v / (norm + eps)"),
    "adam": ("T grad, T beta1, T beta2, T step_size, T eps", "T param, T m, T v",
             "m = beta1 * m + (1 - beta1) * grad; v = beta2 * v + (1 - beta2) * grad * grad;"
             " param -= step_size * m / (sqrt(v) + eps)"),
    "spectral_grad": ("T g, T v, T u, T inner, T sigma", "T out", "out = (g - inner * v * u) / sigma"),
}
_IM2COL = (
    "raw T x, int32 height, int32 width, int32 channels, int32 out_w, int32 row0, int32 rows, int32 kernel,"
    " int32 stride, int32 dilation, int32 top, int32 left", "T cols",
    "int c = i % channels; int t = i / channels; int kj = t % kernel; t /= kernel; int ki = t % kernel;"
    " t /= kernel; int ow = t % out_w; t /= out_w; int oh = row0 + t % rows; int n = t / rows;"
    " int qh = oh * stride + ki - top, qw = ow * stride + kj - left;"  # in the spread-out source
    " T value = 0;"
    " if (qh >= 0 && qw >= 0 && qh % dilation == 0 && qw % dilation == 0 && qh / dilation < height"
    "     && qw / dilation < width)"
    "     value = x[((n * height + qh / dilation) * width + qw / dilation) * channels + c];"
    " cols = value")
_REDUCTIONS = {  # sums of a mapped value over the axis given at the call (columns: axis 0)
    "square_sums": ("T x", "T sums", "x * x"),
    "product_sums": ("T x, T y", "T sums", "x * y"),
    "prelu_slope_sums": ("T dy, T x", "T sums", "x > 0 ? (T)0 : dy * x"),
}


CUDA_KERNELS = tuple(sorted([*_SOURCES, *_REDUCTIONS, "im2col", "l2_norm"]))  # every custom CuPy kernel


_host_launch = {"wrap": None}  # set by host_launches


@contextlib.contextmanager
def host_launches(wrap):
    """Within this block every kernel function takes its CUDA path on NumPy too, calling
    ``wrap(kernel)`` in place of each kernel (the stand-in takes the kernel's arguments, NumPy
    arrays, and returns what the kernel would): how bench/device_check.py replays every launch as
    CuPy makes it and runs the kernel's body on the host, without a GPU."""
    _host_launch["wrap"] = wrap
    try:
        yield
    finally:
        _host_launch["wrap"] = None


def _launches_kernels():
    """True where the kernel functions launch CUDA kernels: on CuPy, and inside :func:`host_launches`."""
    return backend_name() != "numpy" or _host_launch["wrap"] is not None


def cuda_kernel(name):
    """The CuPy kernel called ``name`` (one of :data:`CUDA_KERNELS`), compiled at its first use
    (inside :func:`host_launches`, its stand-in)."""
    if name not in _CUDA:
        import cupy
        if name == "im2col":
            _CUDA[name] = cupy.ElementwiseKernel(*_IM2COL, "tinygan_im2col")
        elif name == "l2_norm":
            _CUDA[name] = cupy.ReductionKernel("T x", "T norm", "x * x", "a + b", "norm = sqrt(a)", "0", "tinygan_l2_norm")
        elif name in _REDUCTIONS:
            inputs, outputs, mapped = _REDUCTIONS[name]
            _CUDA[name] = cupy.ReductionKernel(inputs, outputs, mapped, "a + b", "sums = a", "0", f"tinygan_{name}")
        else:
            inputs, outputs, body = _SOURCES[name]
            _CUDA[name] = cupy.ElementwiseKernel(inputs, outputs, body, f"tinygan_{name}")
    wrap = _host_launch["wrap"]
    return _CUDA[name] if wrap is None else wrap(_CUDA[name])


def prelu(x, alpha, out):
    """out = x where x > 0, alpha * x elsewhere; returns out."""
    if _launches_kernels():
        return cuda_kernel("prelu")(x, alpha, out)
    if (alpha <= 1).all():  # then x > 0 exactly where x >= alpha * x: one max
        numpy.multiply(x, alpha, out=out)
        return numpy.maximum(out, x, out=out)
    numpy.minimum(x, 0, out=out)  # alpha * min(x, 0) + max(x, 0): no masks (they are slow)
    out *= alpha
    out += numpy.maximum(x, 0)
    return out


def prelu_backward(dy, x, alpha, dx, slope_grad=True):
    """dx = dy where x > 0, alpha * dy elsewhere (written into ``dx``) for rows (M, W); returns
    the column sums (W,) of dy * min(x, 0), the slopes' gradient (None without ``slope_grad``)."""
    if _launches_kernels():
        cuda_kernel("prelu_input_grad")(dy, x, alpha, dx)
        return cuda_kernel("prelu_slope_sums")(dy, x, axis=0) if slope_grad else None
    numpy.greater(x, 0, out=dx)  # 1 where x > 0, else 0; arithmetic, not a mask (masks are slow)
    if (alpha >= 0).all() and (alpha <= 1).all():
        numpy.maximum(dx, alpha, out=dx)  # the slope: max(alpha, [x > 0]), 1 where x > 0, else alpha
    else:
        dx *= 1 - alpha
        dx += alpha
    dx *= dy
    if not slope_grad:
        return None
    return _chunked_product_sums(lambda r0, r1: (numpy.minimum(x[r0:r1], 0), dy[r0:r1]), x.shape)


def square_sums(rows):
    """Column sums of rows * rows: (M, W) -> (W,)."""
    if _launches_kernels():
        return cuda_kernel("square_sums")(rows, axis=0)
    return _chunked_product_sums(lambda r0, r1: (rows[r0:r1], rows[r0:r1]), rows.shape)


def product_sums(a, b):
    """Column sums of a * b: (M, W), (M, W) -> (W,)."""
    if _launches_kernels():
        return cuda_kernel("product_sums")(a, b, axis=0)
    return _chunked_product_sums(lambda r0, r1: (a[r0:r1], b[r0:r1]), a.shape)


def sample_product_sums(a, b, out):
    """Each sample's sums of a * b over its rows: (N, R, W), (N, R, W) -> ``out`` (N, W), returned.
    On the host ``numpy.einsum`` (no product array); on CuPy the product_sums reduction over axis 1
    (CuPy's einsum takes no ``out``)."""
    if _launches_kernels():
        out[...] = cuda_kernel("product_sums")(a, b, axis=1)
        return out
    return numpy.einsum("nrw,nrw->nw", a, b, out=out)


def _chunked_product_sums(factors, shape):
    """Column sums (W,) of the product of two (M, W) arrays whose rows r0:r1 ``factors(r0, r1)``
    returns, by ``numpy.einsum`` (a product summed without making it: 2-3x faster than a product
    and a sum) in chunks of about CHUNK_ELEMENTS values: a made factor stays small and in cache,
    and each column is summed in float32 along at most a chunk's rows before the chunks' sums add."""
    rows, width = shape
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    total = None
    for r0 in range(0, rows, step):
        sums = numpy.einsum("ij,ij->j", *factors(r0, min(r0 + step, rows)))
        total = sums if total is None else numpy.add(total, sums, out=total)
    return total


def batch_norm_statistics(square_sums, mean, count, eps, momentum, running_mean, running_var):
    """A batch's (C,) statistics: returns inv_std = 1 / sqrt(var + eps) with var =
    square_sums / count, and moves the running mean and variance towards mean and var in place."""
    if _launches_kernels():
        inv_std = get_xp().empty_like(mean)
        cuda_kernel("batch_norm_statistics")(square_sums, mean, count, eps, momentum, inv_std, running_mean, running_var)
        return inv_std
    var = square_sums / count
    running_mean *= momentum
    running_mean += (1 - momentum) * mean
    running_var *= momentum
    running_var += (1 - momentum) * var
    return 1 / numpy.sqrt(var + eps)


def scale_shift(x, scale, shift, y):
    """y = x * scale + shift, written into ``y`` (a BatchNorm's output from x - mean)."""
    if _launches_kernels():
        return cuda_kernel("scale_shift")(x, scale, shift, y)
    numpy.multiply(x, scale, out=y)
    y += shift
    return y


def batch_norm_coefficients(gamma, inv_std, sum_dy, sum_dy_centred, count):
    """(C,) factors of a training BatchNorm's input gradient from its cached x - mean ("centred",
    x_hat = centred * inv_std): scale = gamma * inv_std, centred_coef = scale * inv_std**2 *
    sum(dy * centred) / count (that is, scale * sum(dy * x_hat) / count per unit of x_hat),
    shift = scale * sum(dy) / count."""
    if _launches_kernels():
        return cuda_kernel("batch_norm_coefficients")(gamma, inv_std, sum_dy, sum_dy_centred, count)
    scale = gamma * inv_std
    return scale, scale * inv_std * inv_std * sum_dy_centred / count, scale * sum_dy / count


def batch_norm_input_grad(dy, centred, scale, centred_coef, shift, dx):
    """dx = dy * scale - centred * centred_coef - shift, written into ``dx``."""
    if _launches_kernels():
        return cuda_kernel("batch_norm_input_grad")(dy, centred, scale, centred_coef, shift, dx)
    numpy.multiply(dy, scale, out=dx)
    dx -= centred * centred_coef
    dx -= shift
    return dx


def l2_norm(v):
    """The Euclidean norm of a vector, as a 0-d array (on the device: no read to the host)."""
    if _launches_kernels():
        return cuda_kernel("l2_norm")(v)
    return numpy.sqrt(numpy.dot(v, v))


def unit(v, norm, eps):
    """v / (norm + eps): a vector scaled to length about 1."""
    if _launches_kernels():
        return cuda_kernel("unit")(v, norm, eps)
    return v / (norm + eps)


def spectral_grad(g, v, u, inner, sigma, out):
    """(g - inner * v u^T) / sigma for g (fan_in, fan_out), v (fan_in, 1), u (1, fan_out),
    written into ``out``: the gradient of the raw weight from that of the spectrally normalised one."""
    if _launches_kernels():
        return cuda_kernel("spectral_grad")(g, v, u, inner, sigma, out)
    numpy.multiply(g, 1 / sigma, out=out)
    out -= (inner / sigma * v) * u
    return out


def adam(param, grad, m, v, beta1, beta2, step_size, eps):
    """One Adam update of ``param``, ``m`` and ``v`` in place: m = beta1 m + (1 - beta1) g,
    v = beta2 v + (1 - beta2) g^2, param -= step_size m / (sqrt(v) + eps)."""
    if _launches_kernels():
        return cuda_kernel("adam")(grad, beta1, beta2, step_size, eps, param, m, v)
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    denominator = numpy.sqrt(v)
    denominator += eps
    numpy.divide(m, denominator, out=denominator)
    denominator *= step_size
    param -= denominator


def im2col(x, pads, dilation, block, kernel, stride, out_w, cols):
    """The columns of one block of a conv's output pixels, read from x (N, H, W, C) spread
    out by ``dilation`` (dilation - 1 zeros between values) and zero-padded by ``pads``
    (top, bottom, left, right), without making that padded array:
    cols (n1 - n0, h1 - h0, out_w, k, k, C)[b, r, c, i, j, :] = padded[n0 + b, (h0 + r) * stride + i,
    c * stride + j, :] for block = (n0, n1, h0, h1). Written into ``cols``; returns it."""
    n0, n1, h0, h1 = block
    if _launches_kernels():
        height, width, channels = x.shape[1:]
        part = get_xp().ascontiguousarray(x[n0:n1])  # the kernel indexes it as C-contiguous
        return cuda_kernel("im2col")(part, height, width, channels, out_w, h0, h1 - h0, kernel, stride, dilation,
                               pads[0], pads[2], cols)
    top, bottom, left, right = pads
    n, height, width, channels = x.shape
    spread = numpy.zeros((n1 - n0, (height - 1) * dilation + 1 + top + bottom,
                          (width - 1) * dilation + 1 + left + right, channels), dtype=x.dtype)
    spread[:, top:top + (height - 1) * dilation + 1:dilation, left:left + (width - 1) * dilation + 1:dilation] = x[n0:n1]
    part = spread[:, h0 * stride:]
    s_n, s_h, s_w, s_c = part.strides
    cols[...] = numpy.lib.stride_tricks.as_strided(part, cols.shape, (s_n, s_h * stride, s_w * stride, s_h, s_w, s_c))
    return cols
