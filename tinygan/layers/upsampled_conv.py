"""Nearest-neighbour 2x upsampling followed by a 3x3 'same' convolution, as one layer.

The plain math is the two layers in a row: y = conv3x3(upsample2(x)), and its backward the conv's
backward, then each 2x2 block of the upsampled gradient summed. The fast twin
(:mod:`tinygan.fast.upsample_conv`) convolves x by four 2x2 phase kernels instead and never makes
the upsampled image.
"""
from ..fast import replaceable
from .conv import Conv2D, conv2d_backward, conv2d_forward
from .shape import upsample_backward, upsample_forward

SAME = (1, 1, 1, 1)  # the padding of a 3x3 'same' conv at stride 1


@replaceable
def upsample_conv2d_forward(x, w):
    """x (N, H, W, C), w (3, 3, C, F) -> y (N, 2H, 2W, F) (no bias), and the backward's cache."""
    return conv2d_forward.plain(upsample_forward.plain(x, 2), w, 1, SAME)


@replaceable
def upsample_conv2d_backward(dy, cache, w, need_dx=True, need_dw=True):
    """dy (N, 2H, 2W, F) -> (dx (N, H, W, C), dw (3, 3, C, F)), each None when not needed."""
    dx_up, dw = conv2d_backward.plain(dy, cache, w, 1, SAME, need_dx, need_dw)
    return (None if dx_up is None else upsample_backward.plain(dx_up, 2)), dw


class UpsampleConv2D(Conv2D):
    """Upsample(2) then Conv2D(in, out, 3, padding='same'), in one layer with the conv's
    parameters (w (3, 3, C, F), b (F,)) and name: a checkpoint of the two layers loads into it.

    x: (N, H, W, C) -> y: (N, 2H, 2W, F)."""

    def __init__(self, in_channels, out_channels, name="Conv2D", **conv):
        super().__init__(in_channels, out_channels, 3, 1, "same", name=name, **conv)

    def output_shape(self, height, width):
        return 2 * height, 2 * width

    def forward(self, x):
        self.check_input(x, 4, (None, None, self.in_channels))
        w, w_cache = self._weight()
        y, cache = upsample_conv2d_forward(x, w)
        return self._add_bias(y), (cache, w, w_cache)

    def backward(self, dy, cache, need_dx=True):
        conv_cache, w, w_cache = cache
        self._add_bias_grad(dy)
        dx, dw = upsample_conv2d_backward(dy, conv_cache, w, need_dx, not self.frozen)
        self._add_weight_grad(dw, w_cache)
        return dx
