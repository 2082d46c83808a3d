"""Element-wise activations: PReLU (learnable slope), Sigmoid, Tanh, and Dropout."""
import numpy as np

from .. import kernels
from ..backend import get_xp, host_layout
from ..backend import rng as backend_rng
from ..threads import run_parts, sum_parts
from .base import Layer, channel_rows, fold_channels, sum_rows, tile_channels


def sum_to_shape(grad, shape):
    """Sum ``grad`` (N, *dims) over the batch axis and the axes where ``shape`` is 1,
    so that it matches a parameter of ``shape`` broadcast against ``dims``."""
    if tuple(grad.shape[grad.ndim - len(shape):]) == tuple(shape):  # no axis shared inside
        return sum_rows(grad.reshape(-1, int(np.prod(shape)))).reshape(shape)
    grad = grad.sum(axis=0)
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class PReLU(Layer):
    """y = x where x > 0, alpha * x elsewhere, with a learnable ``alpha``.

    ``alpha_shape`` broadcasts against one sample: ``(C,)`` (the default form, one slope
    per channel on the last axis), ``(H, W, C)`` (none shared, Keras' default) or
    ``(1, 1, C)`` (shared over the spatial axes). :meth:`keras` builds it from Keras'
    ``shared_axes``. x: (N, ...) -> y: same shape.
    """

    def __init__(self, alpha_shape, alpha_init=0.25, dtype=np.float32, name=None):
        super().__init__(name)
        self.alpha_shape = tuple(int(n) for n in np.atleast_1d(alpha_shape))
        self.add_param("alpha", np.full(self.alpha_shape, alpha_init, dtype=dtype))

    @classmethod
    def keras(cls, input_shape, shared_axes=None, **kwargs):
        """Keras-style: ``input_shape`` without the batch axis; ``shared_axes`` are
        1-based axes of the input (batch = 0) along which one slope is shared."""
        shape = list(input_shape)
        for axis in shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(f"PReLU: shared axis {axis} is outside 1..{len(shape)}")
            shape[axis - 1] = 1
        return cls(tuple(shape), **kwargs)

    def forward(self, x):
        self.check_input(x)
        if x.ndim < 1 + len(self.alpha_shape) or any(
                a not in (1, d) for a, d in zip(self.alpha_shape, x.shape[-len(self.alpha_shape):])):
            raise ValueError(f"{self.name}: slope shape {self.alpha_shape} does not fit input shape "
                             f"{tuple(x.shape)}; expected (N, ..., {', '.join(map(str, self.alpha_shape))})")
        rows, alpha = self._rows(x)
        y = get_xp().empty_like(rows)
        run_parts(lambda n0, n1: kernels.prelu(rows[n0:n1], alpha, y[n0:n1]), rows.shape[0], rows.size)
        return y.reshape(x.shape), x

    def backward(self, dy, cache, need_dx=True):
        x = cache
        rows, alpha = self._rows(x)
        dy_rows = dy.reshape(rows.shape)
        dx = get_xp().empty_like(dy_rows)

        def part(n0, n1):  # dx of these rows, and their share of the slopes' gradient (None when frozen)
            return kernels.prelu_backward(dy_rows[n0:n1], rows[n0:n1], alpha, dx[n0:n1], not self.frozen)
        total = sum_parts(part, rows.shape[0], rows.size)  # (rows.shape[1],), None when frozen
        if not self.frozen:
            alpha = self.params["alpha"]
            if alpha.size == x.shape[-1]:  # one slope per channel: rows of channel_rows, folded to (C,)
                total = fold_channels(total, alpha.size)
            self.grads["alpha"] += total.reshape(self.alpha_shape) if total.size == alpha.size else \
                sum_to_shape(total.reshape((1,) + x.shape[1:]), self.alpha_shape)
        return dx.reshape(x.shape)

    def _rows(self, x):
        """x as 2-D rows and the slopes along a row. One slope per channel: the rows of
        :func:`channel_rows` (wide rows of whole channel vectors on the host, the slopes tiled:
        NumPy's passes over a short row of slopes run faster than over a whole sample's).
        Else, on CuPy where the slopes cover whole trailing axes of x, rows of those axes and
        the slopes as they are; on the host, one row per sample with the slopes broadcast to one sample."""
        alpha = self.params["alpha"]
        if alpha.size == x.shape[-1]:
            rows = channel_rows(x, alpha.size)
            return rows, tile_channels(alpha.reshape(-1), rows)
        if not host_layout() and tuple(x.shape[x.ndim - alpha.ndim:]) == alpha.shape:
            return x.reshape(-1, alpha.size), alpha.reshape(-1)
        if tuple(x.shape[1:]) == alpha.shape:
            return x.reshape(x.shape[0], -1), alpha.reshape(-1)
        return x.reshape(x.shape[0], -1), get_xp().broadcast_to(alpha, x.shape[1:]).reshape(-1)


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2 to stay finite."""

    def forward(self, x):
        self.check_input(x)
        xp, rows = get_xp(), x.reshape(x.shape[0], -1)
        y = xp.empty_like(rows)

        def part(n0, n1):
            xp.multiply(rows[n0:n1], 0.5, out=y[n0:n1])
            xp.tanh(y[n0:n1], out=y[n0:n1])
            y[n0:n1] += 1
            y[n0:n1] *= 0.5
        run_parts(part, rows.shape[0], 4 * rows.size)  # tanh costs several passes
        return y.reshape(x.shape), y

    def backward(self, dy, cache, need_dx=True):
        y = cache
        dy_rows, dx = dy.reshape(y.shape), get_xp().empty_like(y)

        def part(n0, n1):
            get_xp().subtract(1, y[n0:n1], out=dx[n0:n1])
            dx[n0:n1] *= y[n0:n1]
            dx[n0:n1] *= dy_rows[n0:n1]
        run_parts(part, y.shape[0], y.size)
        return dx.reshape(dy.shape)


class Tanh(Layer):
    def forward(self, x):
        self.check_input(x)
        y = get_xp().tanh(x)
        return y, y

    def backward(self, dy, cache, need_dx=True):
        y = cache
        return dy * (1 - y * y)


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
