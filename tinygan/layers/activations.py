"""Element-wise activations: PReLU (learnable slope), Sigmoid, and Dropout."""
import numpy as np

from ..backend import get_xp
from ..backend import rng as backend_rng
from ..fast import replaceable
from .base import Layer


@replaceable
def prelu_forward(x, alpha):
    """y = x where x > 0, alpha * x elsewhere (alpha broadcast against one sample); returns (y, x)."""
    return get_xp().where(x > 0, x, alpha * x), x


@replaceable
def prelu_backward(dy, x, alpha, need_dalpha=True):
    """(dx, dalpha of alpha's shape, or None): dx = dy where x > 0, alpha * dy elsewhere;
    dalpha = dy * min(x, 0) summed over the batch and every axis alpha is broadcast along."""
    xp = get_xp()
    dx = xp.where(x > 0, dy, alpha * dy)
    return dx, sum_to_shape(dy * xp.minimum(x, 0), alpha.shape) if need_dalpha else None


def sum_to_shape(grad, shape):
    """Sum ``grad`` (N, *dims) over the batch axis and the axes where ``shape`` is 1 (or missing),
    so that it matches a parameter of ``shape`` broadcast against ``dims``."""
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


@replaceable
def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2 to stay finite."""
    return (1 + get_xp().tanh(x / 2)) / 2


@replaceable
def sigmoid_backward(dy, y):
    """dx = dy * y * (1 - y)."""
    return dy * y * (1 - y)


class PReLU(Layer):
    """y = x where x > 0, alpha * x elsewhere, with a learnable ``alpha``.

    ``alpha_shape`` broadcasts against one sample: ``(C,)`` (the default form, one slope
    per channel on the last axis), ``(H, W, C)`` (none shared, Keras' default) or
    ``(1, 1, C)`` (shared over the spatial axes). x: (N, ...) -> y: same shape.
    """

    def __init__(self, alpha_shape, alpha_init=0.25, dtype=np.float32, name=None):
        super().__init__(name)
        self.alpha_shape = tuple(int(n) for n in np.atleast_1d(alpha_shape))
        self.add_param("alpha", np.full(self.alpha_shape, alpha_init, dtype=dtype))

    def forward(self, x):
        self.check_input(x)
        if x.ndim < 1 + len(self.alpha_shape) or any(
                a not in (1, d) for a, d in zip(self.alpha_shape, x.shape[-len(self.alpha_shape):])):
            raise ValueError(f"{self.name}: slope shape {self.alpha_shape} does not fit input shape "
                             f"{tuple(x.shape)}; expected (N, ..., {', '.join(map(str, self.alpha_shape))})")
        return prelu_forward(x, self.params["alpha"])

    def backward(self, dy, cache, need_dx=True):
        dx, dalpha = prelu_backward(dy, cache, self.params["alpha"], not self.frozen)
        if dalpha is not None:
            self.grads["alpha"] += dalpha
        return dx


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)). x: (N, ...) -> y: same shape."""

    def forward(self, x):
        self.check_input(x)
        y = sigmoid_forward(x)
        return y, y

    def backward(self, dy, cache, need_dx=True):
        return sigmoid_backward(dy, cache)


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``rate`` and
    scale the rest by 1 / (1 - rate); in eval, the identity. Masks come from
    ``self.rng`` (a backend generator, see :func:`tinygan.backend.rng`), so a seeded
    generator makes them reproducible. x: (N, ...) -> y: same shape."""

    def __init__(self, rate, rng=None, name=None):
        super().__init__(name)
        if not 0 <= rate < 1:
            raise ValueError(f"{self.name}: rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.rng = rng

    def forward(self, x):
        self.check_input(x)
        if not self.training or self.rate == 0:
            return x, None
        if self.rng is None:
            self.rng = backend_rng()
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.rate))
        return x * mask, mask

    def backward(self, dy, cache, need_dx=True):
        mask = cache
        return dy if mask is None else dy * mask
