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

from .. import kernels
from ..backend import get_xp
from ..threads import run_parts


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
        v = matrix @ self.u
        v = kernels.unit(v, kernels.l2_norm(v), self.eps)
        u = matrix.T @ v
        self.u = kernels.unit(u, kernels.l2_norm(u), self.eps)  # a new array: caches keep the old one

    def forward(self, w, training):
        """w (..., fan_out) -> (w / sigma of the same shape, cache)."""
        matrix = w.reshape(-1, w.shape[-1])
        if training:
            self.power_iteration(matrix)
        u = self.u
        wu = matrix @ u
        sigma = kernels.l2_norm(wu) + self.eps
        w_sn = get_xp().empty_like(matrix)
        run_parts(lambda r0, r1: get_xp().divide(matrix[r0:r1], sigma, out=w_sn[r0:r1]), matrix.shape[0], matrix.size)
        w_sn = w_sn.reshape(w.shape)
        return w_sn, (w_sn, sigma, wu / sigma, u)

    @staticmethod
    def backward(dw_sn, cache):
        """Gradient with respect to the raw weight, from the gradient of ``w / sigma``."""
        w_sn, sigma, v, u = cache
        matrix_grad = dw_sn.reshape(-1, dw_sn.shape[-1])
        inner = get_xp().vdot(matrix_grad, w_sn.reshape(matrix_grad.shape))
        grad, v = get_xp().empty_like(matrix_grad), v[:, None]
        run_parts(lambda r0, r1: kernels.spectral_grad(matrix_grad[r0:r1], v[r0:r1], u[None, :], inner, sigma,
                                                       grad[r0:r1]), grad.shape[0], grad.size)
        return grad.reshape(dw_sn.shape)
