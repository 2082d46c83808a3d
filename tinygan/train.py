"""Train the multi-object GAN: ``python -m tinygan.train [--preset small] [--recipe tinygan] ...``.

Each step trains the discriminator on a real and a fake batch, then the generator
through the updated discriminator. ``--recipe`` picks the loss, stabilisers, conditioning
and optimiser: 'tinygan' (the default, measured best) or 'paper' (the original: soft noisy
targets, decisions combined by a final layer, the original learning rates); each
ingredient can also be set on its own. Writes to --out: losses.csv, progress.png,
samples/step_*.png (fixed labels and noise), checkpoint.npz (atomically, at intervals, at
the end and on Ctrl-C) and, with evaluations, best.npz. ``--resume PATH`` continues a run.

How long: the default run (small preset) takes 45-55 minutes on 2 CPU cores; the
expected duration is printed after the first steps.
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

from . import backend, cli
from .checkpoint import read_checkpoint, restore_training
from .data import load_digits
from .evaluate import quick_evaluation
from .judge import judge_features, judge_path, load_judge, to_canvas_colours
from .models import COMBINE_MODES, NOISE_KINDS, PRESETS
from .plot import save_progress_png
from .recipes import DEFAULT_RECIPE, INGREDIENTS, RECIPES, conflicts, recipe_settings
from .trainer import Trainer, make_holdout

# Settings that define a run; a resumed run takes them from its checkpoint.
RUN_SETTINGS = ("preset", "recipe", "batch_size", "seed", "lr_g", "lr_d", "lr_decay_at", "lr_decay", "beta1",
                "beta2", "holdout", "texture", *INGREDIENTS)
DEFAULT_EVAL_EVERY = 500
LOSS_FIELDS = ["d_real", "d_fake", "g", "mode_seeking"]


def say(message):
    print(message, flush=True)


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="python -m tinygan.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="model size: paper (Table 1), small (trains on a CPU), tiny (tests)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE,
                        help="training recipe: tinygan (default, measured best) or paper (the original)")
    parser.add_argument("--steps", type=int, default=3000, help="total training steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=None,
                        help="output folder (default: runs/tinygan, or the folder of the --resume checkpoint)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None,
                        help="array backend (default: TINYGAN_BACKEND or automatic)")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files")
    parser.add_argument("--resume", metavar="CHECKPOINT", default=None,
                        help="continue the run saved in this checkpoint.npz")
    parser.add_argument("--sample-every", type=int, default=250, help="steps between sample grids")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=10, help="steps between progress lines")
    parser.add_argument("--eval-every", type=int, default=None,
                        help=f"steps between judge evaluations (accuracy on seen and unseen orders, Fréchet "
                             f"distance) that also keep best.npz; default {DEFAULT_EVAL_EVERY} when a judge is "
                             f"trained (python -m tinygan.judge --train), else 0 (never)")
    parser.add_argument("--eval-samples", type=int, default=200, help="images per group at each evaluation")
    parser.add_argument("--holdout", default=None,
                        help="label orders never shown in training: a fraction of all orders "
                             "(e.g. 0.1, chosen by --seed) or a comma list like 1986,3258,5274")
    parser.add_argument("--texture", action="store_true", help="textured canvas backgrounds")
    recipe = parser.add_argument_group("recipe ingredients (default: from --recipe)")
    recipe.add_argument("--lr-g", type=float, default=None, help="generator learning rate")
    recipe.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate")
    recipe.add_argument("--lr-decay-at", type=float, nargs="*", default=None,
                        help="fractions of --steps where both learning rates are multiplied by --lr-decay")
    recipe.add_argument("--lr-decay", type=float, default=None, help="learning-rate factor at each --lr-decay-at")
    recipe.add_argument("--beta1", type=float, default=None, help="Adam's first-moment decay")
    recipe.add_argument("--beta2", type=float, default=None, help="Adam's second-moment decay")
    recipe.add_argument("--loss", choices=["paper", "hinge"], default=None,
                        help="paper: softmax cross-entropy on the paper's soft noisy targets; hinge")
    recipe.add_argument("--combine", choices=COMBINE_MODES, default=None,
                        help="discriminator output: a final layer over decisions (paper) or features (code), "
                             "or one score per pathway (scores, for the hinge loss)")
    recipe.add_argument("--global-weight", type=float, default=None,
                        help="hinge loss: weight of the whole image's score; the objects' scores share the rest")
    recipe.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction, default=None,
                        help="spectral normalisation of the discriminator's weights")
    recipe.add_argument("--projection", action=argparse.BooleanOptionalAction, default=None,
                        help="projection discriminator (class embedding . features) for each object")
    recipe.add_argument("--conditional-bn", action=argparse.BooleanOptionalAction, default=None,
                        help="class-conditional BatchNorm in the local generator")
    recipe.add_argument("--noise", choices=NOISE_KINDS, default=None, help="noise distribution")
    recipe.add_argument("--per-object-noise", action=argparse.BooleanOptionalAction, default=None,
                        help="a separate z per object")
    recipe.add_argument("--minibatch-std", action=argparse.BooleanOptionalAction, default=None,
                        help="give the discriminator each batch's spread, against mode collapse")
    recipe.add_argument("--dropout", type=float, default=None, help="discriminator dropout rate")
    recipe.add_argument("--ema", type=float, default=None,
                        help="decay of the generator's weight average used for samples and evaluation (0: none)")
    recipe.add_argument("--ema-start", type=int, default=None, help="steps before the weight average starts")
    recipe.add_argument("--mode-seeking", type=float, default=None,
                        help="weight of the mode-seeking term (different noise, different digits; 0: off)")
    args = parser.parse_args(argv)
    for name, value in recipe_settings(args.recipe, args.preset).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    problems = [f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
                for name in ("steps", "batch_size", "sample_every", "checkpoint_every", "log_every",
                             "lr_g", "lr_d", "lr_decay") if getattr(args, name) <= 0]
    if (args.eval_every is not None and args.eval_every < 0) or args.eval_samples < 1:
        problems.append(f"--eval-every must be >= 0 and --eval-samples >= 1, got {args.eval_every}, {args.eval_samples}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(args, name) < 1:
            problems.append(f"--{name} must be in [0, 1), got {getattr(args, name)}")
    if args.ema_start < 0:
        problems.append(f"--ema-start must be >= 0, got {args.ema_start}")
    problems += [f"--lr-decay-at values must be in (0, 1), got {at}" for at in args.lr_decay_at if not 0 < at < 1]
    problems += conflicts(vars(args))
    if args.holdout is not None:
        try:
            make_holdout(args.holdout, PRESETS[args.preset].n_objects, args.seed)
        except ValueError as err:
            problems.append(f"--holdout: {err}")
    if args.resume and not os.path.isfile(args.resume):
        problems.append(f"--resume: no checkpoint file at {args.resume}")
    if problems:
        parser.error("; ".join(problems))
    if args.out is None:
        args.out = (os.path.dirname(args.resume) or ".") if args.resume else "runs/tinygan"
    return args


def settings_of_checkpoint(saved):
    """A checkpoint's run settings; those it predates take the paper recipe's values (the
    only recipe before recipes existed)."""
    recipe = saved.get("recipe", "paper")
    known = {k: v for k, v in saved.items() if not (k in INGREDIENTS and v is None)}  # old 'minibatch_std': None
    return {**recipe_settings(recipe, saved["preset"]), "recipe": recipe, **known}


class Judgement:
    """Evaluations during training with the digit judge, and the rule that keeps best.npz:
    the higher per-object accuracy (mean of seen and unseen orders) wins; within one point,
    the lower Fréchet distance wins."""

    def __init__(self, judge, n_samples, data_dir, log):
        self.judge, self.n_samples = judge, n_samples
        test = load_digits("test", data_dir=data_dir, log=log)
        self.real_features = judge_features(judge, to_canvas_colours(test.images))
        self.best = None

    def evaluate(self, trainer, step):
        result = quick_evaluation(trainer.sampler(step), trainer.dataset, self.judge, self.n_samples, seed=step,
                                  real_features=self.real_features)
        trainer.generator.train()
        groups = [result[g] for g in ("seen", "unseen") if result[g] is not None]
        result["accuracy"] = float(np.mean(groups))
        return result

    def is_best(self, result):
        """Record ``result`` as the best so far if the rule prefers it; True if it does."""
        best = self.best
        if best is None or result["accuracy"] > best["accuracy"] + 0.01 or (
                result["accuracy"] >= best["accuracy"] - 0.01 and result["frechet"] < best["frechet"]):
            self.best = result
            return True
        return False


def format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


LOG_FIELDS = ["step", *LOSS_FIELDS, "lr_g", "lr_d", "seconds", "acc_seen", "acc_unseen", "frechet"]


class LossLog:
    """losses.csv. Each step's row waits with its losses still on the device until
    :meth:`flush` reads all waiting losses in one copy (not one device sync per step),
    checks that they are finite and writes the rows. A resumed run keeps the rows up to
    its step. ``rows`` holds every written row (for progress.png)."""

    def __init__(self, path, start):
        self.rows = []
        if start and os.path.exists(path):
            with open(path, newline="") as file:
                self.rows = [{field: row.get(field) or "" for field in LOG_FIELDS}
                             for row in csv.DictReader(file) if int(row["step"]) <= start]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(self.rows)
        self.waiting = []

    def add(self, row, losses):
        self.waiting.append((row, losses))

    def flush(self):
        """Write the waiting rows; return None, or (step, losses) of the first step whose
        losses are not all finite (that row and the later ones are not written)."""
        if not self.waiting:
            return None
        names = list(self.waiting[0][1])
        xp = backend.get_xp()
        values = backend.to_host(xp.stack([xp.stack([losses[n] for n in names]) for _, losses in self.waiting]))
        waiting, self.waiting = self.waiting, []
        for (row, _), numbers in zip(waiting, values.astype(float)):
            losses = dict(zip(names, numbers.tolist()))
            if not all(math.isfinite(v) for v in losses.values()):
                return row["step"], losses
            row.update({k: f"{v:.5f}" for k, v in losses.items()})
            self.writer.writerow(row)
            self.rows.append(row)
        self.file.flush()
        return None

    def last_losses(self):
        return {name: float(self.rows[-1][name]) for name in LOSS_FIELDS if self.rows[-1][name] != ""}

    def close(self):
        self.file.close()


def load_run_judge(args, log):
    """The judge for --eval-every (or None when evaluations are off), and the interval."""
    eval_every = args.eval_every
    if eval_every is None:
        eval_every = DEFAULT_EVAL_EVERY if judge_path().is_file() else 0
        if not eval_every:
            log(f"note: no digit judge at {judge_path()}, so no evaluations and no best.npz "
                f"(python -m tinygan.judge --train makes one in about 8 minutes)")
    if not eval_every:
        return None, 0
    try:
        judge, _ = load_judge()
    except ValueError as err:
        raise SystemExit(f"--eval-every: {err}")
    return judge, eval_every


def run(args, log=say):
    backend.set_backend(args.backend)
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    start = 0
    if args.resume:
        _, start, _, saved, _ = read_checkpoint(args.resume)
        settings = {name: settings_of_checkpoint(saved)[name] for name in RUN_SETTINGS}
        if start >= args.steps:
            raise SystemExit(f"{args.resume} is at step {start}; pass --steps larger than that to continue")
    judge, eval_every = load_run_judge(args, log)
    trainer = Trainer(settings, data_dir=args.data_dir, log=log)
    judgement = None if judge is None else Judgement(judge, args.eval_samples, args.data_dir, log)
    if args.resume:
        restore_training(args.resume, trainer.generator, trainer.discriminator, trainer.opt_g, trainer.opt_d,
                         None if trainer.average is None else trainer.average.average)
        log(f"resumed from {args.resume} at step {start}")
    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    with open(os.path.join(args.out, "settings.json"), "w") as file:
        json.dump({**settings, "config": trainer.config.to_dict(), "data": trainer.data_source,
                   "backend": backend.backend_name(), "steps": args.steps}, file, indent=2)
    checkpoint_path = os.path.join(args.out, "checkpoint.npz")
    best_path = os.path.join(args.out, "best.npz")
    log_path = os.path.join(args.out, "losses.csv")
    log(f"tinygan: preset {settings['preset']}, recipe {settings['recipe']} on {backend.backend_name()}, "
        f"{trainer.data_source} digits, batch {settings['batch_size']}, steps {start}..{args.steps}, "
        f"writing to {args.out}")
    loss_log = LossLog(log_path, start)
    step, began, recent = start, time.perf_counter(), []
    try:
        while step < args.steps:
            tick = time.perf_counter()
            trainer.set_learning_rates(step, args.steps)
            losses = trainer.step(step)
            step += 1
            recent = (recent + [time.perf_counter() - tick])[-20:]
            row = {field: "" for field in LOG_FIELDS}
            row.update({"step": step, "lr_g": trainer.opt_g.lr, "lr_d": trainer.opt_d.lr,
                        "seconds": f"{time.perf_counter() - began:.2f}"})
            if step == start + 5 and step < args.steps:
                per_step = float(np.median(recent[1:]))
                log(f"expected duration: {format_duration(per_step * (args.steps - step))} for "
                    f"{args.steps - step} more steps at {per_step:.2f} s/step")
            result = None
            if judgement is not None and (step % eval_every == 0 or step == args.steps):
                result = judgement.evaluate(trainer, step)
                row.update(acc_seen=result["seen"], acc_unseen="" if result["unseen"] is None else result["unseen"],
                           frechet=f"{result['frechet']:.3f}")
            loss_log.add(row, losses)
            if result is None and step != args.steps and all(step % every for every in (
                    args.log_every, args.sample_every, args.checkpoint_every)):
                continue  # nothing to show or save: leave the losses on the device
            failed = loss_log.flush()  # read the losses, and stop on a NaN before anything is saved
            if failed is not None:
                kept = checkpoint_path if os.path.exists(checkpoint_path) else "none written yet"
                log(f"error: a loss became {failed[1]} at step {failed[0]}; stopping. Last good checkpoint: {kept}")
                return 1
            if result is not None:
                best = judgement.is_best(result)
                if best:
                    trainer.save(best_path, step)
                log(f"eval at step {step}: judged digits correct, seen orders {100 * result['seen']:.1f}%"
                    + ("" if result["unseen"] is None else f", unseen orders {100 * result['unseen']:.1f}%")
                    + f"; Fréchet distance {result['frechet']:.1f}" + (f"; best so far: {best_path}" if best else ""))
            if step % args.log_every == 0 or step == args.steps:
                per_step, shown = float(np.median(recent)), loss_log.last_losses()
                log(f"step {step}/{args.steps} | D real {shown['d_real']:.3f} fake {shown['d_fake']:.3f} "
                    f"| G {shown['g']:.3f} | {1 / per_step:.2f} it/s ({per_step:.2f} s/step) "
                    f"| ETA {format_duration(per_step * (args.steps - step))}")
            if step % args.sample_every == 0 or step == args.steps:
                trainer.sample_grid(os.path.join(args.out, "samples", f"step_{step:06d}.png"), step)
                save_progress_png(os.path.join(args.out, "progress.png"), loss_log.rows)
            if step % args.checkpoint_every == 0 and step != args.steps:
                trainer.save(checkpoint_path, step)
    except KeyboardInterrupt:
        if loss_log.flush() is not None:  # a NaN not yet seen: keep the last good checkpoint
            log(f"\ninterrupted at step {step} after a loss became NaN: {checkpoint_path} left as it was")
            return 1
        trainer.save(checkpoint_path, step)
        log(f"\ninterrupted at step {step}: saved {checkpoint_path}; continue with "
            f"python -m tinygan.train --resume {checkpoint_path} --steps {args.steps} --out {args.out}")
        return 130
    finally:
        loss_log.close()
    trainer.save(checkpoint_path, step)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"done: {step} steps in {format_duration(time.perf_counter() - began)}, "
        f"peak host memory {peak_mb:.0f} MB; checkpoint {checkpoint_path}"
        + ("" if judgement is None or judgement.best is None else f", best evaluation {best_path}"))
    return 0


def main(argv=None):
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
