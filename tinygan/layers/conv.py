"""2-D convolution in NHWC layout: im2col and one matrix product.

x (N, H, W, C) is zero-padded, and row p of the im2col matrix (N * Ho * Wo, k * k * C) holds the
k x k window that output pixel p reads (taps outer, channels inner). Then the convolution is one
product with the weights seen as a (k * k * C, F) matrix, and its backward two more:

    y = cols @ w          dw = cols^T @ dy          dcols = dy @ w^T,   dx = col2im(dcols)

where col2im adds each window's gradient back where the window was read from. This is the
specification; the fast twins (:mod:`tinygan.fast.conv`: blocks that stay in cache, host threads,
phases, virtual padding) run instead unless ``TINYGAN_KERNELS=plain``, and are tested against it.
"""
import numpy as np

from ..backend import get_xp
from ..fast import replaceable
from ..init import get_initialiser
from .base import Layer
from .spectral import SpectralNorm


def same_padding(size, kernel, stride):
    """TensorFlow/Keras 'same' padding (before, after) for one axis: output = ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad(x, pads):
    """x (N, H, W, C) zero-padded by pads = (top, bottom, left, right)."""
    top, bottom, left, right = pads
    return get_xp().pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def output_size(padded_shape, kernel, stride):
    """(Ho, Wo) of a k x k conv with ``stride`` over an input padded to (N, Hp, Wp, C)."""
    return (padded_shape[1] - kernel) // stride + 1, (padded_shape[2] - kernel) // stride + 1


def im2col(x_pad, kernel, stride):
    """x_pad (N, Hp, Wp, C) -> cols (N * Ho * Wo, k * k * C): one strided slice per kernel tap."""
    n, _, _, c = x_pad.shape
    out_h, out_w = output_size(x_pad.shape, kernel, stride)
    cols = get_xp().empty((n, out_h, out_w, kernel, kernel, c), dtype=x_pad.dtype)
    for i in range(kernel):
        for j in range(kernel):
            cols[:, :, :, i, j] = x_pad[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
    return cols.reshape(n * out_h * out_w, kernel * kernel * c)


def col2im(dcols, padded_shape, kernel, stride):
    """The adjoint of :func:`im2col`: dcols (N * Ho * Wo, k * k * C) -> dx_pad (N, Hp, Wp, C)."""
    n, _, _, c = padded_shape
    out_h, out_w = output_size(padded_shape, kernel, stride)
    dcols = dcols.reshape(n, out_h, out_w, kernel, kernel, c)
    dx_pad = get_xp().zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            dx_pad[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += dcols[:, :, :, i, j]
    return dx_pad


@replaceable
def conv2d_forward(x, w, stride, pads):
    """x (N, H, W, C), w (k, k, C, F) -> y (N, Ho, Wo, F) (no bias), and the backward's cache."""
    kernel, filters = w.shape[0], w.shape[3]
    x_pad = pad(x, pads)
    cols = im2col(x_pad, kernel, stride)                # (N * Ho * Wo, k * k * C)
    y = cols @ w.reshape(-1, filters)                   # (N * Ho * Wo, F)
    return y.reshape(x.shape[0], *output_size(x_pad.shape, kernel, stride), filters), (cols, x_pad.shape)


@replaceable
def conv2d_backward(dy, cache, w, stride, pads, need_dx=True, need_dw=True):
    """dy (N, Ho, Wo, F) -> (dx (N, H, W, C), dw (k, k, C, F)), each None when not needed."""
    cols, padded_shape = cache
    kernel, filters = w.shape[0], w.shape[3]
    dy_rows = dy.reshape(-1, filters)                   # (N * Ho * Wo, F)
    dw = (cols.T @ dy_rows).reshape(w.shape) if need_dw else None
    if not need_dx:
        return None, dw
    dx_pad = col2im(dy_rows @ w.reshape(-1, filters).T, padded_shape, kernel, stride)
    top, bottom, left, right = pads
    return dx_pad[:, top:padded_shape[1] - bottom, left:padded_shape[2] - right], dw


@replaceable
def add_bias(y, b):
    """y (N, ..., F) + b (F,)."""
    return y + b


