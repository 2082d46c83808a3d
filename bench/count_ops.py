"""Count the array operations of one training step: on CuPy each is (about) one kernel launch;
and its reads from the device to the host: on CuPy each waits for the device.

    python bench/count_ops.py [--presets tiny small paper] [--recipe tinygan] [--layout grid]
    python bench/step_speed.py --count-ops [--presets ...]   (the same table)

The table starts with the stamp of bench/harness.py (commit, machine, date, command line).

A GPU step of a small model costs its launches more than its arithmetic, so this count is
what a change for the GPU should bring down; it is measured here on NumPy, without a GPU.
The counter installs a stand-in array module (named 'numpy', so tinygan treats it as NumPy)
whose arrays are an ndarray subclass: every ufunc call (elementwise, reductions, matmul),
every NumPy function called on them (concatenate, where, pad, ...), every array made by the
module (zeros, empty, asarray of host data: a transfer), every write into an array
(``a[...] = b``), every gather with an index array, ``copy`` and ``astype`` count as one
operation, attributed to the innermost layer kind running (Conv2D, BatchNorm, PReLU, ...),
or to Adam, the weight average, the loss, or the updater itself (data, transfers). A
function made of other operations (``pad``, say) counts once. Views (reshape, slices,
transposes) count nothing. Random draws of the dropout masks are not counted.

A read to the host is what makes a NumPy value of a device array: ``float``, ``int``, ``bool``,
``complex``, ``operator.index`` or ``format`` of one, its ``item()``, ``tolist()`` or ``get()``,
and ``np.asarray`` / ``np.array`` / ``np.ascontiguousarray`` of it (so :func:`tinygan.backend.to_host`).
As on CuPy, a reduction or an element gives a 0-d device array, not a host scalar. A training
step should make none: the losses it returns are read by the loop, and only when it logs.
"""
import argparse
import collections
import contextlib

import numpy as np

from harness import stamp, stamp_text
from tinygan import backend, fast, layers, models, threads, updater
from tinygan.data import load_digits
from tinygan.ema import WeightAverage
from tinygan.fast import kernels
from tinygan.fast.conv import BLOCK_BYTES
from tinygan.optim import Adam
from tinygan.settings import RECIPE_NAMES, RunSettings

# Functions of the array module that make an array (counted, and their result counted from then on).
MAKERS = {"zeros", "empty", "ones", "full", "zeros_like", "empty_like", "ones_like", "full_like", "arange", "eye",
          "asarray", "array", "ascontiguousarray", "concatenate", "stack", "tile"}


class Counter:
    """Operations per kind of code (the innermost running), and calls per layer kind."""

    def __init__(self):
        self.ops = collections.Counter()
        self.calls = collections.Counter()
        self.reads = collections.Counter()  # reads from the device to the host
        self.kinds = ["Updater"]
        self.depth = 0  # > 0 inside a counted operation: what it does inside is not counted again

    def record(self):
        if self.depth == 0:
            self.ops[self.kinds[-1]] += 1

    def read(self):
        self.reads[self.kinds[-1]] += 1

    @contextlib.contextmanager
    def operation(self):
        self.record()
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    @contextlib.contextmanager
    def inside(self, kind):
        self.kinds.append(kind)
        try:
            yield
        finally:
            self.kinds.pop()


COUNTER = Counter()


def plain(value):
    """CountedArrays (also inside tuples, lists and dicts) as plain ndarrays."""
    if isinstance(value, CountedArray):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def counted(value):
    """ndarrays (also inside tuples) as CountedArrays; NumPy scalars as 0-d CountedArrays (as
    CuPy's reductions and elements stay on the device)."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and not isinstance(value, CountedArray):
        return value.view(CountedArray)
    if isinstance(value, tuple):
        return tuple(counted(v) for v in value)
    return value


class CountedArray(np.ndarray):
    """An ndarray whose operations count in COUNTER."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        with COUNTER.operation():
            out = kwargs.get("out")
            result = getattr(ufunc, method)(*plain(inputs), **plain(kwargs))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return counted(result)

    def __array_function__(self, func, types, args, kwargs):
        with COUNTER.operation():
            return counted(func(*plain(args), **plain(kwargs)))

    def __getitem__(self, index):
        gathers = any(isinstance(i, (np.ndarray, list)) for i in (index if isinstance(index, tuple) else (index,)))
        if gathers:
            with COUNTER.operation():
                return counted(self.view(np.ndarray)[plain(index)])
        return counted(super().__getitem__(index))

    def __setitem__(self, index, value):
        with COUNTER.operation():
            self.view(np.ndarray)[plain(index)] = plain(value)

    def copy(self, order="C"):
        with COUNTER.operation():
            return counted(self.view(np.ndarray).copy(order))

    def astype(self, dtype, *args, copy=True, **kwargs):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        with COUNTER.operation():
            return counted(self.view(np.ndarray).astype(dtype, *args, copy=copy, **kwargs))

    def get(self):
        """CuPy's copy to the host."""
        COUNTER.read()
        return self.view(np.ndarray).copy()


