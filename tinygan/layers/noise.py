"""Per-pixel noise (Karras et al., 2019, StyleGAN's noise inputs): fine random detail, such as
paper grain, that a generator cannot make from its input noise alone."""
import numpy as np

from ..backend import get_xp
from ..backend import rng as backend_rng
from .base import Layer
from .conditional import _check_class_labels, one_hot


class PixelNoise(Layer):
    """y = x + n * w: one fresh standard normal value n per pixel and sample (N, H, W, 1), the
    same for every channel, scaled by a learned weight per channel. The noise is part of what
    the generator draws, so it is drawn in eval mode too; it comes from ``self.rng`` (a backend
    generator, see :func:`tinygan.backend.rng`), so a seeded generator makes it reproducible.
    With ``n_classes`` each class has its own weights (w[label]) and the forward takes labels (N,)
    int: a class can draw rough detail and another none.

    x: (N, H, W, C) -> y: same shape; w: (n_classes or 1, C), initialised to 0 (y = x).
    """

    def __init__(self, channels, n_classes=None, rng=None, dtype=np.float32, name=None):
        super().__init__(name)
        self.channels, self.n_classes, self.rng = channels, n_classes, rng
        self.second_input = n_classes is not None
        self.add_param("weight", np.zeros((n_classes or 1, channels), dtype=dtype))

    def forward(self, x, labels=None):
        self.check_input(x, 4, (None, None, self.channels))
        n, height, width, _ = x.shape
        if self.rng is None:
            self.rng = backend_rng()
        noise = self.rng.standard_normal((n, height, width, 1), dtype=np.float32).astype(x.dtype, copy=False)
        if self.n_classes is None:
            hot = get_xp().ones((n, 1), x.dtype)
        else:
            _check_class_labels(self, labels, n, self.n_classes)
            hot = one_hot(labels, self.n_classes, x.dtype)
        scale = hot @ self.params["weight"]                                   # (N, C): each sample's own
        return x + noise * scale[:, None, None, :], (noise, hot)

    def backward(self, dy, cache, need_dx=True):
        noise, hot = cache
        if not self.frozen:  # dw[k, c] = sum over the samples of class k of sum_pixels dy n
            self.grads["weight"] += hot.T @ (dy * noise).sum(axis=(1, 2))
        return dy
