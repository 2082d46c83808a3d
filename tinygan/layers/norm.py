"""Batch normalisation over the last (feature or channel) axis.

Training, over the m = N (* H * W) values of each channel:

    mean = sum(x) / m,   var = sum((x - mean)^2) / m,   x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta

and the backward (the batch statistics depend on x too):

    dgamma = sum(dy * x_hat),   dbeta = sum(dy),   dx_hat = dy * gamma
    dx = (dx_hat - sum(dx_hat) / m - x_hat * sum(dx_hat * x_hat) / m) / sqrt(var + eps)

In eval the running statistics stand in for the batch's and dx = dx_hat / sqrt(var + eps). With
several processes (:mod:`tinygan.parallel`) every sum runs over all of their batches. The fast twin
(:mod:`tinygan.fast.norm`) never makes x_hat and fuses the passes.
"""
import numpy as np

from ..backend import get_xp
from ..fast import replaceable
from .base import Layer


@replaceable
def batch_norm_forward(x, gamma, beta, norm):
    """x (N, C) or (N, H, W, C) -> y = x_hat * gamma + beta (x_hat alone when gamma is None), and the
    backward's cache. ``norm``: the :class:`BatchNorm` whose statistics these are (moved in training)."""
    xp, rows = get_xp(), x.reshape(-1, norm.channels)
    if norm.training:
        (total,), count = norm.over_processes([rows.sum(axis=0)], rows.shape[0])
        mean = total / count
        (squares,), count = norm.over_processes([((rows - mean) ** 2).sum(axis=0)], rows.shape[0])
        var = squares / count
        norm.running_mean[...] = norm.momentum * norm.running_mean + (1 - norm.momentum) * mean
        norm.running_var[...] = norm.momentum * norm.running_var + (1 - norm.momentum) * var
    else:
        mean, var = norm.running_mean, norm.running_var
    inv_std = 1 / xp.sqrt(var + norm.eps)
    x_hat = (rows - mean) * inv_std
    y = x_hat if gamma is None else x_hat * gamma + beta
    return y.reshape(x.shape), (x_hat, inv_std, norm.training, norm)


@replaceable
def batch_norm_backward(dy, cache, gamma, need_param_grads=True):
    """dy -> (dx, dgamma, dbeta); the parameter gradients are None unless asked for."""
    x_hat, inv_std, training, norm = cache
    dy_rows = dy.reshape(x_hat.shape)
    dgamma, dbeta = ((dy_rows * x_hat).sum(axis=0), dy_rows.sum(axis=0)) if need_param_grads else (None, None)
    dx_hat = dy_rows if gamma is None else dy_rows * gamma
    if training:
        (sum_dx_hat, sum_dx_hat_x_hat), count = norm.over_processes(
            [dx_hat.sum(axis=0), (dx_hat * x_hat).sum(axis=0)], dx_hat.shape[0])
        dx = (dx_hat - sum_dx_hat / count - x_hat * sum_dx_hat_x_hat / count) * inv_std
    else:
        dx = dx_hat * inv_std
    return dx.reshape(dy.shape), dgamma, dbeta


class BatchNorm(Layer):
    """Normalise each feature over the batch (and, for 4-D input, over H and W).

    x: (N, C) or (N, H, W, C) -> y: same shape; gamma, beta: (C,).
    ``affine=False`` leaves out gamma and beta (y = x_hat; :class:`ConditionalBatchNorm`
    supplies its own). Training uses the batch mean and (biased) variance and updates the running ones:
    ``running = momentum * running + (1 - momentum) * batch`` (Keras' convention;
    defaults momentum=0.99, eps=1e-3 as Keras). Eval uses the running statistics.
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
        self.processes = None  # set by tinygan.parallel: the statistics then span every process's batch

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def over_processes(self, sums, count):
        """``sums`` (a list of (C,)) and the count behind them, summed over every process."""
        if self.processes is None:
            return sums, count
        c = self.channels
        both = self.processes.sum(get_xp().concatenate(sums))
        return [both[i * c:(i + 1) * c] for i in range(len(sums))], count * self.processes.size

    def check(self, x):
        """Raise a ValueError naming this layer unless x is (N, C) or (N, H, W, C) of its dtype."""
        if getattr(x, "ndim", None) not in (2, 4):
            raise ValueError(f"{self.name}: expected input of shape (N, {self.channels}) or "
                             f"(N, H, W, {self.channels}), got shape {getattr(x, 'shape', type(x).__name__)}")
        self.check_input(x, x.ndim, (self.channels,))
        if x.dtype != self.dtype:
            raise ValueError(f"{self.name}: input dtype {x.dtype} does not match parameter dtype {self.dtype}")

    def forward(self, x):
        self.check(x)
        return batch_norm_forward(x, self.params.get("gamma"), self.params.get("beta"), self)

    def backward(self, dy, cache, need_dx=True):
        need_param_grads = bool(self.params) and not self.frozen
        dx, dgamma, dbeta = batch_norm_backward(dy, cache, self.params.get("gamma"), need_param_grads)
        if need_param_grads:
            self.grads["gamma"] += dgamma
            self.grads["beta"] += dbeta
        return dx
