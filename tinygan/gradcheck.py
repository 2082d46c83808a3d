"""Gradient checks: hand-written backward passes against central finite differences.

For a scalar f = sum(g * forward(x)) with a random upstream gradient g, the backward
pass must give df/dx and df/dp for every parameter p. Small tensors are checked
element by element; large ones along a few random directions d, comparing
(f(t + eps d) - f(t - eps d)) / (2 eps) with <grad, d> (Chainer's directional check).
Run it in float64.
"""
import numpy as np

from .backend import get_xp, to_host


def _directional_or_elementwise(tensor, max_elementwise, directions, rng):
    """Yield (perturbation direction, index label) pairs for ``tensor``."""
    xp = get_xp()
    if tensor.size <= max_elementwise:
        for flat_index in range(tensor.size):
            direction = xp.zeros(tensor.size, dtype=tensor.dtype)
            direction[flat_index] = 1
            yield direction.reshape(tensor.shape), tuple(int(i) for i in np.unravel_index(flat_index, tensor.shape))
    else:
        for i in range(directions):
            yield xp.asarray(rng.standard_normal(tensor.shape)), f"direction {i}"


def check_gradients(forward, backward, x, parameters, seed=0, eps=1e-6, rtol=1e-5, atol=1e-7,
                    max_elementwise=300, directions=4):
    """Compare analytic and numerical gradients; raise AssertionError naming the tensor.

    forward(x) -> (y, cache); backward(dy, cache) -> dx, adding into the grads of
    ``parameters``, a list of (name, param array, grad array) whose param arrays are
    perturbed in place. ``forward`` must be deterministic (reseed any dropout inside it).
    Returns {tensor name: largest abs error} for reporting.
    """
    xp = get_xp()
    rng = np.random.default_rng(seed)
    for _, _, grad in parameters:
        grad[...] = 0
    y, cache = forward(x)
    upstream = xp.asarray(rng.standard_normal(y.shape), dtype=y.dtype)
    analytic = {"input": backward(upstream, cache)}
    for name, _, grad in parameters:
        analytic[name] = grad.copy()

    def objective():
        return float(to_host((forward(x)[0] * upstream).sum()))

    errors = {}
    for name, tensor in [("input", x)] + [(name, param) for name, param, _ in parameters]:
        worst = 0.0
        for direction, where in _directional_or_elementwise(tensor, max_elementwise, directions, rng):
            original = tensor.copy()
            tensor += eps * direction
            plus = objective()
            tensor[...] = original - eps * direction
            minus = objective()
            tensor[...] = original
            numeric = (plus - minus) / (2 * eps)
            exact = float(to_host((analytic[name] * direction).sum()))
            error = abs(numeric - exact)
            if error > atol + rtol * max(abs(numeric), abs(exact)):
                raise AssertionError(f"gradient of {name} at {where}: backward gives {exact:.10g}, "
                                     f"finite differences {numeric:.10g}")
            worst = max(worst, error)
        errors[name] = worst
    return errors


def check_layer(layer, x, seed=0, before_forward=None, **tolerances):
    """:func:`check_gradients` for a Layer: its input and every parameter (children included).
    ``before_forward()`` runs before each forward, e.g. to reseed a Dropout generator."""
    def forward(inputs):
        if before_forward is not None:
            before_forward()
        return layer.forward(inputs)

    parameters = [(name, owner.params[key], owner.grads[key]) for name, owner, key in layer.named_parameters()]
    return check_gradients(forward, layer.backward, x, parameters, seed=seed, **tolerances)
