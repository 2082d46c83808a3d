"""Convolutions after the pathways merge, at full resolution (issue 25; the paper's last section:
extra convolutions after the merge let objects and background settle into one piece).

    r = convs(x)                          3x3 convs, PReLU between, the last one zero-initialised
    y = sigmoid(logit(c) + r)             c = x[..., :1], the composite, clipped to [eps, 1 - eps]

x (N, H, W, C) holds the composite in channel 0 and whatever else the merge reads (the
background, the objects' alpha); y (N, H, W, 1) is the image.

Why this form: the residual is added in logit space, so y stays in (0, 1) smoothly (no clip
that stops gradients) and, with r = 0, y is exactly the composite: a new model starts as the
plain composite, and the convolutions learn only corrections to it (the last conv starts at
zero; its gradient is not, so the earlier ones follow after the first step). In logit space a
correction near white or black paper needs a larger r than one in mid-grey, which keeps the
corrections off the flat paper that the composite already gets right.

Backward, with s = y (1 - y):  dr = s dy;  dx = convs' backward of dr, plus in channel 0
s dy / (c (1 - c)) where c lies inside the clip (0 outside).
"""
import numpy as np

from ..backend import get_xp
from .activations import PReLU, sigmoid_backward, sigmoid_forward
from .base import Layer, Sequential
from .conv import Conv2D

LOGIT_EPS = 1e-6  # the composite is clipped to [eps, 1 - eps] before its logit (|logit| <= 13.8)


class MergeConvs(Layer):
    """``depth`` 3x3 'same' convolutions (in_channels -> width -> ... -> 1, PReLU between)
    whose output corrects the composite in logit space (module docstring).
    x: (N, H, W, in_channels), the composite in channel 0 -> y: (N, H, W, 1) in (0, 1)."""

    def __init__(self, in_channels, depth, width, rng, dtype=np.float32, prelu_init=0.0, name="merge"):
        super().__init__(name)
        if depth < 1:
            raise ValueError(f"{self.name}: depth must be at least 1, got {depth}")
        widths = [in_channels] + [width] * (depth - 1) + [1]
        layers = []
        for index, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = index == depth - 1
            layers.append(Conv2D(c_in, c_out, 3, init="zeros" if last else "glorot_uniform", rng=rng, dtype=dtype))
            if not last:
                layers.append(PReLU(c_out, alpha_init=prelu_init, dtype=dtype))
        self.convs = Sequential(layers, name="convs")
        self.in_channels = in_channels

    def children(self):
        return {"convs": self.convs}

    def forward(self, x):
        self.check_input(x, 4, (None, None, self.in_channels))
        xp = get_xp()
        composite = xp.clip(x[..., :1], LOGIT_EPS, 1 - LOGIT_EPS)
        residual, convs_cache = self.convs.forward(x)
        y = sigmoid_forward(xp.log(composite) - xp.log(1 - composite) + residual)
        return y, (x, composite, y, convs_cache)

    def backward(self, dy, cache, need_dx=True):
        x, composite, y, convs_cache = cache
        dresidual = sigmoid_backward(dy, y)
        dx = self.convs.backward(dresidual, convs_cache, need_dx)
        if not need_dx:
            return None
        inside = (x[..., :1] == composite).astype(dy.dtype)
        return get_xp().concatenate([dx[..., :1] + dresidual * inside / (composite * (1 - composite)), dx[..., 1:]],
                                    axis=-1)
