"""Batch normalisation over the last (feature or channel) axis."""
import numpy as np

from ..backend import get_xp
from .base import Layer, sum_rows


class BatchNorm(Layer):
    """Normalise each feature over the batch (and, for 4-D input, over H and W).

    x: (N, C) or (N, H, W, C) -> y: same shape; gamma, beta: (C,).
    Training uses the batch mean and (biased) variance and updates the running ones:
    ``running = momentum * running + (1 - momentum) * batch`` (Keras' convention;
    defaults momentum=0.99, eps=1e-3 as Keras). Eval uses the running statistics.
    """

    def __init__(self, channels, momentum=0.99, eps=1e-3, dtype=np.float32, name=None):
        super().__init__(name)
        if not 0 <= momentum < 1:
            raise ValueError(f"{self.name}: momentum must be in [0, 1), got {momentum}")
        if eps <= 0:
            raise ValueError(f"{self.name}: eps must be positive, got {eps}")
        self.channels, self.momentum, self.eps = channels, momentum, eps
        self.add_param("gamma", np.ones(channels, dtype=dtype))
        self.add_param("beta", np.zeros(channels, dtype=dtype))
        xp = get_xp()
        self.running_mean = xp.zeros(channels, dtype=dtype)
        self.running_var = xp.ones(channels, dtype=dtype)

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x):
        if getattr(x, "ndim", None) not in (2, 4):
            raise ValueError(f"{self.name}: expected input of shape (N, {self.channels}) or "
                             f"(N, H, W, {self.channels}), got shape {getattr(x, 'shape', type(x).__name__)}")
        self.check_input(x, x.ndim, (self.channels,))
        xp = get_xp()
        rows = x.reshape(-1, self.channels)
        if self.training:
            mean = sum_rows(rows) / rows.shape[0]
            centered = rows - mean
            var = sum_rows(centered * centered) / rows.shape[0]
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mean
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            centered, var = rows - self.running_mean, self.running_var
        inv_std = 1 / xp.sqrt(var + self.eps)
        x_hat = centered * inv_std
        y = x_hat * self.params["gamma"] + self.params["beta"]
        return y.reshape(x.shape), (x_hat, inv_std, self.training)

    def backward(self, dy, cache):
        x_hat, inv_std, training = cache
        rows = dy.reshape(-1, self.channels)
        sum_dy, sum_dy_x_hat = sum_rows(rows), sum_rows(rows * x_hat)
        self.grads["beta"] += sum_dy
        self.grads["gamma"] += sum_dy_x_hat
        gamma = self.params["gamma"]
        dx_hat = rows * gamma
        if training:  # the batch mean and variance depend on x too: subtract their share
            m = rows.shape[0]
            dx_hat -= gamma * sum_dy / m + x_hat * (gamma * sum_dy_x_hat / m)
        return (dx_hat * inv_std).reshape(dy.shape)
