"""Training-step speed: tinygan's ``Updater.update`` against the same step of a PyTorch twin.

    python bench/step_speed.py [--presets small paper] [--recipe tinygan|paper]
                               [--backend numpy|cupy] [--batch 32] [--repeats 5] [--warmup 1]
                               [--threads N] [--tf32] [--json out.json] [--no-torch] [--no-check]
                               [--count-ops]

Per preset the script builds ``tinygan.updater.Updater`` from ``RunSettings(preset, recipe,
batch_size)`` (so the recipe's defaults apply: loss, spectral norm, projection, conditional BN,
noise, dropout, weight average, Adam's rates and betas) and times, interleaved within each repeat so that
machine noise hits all of them alike (medians of ``--repeats`` after ``--warmup`` rounds,
device-synchronized on a GPU):

* tinygan: ``updater.update(i)``, the real training step: draw a batch of canvases, G forward,
  D on real then fake with its update, G through the updated D with its update, the weight
  average;
* torch: the same step of the PyTorch twin (bench/torch_twin.py) of the same model, built
  from the updater's own weights: the same batch draw from tinygan's data set (host, then
  copied to the device), noise and targets drawn by torch, autograd, torch.optim.Adam;
* data: the batch draw alone, which both steps include.

Both sides train float32 on real MNIST canvases (or tinygan's synthetic digits where MNIST is
missing), not random images. Before timing, unless ``--no-check``, the twin is checked in
float64 against tinygan: parameter counts, eval-mode outputs of G and D (``forward``), and one
whole ``Updater.update`` against the twin's step from the same weights and inputs, dropout off
(``step``: losses, and every weight, running statistic and spectral-norm vector after it).
A memory line gives each side's peak memory during one step beyond what was resident before
it. The exit status is 1 when a parity check fails.

``--backend cupy`` runs tinygan on CuPy and the twin on CUDA; ``--tf32`` allows TF32 on both.
The printout and the ``--json`` record start with the stamp of bench/harness.py: commit, machine,
BLAS and its kernel, threads, date and command line.
"""
import argparse
import itertools
import resource
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from harness import (add_runtime_arguments, configure_environment, fmt, interleaved_medians,
                     load_torch, paired_ratio, save_json, stamp, stamp_text)
from tinygan import backend, threads
from tinygan.data import load_digits
from tinygan.models import PRESETS
from tinygan.settings import RECIPE_NAMES, RunSettings
from tinygan.updater import Updater

DEFAULT_PRESETS = ["small", "paper"]
PARITY_TOLERANCE = 1e-9  # float64 relative error of outputs, losses and one step's updates
CHECK_BATCH = {"forward": 3, "step": 4}


# ----------------------------------------------------------------------------- environment

def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- memory

def tinygan_peak_bytes(updater, step):
    """Peak memory of one ``updater.update`` beyond what was allocated before it. On the host,
    as for torch below, frees of memory allocated before the step are not seen: an upper
    bound where the step frees earlier memory (torch's zero_grad(set_to_none=True) frees the
    previous gradients, about the parameters' size)."""
    if backend.backend_name() == "numpy":
        tracemalloc.start()  # numpy reports its allocations to tracemalloc
        try:
            updater.update(step)
            return tracemalloc.get_traced_memory()[1], "tracemalloc peak"
        finally:
            tracemalloc.stop()
    pool = backend.get_xp().get_default_memory_pool()
    backend.synchronize()
    pool.free_all_blocks()
    before = pool.total_bytes()
    updater.update(step)
    backend.synchronize()
    return pool.total_bytes() - before, "CuPy memory pool growth (pool emptied before)"


