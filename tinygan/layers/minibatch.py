"""Minibatch standard deviation (Karras et al., 2018): lets a discriminator see how varied a batch is."""
from ..backend import get_xp
from .base import Layer, column_sums


class MinibatchStd(Layer):
    """Append one feature: the mean over features of each feature's standard deviation
    across the batch. A generator that draws the same image for every noise vector gives
    a batch with less spread than real data, and the discriminator can see it.

    x: (N, F) -> y: (N, F + 1), y[:, F] = mean_f sqrt(var_n(x[:, f]) + eps) for every row.
    """

    def __init__(self, eps=1e-8, name=None):
        super().__init__(name)
        self.eps = eps

    def forward(self, x):
        self.check_input(x, 2)
        xp = get_xp()
        n, features = x.shape
        centered = x - column_sums(x) / n
        std = xp.sqrt(column_sums(centered * centered) / n + self.eps)
        spread = xp.broadcast_to(std.mean().reshape(1, 1), (n, 1)).astype(x.dtype)
        return xp.concatenate([x, spread], axis=1), (centered, std)

    def backward(self, dy, cache, need_dx=True):
        centered, std = cache
        n, features = centered.shape
        dspread = dy[:, features].sum()  # every row carries the same spread value
        return dy[:, :features] + dspread * centered / (n * features * std)
