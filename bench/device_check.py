"""Check tinygan's custom CuPy kernels without a GPU: CuPy's own checks and code, NVRTC, the bodies on the host.

    python bench/device_check.py [--quick] [--arch 90]     (from the top of a checkout; exit status 1 on a failure)
    bash bench/device_check.sh [ARGS]                      (the same in a venv it makes with CuPy and NVRTC)

Needs CuPy 14 (cupy-cuda12x), nvidia-cuda-nvrtc-cu12 and nvidia-cuda-runtime-cu12 (CuPy compiles
against its CUDA headers) and g++; no CUDA driver, no GPU. Three checks:

1. compile: every kernel of :data:`tinygan.fast.kernels.CUDA_KERNELS`, in float32 and float64, on
   stand-in arguments (contiguous, and per-channel vectors broadcast; the reductions also in the
   shapes CuPy sums with its CUB kernels), through CuPy's call checks and code generation, then
   NVRTC for sm_<arch>; and no other module of tinygan builds a kernel.
2. trace: two steps of tiny training runs (grid and random layouts, both recipes, white and textured
   paper, float32 and float64) on NumPy in the arrangement CuPy runs (``tinygan.fast.use("device")``), every kernel
   call (:func:`tinygan.fast.kernels.host_launches`) replayed as CuPy makes it: the arguments
   checked as CuPy checks them, the source CuPy builds for them compiled with NVRTC, the kernel's
   body compiled with g++ and run on the host in place of the GPU. The losses and weights match
   the host run of the same seed (1e-9 relative in float64, 1e-4 in float32), every launch in
   tinygan/fast/kernels.py is reached and no call raises. ``--quick``: the float64 grid run only.
3. api: every call through an array module in tinygan (``xp.f``, ``get_xp().f``, ``cupy.f``) names
   something this CuPy has, with keywords it takes.

It cannot see host/device mix-ups outside the kernels (everything is NumPy), cuBLAS and CuPy's own
kernels, launch configurations, races between kernels, NCCL or speed.
"""
import argparse
import ast
import inspect
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

import device_check_cupy as cuda
import device_check_host as host
import tinygan
from tinygan import backend, fast, threads
from tinygan.data import load_digits
from tinygan.fast import kernels
from tinygan.settings import RunSettings
from tinygan.updater import Updater

PACKAGE = Path(tinygan.__file__).parent
KERNELS_FILE = Path(kernels.__file__)
RUNS = [  # (label, RunSettings fields, dtype); each runs STEPS steps
    ("tiny grid, tinygan recipe, float64", dict(preset="tiny", recipe="tinygan", batch_size=8), np.float64),
    ("tiny grid, tinygan recipe, float32", dict(preset="tiny", recipe="tinygan", batch_size=8), np.float32),
    ("tiny grid, paper recipe, float32", dict(preset="tiny", recipe="paper", batch_size=8), np.float32),
    ("tiny random layout, tinygan recipe, float32",
     dict(preset="tiny", recipe="tinygan", batch_size=8, layout="random", max_objects=3), np.float32),
    ("tiny grid on paper, alpha, merge convs, ink ceiling 1, float64",  # compositing, merge convs, mask prior
     dict(preset="tiny", recipe="tinygan", batch_size=8, background="textured", merge_convs=2, ink_ceiling=1.0),
     np.float64),
    ("tiny random layout on paper, the defaults on paper (alpha, ink ceiling, paper families, bilinear), float32",
     dict(preset="tiny", recipe="tinygan", batch_size=8, layout="random", max_objects=3, background="textured"),
     np.float32),
    ("tiny random layout on paper, paper families and norms, nearest upsampling, global pooling, stem, "
     "alpha floor, per-pixel noise, waves, paper pathway and classifier, float64",
     dict(preset="tiny", recipe="tinygan", batch_size=8, layout="random", max_objects=3, background="textured",
          global_upsampling="nearest", global_pool=True, paper_norm=True, disc_stem=2, alpha_floor=0.05,
          global_noise=True, global_waves=True, paper_weight=0.5, family_weight=1.0), np.float64),
]
STEPS = 2
TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}


# ----------------------------------------------------------------------------- 1. compile

