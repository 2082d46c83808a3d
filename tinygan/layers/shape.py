"""Layers that only move values: nearest-neighbour Upsample, Flatten, Reshape and JoinChannels."""
import math

from ..backend import get_xp, host_layout
from ..threads import run_parts
from .base import Layer


class Upsample(Layer):
    """Nearest-neighbour upsampling by an integer factor. x: (N, H, W, C) -> (N, fH, fW, C)."""

    def __init__(self, factor=2, name=None):
        super().__init__(name)
        if int(factor) != factor or factor < 1:
            raise ValueError(f"{self.name}: factor must be a positive integer, got {factor}")
        self.factor = int(factor)

    def forward(self, x):
        self.check_input(x, 4)
        n, h, w, c = x.shape
        f = self.factor
        y = get_xp().empty((n, h, f, w, f, c), dtype=x.dtype)

        def images(n0, n1):
            y[n0:n1] = x[n0:n1, :, None, :, None, :]
        run_parts(images, n, y.size)
        return y.reshape(n, h * f, w * f, c), None

    def backward(self, dy, cache, need_dx=True):
        n, hf, wf, c = dy.shape
        f = self.factor
        blocks = dy.reshape(n, hf // f, f, wf // f, f, c)
        if not host_layout():  # one reduction on CuPy
            return blocks.sum(axis=(2, 4))
        dx = get_xp().empty((n, hf // f, wf // f, c), dtype=dy.dtype)

        def images(n0, n1):  # f * f strided adds beat a sum over two inner axes
            dx[n0:n1] = blocks[n0:n1, :, 0, :, 0]
            for i in range(f):
                for j in range(f):
                    if i or j:
                        dx[n0:n1] += blocks[n0:n1, :, i, :, j]
        run_parts(images, n, dy.size)
        return dx


class Flatten(Layer):
    """x: (N, d1, d2, ...) -> (N, d1 * d2 * ...), in row-major (NHWC) order."""

    def forward(self, x):
        self.check_input(x)
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dy, cache, need_dx=True):
        return dy.reshape(cache)


class Reshape(Layer):
    """x: (N, ...) -> (N, *shape); the per-sample size must match."""

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = tuple(shape)

    def forward(self, x):
        self.check_input(x)
        if math.prod(x.shape[1:]) != math.prod(self.shape):
            raise ValueError(f"{self.name}: cannot reshape input of shape {tuple(x.shape)} "
                             f"to (N, {', '.join(map(str, self.shape))})")
        return x.reshape((x.shape[0],) + self.shape), x.shape

    def backward(self, dy, cache, need_dx=True):
        return dy.reshape(cache)


class JoinChannels(Layer):
    """Appends a second input's channels to x: forward(x, extra) with x (N, H, W, C) and
    extra (N, H, W, E) -> (N, H, W, C + E). The extra input is data (a layout map): the
    backward returns the gradient of x only. A Sequential hands it its second input, as it
    hands labels to class-conditional layers."""

    takes_labels = True

    def __init__(self, channels, name=None):
        super().__init__(name)
        self.channels = channels

    def forward(self, x, extra):
        want = (*x.shape[:3], self.channels)
        if getattr(extra, "shape", None) != want:
            raise ValueError(f"{self.name}: expected a second input of shape {want}, got "
                             f"{getattr(extra, 'shape', type(extra).__name__)}")
        return get_xp().concatenate([x, extra.astype(x.dtype, copy=False)], axis=3), x.shape[3]

    def backward(self, dy, cache, need_dx=True):
        return dy[..., :cache]
