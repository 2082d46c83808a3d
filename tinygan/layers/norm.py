"""Batch normalisation over the last (feature or channel) axis."""
import numpy as np

from .. import kernels
from ..backend import get_xp
from ..threads import run_parts, sum_parts
from .base import Layer, channel_rows, fold_channels, sum_rows, tile_channels


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

    def _channel_sums(self, work, rows):
        """Per-channel sums (C,): ``work(r0, r1)`` returns a tuple of wide-row sums
        (:func:`sum_rows`) of rows r0:r1; it runs in parts on the host threads, and the
        parts' sums are added in order."""
        return [fold_channels(sums, self.channels) for sums in sum_parts(work, rows.shape[0], rows.size)]

    def _over_processes(self, sums, count):
        """``sums`` (a list of (C,)) and the count behind them, summed over every process."""
        if self.processes is None:
            return sums, count
        c = self.channels
        both = self.processes.sum(get_xp().concatenate(sums))
        return [both[i * c:(i + 1) * c] for i in range(len(sums))], count * self.processes.size

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x):
        centred, cache = self.centre(x)
        inv_std = cache[1]
        scale, shift = (inv_std * self.params["gamma"], self.params["beta"]) if self.params else (inv_std, None)
        y, scale_row = get_xp().empty_like(centred), tile_channels(scale, centred)
        if shift is None:
            run_parts(lambda r0, r1: get_xp().multiply(centred[r0:r1], scale_row, out=y[r0:r1]), y.shape[0], y.size)
        else:
            shift_row = tile_channels(shift, centred)
            run_parts(lambda r0, r1: kernels.scale_shift(centred[r0:r1], scale_row, shift_row, y[r0:r1]),
                      y.shape[0], y.size)
        return y.reshape(x.shape), cache

    def centre(self, x):
        """x - mean as :func:`channel_rows` (the batch's mean in training, which also moves the
        running statistics; else the running mean), and the cache of :meth:`backward`:
        (that array, inv_std (C,), training). x_hat = (x - mean) * inv_std is never made."""
        if getattr(x, "ndim", None) not in (2, 4):
            raise ValueError(f"{self.name}: expected input of shape (N, {self.channels}) or "
                             f"(N, H, W, {self.channels}), got shape {getattr(x, 'shape', type(x).__name__)}")
        self.check_input(x, x.ndim, (self.channels,))
        if x.dtype != self.dtype:
            raise ValueError(f"{self.name}: input dtype {x.dtype} does not match parameter dtype {self.dtype}")
        xp = get_xp()
        rows = channel_rows(x, self.channels)
        centred = xp.empty_like(rows)
        if self.training:
            sums, count = self._over_processes(
                self._channel_sums(lambda r0, r1: (sum_rows(rows[r0:r1]),), rows), rows.size // self.channels)
            mean = sums[0] / count
            mean_row = tile_channels(mean, rows)

            def centre_rows(r0, r1):
                xp.subtract(rows[r0:r1], mean_row, out=centred[r0:r1])
                return (kernels.square_sums(centred[r0:r1]),)
            squares, count = self._over_processes(self._channel_sums(centre_rows, rows), rows.size // self.channels)
            inv_std = kernels.batch_norm_statistics(squares[0], mean, count, self.eps, self.momentum,
                                                    self.running_mean, self.running_var)
        else:
            mean_row = tile_channels(self.running_mean, rows)
            run_parts(lambda r0, r1: xp.subtract(rows[r0:r1], mean_row, out=centred[r0:r1]), rows.shape[0], rows.size)
            inv_std = 1 / xp.sqrt(self.running_var + self.eps)
        return centred, (centred, inv_std, self.training)

    def backward(self, dy, cache, need_dx=True):
        centred, inv_std, training = cache
        rows = dy.reshape(centred.shape)
        sums = None
        if (self.params and not self.frozen) or training:
            sums = self._channel_sums(
                lambda r0, r1: (sum_rows(rows[r0:r1]), kernels.product_sums(rows[r0:r1], centred[r0:r1])), rows)
        if self.params and not self.frozen:
            self.grads["beta"] += sums[0]
            self.grads["gamma"] += sums[1] * inv_std  # sum(dy * x_hat)
        return self.input_grad(dy, cache, sums)

    def input_grad(self, dy, cache, sums, sample_scale=None):
        """dx (shaped as dy) when the gradient of x_hat is dy times gamma, or dy times
        ``sample_scale`` (N, width of :class:`ConditionalBatchNorm`'s sample rows), each sample's
        own scale: then that gradient is never made. ``sums``: the channel sums (C,) of that
        gradient and of it times x - mean, needed in training. Adds no parameter gradient."""
        centred, inv_std, training = cache
        xp, c = get_xp(), self.channels
        rows = dy.reshape(centred.shape)
        if sample_scale is not None:  # per sample: rows (N, rows of a sample, width), the scale (N, 1, width)
            rows, centred = (a.reshape(dy.shape[0], -1, sample_scale.shape[1]) for a in (rows, centred))
        gamma = self.params["gamma"] if self.params else xp.ones_like(inv_std)
        if training:  # the batch mean and variance depend on x (on every process's x) too
            (sum_dy, sum_dy_centred), count = self._over_processes(list(sums), rows.size // c)
            factors = [tile_channels(f, rows) for f in
                       kernels.batch_norm_coefficients(gamma, inv_std, sum_dy, sum_dy_centred, count)]
        else:
            factors = [tile_channels(gamma * inv_std, rows)]
        if sample_scale is not None:
            factors[0] = (sample_scale * factors[0])[:, None, :]
        dx = xp.empty_like(rows)

        def part(r0, r1):
            scale = factors[0] if sample_scale is None else factors[0][r0:r1]
            if not training:
                return xp.multiply(rows[r0:r1], scale, out=dx[r0:r1])
            return kernels.batch_norm_input_grad(rows[r0:r1], centred[r0:r1], scale, *factors[1:], dx[r0:r1])
        run_parts(part, rows.shape[0], rows.size)
        return dx.reshape(dy.shape)