def stand_ins(kernel, dtype):
    """(label, args, kwargs) to call ``kernel`` with in ``dtype``: typed inputs (int32 height) as
    Python scalars, raw arrays (4, 6, 6, 8); 'contiguous': the other arrays (64, 8); 'broadcast':
    the first T input and the outputs (64, 8), the other T inputs (8,). Reductions: column sums,
    per-sample sums and, with one input, the shapes of CuPy's CUB kernels and a short whole sum."""
    from cupy import ReductionKernel

    def array(p, shape):
        return np.zeros(shape, dtype if p.dtype is None else p.dtype)

    def argument(p, variant, first):
        if p.raw:
            return array(p, (4, 6, 6, 8))
        if p.dtype is not None:
            return 3 if np.dtype(p.dtype).kind in "iub" else 0.5
        return array(p, (64, 8) if variant == "contiguous" or p is first else (8,))
    if isinstance(kernel, ReductionKernel):
        shapes = [("(256, 8) axis 0", (256, 8), 0), ("(4, 64, 8) axis 1", (4, 64, 8), 1)]
        if kernel.nin == 1:
            shapes += [("(256, 1) axis 0, CUB", (256, 1), 0), ("(1024,) whole, CUB 2 passes", (1024,), None),
                       ("(64,) whole", (64,), None)]
        return [(label, [array(p, shape) for p in kernel.in_params], {"axis": axis}) for label, shape, axis in shapes]
    ins, outs = kernel.in_params, kernel.out_params
    generic = [p for p in ins if not p.raw and p.dtype is None]
    looped = any(not p.raw and (p.dtype is None or p in outs) for p in ins + outs)  # else a size is given
    cases = []
    for variant in ("contiguous", "broadcast")[:1 + (len(generic) > 1)]:
        args = [argument(p, variant, generic[0] if generic else None) for p in ins]
        args += [array(p, (4, 6, 6, 8) if p.raw else (64, 8)) for p in outs]
        cases.append((variant, args, {} if looped else {"size": 64 * 8}))
    return cases


def check_compile(dtypes):
    """Every kernel in every dtype on its stand-ins; returns the failures."""
    failures, count = [], 0
    for name in kernels.CUDA_KERNELS:
        kernel = kernels.cuda_kernel(name)
        for dtype in dtypes:
            for label, args, kwargs in stand_ins(kernel, dtype):
                try:
                    outcomes = cuda.replay(kernel, args, kwargs).compile()
                except Exception as err:
                    outcomes = [cuda.Compiled(False, "", (), f"{type(err).__name__}: {err}")]
                count += len(outcomes)
                failures += [f"{name} {dtype} {label}: {first_lines(o.log)}" for o in outcomes if not o.ok]
    failures += [f"{where}: a CuPy kernel built outside tinygan/fast/kernels.py (not in CUDA_KERNELS)"
                 for where in kernels_built_elsewhere()]
    print(f"compile: {len(kernels.CUDA_KERNELS)} kernels, {count} compiles for {', '.join(dtypes)}, "
          f"{len(failures)} failed")
    return failures


def kernels_built_elsewhere():
    """file:line of each CuPy kernel that tinygan builds outside tinygan/fast/kernels.py."""
    builder = re.compile(r"\b(ElementwiseKernel|ReductionKernel|RawKernel|RawModule)\(|\.fuse\b|\.rawkernel\b")
    return [f"{path.relative_to(PACKAGE.parent)}:{n}" for path in sorted(PACKAGE.rglob("*.py")) if path != KERNELS_FILE
            for n, line in enumerate(path.read_text().splitlines(), 1) if builder.search(line)]


def first_lines(log, n=4):
    lines = [line for line in log.splitlines() if "error" in line] or log.splitlines()
    return " | ".join(lines[:n])


# ----------------------------------------------------------------------------- 2. trace

