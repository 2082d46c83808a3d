"""Layers conditioned on a class label per sample: the projection discriminator's class
term and class-conditional batch normalisation.

Both take ``labels`` (N,) int besides their input; a :class:`Sequential` passes its
``labels`` to every layer whose ``takes_labels`` is True.
"""
import numpy as np

from .. import kernels
from ..backend import get_xp, host_layout
from ..init import get_initialiser
from ..threads import run_parts
from .base import Layer, fold_channels
from .norm import BatchNorm


def one_hot(labels, n_classes, dtype):
    """labels (...) int -> (..., n_classes) on the backend."""
    return get_xp().eye(n_classes, dtype=dtype)[labels]


def _check_class_labels(layer, labels, batch, n_classes):
    if getattr(labels, "shape", None) != (batch,) or getattr(labels, "dtype", np.dtype(float)).kind not in "iu":
        raise ValueError(f"{layer.name}: expected integer labels of shape ({batch},), got "
                         f"{getattr(labels, 'shape', type(labels).__name__)} {getattr(labels, 'dtype', '')}")


class ClassProjection(Layer):
    """The class term of a projection discriminator (Miyato & Koyama, 2018): the inner
    product of a learned class embedding with the features, ``s = <embed[label], h>``.

    h: (N, F), labels: (N,) int -> s: (N, 1); embed: (n_classes, F).
    """
    takes_labels = True

    def __init__(self, n_classes, features, rng=None, dtype=np.float32, name=None):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.n_classes, self.features = n_classes, features
        self.add_param("embed", get_initialiser("glorot_uniform")((n_classes, features), rng,
                                                                  n_classes, features, dtype))

    def forward(self, h, labels):
        self.check_input(h, 2, (self.features,))
        _check_class_labels(self, labels, h.shape[0], self.n_classes)
        hot = one_hot(labels, self.n_classes, h.dtype)
        embedded = hot @ self.params["embed"]
        return (embedded * h).sum(axis=1, keepdims=True), (h, hot, embedded)

    def backward(self, ds, cache, need_dx=True):
        h, hot, embedded = cache
        if not self.frozen:
            self.grads["embed"] += hot.T @ (ds * h)
        return ds * embedded


class ConditionalBatchNorm(Layer):
    """Batch normalisation whose scale and shift are chosen by each sample's class
    (de Vries et al., 2017; Miyato & Koyama, 2018): ``y = x_hat * gamma[label] + beta[label]``,
    x_hat from a :class:`BatchNorm` without its own affine (same statistics, momentum, eps).

    x: (N, C) or (N, H, W, C), labels: (N,) int -> y: same shape as x;
    gamma, beta: (n_classes, C), initialised to 1 and 0.
    """
    takes_labels = True

    def __init__(self, channels, n_classes, momentum=0.99, eps=1e-3, dtype=np.float32, name=None):
        super().__init__(name)
        self.channels, self.n_classes = channels, n_classes
        self.norm = BatchNorm(channels, momentum, eps, dtype, affine=False, name="norm")
        self.add_param("gamma", np.ones((n_classes, channels), dtype=dtype))
        self.add_param("beta", np.zeros((n_classes, channels), dtype=dtype))

    def children(self):
        return {"norm": self.norm}

    def forward(self, x, labels):
        _check_class_labels(self, labels, getattr(x, "shape", (0,))[0], self.n_classes)
        centred, norm_cache = self.norm.centre(x)  # x - mean: x_hat = centred * inv_std is never made
        hot = one_hot(labels, self.n_classes, x.dtype)
        scale, shift = hot @ self.params["gamma"], hot @ self.params["beta"]  # (N, C)
        rows = _sample_rows(centred.reshape(x.shape))
        scale_rows, shift_rows = _tile_per_sample(scale, x), _tile_per_sample(shift, x)
        factor_rows = _tile_per_sample(scale * norm_cache[1], x)  # gamma[label] * inv_std
        y = get_xp().empty_like(rows)
        run_parts(lambda n0, n1: kernels.scale_shift(rows[n0:n1], factor_rows[n0:n1, None, :],
                                                     shift_rows[n0:n1, None, :], y[n0:n1]), rows.shape[0], rows.size)
        return y.reshape(x.shape), (norm_cache, rows, hot, scale_rows)

    def backward(self, dy, cache, need_dx=True):
        """The norm's input gradient straight from dy: the gradient of x_hat, dy times each
        sample's scale, is never made, and its channel sums come from the per-sample sums that
        gamma's and beta's gradients need anyway."""
        norm_cache, centred_rows, hot, scale_rows = cache
        xp, n, c = get_xp(), dy.shape[0], self.channels
        dy_rows = dy.reshape(centred_rows.shape)
        sums = None
        if not self.frozen or norm_cache[2]:  # the norm in training needs the sums too
            sums = {key: xp.empty((n, dy_rows.shape[2]), dtype=dy.dtype) for key in ("gamma", "beta")}

            def samples(n0, n1):  # each sample's sums over its rows (N, W*C): of dy, of dy * (x - mean)
                dy_rows[n0:n1].sum(axis=1, out=sums["beta"][n0:n1])
                kernels.sample_product_sums(dy_rows[n0:n1], centred_rows[n0:n1], sums["gamma"][n0:n1])
            run_parts(samples, n, dy.size)
        if not self.frozen:  # (N, W*C) -> (N, C) -> per class; x_hat = (x - mean) * inv_std
            self.grads["beta"] += hot.T @ sums["beta"].reshape(n, -1, c).sum(axis=1)
            self.grads["gamma"] += hot.T @ (sums["gamma"].reshape(n, -1, c).sum(axis=1) * norm_cache[1])
        channel_sums = None if not norm_cache[2] else \
            [fold_channels((scale_rows * sums[key]).sum(axis=0), c) for key in ("beta", "gamma")]
        return self.norm.input_grad(dy, norm_cache, channel_sums, sample_scale=scale_rows)


def _sample_rows(x):
    """x (N, C) or (N, H, W, C) viewed as (N, rows, width) with width C, or W * C in the
    host layout (:func:`tinygan.backend.host_layout`)."""
    wide = x.ndim == 4 and host_layout()
    return x.reshape(x.shape[0], -1, x.shape[-2] * x.shape[-1] if wide else x.shape[-1])


def _tile_per_sample(values, x):
    """Per-sample channel values (N, C) repeated to the width of :func:`_sample_rows`: (N, width)."""
    repeats = x.shape[-2] if x.ndim == 4 and host_layout() else 1
    return get_xp().tile(values, (1, repeats)) if repeats > 1 else values
