"""Two versions of tinygan's training step side by side in one process: the A/B for a change
smaller than the machine's drift.

    python bench/ab_step.py BASE [--preset small] [--threads 2] [--steps 31] [--warmup 3]
                                 [--batch 32] [--layers] [--data-dir DIR] [--json out.json]

BASE is a git revision of this checkout (``HEAD``, ``e0bf250``) or a folder holding a
``tinygan/`` package. Its package is copied into a temporary folder as ``tinygan_base``
(tinygan imports itself relatively, so a renamed copy runs on its own), and each version builds
the same ``Updater`` (settings, seed and data alike). Their steps alternate, the order flipping
every step, so a slow minute of a noisy machine hits both alike: the paired ratio, the median
of each step's ratio to the other version's step timed next to it, resolves a few percent where
two separate runs of ``bench/step_speed.py`` disagree by a fifth. With ``--layers`` it also
times every kind of layer in both (forward and backward, per step).
"""
import argparse
import collections
import importlib
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import CHECKOUT, add_data_and_json_arguments, paired_ratio, save_json, stamp, stamp_text

VERSIONS = ("tinygan_base", "tinygan")


def copy_base(base, into):
    """Put BASE's ``tinygan/`` package into ``into``/tinygan_base; returns a line naming it."""
    target = Path(into) / "tinygan_base"
    if Path(base).is_dir():
        if not (Path(base) / "tinygan").is_dir():
            raise SystemExit(f"ab_step: {base} holds no tinygan/ package")
        shutil.copytree(Path(base) / "tinygan", target, ignore=shutil.ignore_patterns("__pycache__"))
        return f"folder {base}"
    archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", base, "tinygan"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"ab_step: git archive {base} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (Path(into) / "tinygan").rename(target)
    revision = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "--short", base],
                              capture_output=True, text=True)
    return f"revision {base} ({revision.stdout.strip()})"


def import_base(folder):
    """Import the package ``folder``/tinygan_base under that name, without adding ``folder`` to
    the import path: its submodules are found through the package's own __path__."""
    location = Path(folder) / "tinygan_base"
    spec = importlib.util.spec_from_file_location("tinygan_base", location / "__init__.py",
                                                  submodule_search_locations=[str(location)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["tinygan_base"] = package
    spec.loader.exec_module(package)


def build(package, args):
    """The version's Updater, with its host threads and memory reuse set as training sets them."""
    importlib.import_module(f"{package}.threads").set_threads(args.threads)
    importlib.import_module(f"{package}.backend").keep_freed_host_memory()
    data = importlib.import_module(f"{package}.data")
    settings = importlib.import_module(f"{package}.settings")
    updater = importlib.import_module(f"{package}.updater")
    digits = data.load_digits("train", data_dir=args.data_dir, log=lambda message: None)
    return updater.Updater(settings.RunSettings(preset=args.preset, batch_size=args.batch), digits)


def time_layers(run, totals):
    """Wrap every leaf layer of ``run``'s models so that its forward and backward add their time
    to ``totals[(kind, 'fwd'|'bwd')]``."""
    def timed(method, key):
        def call(*a, **k):
            start = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                totals[key] += time.perf_counter() - start
        return call
    for model in (run.generator, run.discriminator):
        for _, layer in model.walk():
            if not layer.children():
                kind = type(layer).__name__
                layer.forward = timed(layer.forward, (kind, "fwd"))
                layer.backward = timed(layer.backward, (kind, "bwd"))


def compare(args):
    """Both versions' step times (s, in step order) and, with --layers, per-kind totals (s)."""
    runs = {package: build(package, args) for package in VERSIONS}
    layer_totals = {package: collections.defaultdict(float) for package in VERSIONS}
    if args.layers:
        for package, run in runs.items():
            time_layers(run, layer_totals[package])
    for step in range(args.warmup):
        for run in runs.values():
            run.update(step)
    for totals in layer_totals.values():
        totals.clear()
    times = {package: [] for package in VERSIONS}
    for step in range(args.warmup, args.warmup + args.steps):
        for package in VERSIONS if step % 2 else VERSIONS[::-1]:
            start = time.perf_counter()
            runs[package].update(step)
            times[package].append(time.perf_counter() - start)
    return times, layer_totals


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="a git revision of this checkout, or a folder holding tinygan/")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=None, help="host threads of both versions (default: tinygan's)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=31, help="timed steps of each version")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each version first")
    parser.add_argument("--layers", action="store_true", help="also time every kind of layer in both")
    add_data_and_json_arguments(parser, "the step times and figures")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinygan_ab_") as folder:
        base = copy_base(args.base, folder)
        import_base(folder)
        times, layer_totals = compare(args)
    medians = {package: statistics.median(times[package]) * 1e3 for package in VERSIONS}
    ratio = paired_ratio(times["tinygan"], times["tinygan_base"])
    ratios = [new / old for new, old in zip(times["tinygan"], times["tinygan_base"])]
    host_threads = importlib.import_module("tinygan.threads").threads()  # as both versions ran
    record = {"stamp": stamp(host_threads, host_threads=host_threads), "base": base, "preset": args.preset,
              "batch": args.batch, "steps": args.steps, "warmup": args.warmup}
    print(stamp_text(record["stamp"]))
    print(f"base: {base}; new: the working tree ({CHECKOUT})")
    print(f"{args.preset}, batch {args.batch}, {args.steps} steps each after {args.warmup}, alternating")
    print(f"base {medians['tinygan_base']:.1f} ms, new {medians['tinygan']:.1f} ms per step (medians); "
          f"new/base paired {ratio:.3f} (per-step ratios {min(ratios):.3f}-{max(ratios):.3f})")
    layers = {}
    for key in sorted(set(layer_totals["tinygan"]) | set(layer_totals["tinygan_base"]),
                      key=lambda k: -layer_totals["tinygan_base"].get(k, 0.0)):
        old, new = (layer_totals[package].get(key, 0.0) / args.steps * 1e3 for package in VERSIONS)
        layers[" ".join(key)] = {"base_ms": old, "new_ms": new}
        print(f"  {' '.join(key):24s} base {old:8.2f} ms  new {new:8.2f} ms  {new / old if old else float('nan'):6.3f}")
    if args.json:
        save_json(args.json, {**record, "base_ms": medians["tinygan_base"], "new_ms": medians["tinygan"],
                              "paired_new_over_base": ratio, "step_s": times, "layers_ms_per_step": layers})


if __name__ == "__main__":
    main()