def _host_read(name):
    """ndarray's method ``name``, counted as a read to the host."""
    method = getattr(np.ndarray, name)

    def read(self, *args, **kwargs):
        COUNTER.read()
        return method(self.view(np.ndarray), *args, **kwargs)
    read.__name__ = name
    return read


HOST_READS = ("__float__", "__int__", "__index__", "__bool__", "__complex__", "__format__", "item", "tolist")
for _name in HOST_READS:
    setattr(CountedArray, _name, _host_read(_name))
HOST_COPIES = ("asarray", "array", "ascontiguousarray")  # NumPy functions that copy a device array to the host


class CountingModule:
    """numpy with its array makers counted and their arrays CountedArrays."""

    __name__ = "numpy"

    def __getattr__(self, name):
        value = getattr(np, name)
        if name not in MAKERS:
            return value

        def make(*args, **kwargs):
            source = args[0] if args else None
            if name == "asarray" and isinstance(source, CountedArray) and kwargs.get("dtype") in (None, source.dtype):
                return source  # already on the 'device': no transfer
            with COUNTER.operation():
                return counted(value(*plain(args), **plain(kwargs)))
        return make


def layer_kinds():
    """Every Layer class of tinygan, and the other code whose operations are told apart."""
    classes = [cls for cls in vars(layers).values() if isinstance(cls, type) and issubclass(cls, layers.Layer)]
    classes += [models.Generator, models.Discriminator]
    methods = [(cls, name) for cls in classes for name in ("forward", "backward") if name in vars(cls)]
    methods += [(Adam, "step"), (WeightAverage, "update"), (updater.HingeLoss, "discriminator"),
                (updater.HingeLoss, "generator"), (updater.PaperLoss, "discriminator"), (updater.PaperLoss, "generator")]
    return methods


KIND_NAMES = {"HingeLoss": "loss", "PaperLoss": "loss"}
FUSED = [name for name, value in vars(kernels).items()  # tinygan.fast.kernels: one CUDA kernel each on CuPy
         if callable(value) and not name.startswith("_") and value.__module__ == kernels.__name__]


@contextlib.contextmanager
def counting():
    """Install the counting array module and the per-kind attribution; restore both after."""
    saved_module = backend._state["xp"]
    wrapped = []
    for cls, name in layer_kinds():
        original = vars(cls)[name]
        kind = KIND_NAMES.get(cls.__name__, cls.__name__)

        def attributed(self, *args, __original=original, __kind=kind, __name=name, **kwargs):
            if __name == "forward":
                COUNTER.calls[__kind] += 1
            with COUNTER.inside(__kind):
                return __original(self, *args, **kwargs)

        setattr(cls, name, attributed)
        wrapped.append((cls, name, original))
    for name in HOST_COPIES:  # numpy's own (the counting module's makers hand them plain arrays: no read)
        original = getattr(np, name)

        def host_copy(source, *args, __original=original, **kwargs):
            if isinstance(source, CountedArray):
                COUNTER.read()
                source = source.view(np.ndarray)
            return __original(source, *args, **kwargs)
        setattr(np, name, host_copy)
        wrapped.append((np, name, original))
    backend._state["xp"] = CountingModule()
    fast.use("device")  # the implementations CuPy runs: channel vectors broadcast, not tiled, virtual padding
    host_threads = threads.threads()
    threads.set_threads(1)  # as on CuPy: every layer's work in one part
    for name in FUSED:  # on CuPy each is one kernel: count it once (its NumPy twin runs inside)
        original = vars(kernels)[name]

        def fused(*args, __original=original, **kwargs):
            with COUNTER.operation():
                return counted(__original(*plain(args), **plain(kwargs)))
        setattr(kernels, name, fused)
        wrapped.append((kernels, name, original))
    caches = (kernels._ones, vars(fast.conv._scratch_buffers))  # arrays kept between calls: none counted outside
    for cache in caches:
        cache.clear()
    try:
        yield COUNTER
    finally:
        backend._state["xp"] = saved_module
        fast.use(None)
        threads.set_threads(host_threads)
        for cache in caches:
            cache.clear()
        for cls, name, original in wrapped:
            setattr(cls, name, original)


