"""Spectral normalisation of a weight (Miyato et al., 2018): use ``w / sigma(w)``, where
sigma is the largest singular value of the weight viewed as a matrix (fan_in, fan_out).

sigma is estimated by power iteration with a persistent unit vector ``u`` (fan_out,):
in training, each forward first moves ``u`` one step towards the top right-singular
vector (``v = normalise(W u)``, ``u = normalise(W^T v)``; no gradient flows through this
update), then uses ``sigma = |W u|``. In eval, ``u`` stays as it is. With ``u`` held
constant, ``sigma = |W u|`` is an exact function of W with gradient ``v u^T``
(``v = W u / |W u|``), so the backward pass below is exact, and gradchecks hold ``u``
fixed. ``W_sn = W / sigma`` gives::

    dL/dW = (G - <G, W_sn> v u^T) / sigma,   G = dL/dW_sn
"""
import numpy as np

from ..backend import get_xp
from ..fast import replaceable


@replaceable
def l2_norm(v):
    """|v| of a vector, as a 0-d array."""
    return get_xp().sqrt(v @ v)


@replaceable
def normalise(v, eps):
    """v / (|v| + eps): a vector scaled to length about 1."""
    return v / (l2_norm.plain(v) + eps)


@replaceable
def scale_weight(matrix, sigma):
    """matrix / sigma."""
    return matrix / sigma


@replaceable
def spectral_weight_grad(grad, v, u, inner, sigma):
    """(grad - inner * v u^T) / sigma for grad (fan_in, fan_out), v (fan_in,), u (fan_out,)."""
    return (grad - inner * v[:, None] * u[None, :]) / sigma


class SpectralNorm:
    """The power-iteration state of one weight and its forward/backward transform.

    Not a layer: Dense and Conv2D hold one (``spectral_norm=True``) and apply it to
    their weight ``w`` (any shape whose last axis is fan_out)."""

    def __init__(self, fan_out, rng, dtype, eps=1e-12):
        u = rng.standard_normal(fan_out)
        self.u = get_xp().asarray(u / np.linalg.norm(u), dtype=dtype)
        self.eps = eps

    def power_iteration(self, matrix):
        """Move ``u`` one step towards the top right-singular vector of ``matrix`` (fan_in, fan_out)."""
        v = normalise(matrix @ self.u, self.eps)
        self.u = normalise(matrix.T @ v, self.eps)  # a new array: caches keep the old one

    def forward(self, w, training):
        """w (..., fan_out) -> (w / sigma of the same shape, cache)."""
        matrix = w.reshape(-1, w.shape[-1])
        if training:
            self.power_iteration(matrix)
        u = self.u
        wu = matrix @ u
        sigma = l2_norm(wu) + self.eps
        w_sn = scale_weight(matrix, sigma).reshape(w.shape)
        return w_sn, (w_sn, sigma, wu / sigma, u)

    @staticmethod
    def backward(dw_sn, cache):
        """Gradient with respect to the raw weight, from the gradient of ``w / sigma``."""
        w_sn, sigma, v, u = cache
        matrix_grad = dw_sn.reshape(-1, dw_sn.shape[-1])
        inner = get_xp().vdot(matrix_grad, w_sn.reshape(matrix_grad.shape))
        return spectral_weight_grad(matrix_grad, v, u, inner, sigma).reshape(dw_sn.shape)
