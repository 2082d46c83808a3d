"""Nearest-neighbour 2x upsampling followed by a 3x3 'same' convolution, as one layer.

Per axis, output 2a + p of the conv reads the upsampled values at 2a + p - 1, 2a + p and
2a + p + 1, which are x[a - 1 + p] and x[a + p] (two of the three are the same value). So
each of the four output phases (p, q) is a 2x2 convolution of x (padded by one) whose
taps are sums of the 3x3 kernel's taps: ``PHASE_TAPS[p]`` (2, 3) maps the three taps of an
axis to the two. The phases read x, not the four-times-larger upsampled image, and do
16/36 of the arithmetic. That is the NumPy path. Its forward is one 3x3 conv of x to 4F
channels (the four 2x2 kernels placed in a 3x3 one; zeros cost products, but one wide
product beats four narrow ones when channels are few); its backward is one 2x2 conv
backward per phase, reading that phase of dy in place. On CuPy, where each operation is a
kernel launch, the layer upsamples and convolves as the two layers would.
"""
import numpy as np

from ..backend import get_xp, host_layout
from ..threads import run_parts
from .conv import Conv2D, Padded, conv2d_backward, conv2d_forward, pad_nhwc
from .shape import Upsample

# PHASE_TAPS[p][a, t]: tap a of phase p's 2-tap kernel sums the 3x3 kernel's taps t with a 1
PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]],   # p = 0: x[a - 1] <- tap 0; x[a] <- taps 1, 2
                       [[1, 1, 0], [0, 0, 1]]])  # p = 1: x[a] <- taps 0, 1; x[a + 1] <- tap 2
PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


class UpsampleConv2D(Conv2D):
    """Upsample(2) then Conv2D(in, out, 3, padding='same'), in one layer with the conv's
    parameters (w (3, 3, C, F), b (F,)) and name: a checkpoint of the two layers loads into it.

    x: (N, H, W, C) -> y: (N, 2H, 2W, F)."""

    def __init__(self, in_channels, out_channels, name="Conv2D", **conv):
        super().__init__(in_channels, out_channels, 3, 1, "same", name=name, **conv)
        self.upsample = Upsample(2)

    def output_shape(self, height, width):
        return 2 * height, 2 * width

    def forward(self, x):
        if not host_layout():
            y, cache = super().forward(self.upsample.forward(x)[0])
            return y, ("upsampled", cache)
        self.check_input(x, 4, (None, None, self.in_channels))
        w, w_cache = self._weight()
        n, h, width, _ = x.shape
        x_pad = pad_nhwc(x, (1, 1, 1, 1))
        kernels = phase_kernels(w)
        phases = conv2d_forward(Padded(x_pad), merged_kernel(kernels), 1, self._block_bytes())
        y = get_xp().empty((n, h, 2, width, 2, self.out_channels), dtype=x.dtype)
        _scatter(y, phases.reshape(n, h, width, 2, 2, self.out_channels).transpose(0, 1, 3, 2, 4, 5))
        y = self._add_bias(y.reshape(n, 2 * h, 2 * width, self.out_channels))
        return y, ("phases", (x_pad, kernels, w, w_cache))

    def backward(self, dy, cache, need_dx=True):
        how, cache = cache
        if how == "upsampled":
            dx = super().backward(dy, cache, need_dx)
            return None if dx is None else self.upsample.backward(dx, None)
        x_pad, kernels, w, w_cache = cache
        xp, (n, hp, wp, _) = get_xp(), x_pad.shape
        h, width, filters = hp - 2, wp - 2, self.out_channels
        self._add_bias_grad(dy)
        phases = dy.reshape(n, h, 2, width, 2, filters)
        dx = xp.empty((n, h, width, self.in_channels), dtype=dy.dtype) if need_dx else None
        dw = None if self.frozen else xp.zeros(w.shape, dtype=w.dtype)
        for index, ((p, q), kernel) in enumerate(zip(PHASES, kernels)):  # a stride-1 backward pads dy: a view will do
            source = Padded(x_pad[:, p:p + h + 1, q:q + width + 1])
            dx_phase, dkernel = conv2d_backward(phases[:, :, p, :, q], source, kernel, 1, (0, 0, 0, 0),
                                                self._block_bytes(), need_dx, dw is not None)
            if need_dx:  # phase (p, q) reads padded x at rows p..p+h: x's rows are its rows 1-p..h-p
                _scatter(dx, dx_phase[:, 1 - p:1 - p + h, 1 - q:1 - q + width], add=index > 0)
            if dw is not None:
                dw += xp.einsum("ai,bj,abcf->ijcf", *_taps(p, q, w.dtype), dkernel)
        self._add_weight_grad(dw, w_cache)
        return dx


def _taps(p, q, dtype):
    xp = get_xp()
    return xp.asarray(PHASE_TAPS[p], dtype=dtype), xp.asarray(PHASE_TAPS[q], dtype=dtype)


def phase_kernels(w):
    """The four 2x2 kernels (2, 2, C, F) of a 3x3 kernel w, in the order of PHASES."""
    return [get_xp().einsum("ai,bj,ijcf->abcf", *_taps(p, q, w.dtype), w) for p, q in PHASES]


def merged_kernel(kernels):
    """The four 2x2 phase kernels (2, 2, C, F) as one 3x3 kernel (3, 3, C, 4F): output channel
    (p, q, f) of pixel a is phase (p, q) of output 2a (its kernel at taps p..p+1, q..q+1)."""
    channels, filters = kernels[0].shape[2], kernels[0].shape[3]
    merged = get_xp().zeros((3, 3, channels, 2, 2, filters), dtype=kernels[0].dtype)
    for (p, q), kernel in zip(PHASES, kernels):
        merged[p:p + 2, q:q + 2, :, p, q] = kernel
    return merged.reshape(3, 3, channels, 4 * filters)


def _scatter(target, source, add=False):
    """target[...] = source (or +=), by images on the host threads."""
    def images(n0, n1):
        if add:
            target[n0:n1] += source[n0:n1]
        else:
            target[n0:n1] = source[n0:n1]
    run_parts(images, target.shape[0], target.size)
