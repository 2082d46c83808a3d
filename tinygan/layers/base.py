"""The Layer protocol and the Sequential container.

A layer holds ``params`` and ``grads``, two dicts with the same keys. Its
``forward(x) -> (y, cache)`` returns the output and everything the backward needs;
``backward(dy, cache, need_dx=True) -> dx`` returns the input gradient and *adds* the
parameter gradients into ``grads``. Because the cache is returned rather than stored, one
layer can run forward on several batches (a discriminator on the real and the
fake batch) before any backward, and gradients accumulate until ``zero_grad``.

Two independent switches skip gradients nobody needs. The input gradient: with
``need_dx=False`` a layer that can skip computing dx does and returns None (Dense, Conv2D,
Sequential, which tells only its first layer, and the models); others ignore the flag.
The parameter gradients: after ``freeze()`` a layer and its children add nothing to ``grads``.

Mode: ``train()`` / ``eval()`` set it for good; code that draws or scores with a model it
does not own uses ``with model.evaluating():``, which restores the model's mode afterwards.
"""
from contextlib import contextmanager

from ..backend import get_xp
from ..fast import replaceable


@replaceable
def column_sums(a):
    """Column sums (C,) of a (M, C)."""
    return a.sum(axis=0)


@replaceable
def fill_zeros(flat):
    """Set a flat buffer to zero."""
    flat.fill(0)


class Layer:
    """Base class: parameter bookkeeping, train/eval mode and input checks."""

    second_input = False  # True for layers whose forward is forward(x, second): class labels or a layout map

    def __init__(self, name=None):
        self.name = name or type(self).__name__
        self.params = {}
        self.grads = {}
        self.training = True
        self.frozen = False
        self.flat = None  # (parameters, gradients) after flatten()

    def add_param(self, key, value):
        """Register a parameter array and its zeroed gradient."""
        xp = get_xp()
        self.params[key] = xp.asarray(value)
        self.grads[key] = xp.zeros_like(self.params[key])

    def children(self):
        """Named sub-layers, as a dict (empty for a leaf layer)."""
        return {}

    def buffers(self):
        """Non-trainable state saved with the parameters (BatchNorm's running statistics)."""
        return {}

    def walk(self, prefix=""):
        """Yield ``(path, layer)`` for this layer and every layer below it, paths like 'G/dense'."""
        path = f"{prefix}{self.name}"
        yield path, self
        for child in self.children().values():
            yield from child.walk(prefix=f"{path}/")

    def named_parameters(self):
        """Yield ``(name, layer, key)`` for every parameter here and below; name = 'path.key'."""
        for path, layer in self.walk():
            for key in layer.params:
                yield f"{path}.{key}", layer, key

    def flatten(self):
        """Make every parameter here and below a view into one flat buffer, and every gradient
        a view into another (values kept), so that an optimiser, a weight average or a sum
        across processes handles each in one operation. Returns (parameters, gradients),
        also kept as ``self.flat``. Call it before anything holds on to a parameter array."""
        entries = [(layer, key) for _, layer, key in self.named_parameters()]
        dtypes = {layer.params[key].dtype for layer, key in entries}
        if len(dtypes) != 1:
            raise ValueError(f"{self.name}: parameters of several dtypes {sorted(map(str, dtypes))} "
                             f"cannot share one buffer")
        xp, dtype = get_xp(), dtypes.pop()
        total = sum(layer.params[key].size for layer, key in entries)
        params, grads = xp.empty(total, dtype=dtype), xp.empty(total, dtype=dtype)
        offset = 0
        for layer, key in entries:
            shape, size = layer.params[key].shape, layer.params[key].size
            for flat, arrays in ((params, layer.params), (grads, layer.grads)):
                flat[offset:offset + size] = arrays[key].reshape(-1)
                arrays[key] = flat[offset:offset + size].reshape(shape)
            offset += size
        self.flat = (params, grads)
        return self.flat

    def train(self, mode=True):
        """Set training (True) or eval (False) mode here and in every child."""
        self.training = mode
        for child in self.children().values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @contextmanager
    def evaluating(self):
        """Eval mode inside the ``with`` block, the previous mode after it."""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    def freeze(self, frozen=True):
        """Stop (False: resume) adding parameter gradients here and in every child, for a
        backward pass that needs only the input gradient (the generator's update through
        the discriminator). A frozen layer's backward still returns its input gradient."""
        self.frozen = frozen
        for child in self.children().values():
            child.freeze(frozen)
        return self

    def zero_grad(self):
        if self.flat is not None:  # every gradient here and below is a view of one buffer
            fill_zeros(self.flat[1])
            return
        for key in self.grads:
            self.grads[key][...] = 0
        for child in self.children().values():
            child.zero_grad()

    def check_input(self, x, ndim=None, last_dims=None):
        """Raise a ValueError naming this layer unless ``x`` is a floating array of the
        parameters' dtype with rank ``ndim`` (any rank if None) and, if given,
        trailing dimensions ``last_dims`` (None entries match anything)."""
        shape = getattr(x, "shape", None)
        if shape is None or not hasattr(x, "dtype"):
            raise ValueError(f"{self.name}: expected an array, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise ValueError(f"{self.name}: expected a floating-point input, got dtype {x.dtype}")
        if ndim is not None and len(shape) != ndim:
            want = "(N, " + ", ".join("?" if d is None else str(d) for d in (last_dims or [None] * (ndim - 1))) + ")"
            raise ValueError(f"{self.name}: expected a {ndim}-D input of shape {want}, got shape {tuple(shape)}")
        if last_dims is not None:
            got = tuple(shape[-len(last_dims):])
            if any(w is not None and w != g for w, g in zip(last_dims, got)):
                want = "(N, " + ", ".join("?" if d is None else str(d) for d in last_dims) + ")"
                raise ValueError(f"{self.name}: expected input of shape {want}, got shape {tuple(shape)}")
        dtype = next(iter(self.params.values())).dtype if self.params else None
        if dtype is not None and x.dtype != dtype:
            raise ValueError(f"{self.name}: input dtype {x.dtype} does not match parameter dtype {dtype}")

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name}{': ' + shapes if shapes else ''})"


class Sequential(Layer):
    """Layers applied in order. The cache is the list of the layers' caches.
    Repeated layer names get a suffix ('Conv2D', 'Conv2D_1', ...) so paths stay unique.
    ``forward(x, second)`` also hands ``second`` to the layers whose ``second_input`` is set
    (class-conditional layers, :mod:`.conditional`, take labels; JoinChannels a layout map)."""

    def __init__(self, layers, name="Sequential"):
        super().__init__(name)
        self.layers = list(layers)
        seen = {}
        for layer in self.layers:
            if layer.name in seen:
                seen[layer.name] += 1
                layer.name = f"{layer.name}_{seen[layer.name]}"
            seen.setdefault(layer.name, 0)

    def children(self):
        return {layer.name: layer for layer in self.layers}

    def forward(self, x, second=None):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x, second) if layer.second_input else layer.forward(x)
            caches.append(cache)
        return x, caches

    def backward(self, dy, cache, need_dx=True):
        """dy -> dx, or None with ``need_dx=False`` (which only the first layer is told)."""
        for index in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[index].backward(dy, cache[index], need_dx or index > 0)
        return dy if need_dx else None
