"""Dense (fully connected) layer."""
import numpy as np

from ..init import get_initialiser
from .base import Layer, sum_rows


class Dense(Layer):
    """y = x @ w + b.  x: (N, in_features) -> y: (N, out_features); w: (in, out), b: (out,)."""

    def __init__(self, in_features, out_features, bias=True, init="glorot_uniform",
                 rng=None, dtype=np.float32, name=None):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.in_features, self.out_features = in_features, out_features
        self.add_param("w", get_initialiser(init)((in_features, out_features), rng,
                                                  in_features, out_features, dtype))
        if bias:
            self.add_param("b", np.zeros(out_features, dtype=dtype))

    def forward(self, x):
        self.check_input(x, 2, (self.in_features,))
        y = x @ self.params["w"]
        if "b" in self.params:
            y += self.params["b"]
        return y, x

    def backward(self, dy, cache):
        x = cache
        self.grads["w"] += x.T @ dy
        if "b" in self.params:
            self.grads["b"] += sum_rows(dy)
        return dy @ self.params["w"].T
