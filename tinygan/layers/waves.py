"""Straight waves across the whole canvas, with a strength and a phase per image: what lets a
generator rule thin, straight, evenly spaced lines (ruled and squared paper), which its
upsampling convolutions, seeing a few pixels each, draw broken and uneven. A fixed bank of
periods, like the fixed Fourier features of CIPS (Anokhin et al., 2021) and StyleGAN3's input
(Karras et al., 2021); a generator learns only how strongly each image draws each wave and where
its crests lie (learning the frequencies themselves by gradient descent failed: their loss is a
ripple in the frequency)."""
import math

import numpy as np

from ..backend import get_xp
from .base import Layer

PERIODS = tuple(range(4, 17))  # pixels: the bank of periods along each axis


class SineWaves(Layer):
    """2P plane waves per image, P = len(periods): wave k < P runs down the rows (constant
    along each row: horizontal lines), wave P + k across the columns, both with period p_k:

        line[n, t, k] = sin(2 pi t / p_k + pi c[n, k])        t = 0 .. size - 1
        y[n, i, j, k] = g[n, k] line[n, i, k]                  k < P   (rows)
        y[n, i, j, k] = g[n, k] line[n, j, k]                  k >= P  (columns)

    with x (N, 4P) = [g | c]: each wave's strength and phase (in half turns).

    x: (N, 4P) -> y: (N, size, size, 2P).
    """

    def __init__(self, size, periods=PERIODS, name=None):
        super().__init__(name)
        self.size, self.periods = size, tuple(periods)
        self.waves = 2 * len(self.periods)
        # 2 pi t / p_k, (size, K): made once here, copied to the device by each forward (13 KB at size 128)
        self.steps = np.arange(size)[:, None] * 2 * np.pi / np.array(self.periods * 2)[None, :]

    def forward(self, x):
        self.check_input(x, 2, (2 * self.waves,))
        xp, k, p = get_xp(), self.waves, len(self.periods)
        gains, phases = x[:, :k], x[:, k:]
        angles = xp.asarray(self.steps, dtype=x.dtype)[None] + math.pi * phases[:, None, :]  # (N, size, K)
        lines = xp.sin(angles)
        shape = (x.shape[0], self.size, self.size, p)
        rows = xp.broadcast_to((gains[:, None, :p] * lines[:, :, :p])[:, :, None, :], shape)
        columns = xp.broadcast_to((gains[:, None, p:] * lines[:, :, p:])[:, None, :, :], shape)
        return xp.concatenate([rows, columns], axis=3), (gains, angles, lines)

    def backward(self, dy, cache, need_dx=True):
        """dline = dy summed along each wave's crests (over the columns for rows' waves, the rows for
        columns'); dg = sum_t dline line, dc = pi sum_t dline g cos(angle)."""
        xp, p = get_xp(), len(self.periods)
        gains, angles, lines = cache
        dlines = xp.concatenate([dy[..., :p].sum(axis=2), dy[..., p:].sum(axis=1)], axis=2)  # (N, size, K)
        dgains = (dlines * lines).sum(axis=1)
        dphases = math.pi * gains * (dlines * xp.cos(angles)).sum(axis=1)
        return xp.concatenate([dgains, dphases], axis=1)
