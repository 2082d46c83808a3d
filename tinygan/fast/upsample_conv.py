"""The fast nearest-neighbour 2x upsampling followed by a 3x3 'same' convolution.

Per axis, output 2a + p of the conv reads the upsampled values at 2a + p - 1, 2a + p and
2a + p + 1, which are x[a - 1 + p] and x[a + p] (two of the three are the same value). So
each of the four output phases (p, q) is a 2x2 convolution of x (padded by one) whose
taps are sums of the 3x3 kernel's taps: ``PHASE_TAPS[p]`` (2, 3) maps the three taps of an
axis to the two. The phases read x, not the four-times-larger upsampled image, and do
16/36 of the arithmetic. That is the host set's way. Its forward is one 3x3 conv of x to 4F
channels (the four 2x2 kernels placed in a 3x3 one; zeros cost products, but one wide
product beats four narrow ones when channels are few); its backward is one 2x2 conv
backward per phase, reading that phase of dy in place. In the device set, where each
operation is a kernel launch, it upsamples and convolves as the plain version does.
"""
import numpy as np

from ..backend import get_xp
from ..threads import run_parts
from .sets import on_host_rows
from .conv import Padded, block_budget, blocked_backward, blocked_forward, conv2d_backward, conv2d_forward, pad_nhwc
from .elementwise import upsample_backward, upsample_forward

# PHASE_TAPS[p][a, t]: tap a of phase p's 2-tap kernel sums the 3x3 kernel's taps t with a 1
PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]],   # p = 0: x[a - 1] <- tap 0; x[a] <- taps 1, 2
                       [[1, 1, 0], [0, 0, 1]]])  # p = 1: x[a] <- taps 0, 1; x[a + 1] <- tap 2
PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))
SAME = (1, 1, 1, 1)  # the padding of a 3x3 'same' conv at stride 1


def upsample_conv2d_forward(x, w):
    """x (N, H, W, C), w (3, 3, C, F) -> y (N, 2H, 2W, F) (no bias) and the backward's cache."""
    if not on_host_rows():
        y, cache = conv2d_forward(upsample_forward(x, 2), w, 1, SAME)
        return y, ("upsampled", cache)
    n, h, width, _ = x.shape
    x_pad = pad_nhwc(x, SAME)
    kernels = phase_kernels(w)
    phases = blocked_forward(Padded(x_pad), merged_kernel(kernels), 1, block_budget(w))
    y = get_xp().empty((n, h, 2, width, 2, w.shape[3]), dtype=x.dtype)
    _scatter(y, phases.reshape(n, h, width, 2, 2, w.shape[3]).transpose(0, 1, 3, 2, 4, 5))
    return y.reshape(n, 2 * h, 2 * width, w.shape[3]), ("phases", (x_pad, kernels))


def upsample_conv2d_backward(dy, cache, w, need_dx=True, need_dw=True):
    """dy (N, 2H, 2W, F) -> (dx (N, H, W, C), dw (3, 3, C, F)), each None when not needed."""
    how, cache = cache
    if how == "upsampled":
        dx, dw = conv2d_backward(dy, cache, w, 1, SAME, need_dx, need_dw)
        return (None if dx is None else upsample_backward(dx, 2)), dw
    x_pad, kernels = cache
    xp, (n, hp, wp, _) = get_xp(), x_pad.shape
    h, width, filters = hp - 2, wp - 2, w.shape[3]
    phases = dy.reshape(n, h, 2, width, 2, filters)
    dx = xp.empty((n, h, width, w.shape[2]), dtype=dy.dtype) if need_dx else None
    dw = xp.zeros(w.shape, dtype=w.dtype) if need_dw else None
    for index, ((p, q), kernel) in enumerate(zip(PHASES, kernels)):  # a stride-1 backward pads dy: a view will do
        source = Padded(x_pad[:, p:p + h + 1, q:q + width + 1])
        dx_phase, dkernel = blocked_backward(phases[:, :, p, :, q], source, kernel, 1, (0, 0, 0, 0),
                                             block_budget(w), need_dx, need_dw)
        if need_dx:  # phase (p, q) reads padded x at rows p..p+h: x's rows are its rows 1-p..h-p
            _scatter(dx, dx_phase[:, 1 - p:1 - p + h, 1 - q:1 - q + width], add=index > 0)
        if need_dw:
            dw += xp.einsum("ai,bj,abcf->ijcf", *_taps(p, q, w.dtype), dkernel)
    return dx, dw


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
