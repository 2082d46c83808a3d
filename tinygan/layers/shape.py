"""Layers that only move values: nearest-neighbour Upsample, Flatten, SpatialMean, WeightedMean, Reshape and
JoinChannels."""
import math

from ..backend import get_xp
from ..fast import replaceable
from .base import Layer


@replaceable
def upsample_forward(x, factor):
    """x (N, H, W, C) -> (N, factor * H, factor * W, C), each pixel repeated factor x factor times."""
    return x.repeat(factor, axis=1).repeat(factor, axis=2)


@replaceable
def upsample_backward(dy, factor):
    """dy (N, fH, fW, C) -> dx (N, H, W, C): each factor x factor block of dy summed."""
    n, hf, wf, c = dy.shape
    return dy.reshape(n, hf // factor, factor, wf // factor, factor, c).sum(axis=(2, 4))


class Upsample(Layer):
    """Nearest-neighbour upsampling by an integer factor. x: (N, H, W, C) -> (N, fH, fW, C)."""

    def __init__(self, factor=2, name=None):
        super().__init__(name)
        if int(factor) != factor or factor < 1:
            raise ValueError(f"{self.name}: factor must be a positive integer, got {factor}")
        self.factor = int(factor)

    def forward(self, x):
        self.check_input(x, 4)
        return upsample_forward(x, self.factor), None

    def backward(self, dy, cache, need_dx=True):
        return upsample_backward(dy, self.factor)


def linear_2x_forward(x, axis):
    """x doubled along ``axis`` by linear interpolation (half-pixel centres, edges repeated): output
    2i is 3/4 x[i] + 1/4 x[i-1], output 2i+1 is 3/4 x[i] + 1/4 x[i+1] (x[-1] = x[0], x[n] = x[n-1])."""
    xp = get_xp()
    x = xp.moveaxis(x, axis, 0)
    before = xp.concatenate([x[:1], x[:-1]])  # x[i-1]
    after = xp.concatenate([x[1:], x[-1:]])   # x[i+1]
    y = xp.empty((2 * x.shape[0],) + x.shape[1:], x.dtype)
    y[0::2], y[1::2] = 0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after
    return xp.ascontiguousarray(xp.moveaxis(y, 0, axis))


def linear_2x_backward(dy, axis):
    """The gradient of :func:`linear_2x_forward`: each output's 3/4 to its own input, 1/4 to the
    neighbour it read (at the edges, the edge input itself)."""
    xp = get_xp()
    dy = xp.moveaxis(dy, axis, 0)
    even, odd = dy[0::2], dy[1::2]
    dx = 0.75 * (even + odd)
    dx[:-1] += 0.25 * even[1:]  # output 2i read x[i-1]
    dx[0] += 0.25 * even[0]     # output 0 read x[0] as its x[-1]
    dx[1:] += 0.25 * odd[:-1]   # output 2i+1 read x[i+1]
    dx[-1] += 0.25 * odd[-1]    # output 2n-1 read x[n-1] as its x[n]
    return xp.ascontiguousarray(xp.moveaxis(dx, 0, axis))


class BilinearUpsample(Layer):
    """Bilinear upsampling by 2 (half-pixel centres, edges repeated, as PyTorch's
    ``align_corners=False``): linear doubling along the rows, then along the columns.
    x: (N, H, W, C) -> (N, 2H, 2W, C). Unlike nearest-neighbour copies it leaves no 2x2 blocks:
    smooth features stay smooth."""

    def forward(self, x):
        self.check_input(x, 4)
        return linear_2x_forward(linear_2x_forward(x, 1), 2), None

    def backward(self, dy, cache, need_dx=True):
        return linear_2x_backward(linear_2x_backward(dy, 2), 1)


class Flatten(Layer):
    """x: (N, d1, d2, ...) -> (N, d1 * d2 * ...), in row-major (NHWC) order."""

    def forward(self, x):
        self.check_input(x)
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dy, cache, need_dx=True):
        return dy.reshape(cache)


class SpatialMean(Layer):
    """x: (N, H, W, C) -> y (N, C), the mean of each channel over the image: y = sum_hw x / (H W).
    Backward: dx = dy / (H W) at every pixel."""

    def forward(self, x):
        self.check_input(x, 4)
        return x.mean(axis=(1, 2)), x.shape

    def backward(self, dy, cache, need_dx=True):
        _, height, width, _ = cache
        return get_xp().broadcast_to((dy / (height * width))[:, None, None, :], cache).copy()


class WeightedMean(Layer):
    """x: (N, H, W, C) and weights w (N, H, W) -> y (N, C), each channel's weighted sum over the
    map: y = sum_hw w x (weights that sum to 1 give a mean over the places they pick).
    Backward: dx = w dy at every place; the weights are given, not learned."""
    second_input = True

    def forward(self, x, weights):
        self.check_input(x, 4)
        if getattr(weights, "shape", None) != x.shape[:3]:
            raise ValueError(f"{self.name}: expected weights of shape {tuple(x.shape[:3])}, "
                             f"got {getattr(weights, 'shape', type(weights).__name__)}")
        return (x * weights[..., None]).sum(axis=(1, 2)), weights

    def backward(self, dy, cache, need_dx=True):
        return cache[..., None] * dy[:, None, None, :]  # cache: the weights


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

    second_input = True

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
