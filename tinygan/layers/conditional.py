"""Layers conditioned on a class label per sample: the projection discriminator's class
term and class-conditional batch normalisation.

Both take ``labels`` (N,) int besides their input; a :class:`Sequential` passes its
``labels`` to every layer whose ``second_input`` is True.
"""
import numpy as np

from ..backend import get_xp
from ..fast import replaceable
from ..init import get_initialiser
from .base import Layer
from .norm import BatchNorm, batch_norm_backward, batch_norm_forward


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
    second_input = True

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


@replaceable
def conditional_batch_norm_forward(x, hot, gamma, beta, norm):
    """y = x_hat * gamma[label] + beta[label]: x (N, C) or (N, H, W, C), hot (N, n_classes) the labels
    one-hot, gamma and beta (n_classes, C); x_hat from ``norm`` (a BatchNorm without affine).
    Returns y and the backward's cache."""
    x_hat, norm_cache = batch_norm_forward.plain(x, None, None, norm)
    scale, shift = hot @ gamma, hot @ beta                          # (N, C): each sample's own
    x_hat = x_hat.reshape(x.shape[0], -1, x.shape[-1])              # (N, pixels, C)
    y = x_hat * scale[:, None, :] + shift[:, None, :]
    return y.reshape(x.shape), (x_hat, scale, hot, norm_cache)


@replaceable
def conditional_batch_norm_backward(dy, cache, need_param_grads=True):
    """dy -> (dx, dgamma, dbeta); the parameter gradients are None unless asked for."""
    x_hat, scale, hot, norm_cache = cache
    dy_pixels = dy.reshape(x_hat.shape)                            # (N, pixels, C)
    dgamma = hot.T @ (dy_pixels * x_hat).sum(axis=1) if need_param_grads else None
    dbeta = hot.T @ dy_pixels.sum(axis=1) if need_param_grads else None
    dx_hat = (dy_pixels * scale[:, None, :]).reshape(dy.shape)
    return batch_norm_backward.plain(dx_hat, norm_cache, None, False)[0], dgamma, dbeta


class ConditionalBatchNorm(Layer):
    """Batch normalisation whose scale and shift are chosen by each sample's class
    (de Vries et al., 2017; Miyato & Koyama, 2018): ``y = x_hat * gamma[label] + beta[label]``,
    x_hat from a :class:`BatchNorm` without its own affine (same statistics, momentum, eps).

    x: (N, C) or (N, H, W, C), labels: (N,) int -> y: same shape as x;
    gamma, beta: (n_classes, C), initialised to 1 and 0.
    """
    second_input = True

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
        self.norm.check(x)
        hot = one_hot(labels, self.n_classes, x.dtype)
        return conditional_batch_norm_forward(x, hot, self.params["gamma"], self.params["beta"], self.norm)

    def backward(self, dy, cache, need_dx=True):
        dx, dgamma, dbeta = conditional_batch_norm_backward(dy, cache, not self.frozen)
        if not self.frozen:
            self.grads["gamma"] += dgamma
            self.grads["beta"] += dbeta
        return dx
