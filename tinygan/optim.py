"""The Adam optimiser over a model's parameters, updated in place.

It flattens the model (:meth:`tinygan.layers.Layer.flatten`): the parameters and the
gradients of every layer are views of two flat buffers, so the model and the optimiser share
the arrays and one update (:func:`adam_update`; its fast twin is one kernel on CuPy, the buffer's
parts on the host threads on NumPy) moves every parameter.
"""
from .backend import get_xp, to_device, to_host
from .fast import replaceable


@replaceable
def adam_update(param, grad, m, v, beta1, beta2, step_size, eps):
    """One Adam update in place: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
    param -= step_size m / (sqrt(v) + eps)."""
    m[...] = beta1 * m + (1 - beta1) * grad
    v[...] = beta2 * v + (1 - beta2) * grad * grad
    param -= step_size * m / (get_xp().sqrt(v) + eps)


class Adam:
    """Adam with bias correction (Kingma & Ba), in their efficient form as Keras uses it:
    m, v are running moments of the gradient, ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``
    and ``p -= lr_t * m / (sqrt(v) + eps)``. Defaults as Keras (eps=1e-7). It updates every
    parameter of ``model`` at once, as one flat buffer (:meth:`Layer.flatten`)."""

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        self.entries = list(model.named_parameters())
        paths = [path for path, _, _ in self.entries]
        if len(set(paths)) != len(paths):
            raise ValueError(f"Adam: duplicate parameter names in {paths}")
        if lr <= 0:
            raise ValueError(f"Adam: learning rate must be positive, got {lr}")
        self.lr, self.steps = lr, 0
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        params, grads = model.flat or model.flatten()
        xp = get_xp()
        moments = {name: xp.zeros_like(params) for name in ("m", "v")}
        self.flat = (params, grads, moments["m"], moments["v"])
        self.slots = {name: {} for name in moments}  # each parameter's view of m and v, for state_dict
        offset = 0
        for path, layer, key in self.entries:
            shape, size = layer.params[key].shape, layer.params[key].size
            for name, flat in moments.items():
                self.slots[name][path] = flat[offset:offset + size].reshape(shape)
            offset += size

    def step(self):
        self.steps += 1
        step_size = self.lr * (1 - self.beta2 ** self.steps) ** 0.5 / (1 - self.beta1 ** self.steps)
        adam_update(*self.flat, self.beta1, self.beta2, step_size, self.eps)

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