def torch_peak_bytes(torch, device, fn):
    """Peak memory of one call of ``fn`` beyond what was allocated before it: the CUDA
    allocator's peak, or on the CPU the running sum of the profiler's allocation events."""
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before, "torch.cuda.max_memory_allocated growth"
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:  # kineto's memory events: +bytes on allocation, -bytes on free, in time order
        events = [e for e in prof.profiler.kineto_results.events()
                  if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    except AttributeError as err:  # a private API: say so rather than guess
        return None, f"unavailable ({err})"
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak, "torch profiler allocation events, running sum"


# ----------------------------------------------------------------------------- one preset

def build_updater(name, args):
    """The Updater of ``python -m tinygan.train --preset name --recipe ... --batch-size ...``."""
    settings = RunSettings(preset=name, recipe=args.recipe, batch_size=args.batch)
    return Updater(settings, load_digits("train", data_dir=args.data_dir, log=log))


def parameter_count(model):
    """Trainable values of a tinygan model."""
    return sum(int(layer.params[key].size) for _, layer, key in model.named_parameters())


def parity_checks(updater, torch_device):
    """Float64 parity of the twin with tinygan for this updater's model (see parity.py)."""
    import parity
    forward = parity.forward_parity(updater.config, torch_device, batch=CHECK_BATCH["forward"],
                                    seed=updater.settings.seed)
    step = parity.step_parity(updater.settings, updater.digits, torch_device, batch=CHECK_BATCH["step"])
    errors = [forward["generator_image_rel_error"], forward["discriminator_output_rel_error"],
              step["loss_rel_error"], step["generator_update_rel_error"], step["discriminator_update_rel_error"],
              step.get("average_rel_error", 0.0)]
    counts_equal = all(ours == theirs for ours, theirs in forward["parameters"].values())
    worst = max(errors)
    return {"forward": forward, "step": step, "worst_rel_error": worst, "tolerance": PARITY_TOLERANCE,
            "ok": counts_equal and worst <= PARITY_TOLERANCE}


def benchmark_preset(name, args, torch, torch_device):
    """Timings, memory and parity of one preset on the current backend, as a JSON-ready dict."""
    updater = build_updater(name, args)
    settings, batch, seed = updater.settings, args.batch, updater.settings.seed
    counts = {part: parameter_count(getattr(updater, part)) for part in ("generator", "discriminator")}
    result = {"preset": name, "recipe": settings.recipe, "batch": batch, "config": updater.config.to_dict(),
              "settings": settings.to_dict(), "data": updater.digits.source, "parameters": {"tinygan": counts}}
    with_torch = torch_device is not None
    if with_torch:
        import torch_twin
        result["parity"] = None if args.no_check else parity_checks(updater, torch_device)
        twin = torch_twin.TorchTwin(updater.config, settings, torch_device)
        twin.load_tinygan(updater.generator, updater.discriminator)
        result["parameters"]["torch"] = twin.parameter_counts()
    steps = {"tinygan": itertools.count(), "torch": itertools.count(), "data": itertools.count()}

    def batch_of(step):  # what Updater.update draws first, from the same seeded generator
        return updater.dataset.sample(batch, np.random.default_rng([seed, step]))

    def tinygan_step():
        updater.update(next(steps["tinygan"]))

    def torch_step():
        step = next(steps["torch"])
        real, labels, boxes = batch_of(step)
        twin.train_step(step, twin.tensor(real), twin.tensor(labels), twin.tensor(boxes))

    calls = {"tinygan": (tinygan_step, backend.synchronize)}
    if with_torch:
        calls["torch"] = (torch_step, torch.cuda.synchronize if torch_device == "cuda" else (lambda: None))
    calls["data"] = (lambda: batch_of(next(steps["data"])), lambda: None)
    medians = interleaved_medians(calls, args.repeats, args.warmup)
    for key, (seconds, samples) in medians.items():
        result[f"{key}_ms"] = seconds * 1e3
    result["samples_s"] = {key: samples for key, (_, samples) in medians.items()}
    if with_torch:
        result["tinygan_over_torch"] = result["tinygan_ms"] / result["torch_ms"]
        result["paired_tinygan_over_torch"] = paired_ratio(result["samples_s"]["tinygan"], result["samples_s"]["torch"])
    result["max_over_min"] = {key: max(samples) / min(samples) for key, samples in result["samples_s"].items()}
    peak, method = tinygan_peak_bytes(updater, next(steps["tinygan"]))
    result["memory"] = {"tinygan_extra_peak_bytes": peak, "tinygan_method": method}
    if with_torch:
        peak, method = torch_peak_bytes(torch, torch_device, torch_step)
        result["memory"].update(torch_extra_peak_bytes=peak, torch_method=method)
    return result


# ----------------------------------------------------------------------------- report

def megabytes(value):
    return None if value is None else value / 1e6


def print_report(record):
    s = record["settings"]
    print(stamp_text(record["stamp"]))
    print(f"\n== training step, recipe {s['recipe']}, backend {s['backend']}: {s['threads']} threads, float32, "
          f"batch {s['batch']}, TF32 {'on' if s['tf32'] else 'off'}, median of {s['repeats']} after "
          f"{s['warmup']} warm-up; torch: {s['torch_device'] or 'none (' + s['torch_note'] + ')'}")
    sources = sorted({r["data"] for r in record["presets"].values()})
    print(f"data: real canvases from tinygan's CanvasDataset ({', '.join(sources)} digits), not random images, "
          f"drawn inside every timed step{' on both sides' if s['torch_device'] else ''}; 'data ms' is that draw alone")
    columns = ("preset", "tinygan ms", "torch ms", "tinygan/torch", "paired", "max/min", "data ms", "tinygan MB",
               "torch MB", "params G+D", "parity err")
    print("  ".join(f"{c:>13}" if i else f"{c:<8}" for i, c in enumerate(columns)))
    for name, r in record["presets"].items():
        memory, parity = r["memory"], r.get("parity")
        params = r["parameters"]["tinygan"]
        total = params["generator"] + params["discriminator"]
        spread = "; ".join(f"{r['max_over_min'][key]:.2f}" for key in ("tinygan", "torch") if key in r["max_over_min"])
        cells = (fmt(r["tinygan_ms"], ".1f"), fmt(r.get("torch_ms"), ".1f"), fmt(r.get("tinygan_over_torch"), ".3g"),
                 fmt(r.get("paired_tinygan_over_torch"), ".3g"), spread, fmt(r["data_ms"], ".1f"),
                 fmt(megabytes(memory["tinygan_extra_peak_bytes"]), ".1f"),
                 fmt(megabytes(memory.get("torch_extra_peak_bytes")), ".1f"),
                 f"{total / 1e6:.2f}M" if total >= 100_000 else str(total),
                 "-" if parity is None else f"{parity['worst_rel_error']:.1e}")
        print(f"{name:<8}  " + "  ".join(f"{c:>13}" for c in cells))
    first = next(iter(record["presets"].values()))
    print("paired: median of the per-repeat ratios (each pair timed back to back); max/min: slowest over fastest "
          "repeat (tinygan; torch)")
    print(f"memory: peak during one step of what it allocates (frees of older memory not subtracted); tinygan: "
          f"{first['memory']['tinygan_method']}"
          + (f"; torch: {first['memory']['torch_method']}" if "torch_method" in first["memory"] else ""))
    print(f"process peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(both frameworks, data and checks together)")
    for name, r in record["presets"].items():
        parity = r.get("parity")
        if parity is None:
            continue
        f, st = parity["forward"], parity["step"]
        counts = ", ".join(f"{part} {ours}/{theirs}" for part, (ours, theirs) in f["parameters"].items())
        print(f"parity {name} (float64; parameters tinygan/torch: {counts}): G image {f['generator_image_rel_error']:.1e}, "
              f"D output {f['discriminator_output_rel_error']:.1e} (eval); one Updater.update at batch {st['batch']}, "
              f"dropout off: losses {st['loss_rel_error']:.1e}, G update {st['generator_update_rel_error']:.1e}, "
              f"D update {st['discriminator_update_rel_error']:.1e}"
              + (f", weight average {st['average_rel_error']:.1e}" if "average_rel_error" in st else "")
              + ("" if parity["ok"] else f"  WARNING: over {parity['tolerance']:.0e} or counts differ"))


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=DEFAULT_PRESETS)
    parser.add_argument("--recipe", choices=RECIPE_NAMES, default="tinygan")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                        help="tinygan's backend; the twin runs on the CPU with numpy, on CUDA with cupy")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    add_runtime_arguments(parser)
    parser.add_argument("--no-check", action="store_true", help="skip the float64 parity checks")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files (as tinygan.train)")
    parser.add_argument("--count-ops", action="store_true",
                        help="count the array operations of one step per layer kind instead of timing "
                             "(bench/count_ops.py: on CuPy each is about one kernel launch)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.batch < 1 or args.threads < 1:
        parser.error("--repeats, --batch and --threads must be >= 1, --warmup >= 0")
    return args


def run(args, torch=None, torch_reason="--no-torch"):
    """Benchmark every preset on ``args.backend``; print the report, write --json and return
    the record (also callable in-process, e.g. from a test, without the thread restart)."""
    if args.backend == "cupy":
        cupy, reason = backend.cupy_status()
        if cupy is None:
            sys.exit(f"--backend cupy: {reason}")
    backend.set_backend(args.backend)
    torch_device = None
    if torch is not None:
        torch_device = "cpu" if args.backend == "numpy" else ("cuda" if torch.cuda.is_available() else None)
        torch_reason = "ok" if torch_device else "torch has no CUDA device"
    host_threads = threads.set_threads()  # first: several host threads keep OpenBLAS to one thread each
    backend.keep_freed_host_memory()  # as training runs
    cupy = backend.get_xp() if args.backend == "cupy" else None
    record = {"stamp": stamp(args.threads, torch, cupy, host_threads=host_threads, tf32=args.tf32),
              "settings": {"recipe": args.recipe, "backend": args.backend, "batch": args.batch,
                           "repeats": args.repeats, "warmup": args.warmup, "threads": args.threads,
                           "tf32": args.tf32, "dtype": "float32", "torch_device": torch_device,
                           "torch_note": torch_reason, "presets": list(args.presets),
                           "data": "real canvases from tinygan's CanvasDataset, drawn inside each timed step"},
              "presets": {}}
    for name in args.presets:
        record["presets"][name] = benchmark_preset(name, args, torch, torch_device)
        log(f"  measured {name}")
    print_report(record)
    if args.json:
        save_json(args.json, record)
    return record


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.count_ops:
        import count_ops
        count_ops.main(["--presets", *args.presets, "--recipe", args.recipe, "--batch", str(args.batch)]
                       + (["--data-dir", args.data_dir] if args.data_dir else []))
        return 0
    configure_environment(args, argv, __file__)
    torch, torch_reason = load_torch(args)
    record = run(args, torch, torch_reason)
    failed = [name for name, r in record["presets"].items() if r.get("parity") and not r["parity"]["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