def count_step(preset, recipe, batch, data_dir=None, step=3, blocks="cupy", layout="grid"):
    """Operations, forward calls and reads to the host of one training step (``Updater.update``)
    of ``preset`` on ``layout``, each by kind, after ``step`` uncounted steps (so that lazily made
    buffers exist). ``blocks``: the backend whose im2col block size the convolutions use (CuPy's
    builds it in fewer, larger blocks)."""
    backend.set_backend("numpy")
    digits = load_digits("train", data_dir=data_dir, log=lambda message: None)
    budgets = dict(BLOCK_BYTES)
    BLOCK_BYTES["numpy"] = budgets[blocks]  # the counting module passes for NumPy: give it that backend's budget
    with counting() as counter:
        run = updater.Updater(RunSettings(preset=preset, recipe=recipe, batch_size=batch, layout=layout), digits)
        for warmup in range(step):
            run.update(warmup)
        for tally in (counter.ops, counter.calls, counter.reads):
            tally.clear()
        run.update(step)
    BLOCK_BYTES.update(budgets)
    return dict(counter.ops), dict(counter.calls), dict(counter.reads)


def print_counts(counts, recipe, batch, blocks="cupy"):
    """A table: operations per step by kind, one column per preset; calls and operations per
    call of each kind; then the reads to the host per step."""
    presets = list(counts)
    kinds = sorted({kind for ops, _, _ in counts.values() for kind in ops},
                   key=lambda kind: -max(counts[p][0].get(kind, 0) for p in presets))
    print(f"\n== array operations in one training step (recipe {recipe}, batch {batch}, convolutions in "
          f"{blocks}'s im2col blocks); on CuPy about one kernel launch each")
    print(f"{'kind':<22}" + "".join(f"{p + ' ops':>14}{'calls':>8}{'ops/call':>10}" for p in presets))
    for kind in kinds:
        cells = ""
        for p in presets:
            ops, calls = counts[p][0].get(kind, 0), counts[p][1].get(kind, 0)
            cells += f"{ops:>14}{calls or '-':>8}{(f'{ops / calls:.1f}' if calls else '-'):>10}"
        print(f"{kind:<22}{cells}")
    print(f"{'total per step':<22}" + "".join(f"{sum(counts[p][0].values()):>14}{'':>18}" for p in presets))
    print("calls: forward calls in the step (each has a backward, except where only inference runs); "
          "ops/call: forward and backward operations per call")
    for p in presets:
        reads = counts[p][2]
        print(f"reads to the host in the step ({p}): {sum(reads.values())}"
              + "".join(f", {kind} {n}" for kind, n in sorted(reads.items())))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    parser.add_argument("--recipe", choices=RECIPE_NAMES, default="tinygan")
    parser.add_argument("--layout", choices=["grid", "random"], default="grid")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--blocks", choices=sorted(BLOCK_BYTES), default="cupy",
                        help="whose im2col block size the convolutions use (default cupy: the launches a GPU makes)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    print(stamp_text(stamp(threads=1)), flush=True)  # counted as on CuPy: one host thread
    counts = {preset: count_step(preset, args.recipe, args.batch, args.data_dir, blocks=args.blocks, layout=args.layout)
              for preset in args.presets}
    print_counts(counts, args.recipe, args.batch, args.blocks)
    return counts


if __name__ == "__main__":
    main()
