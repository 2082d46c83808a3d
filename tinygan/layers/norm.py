"""Batch normalisation over the last (feature or channel) axis."""
import numpy as np

from ..backend import get_xp
from .base import Layer, channel_rows, channel_sums, tile_channels


class BatchNorm(Layer):
    """Normalise each feature over the batch (and, for 4-D input, over H and W).

    x: (N, C) or (N, H, W, C) -> y: same shape; gamma, beta: (C,).
    ``affine=False`` leaves out gamma and beta (y = x_hat; :class:`ConditionalBatchNorm`
    supplies its own). Training uses the batch mean and (biased) variance and updates the running ones:
    ``running = momentum * running + (1 - momentum) * batch`` (Keras' convention;
    defaults momentum=0.99, eps=1e-3 as Keras). Eval uses the running statistics.
    The arithmetic runs on wide rows (:func:`channel_rows`) with tiled channel vectors.
    """

    def __init__(self, channels, momentum=0.99, eps=1e-3, dtype=np.float32, affine=True, name=None):
        super().__init__(name)
        if not 0 <= momentum < 1:
            raise ValueError(f"{self.name}: momentum must be in [0, 1), got {momentum}")
        if eps <= 0:
            raise ValueError(f"{self.name}: eps must be positive, got {eps}")
        self.channels, self.momentum, self.eps = channels, momentum, eps
        if affine:
            self.add_param("gamma", np.ones(channels, dtype=dtype))
            self.add_param("beta", np.zeros(channels, dtype=dtype))
        self.dtype = np.dtype(dtype)
        xp = get_xp()
        self.running_mean = xp.zeros(channels, dtype=dtype)
        self.running_var = xp.ones(channels, dtype=dtype)
        self.processes = None

    def _batch_sums(self, rows):
        """Per-channel sums (C,) of ``rows`` over the batch of every process, and their count."""
        sums, count = channel_sums(rows, self.channels), rows.size // self.channels
        if self.processes is None:
            return sums, count
        return self.processes.sum(sums), count * self.processes.size

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x):
        if getattr(x, "ndim", None) not in (2, 4):
            raise ValueError(f"{self.name}: expected input of shape (N, {self.channels}) or "
                             f"(N, H, W, {self.channels}), got shape {getattr(x, 'shape', type(x).__name__)}")
        self.check_input(x, x.ndim, (self.channels,))
        if x.dtype != self.dtype:
            raise ValueError(f"{self.name}: input dtype {x.dtype} does not match parameter dtype {self.dtype}")
        xp, c = get_xp(), self.channels
        rows = channel_rows(x, c)
        if self.training:
            sums, count = self._batch_sums(rows)
            mean = sums / count
            centered = rows - tile_channels(mean, rows)
            squares, count = self._batch_sums(centered * centered)
            var = squares / count
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mean
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            centered, var = rows - tile_channels(self.running_mean, rows), self.running_var
        inv_std = 1 / xp.sqrt(var + self.eps)
        x_hat = centered
        x_hat *= tile_channels(inv_std, rows)
        if not self.params:
            return x_hat.reshape(x.shape), (x_hat, inv_std, self.training)
        y = x_hat * tile_channels(self.params["gamma"], rows)
        y += tile_channels(self.params["beta"], rows)
        return y.reshape(x.shape), (x_hat, inv_std, self.training)

    def backward(self, dy, cache, need_dx=True):
        x_hat, inv_std, training = cache
        c = self.channels
        rows = dy.reshape(x_hat.shape)
        sum_dy = channel_sums(rows, c)
        sum_dy_x_hat = channel_sums(rows * x_hat, c) if self.params or training else None
        scale = inv_std
        if self.params and not self.frozen:
            self.grads["beta"] += sum_dy
            self.grads["gamma"] += sum_dy_x_hat
        if self.params:
            scale = self.params["gamma"] * inv_std
        dx = rows * tile_channels(scale, rows)
        if training:  # the batch mean and variance depend on x too: subtract their share
            count = rows.size // c
            if self.processes is not None:  # ... and on every process's x: sum over them
                both = self.processes.sum(get_xp().concatenate([sum_dy, sum_dy_x_hat]))
                sum_dy, sum_dy_x_hat, count = both[:c], both[c:], count * self.processes.size
            dx -= x_hat * tile_channels(scale * sum_dy_x_hat / count, rows)
            dx -= tile_channels(scale * sum_dy / count, rows)
        return dx.reshape(dy.shape)
