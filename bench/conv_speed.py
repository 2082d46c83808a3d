"""Conv2D speed: tinygan against its own GEMM ceiling and against PyTorch, per shape and backend.

    python bench/conv_speed.py [--backend numpy|cupy|all] [--batch 32] [--shapes SPEC ...]
                               [--repeats 5] [--warmup 1] [--json out.json] [--no-torch]
                               [--tf32] [--threads N] [--quick]

A shape SPEC is ``C-F@HsS``: C input channels, F filters, an H x H input, stride S, 3x3 kernel
('same' padding), e.g. ``128-64@28s1``. ``--quick`` runs a cheap subset at batch 4 (smoke test).

Per shape the script times, interleaved within each repeat so that machine noise hits all of
them alike (medians of ``--repeats`` after ``--warmup`` rounds, device-synchronized on a GPU):

* tinygan forward, and forward + backward (random dy; the input gradient is computed);
* the GEMM ceiling: one matmul of the conv's main GEMM, (N*Ho*Wo, k*k*C) @ (k*k*C, F), its rows
  split over the host threads as tinygan splits its own (tinygan.threads.matmul);
* PyTorch's F.conv2d forward + backward (NCHW, bias, same output size, x.requires_grad).

FLOPs: forward 2*N*Ho*Wo*k*k*C*F, forward + backward 3x that (bias ignored). "vs GEMM" is
conv forward+backward time / (3 x GEMM time): 1.0 means the conv runs at GEMM speed.
A memory line reports the extra peak memory of one forward + backward of 128-64@128s1.
The printout and the ``--json`` record start with the stamp of bench/harness.py: commit, machine,
BLAS and its kernel, threads, date and command line.
"""
import argparse
import math
import re
import statistics
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import (add_runtime_arguments, configure_environment, fmt, interleaved_medians,
                     load_torch, save_json, stamp, stamp_text)
from tinygan import backend, threads
from tinygan.layers.conv import Conv2D

DEFAULT_SHAPES = ["256-256@32s1", "256-128@64s1", "128-64@128s1",
                  "256-256@7s1", "256-128@14s1", "128-64@28s1",
                  "1-32@128s2", "32-64@64s2", "64-128@32s2",
                  "1-32@28s2", "32-64@14s2", "64-128@7s2"]
QUICK_SHAPES = ["128-64@28s1", "32-64@14s2", "1-32@28s2"]
QUICK_BATCH = 4
MEMORY_SHAPE = "128-64@128s1"
MEMORY_TARGET_BYTES = 1.5e9
PARITY_TOLERANCE = {False: 1e-4, True: 1e-2}  # max relative error vs torch, by TF32 mode
DTYPE = np.float32