class Tracer:
    """Stands in for the CUDA kernels during a traced run: each call replayed, compiled and run on the host."""

    def __init__(self):
        self.calls = defaultdict(int)  # (kernel function, kernel name) -> calls
        self.errors, self.notes = [], set()

    def wrap(self, kernel):
        def launch(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_name
            self.calls[(caller, kernel.name.removeprefix("tinygan_"))] += 1
            try:
                replayed = cuda.replay(kernel, args, kwargs)
                failed = [o for o in replayed.compile() if not o.ok]
                if failed:
                    raise RuntimeError(f"NVRTC: {first_lines(failed[0].log)}")
                self.notes.update(f"{caller} -> {kernel.name}: {note}" for note in replayed.notes)
                return host.run(replayed)
            except Exception as err:
                signature = ", ".join(describe(a) for a in args) + "".join(f", {k}={v}" for k, v in kwargs.items())
                self.errors.append(f"{caller} -> {kernel.name}({signature}): {type(err).__name__}: {err}")
                raise
        return launch

    def unreached(self):
        """The (kernel function, kernel) launches of tinygan/fast/kernels.py that no traced call made."""
        launches = set()
        for function in ast.parse(inspect.getsource(kernels)).body:
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "cuda_kernel" and \
                        isinstance(node.args[0], ast.Constant):
                    launches.add((function.name, node.args[0].value))
        return sorted(launches - set(self.calls))


def describe(a):
    if isinstance(a, np.ndarray):
        return f"{a.dtype}{list(a.shape)}" + ("" if a.flags.c_contiguous else " strided")
    return type(a).__name__


def train(settings, digits, dtype):
    """The losses of STEPS steps (steps, losses) and the flat weights of both models after them."""
    run = Updater(RunSettings(**settings), digits, total_steps=100, dtype=dtype)
    losses = [[float(backend.to_host(v)) for _, v in sorted(run.update(step).items())] for step in range(STEPS)]
    return np.array(losses), [backend.to_host(model.flat[0]).copy() for model in (run.generator, run.discriminator)]


def relative_gap(reference, other):
    """The largest difference relative to the largest value of ``reference`` (a loss near 0 is
    compared on the scale of the others)."""
    return float(np.max(np.abs(reference - other)) / max(1e-30, float(np.max(np.abs(reference)))))


def check_trace(runs, data_dir, verbose=False):
    """Each run on the host, then in the device arrangement through the tracer; returns the failures
    (``verbose``: also print the calls of each kernel function)."""
    backend.set_backend("numpy")
    threads.set_threads(1)
    digits = load_digits("train", data_dir=data_dir, download=False, log=lambda message: None)
    tracer, failures = Tracer(), []
    for label, settings, dtype in runs:
        fast.use(None)
        losses, weights = train(settings, digits, dtype)
        fast.use("device")
        try:
            with kernels.host_launches(tracer.wrap):
                traced_losses, traced_weights = train(settings, digits, dtype)
        except Exception as err:
            failures.append(f"{label}: the traced run raised {type(err).__name__}: {err}")
            continue
        finally:
            fast.use(None)
        loss_gap = relative_gap(losses, traced_losses)
        weight_gap = max(relative_gap(a, b) for a, b in zip(weights, traced_weights))
        ok = max(loss_gap, weight_gap) <= TOLERANCE[dtype]
        print(f"  {'ok  ' if ok else 'FAIL'} {label}: relative gap to the host run: losses {loss_gap:.1e}, "
              f"weights {weight_gap:.1e} (tolerance {TOLERANCE[dtype]:.0e})")
        if not ok:
            failures.append(f"{label}: the traced run is off the host run by {max(loss_gap, weight_gap):.1e}")
    if not failures:  # every run went through: then every launch must have been made
        failures += [f"tinygan/fast/kernels.py: {function} launches {name}, which no traced call reached"
                     for function, name in tracer.unreached()]
    failures += tracer.errors
    for (function, name), count in sorted(tracer.calls.items()) if verbose else ():
        print(f"  {function} -> {name}: {count} calls")
    for note in sorted(tracer.notes):
        print(f"  note: {note}")
    print(f"trace: {sum(tracer.calls.values())} kernel calls at {len(tracer.calls)} launches, "
          f"{len(cuda.compiled_sources())} sources compiled in all, {len(failures)} failures")
    return failures


# ----------------------------------------------------------------------------- 3. api

def array_module_calls(package):
    """{(function path, keywords): [file:line]} of every call through xp, get_xp(), array_module(...) or cupy."""
    calls = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            parts, base = [], node.func
            while isinstance(base, ast.Attribute):
                parts.insert(0, base.attr)
                base = base.value
            name = f"{getattr(base.func, 'id', getattr(base.func, 'attr', '?'))}()" if isinstance(base, ast.Call) \
                else getattr(base, "id", None)
            if parts and name in ("xp", "cupy", "cp", "get_xp()", "array_module()"):
                keywords = tuple(sorted(k.arg for k in node.keywords if k.arg))
                calls[(".".join(parts), keywords)].append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return calls


def check_api(cupy):
    """Each array-module call of the package against this CuPy; returns the failures."""
    failures, calls = [], array_module_calls(PACKAGE)
    for (name, keywords), where in sorted(calls.items()):
        target = cupy
        for part in name.split("."):
            target = getattr(target, part, None)
        if target is None:
            failures.append(f"{where[0]}: cupy has no {name}")
            continue
        if isinstance(target, cupy.ufunc):
            accepted = {"out", "dtype", "casting", "signature"}
        else:
            try:
                parameters = inspect.signature(target).parameters.values()
            except (TypeError, ValueError):  # a Cython function without a signature
                continue
            accepted = None if any(p.kind == p.VAR_KEYWORD for p in parameters) else {p.name for p in parameters}
        rejected = sorted(set(keywords) - accepted) if accepted is not None else []
        if rejected:
            failures.append(f"{where[0]}: cupy.{name} takes no keyword {', '.join(rejected)}")
    print(f"api: {len(calls)} distinct array-module calls (function, keywords), {len(failures)} failed")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="90", help="the compute capability to compile for (90: H100, H200)")
    parser.add_argument("--quick", action="store_true", help="trace the float64 grid run only")
    parser.add_argument("--verbose", action="store_true", help="list the traced calls per kernel function")
    parser.add_argument("--data-dir", default=os.environ.get("TINYGAN_DATA"),
                        help="MNIST folder (default $TINYGAN_DATA, else the cache; synthetic digits if none)")
    args = parser.parse_args()
    try:
        cupy = cuda.offline(args.arch)
    except ImportError as err:
        sys.exit(f"bench/device_check.py needs CuPy ({err}); bash bench/device_check.sh runs it in a venv with CuPy "
                 "and NVRTC")
    from cupy.cuda import nvrtc
    print(f"cupy {cupy.__version__}, NVRTC {'.'.join(map(str, nvrtc.getVersion()))}, sm_{args.arch}, numpy "
          f"{np.__version__}")
    failures = check_compile(["float32", "float64"])
    failures += check_trace(RUNS[:1] if args.quick else RUNS, args.data_dir, args.verbose)
    failures += check_api(cupy)
    for failure in failures:
        print(f"FAIL {failure}")
    print("device check: " + (f"{len(failures)} failures" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
