"""Dense (fully connected) layer."""
import numpy as np

from ..fast import replaceable
from ..init import get_initialiser
from .base import Layer, column_sums
from .spectral import SpectralNorm


@replaceable
def matmul(a, b):
    """a (M, K) @ b (K, N)."""
    return a @ b


class Dense(Layer):
    """y = x @ w + b.  x: (N, in_features) -> y: (N, out_features); w: (in, out), b: (out,).
    Backward: dw = x^T dy, db = sum of dy over the batch, dx = dy w^T.

    ``spectral_norm=True`` uses ``w / sigma(w)`` in place of w (:mod:`.spectral`)."""

    def __init__(self, in_features, out_features, bias=True, init="glorot_uniform",
                 rng=None, dtype=np.float32, spectral_norm=False, name=None):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.in_features, self.out_features = in_features, out_features
        self.add_param("w", get_initialiser(init)((in_features, out_features), rng,
                                                  in_features, out_features, dtype))
        if bias:
            self.add_param("b", np.zeros(out_features, dtype=dtype))
        self.spectral = SpectralNorm(out_features, rng, dtype) if spectral_norm else None

    def buffers(self):
        return {"sn_u": self.spectral.u} if self.spectral else {}

    def forward(self, x):
        self.check_input(x, 2, (self.in_features,))
        w, w_cache = (self.params["w"], None) if self.spectral is None else \
            self.spectral.forward(self.params["w"], self.training)
        y = matmul(x, w)
        if "b" in self.params:
            y += self.params["b"]
        return y, (x, w, w_cache)

    def backward(self, dy, cache, need_dx=True):
        """dy (N, out) -> dx (N, in), or None with ``need_dx=False``; adds the parameter
        gradients unless the layer is frozen."""
        x, w, w_cache = cache
        if not self.frozen:
            dw = matmul(x.T, dy)
            self.grads["w"] += dw if w_cache is None else self.spectral.backward(dw, w_cache)
            if "b" in self.params:
                self.grads["b"] += column_sums(dy)
        return matmul(dy, w.T) if need_dx else None
