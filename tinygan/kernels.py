"""Fused elementwise kernels, each with a NumPy twin of the same formula.

On CuPy each function is one CUDA kernel (a ``cupy.ElementwiseKernel``, compiled at first
use): one launch and one sweep over memory instead of the four or five of the plain array
form. On NumPy the twin computes the same formula in a few in-place NumPy operations into
the caller's output; the tests compare both against the layers' plain definitions in float64.
Arguments broadcast as in NumPy: a per-feature vector against (rows, features).
"""
import numpy

from .backend import backend_name, get_xp

_CUDA = {}  # name -> compiled cupy.ElementwiseKernel

_SOURCES = {
    "prelu": ("T x, T alpha", "T y", "y = x > 0 ? x : alpha * x"),
    "prelu_backward": ("T dy, T x, T alpha", "T dx, T negative_dy",
                       "dx = x > 0 ? dy : alpha * dy; negative_dy = x > 0 ? (T)0 : dy * x"),
    "prelu_input_grad": ("T dy, T x, T alpha", "T dx", "dx = x > 0 ? dy : alpha * dy"),
}


def _cuda(name):
    if name not in _CUDA:
        import cupy
        inputs, outputs, body = _SOURCES[name]
        _CUDA[name] = cupy.ElementwiseKernel(inputs, outputs, body, f"tinygan_{name}")
    return _CUDA[name]


def prelu(x, alpha, out):
    """out = x where x > 0, alpha * x elsewhere; returns out."""
    if backend_name() != "numpy":
        return _cuda("prelu")(x, alpha, out)
    if (alpha <= 1).all():  # then x > 0 exactly where x >= alpha * x: one max
        numpy.multiply(x, alpha, out=out)
        return numpy.maximum(out, x, out=out)
    numpy.minimum(x, 0, out=out)  # alpha * min(x, 0) + max(x, 0): no masks (they are slow)
    out *= alpha
    out += numpy.maximum(x, 0)
    return out


def prelu_backward(dy, x, alpha, dx, slope_grad=True):
    """dx = dy where x > 0, alpha * dy elsewhere (written into ``dx``); returns
    dy * min(x, 0), whose sum over the batch is the slopes' gradient (None without ``slope_grad``)."""
    if backend_name() != "numpy":
        if not slope_grad:
            _cuda("prelu_input_grad")(dy, x, alpha, dx)
            return None
        negative_dy = get_xp().empty_like(dx)
        _cuda("prelu_backward")(dy, x, alpha, dx, negative_dy)
        return negative_dy
    numpy.greater(x, 0, out=dx)  # 1 where x > 0, else 0; arithmetic, not a mask (masks are slow)
    dx *= 1 - alpha
    dx += alpha  # the slope: 1 where x > 0, else alpha
    dx *= dy
    if not slope_grad:
        return None
    negative_dy = numpy.minimum(x, 0)
    negative_dy *= dy
    return negative_dy
