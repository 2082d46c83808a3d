"""Seeded training steps and the sha256 of what they leave: the check that a change did not move the numbers.

    python bench/seeded_runs.py [--threads 2] [--steps 3] [--runs grid-small-tinygan ...] [--data-dir DIR]
                                [--json out.json]

Each run builds an Updater (batch 8, seed 3, total steps 10 for the learning-rate schedule), takes
``--steps`` steps and prints the sha256 of every parameter, buffer and optimiser array after them, and
of the losses of every step. Two checkouts give the same digests exactly where their arithmetic is the
same, on one machine with one thread count (BLAS kernels and thread counts change the order of float
sums). To compare with another revision, run this script's copy against that revision's package:
``PYTHONPATH=/path/to/other/checkout python bench/seeded_runs.py``.
"""
import argparse
import hashlib

from harness import add_data_and_json_arguments, save_json, stamp, stamp_text
from tinygan import threads
from tinygan.backend import to_host
from tinygan.data import load_digits
from tinygan.settings import RunSettings
from tinygan.updater import Updater

RUNS = {
    "grid-small-tinygan": dict(preset="small"),
    "grid-small-paper": dict(preset="small", recipe="paper"),
    "grid-small-dropout-mbstd": dict(preset="small", dropout=0.25, minibatch_std=True),
    "grid-tiny-modeseek": dict(preset="tiny", mode_seeking=1.0),
    "random-tiny-tinygan": dict(preset="tiny", layout="random"),
    "random-small-tinygan": dict(preset="small", layout="random"),
}


def digests(settings, digits, steps):
    """(sha256 of the arrays after ``steps`` steps, sha256 of the losses, the last step's losses)."""
    run = Updater(settings, digits, total_steps=10)
    losses = [{key: float(to_host(value)) for key, value in run.update(step).items()} for step in range(steps)]
    arrays = hashlib.sha256()
    for model in (run.generator, run.discriminator):
        for name, layer, key in model.named_parameters():
            arrays.update(name.encode())
            arrays.update(to_host(layer.params[key]).tobytes())
        for path, layer in model.walk():
            for key, value in layer.buffers().items():
                arrays.update(f"{path}.{key}".encode())
                arrays.update(to_host(value).tobytes())
    for optimiser in (run.opt_g, run.opt_d):
        for flat in optimiser.flat:
            arrays.update(to_host(flat).tobytes())
    return arrays.hexdigest(), hashlib.sha256(repr(losses).encode()).hexdigest(), losses[-1]


def positive(text):
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=positive, default=2, help="host threads (default 2)")
    parser.add_argument("--steps", type=positive, default=3, help="training steps per run (default 3)")
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=sorted(RUNS), help="which runs (default all)")
    add_data_and_json_arguments(parser, "the digests")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    host_threads = threads.set_threads(args.threads)
    record = {"stamp": stamp(host_threads, host_threads=host_threads), "steps": args.steps, "runs": {}}
    print(stamp_text(record["stamp"]))
    digits = load_digits("train", data_dir=args.data_dir, log=lambda message: None)
    for name in args.runs:
        weights, losses, last = digests(RunSettings(batch_size=8, seed=3, **RUNS[name]), digits, args.steps)
        record["runs"][name] = {"arrays_sha256": weights, "losses_sha256": losses, "last_losses": last}
        print(f"{name:26s} arrays {weights[:16]}  losses {losses[:16]}  last {last}")
    if args.json:
        save_json(args.json, record)


if __name__ == "__main__":
    main()
