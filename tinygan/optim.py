"""The Adam optimiser over a model's parameters, updated in place.

It is built from ``model.named_parameters()`` and reads each parameter's gradient from
its layer's ``grads`` dict, so the model and the optimiser share the arrays.
"""
from .backend import backend_name, get_xp, to_device, to_host


def adam_update(param, grad, m, v, beta1, beta2, step_size, eps):
    """One Adam update of ``param``, ``m`` and ``v`` in place (the plain array form, on
    NumPy and CuPy alike; the reference for :func:`adam_update_fused`)."""
    xp = get_xp()
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    param -= step_size * m / (xp.sqrt(v) + eps)


_FUSED_ADAM = {}


def adam_update_fused(param, grad, m, v, beta1, beta2, step_size, eps):
    """:func:`adam_update` as one CUDA kernel (cupy.ElementwiseKernel, built at first use):
    one launch per parameter instead of about ten. CuPy arrays only."""
    if "kernel" not in _FUSED_ADAM:
        import cupy
        _FUSED_ADAM["kernel"] = cupy.ElementwiseKernel(
            "T grad, T beta1, T beta2, T step_size, T eps", "T param, T m, T v",
            "m = beta1 * m + (1 - beta1) * grad; v = beta2 * v + (1 - beta2) * grad * grad;"
            " param -= step_size * m / (sqrt(v) + eps);",
            "tinygan_adam")
    _FUSED_ADAM["kernel"](grad, beta1, beta2, step_size, eps, param, m, v)


class Adam:
    """Adam with bias correction (Kingma & Ba), in their efficient form as Keras uses it:
    m, v are running moments of the gradient, ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``
    and ``p -= lr_t * m / (sqrt(v) + eps)``. Defaults as Keras (eps=1e-7)."""

    def __init__(self, named_parameters, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        self.entries = [(path, layer, key) for path, layer, key in named_parameters]
        paths = [path for path, _, _ in self.entries]
        if len(set(paths)) != len(paths):
            raise ValueError(f"Adam: duplicate parameter names in {paths}")
        if lr <= 0:
            raise ValueError(f"Adam: learning rate must be positive, got {lr}")
        self.lr, self.steps = lr, 0
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        xp = get_xp()
        self.slots = {name: {path: xp.zeros_like(layer.params[key]) for path, layer, key in self.entries}
                      for name in ("m", "v")}
        self.flat = None  # (parameters, gradients, m, v) as flat buffers: see for_model

    @classmethod
    def for_model(cls, model, **options):
        """Adam over every parameter of ``model``, each step one update of flat buffers
        (:meth:`Layer.flatten`) instead of one per parameter; the same values either way."""
        params, grads = model.flat or model.flatten()
        adam = cls(model.named_parameters(), **options)
        xp = get_xp()
        flat_slots = {name: xp.zeros_like(params) for name in ("m", "v")}
        offset = 0
        for path, layer, key in adam.entries:
            shape, size = layer.params[key].shape, layer.params[key].size
            for name, flat in flat_slots.items():
                adam.slots[name][path] = flat[offset:offset + size].reshape(shape)
            offset += size
        adam.flat = (params, grads, flat_slots["m"], flat_slots["v"])
        return adam

    def step(self):
        self.steps += 1
        step_size = self.lr * (1 - self.beta2 ** self.steps) ** 0.5 / (1 - self.beta1 ** self.steps)
        update = adam_update if backend_name() == "numpy" else adam_update_fused
        if self.flat is not None:
            update(*self.flat, self.beta1, self.beta2, step_size, self.eps)
            return
        for path, layer, key in self.entries:
            update(layer.params[key], layer.grads[key], self.slots["m"][path], self.slots["v"][path],
                   self.beta1, self.beta2, step_size, self.eps)

    def state_dict(self):
        """Host arrays and scalars that :meth:`load_state_dict` restores exactly."""
        state = {"steps": self.steps, "lr": self.lr}
        for name, slots in self.slots.items():
            for path, value in slots.items():
                state[f"{name}:{path}"] = to_host(value)
        return state

    def load_state_dict(self, state):
        self.steps, self.lr = int(state["steps"]), float(state["lr"])
        for name, slots in self.slots.items():
            for path, value in slots.items():
                saved = state.get(f"{name}:{path}")
                if saved is None or tuple(saved.shape) != tuple(value.shape):
                    got = None if saved is None else tuple(saved.shape)
                    raise ValueError(f"Adam: state {name!r} for {path} has shape "
                                     f"{got}, expected {tuple(value.shape)}")
                value[...] = to_device(saved, dtype=value.dtype)
