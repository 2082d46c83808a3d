"""Train the multi-object GAN: ``python -m tinygan.train [--preset small] [--steps N] ...``.

Each step trains the discriminator on a real and a fake batch with the paper's noisy
soft targets, then the generator through the discriminator. Writes to --out:
losses.csv, samples/step_*.png (fixed labels and noise), checkpoint.npz (atomically,
at intervals, at the end and on Ctrl-C). ``--resume PATH`` continues a run.
"""
import argparse
import csv
import json
import math
import os
import resource
import sys
import time

import numpy as np

from . import backend
from .checkpoint import read_checkpoint, restore_training, save_checkpoint
from .data import CanvasDataset, LabelOrderHoldout, load_digits
from .evaluate import quick_accuracy
from .images import save_grid_png
from .judge import load_judge
from .losses import softmax_cross_entropy
from .models import COMBINE_MODES, PRESETS, Discriminator, Generator, preset
from .optim import Adam

# Label orders drawn in every sample grid: easy orders and the paper's failure cases.
SAMPLE_ORDERS = ["0123", "4567", "8901", "1986", "3258", "5274"]
SAMPLES_PER_ORDER = 6
# Optimiser defaults per preset. 'paper' runs the original code's schedule (10000 steps at
# G 1e-4 / D 1e-3, then 1e-5 / 1e-4, then 1e-6 / 1e-5: decay 0.1 at 50% and 75% of the steps).
# At those rates the 'small' preset barely leaves its initial grey in a CPU hour (300 steps:
# mean pixel 0.42), so 'small' and 'tiny' use higher rates with DCGAN's beta1 and a gentler decay.
OPTIMISER_DEFAULTS = {
    "paper": {"lr_g": 1e-4, "lr_d": 1e-3, "beta1": 0.9, "lr_decay_at": [0.5, 0.75], "lr_decay": 0.1},
    "small": {"lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.5, "lr_decay_at": [0.5, 0.75], "lr_decay": 0.3},
    "tiny": {"lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.5, "lr_decay_at": [0.5, 0.75], "lr_decay": 0.3},
}
# Settings that define a run; a resumed run takes them from its checkpoint.
RUN_SETTINGS = ("preset", "batch_size", "seed", "lr_g", "lr_d", "lr_decay_at", "lr_decay", "beta1",
                "holdout", "per_object_noise", "combine", "minibatch_std", "texture")


def say(message):
    print(message, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygan.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="model size: paper (Table 1), small (trains on a CPU), tiny (tests)")
    parser.add_argument("--steps", type=int, default=5000, help="total training steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="runs/tinygan", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None,
                        help="array backend (default: TINYGAN_BACKEND or automatic)")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files")
    parser.add_argument("--resume", metavar="CHECKPOINT", default=None,
                        help="continue the run saved in this checkpoint.npz")
    parser.add_argument("--sample-every", type=int, default=250, help="steps between sample grids")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=10, help="steps between progress lines")
    parser.add_argument("--lr-g", type=float, default=None, help="generator learning rate (default: per preset)")
    parser.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate (default: per preset)")
    parser.add_argument("--lr-decay-at", type=float, nargs="*", default=None,
                        help="fractions of --steps where both learning rates are multiplied by --lr-decay")
    parser.add_argument("--lr-decay", type=float, default=None, help="learning-rate factor at each --lr-decay-at")
    parser.add_argument("--beta1", type=float, default=None, help="Adam's first-moment decay (default: per preset)")
    parser.add_argument("--holdout", default=None,
                        help="label orders never shown in training: a fraction of all orders "
                             "(e.g. 0.1, chosen by --seed) or a comma list like 1986,3258,5274")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="steps between judge accuracies of seen and unseen orders (0: never; "
                             "needs a judge: python -m tinygan.judge --train)")
    parser.add_argument("--eval-samples", type=int, default=200, help="images per accuracy at --eval-every")
    parser.add_argument("--per-object-noise", action="store_true", help="a separate z per object")
    parser.add_argument("--combine", choices=COMBINE_MODES, default="decisions")
    parser.add_argument("--minibatch-std", action=argparse.BooleanOptionalAction, default=None,
                        help="give the discriminator each batch's spread, against mode collapse "
                             "(default: off, the paper's discriminator)")
    parser.add_argument("--texture", action="store_true", help="textured canvas backgrounds")
    args = parser.parse_args(argv)
    for name, value in OPTIMISER_DEFAULTS[args.preset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    problems = [f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
                for name in ("steps", "batch_size", "sample_every", "checkpoint_every", "log_every",
                             "lr_g", "lr_d", "lr_decay") if getattr(args, name) <= 0]
    if args.eval_every < 0 or args.eval_samples < 1:
        problems.append(f"--eval-every must be >= 0 and --eval-samples >= 1, got {args.eval_every}, {args.eval_samples}")
    if not 0 <= args.beta1 < 1:
        problems.append(f"--beta1 must be in [0, 1), got {args.beta1}")
    problems += [f"--lr-decay-at values must be in (0, 1), got {at}" for at in args.lr_decay_at if not 0 < at < 1]
    if args.holdout is not None:
        try:
            make_holdout(args.holdout, PRESETS[args.preset].n_objects, args.seed)
        except ValueError as err:
            problems.append(f"--holdout: {err}")
    if args.resume and not os.path.isfile(args.resume):
        problems.append(f"--resume: no checkpoint file at {args.resume}")
    if problems:
        parser.error("; ".join(problems))
    return args


def make_holdout(spec, n_objects, seed):
    """A LabelOrderHoldout from the --holdout text (None: nothing held out)."""
    if spec is None:
        return LabelOrderHoldout([], n_objects)
    try:
        fraction = float(spec)
    except ValueError:
        return LabelOrderHoldout.from_orders(spec.split(","), n_objects)
    return LabelOrderHoldout.from_fraction(fraction, n_objects, seed)


def learning_rate(base, step, total, decay_at, decay):
    """Step schedule: base * decay ** (number of decay_at fractions passed)."""
    return base * decay ** sum(step >= at * total for at in decay_at)


def noisy_targets(rng, batch, real):
    """The paper's soft targets over (fake, real): real -> (U(0,.3), U(.7,1)), fake -> swapped."""
    low, high = rng.uniform(0.0, 0.3, batch), rng.uniform(0.7, 1.0, batch)
    pair = (low, high) if real else (high, low)
    return np.stack(pair, axis=1).astype(np.float32)


class Trainer:
    """Models, optimisers, data and one training step, for a run's settings."""

    def __init__(self, settings, data_dir=None, log=say):
        self.settings, self.log = settings, log
        overrides = {"per_object_noise": settings["per_object_noise"], "combine": settings["combine"]}
        if settings["minibatch_std"] is not None:
            overrides["minibatch_std"] = settings["minibatch_std"]
        self.config = preset(settings["preset"], **overrides)
        model_rng = np.random.default_rng(settings["seed"])
        self.generator = Generator(self.config, model_rng)
        self.discriminator = Discriminator(self.config, model_rng)
        self.opt_g = Adam(self.generator.named_parameters(), lr=settings["lr_g"], beta1=settings["beta1"])
        self.opt_d = Adam(self.discriminator.named_parameters(), lr=settings["lr_d"], beta1=settings["beta1"])
        self.holdout = make_holdout(settings["holdout"], self.config.n_objects, settings["seed"])
        digits = load_digits("train", data_dir=data_dir, log=log).resized(self.config.object_size)
        self.data_source = digits.source
        self.dataset = CanvasDataset(digits, self.config.canvas(settings["texture"]), self.holdout)

    def step(self, step):
        """One D update on real + fake, one G update; returns host float losses."""
        rng = np.random.default_rng([self.settings["seed"], step])
        batch = self.settings["batch_size"]
        G, D = self.generator, self.discriminator
        real, labels, boxes = self.dataset.sample(batch, rng)
        real, labels, boxes = backend.to_device(real), backend.to_device(labels), backend.to_device(boxes)
        noise = backend.to_device(rng.random(G.noise_shape(batch), dtype=np.float32))
        target_real, target_fake, target_g = (backend.to_device(noisy_targets(rng, batch, real=r))
                                              for r in (True, False, True))
        D.set_rng(backend.rng(int(rng.integers(2**31))))
        G.train()
        fake, g_cache = G.forward(noise, labels, boxes)

        D.zero_grad()  # D sees 2B images; each half's loss is weighted 1/2, as one batch of 2B
        logits, cache = D.forward(real, labels, boxes)
        loss_real, dlogits = softmax_cross_entropy(logits, target_real)
        D.backward(dlogits * 0.5, cache)
        logits, cache = D.forward(fake, labels, boxes)
        loss_fake, dlogits = softmax_cross_entropy(logits, target_fake)
        D.backward(dlogits * 0.5, cache)
        self.opt_d.step()

        G.zero_grad()  # G through the updated D, on the same fake batch (G is unchanged)
        logits, cache = D.forward(fake, labels, boxes)
        loss_g, dlogits = softmax_cross_entropy(logits, target_g)
        G.backward(D.backward(dlogits, cache), g_cache)
        self.opt_g.step()
        return {name: float(backend.to_host(value)) for name, value in
                (("d_real", loss_real), ("d_fake", loss_fake), ("g", loss_g))}

    def set_learning_rates(self, step, total):
        s = self.settings
        self.opt_g.lr = learning_rate(s["lr_g"], step, total, s["lr_decay_at"], s["lr_decay"])
        self.opt_d.lr = learning_rate(s["lr_d"], step, total, s["lr_decay_at"], s["lr_decay"])

    def sample_grid(self, path):
        """Fixed orders x fixed noise, drawn in eval mode; rows captioned with the labels."""
        n = self.config.n_objects
        orders = np.array([[int(d) for d in order[:n]] for order in SAMPLE_ORDERS])
        labels = np.repeat(orders, SAMPLES_PER_ORDER, axis=0)
        rng = np.random.default_rng(12345)
        noise = rng.random(self.generator.noise_shape(len(labels)), dtype=np.float32)
        boxes = np.broadcast_to(self.dataset.config.boxes(), labels.shape + (4,)).copy()
        images, _ = self.generator.eval().forward(*(backend.to_device(a) for a in (noise, labels, boxes)))
        self.generator.train()
        save_grid_png(path, backend.to_host(images), SAMPLES_PER_ORDER,
                      captions=["-".join(order[:n]) for order in SAMPLE_ORDERS])

    def save(self, path, step):
        save_checkpoint(path, self.generator, self.discriminator, self.opt_g, self.opt_d, step,
                        self.settings, self.holdout.to_array())


def format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def open_loss_log(path, start_step):
    """losses.csv, keeping only rows before start_step when resuming."""
    fields = ["step", "d_real", "d_fake", "g", "lr_g", "lr_d", "seconds", "acc_seen", "acc_unseen"]
    rows = []
    if start_step > 0 and os.path.exists(path):
        with open(path, newline="") as file:
            rows = [row for row in csv.DictReader(file) if int(row["step"]) <= start_step]
    file = open(path, "w", newline="")
    writer = csv.DictWriter(file, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return file, writer


def run(args, log=say):
    backend.set_backend(args.backend)
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    start = 0
    if args.resume:
        _, start, _, saved, _ = read_checkpoint(args.resume)
        settings.update({name: saved.get(name, settings[name]) for name in RUN_SETTINGS})
        if start >= args.steps:
            raise SystemExit(f"{args.resume} is at step {start}; pass --steps larger than that to continue")
    judge = None
    if args.eval_every:
        try:
            judge, _ = load_judge()
        except ValueError as err:
            raise SystemExit(f"--eval-every: {err}")
    trainer = Trainer(settings, data_dir=args.data_dir, log=log)
    if args.resume:
        restore_training(args.resume, trainer.generator, trainer.discriminator, trainer.opt_g, trainer.opt_d)
        log(f"resumed from {args.resume} at step {start}")
    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    with open(os.path.join(args.out, "settings.json"), "w") as file:
        json.dump({**settings, "config": trainer.config.to_dict(), "data": trainer.data_source,
                   "backend": backend.backend_name(), "steps": args.steps}, file, indent=2)
    checkpoint_path = os.path.join(args.out, "checkpoint.npz")
    log(f"tinygan: preset {settings['preset']} on {backend.backend_name()}, {trainer.data_source} digits, "
        f"batch {settings['batch_size']}, steps {start}..{args.steps}, writing to {args.out}")
    csv_file, writer = open_loss_log(os.path.join(args.out, "losses.csv"), start)
    step, began, recent = start, time.perf_counter(), []
    try:
        while step < args.steps:
            tick = time.perf_counter()
            trainer.set_learning_rates(step, args.steps)
            losses = trainer.step(step)
            if not all(math.isfinite(v) for v in losses.values()):
                kept = checkpoint_path if os.path.exists(checkpoint_path) else "none written yet"
                log(f"error: a loss became {losses} at step {step + 1}; stopping. "
                    f"Last good checkpoint: {kept}")
                return 1
            step += 1
            recent = (recent + [time.perf_counter() - tick])[-20:]
            row = {"step": step, **{k: f"{v:.5f}" for k, v in losses.items()},
                   "lr_g": trainer.opt_g.lr, "lr_d": trainer.opt_d.lr, "seconds": f"{time.perf_counter() - began:.2f}"}
            if judge is not None and (step % args.eval_every == 0 or step == args.steps):
                accuracy = quick_accuracy(trainer.generator, trainer.dataset, judge, args.eval_samples, seed=step)
                row.update(acc_seen=accuracy["seen"], acc_unseen=accuracy["unseen"])
                log(f"eval at step {step}: judged digits correct, seen orders {100 * accuracy['seen']:.1f}%"
                    + ("" if accuracy["unseen"] is None else f", unseen orders {100 * accuracy['unseen']:.1f}%"))
            writer.writerow(row)
            if step % args.log_every == 0 or step == args.steps:
                per_step = float(np.median(recent))
                log(f"step {step}/{args.steps} | D real {losses['d_real']:.3f} fake {losses['d_fake']:.3f} "
                    f"| G {losses['g']:.3f} | {1 / per_step:.2f} it/s ({per_step:.2f} s/step) "
                    f"| ETA {format_duration(per_step * (args.steps - step))}")
                csv_file.flush()
            if step % args.sample_every == 0 or step == args.steps:
                trainer.sample_grid(os.path.join(args.out, "samples", f"step_{step:06d}.png"))
            if step % args.checkpoint_every == 0 and step != args.steps:
                trainer.save(checkpoint_path, step)
    except KeyboardInterrupt:
        trainer.save(checkpoint_path, step)
        log(f"\ninterrupted at step {step}: saved {checkpoint_path}; continue with "
            f"python -m tinygan.train --resume {checkpoint_path} --steps {args.steps} --out {args.out}")
        return 130
    finally:
        csv_file.close()
    trainer.save(checkpoint_path, step)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"done: {step} steps in {format_duration(time.perf_counter() - began)}, "
        f"peak host memory {peak_mb:.0f} MB; checkpoint {checkpoint_path}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