@dataclass(frozen=True)
class Shape:
    """One benchmark case: a k x k conv of C -> F channels on a size x size input."""
    in_channels: int
    out_channels: int
    size: int
    stride: int
    kernel: int = 3

    @classmethod
    def parse(cls, spec):
        match = re.fullmatch(r"(\d+)-(\d+)@(\d+)(?:s(\d+))?", spec)
        if not match:
            raise argparse.ArgumentTypeError(f"shape {spec!r} is not of the form C-F@HsS, e.g. 128-64@28s1")
        channels, filters, size, stride = match.groups()
        return cls(int(channels), int(filters), int(size), int(stride or 1))

    def __str__(self):
        return f"{self.in_channels}-{self.out_channels}@{self.size}s{self.stride}"

    @property
    def out_size(self):
        return -(-self.size // self.stride)  # 'same' padding: ceil(size / stride)

    def gemm_dims(self, batch):
        """(M, K, F) of the forward GEMM: (N*Ho*Wo, k*k*C) @ (k*k*C, F)."""
        return batch * self.out_size ** 2, self.kernel ** 2 * self.in_channels, self.out_channels

    def forward_flops(self, batch):
        rows, depth, filters = self.gemm_dims(batch)
        return 2 * rows * depth * filters


# ----------------------------------------------------------------------------- cases to time

def tinygan_case(shape, batch):
    """(layer, x, dy) on the current backend, filled with seeded random numbers."""
    layer = Conv2D(shape.in_channels, shape.out_channels, shape.kernel, shape.stride,
                   rng=np.random.default_rng(0), dtype=DTYPE)
    rng = backend.rng(1)
    x = rng.standard_normal((batch, shape.size, shape.size, shape.in_channels), dtype=DTYPE)
    dy = rng.standard_normal((batch, shape.out_size, shape.out_size, shape.out_channels), dtype=DTYPE)
    return layer, x, dy


def gemm_case(shape, batch):
    """A callable doing the conv's main GEMM once, on the current backend, its rows split over
    tinygan's host threads (each with one OpenBLAS thread), as the conv runs its own."""
    rows, depth, filters = shape.gemm_dims(batch)
    rng = backend.rng(2)
    cols = rng.standard_normal((rows, depth), dtype=DTYPE)
    weights = rng.standard_normal((depth, filters), dtype=DTYPE)
    return lambda: threads.matmul(cols, weights)


def torch_case(torch, device, layer, x, dy):
    """A callable doing F.conv2d forward + backward with tinygan's weights, padding and data.

    Tinygan pads Keras-style ('same': any odd padding goes after); where that is asymmetric
    the input is padded explicitly with F.pad inside the timed call, as tinygan does."""
    functional = torch.nn.functional

    def nchw(array):
        return torch.from_numpy(np.ascontiguousarray(backend.to_host(array).transpose(0, 3, 1, 2))).to(device)

    weight = torch.from_numpy(backend.to_host(layer.params["w"]).transpose(3, 2, 0, 1).copy()).to(device)
    bias = torch.from_numpy(backend.to_host(layer.params["b"])).to(device)
    inputs, grad_out = nchw(x).requires_grad_(), nchw(dy)
    weight.requires_grad_()
    bias.requires_grad_()
    top, bottom, left, right = layer.pads(x.shape[1], x.shape[2])
    symmetric = top == bottom == left == right

    def forward():
        padded = inputs if symmetric else functional.pad(inputs, (left, right, top, bottom))
        return functional.conv2d(padded, weight, bias, stride=layer.stride,
                                 padding=top if symmetric else 0)

    def forward_backward():
        inputs.grad = weight.grad = bias.grad = None
        forward().backward(grad_out)

    return forward, forward_backward


def parity_error(torch_forward, layer, x):
    """Max |tinygan y - torch y| / max |torch y|: checks both sides compute the same conv."""
    ours = backend.to_host(layer.forward(x)[0])
    with_torch = torch_forward().detach().permute(0, 2, 3, 1).cpu().numpy()
    return float(np.abs(ours - with_torch).max() / max(np.abs(with_torch).max(), 1e-30))


def benchmark_shape(shape, args, torch, torch_device):
    """All timings of one shape on the current backend, as a JSON-ready dict."""
    layer, x, dy = tinygan_case(shape, args.batch)
    calls = {
        "fwd": (lambda: layer.forward(x), backend.synchronize),
        "fwd_bwd": (lambda: layer.backward(dy, layer.forward(x)[1]), backend.synchronize),
        "gemm": (gemm_case(shape, args.batch), backend.synchronize),
    }
    parity = None
    if torch_device is not None:
        torch_forward, torch_forward_backward = torch_case(torch, torch_device, layer, x, dy)
        sync = torch.cuda.synchronize if torch_device == "cuda" else (lambda: None)
        calls["torch_fwd_bwd"] = (torch_forward_backward, sync)
        parity = parity_error(torch_forward, layer, x)
    medians = interleaved_medians(calls, args.repeats, args.warmup)
    flops = shape.forward_flops(args.batch)
    rows, depth, filters = shape.gemm_dims(args.batch)
    result = {"shape": str(shape), "batch": args.batch, "forward_gflop": flops / 1e9,
              "gemm_dims": [rows, depth, filters], "torch_parity_rel_error": parity,
              "samples_s": {name: times for name, (_, times) in medians.items()}}
    for name, (seconds, _) in medians.items():
        result[f"{name}_ms"] = seconds * 1e3
        result[f"{name}_gflops"] = (flops if name in ("fwd", "gemm") else 3 * flops) / seconds / 1e9
    result["vs_gemm"] = medians["fwd_bwd"][0] / (3 * medians["gemm"][0])
    if "torch_fwd_bwd" in medians:
        result["tinygan_over_torch"] = medians["fwd_bwd"][0] / medians["torch_fwd_bwd"][0]
    return result


# ----------------------------------------------------------------------------- memory

def extra_peak_bytes(shape, batch):
    """Peak memory of one Conv2D forward + backward beyond x, dy, the parameters, y and dx.

    NumPy: numpy reports its allocations to tracemalloc, so the traced peak counts every
    temporary. CuPy: growth of the memory pool across the call (freed blocks stay in the
    pool, so this is the high-water mark, an upper bound if blocks fragment). Run before any
    other conv of the backend, so that conv's reusable scratch buffers are counted too."""
    layer, x, dy = tinygan_case(shape, batch)
    if backend.backend_name() == "numpy":
        tracemalloc.start()
        y, cache = layer.forward(x)
        dx = layer.backward(dy, cache)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak - y.nbytes - dx.nbytes, "tracemalloc peak"
    pool = backend.get_xp().get_default_memory_pool()
    backend.synchronize()
    pool.free_all_blocks()
    before = pool.total_bytes()
    y, cache = layer.forward(x)
    dx = layer.backward(dy, cache)
    backend.synchronize()
    return pool.total_bytes() - before - y.nbytes - dx.nbytes, "cupy memory pool growth"


# ----------------------------------------------------------------------------- report

def print_table(name, results, summary, memory, header, tolerance):
    """The per-backend table, the ratio summary, any parity failure and the memory line."""
    print(f"\n== {name} backend: {header}")
    columns = ("shape", "fwd ms", "fwd+bwd ms", "GFLOP/s", "GEMM GFLOP/s", "vs GEMM",
               "torch f+b ms", "torch GFLOP/s", "tinygan/torch")
    print("  ".join(f"{c:>13}" if i else f"{c:<13}" for i, c in enumerate(columns)))
    for r in results:
        cells = (fmt(r["fwd_ms"], ".1f"), fmt(r["fwd_bwd_ms"], ".1f"), fmt(r["fwd_bwd_gflops"], ".1f"),
                 fmt(r["gemm_gflops"], ".1f"), fmt(r["vs_gemm"], ".3g"), fmt(r.get("torch_fwd_bwd_ms"), ".1f"),
                 fmt(r.get("torch_fwd_bwd_gflops"), ".1f"), fmt(r.get("tinygan_over_torch"), ".3g"))
        print(f"{r['shape']:<13}  " + "  ".join(f"{c:>13}" for c in cells))
    if summary["geomean_tinygan_over_torch"] is not None:
        print(f"geometric mean tinygan/torch: {summary['geomean_tinygan_over_torch']:.3g}; "
              f"worst: {summary['worst_shape']} ({summary['worst_ratio']:.3g}x)")
    for r in results:
        if r["torch_parity_rel_error"] is not None and r["torch_parity_rel_error"] > tolerance:
            print(f"WARNING {r['shape']}: tinygan and torch outputs differ by "
                  f"{r['torch_parity_rel_error']:.1e} (relative), over {tolerance:.0e}")
    verdict = "ok" if memory["extra_peak_bytes"] <= MEMORY_TARGET_BYTES else "OVER"
    print(f"memory: {memory['shape']} batch {memory['batch']} forward+backward needs "
          f"{memory['extra_peak_bytes'] / 1e6:.0f} MB beyond x, dy, y, dx and parameters "
          f"({memory['method']}; target < {MEMORY_TARGET_BYTES / 1e9:.1f} GB: {verdict})")


def summarize(results):
    """Geometric mean and worst of tinygan/torch over the shapes that have a torch figure."""
    ratios = {r["shape"]: r["tinygan_over_torch"] for r in results if "tinygan_over_torch" in r}
    if not ratios:
        return {"geomean_tinygan_over_torch": None, "worst_shape": None, "worst_ratio": None}
    worst = max(ratios, key=ratios.get)
    return {"geomean_tinygan_over_torch": math.exp(statistics.fmean(map(math.log, ratios.values()))),
            "worst_shape": worst, "worst_ratio": ratios[worst]}


def run_backend(name, args, torch, torch_reason):
    """Select the backend, measure memory then every shape; print and return the record."""
    backend.set_backend(name)
    backend.keep_freed_host_memory()  # as training runs the layers (the Updater sets it); glibc's, so torch's too
    torch_device = None
    if torch is not None:
        torch_device = "cpu" if name == "numpy" else ("cuda" if torch.cuda.is_available() else None)
        torch_reason = "ok" if torch_device else "torch has no CUDA device"
    shape = Shape.parse(MEMORY_SHAPE)
    extra, method = extra_peak_bytes(shape, args.batch)
    memory = {"shape": MEMORY_SHAPE, "batch": args.batch, "extra_peak_bytes": extra, "method": method}
    results = []
    for shape in args.shapes:
        results.append(benchmark_shape(shape, args, torch, torch_device))
        print(f"  measured {shape}", file=sys.stderr, flush=True)
    summary = summarize(results)
    header = (f"{args.threads} threads, float32, batch {args.batch}, TF32 {'on' if args.tf32 else 'off'}, "
              f"median of {args.repeats} after {args.warmup} warm-up; torch: "
              f"{torch_device or 'none (' + torch_reason + ')'}")
    print_table(name, results, summary, memory, header, PARITY_TOLERANCE[args.tf32])
    return {"shapes": results, "summary": summary, "memory": memory,
            "torch_device": torch_device, "torch_note": torch_reason}


def backends_to_run(choice):
    """The backend names for --backend numpy|cupy|all; asking for an unusable CuPy is an error."""
    cupy, reason = backend.cupy_status()
    if choice == "cupy" and cupy is None:
        sys.exit(f"--backend cupy: {reason}")
    if choice == "all":
        if cupy is None:
            print(f"(cupy skipped: {reason})", file=sys.stderr)
        return ["numpy"] + (["cupy"] if cupy is not None else [])
    return [choice]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("numpy", "cupy", "all"), default="all")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--shapes", nargs="+", type=Shape.parse, metavar="SPEC",
                        help="shapes C-F@HsS (3x3 kernel), default: the 12 standard shapes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    add_runtime_arguments(parser)
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {len(QUICK_SHAPES)} small shapes at batch {QUICK_BATCH}")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch = QUICK_BATCH
        args.shapes = args.shapes or [Shape.parse(spec) for spec in QUICK_SHAPES]
    args.shapes = args.shapes or [Shape.parse(spec) for spec in DEFAULT_SHAPES]
    if args.repeats < 1 or args.warmup < 0 or args.batch < 1 or args.threads < 1:
        parser.error("--repeats, --batch and --threads must be >= 1, --warmup >= 0")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    configure_environment(args, argv, __file__)
    torch, torch_reason = load_torch(args)
    host_threads = threads.set_threads()  # first: several host threads keep OpenBLAS to one thread each
    cupy, _ = backend.cupy_status()
    record = {"stamp": stamp(args.threads, torch, cupy, host_threads=host_threads, tf32=args.tf32),
              "settings": {"batch": args.batch, "repeats": args.repeats, "warmup": args.warmup,
                           "dtype": "float32", "kernel": 3, "padding": "same",
                           "shapes": [str(shape) for shape in args.shapes]},
              "backends": {}}
    print(stamp_text(record["stamp"]), flush=True)
    for name in backends_to_run(args.backend):
        record["backends"][name] = run_backend(name, args, torch, torch_reason)
    if args.json:
        save_json(args.json, record)


if __name__ == "__main__":
    main()