@replaceable
def bias_grad(dy):
    """The bias gradient (F,): dy (N, ..., F) summed over all but its last axis."""
    return dy.reshape(-1, dy.shape[-1]).sum(axis=0)


class Conv2D(Layer):
    """k x k convolution with stride and zero padding, NHWC.

    x: (N, H, W, C) -> y: (N, Ho, Wo, F); w: (k, k, C, F); b: (F,).
    ``padding``: 'same' (Keras/TensorFlow: Ho = ceil(H / stride), any odd padding
    goes after), 'valid', an int p (p on every side) or ((top, bottom), (left, right)).
    ``spectral_norm=True`` uses ``w / sigma(w)`` in place of w (:mod:`.spectral`).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding="same",
                 bias=True, init="glorot_uniform", rng=None, dtype=np.float32, spectral_norm=False, name=None):
        super().__init__(name)
        for arg, value in (("kernel_size", kernel_size), ("stride", stride),
                           ("in_channels", in_channels), ("out_channels", out_channels)):
            if int(value) != value or value < 1:
                raise ValueError(f"{self.name}: {arg} must be a positive integer, got {value!r}")
        if not (padding in ("same", "valid") or isinstance(padding, (int, tuple, list))):
            raise ValueError(f"{self.name}: padding must be 'same', 'valid', an int or "
                             f"((top, bottom), (left, right)), got {padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        rng = rng if rng is not None else np.random.default_rng()
        k = kernel_size
        self.add_param("w", get_initialiser(init)((k, k, in_channels, out_channels), rng,
                                                  k * k * in_channels, k * k * out_channels, dtype))
        if bias:
            self.add_param("b", np.zeros(out_channels, dtype=dtype))
        self.spectral = SpectralNorm(out_channels, rng, dtype) if spectral_norm else None

    def buffers(self):
        return {"sn_u": self.spectral.u} if self.spectral else {}

    def pads(self, height, width):
        """(top, bottom, left, right) zero padding for an input of this size."""
        k, s, p = self.kernel_size, self.stride, self.padding
        if p == "same":
            return same_padding(height, k, s) + same_padding(width, k, s)
        if p == "valid":
            return (0, 0, 0, 0)
        if isinstance(p, int):
            return (p, p, p, p)
        (top, bottom), (left, right) = p
        return (top, bottom, left, right)

    def output_shape(self, height, width):
        top, bottom, left, right = self.pads(height, width)
        return output_size((None, height + top + bottom, width + left + right), self.kernel_size, self.stride)

    def forward(self, x):
        self.check_input(x, 4, (None, None, self.in_channels))
        out_h, out_w = self.output_shape(x.shape[1], x.shape[2])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{self.name}: input of shape {tuple(x.shape)} is smaller than the "
                             f"{self.kernel_size}x{self.kernel_size} kernel after padding")
        pads = self.pads(x.shape[1], x.shape[2])
        w, w_cache = self._weight()
        y, cache = conv2d_forward(x, w, self.stride, pads)
        return self._add_bias(y), (cache, pads, w, w_cache)

    def backward(self, dy, cache, need_dx=True):
        """dy (N, Ho, Wo, F) -> dx (N, H, W, C), or None with ``need_dx=False``; adds the
        parameter gradients unless the layer is frozen."""
        conv_cache, pads, w, w_cache = cache
        self._add_bias_grad(dy)
        dx, dw = conv2d_backward(dy, conv_cache, w, self.stride, pads, need_dx, not self.frozen)
        self._add_weight_grad(dw, w_cache)
        return dx

    def _weight(self):
        """The weight the forward uses, and the spectral norm's cache (None without it)."""
        if self.spectral is None:
            return self.params["w"], None
        return self.spectral.forward(self.params["w"], self.training)

    def _add_bias(self, y):
        return add_bias(y, self.params["b"]) if "b" in self.params else y

    def _add_bias_grad(self, dy):
        if "b" in self.params and not self.frozen:
            self.grads["b"] += bias_grad(dy)

    def _add_weight_grad(self, dw, w_cache):
        """Adds the gradient of the weight the forward used (None: nothing to add)."""
        if dw is not None:
            self.grads["w"] += dw if w_cache is None else self.spectral.backward(dw, w_cache)
