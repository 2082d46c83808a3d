"""Train the multi-object GAN: ``python -m tinygan.train [--preset small] [--recipe tinygan] ...``.

Each step trains the discriminator on a real and a fake batch, then the generator
through the updated discriminator. ``--recipe`` picks the loss, stabilisers, conditioning
and optimiser: 'tinygan' (the default, measured best) or 'paper' (the original: soft noisy
targets, decisions combined by a final layer, the original learning rates); each
ingredient can also be set on its own. Writes to --out: losses.csv, progress.png,
samples/step_*.png (fixed labels and noise), checkpoint.npz (atomically, at intervals, at
the end and on Ctrl-C) and, with evaluations, best.npz. ``--resume PATH`` continues a run
with the settings it was saved with. A folder that holds another run is never overwritten
without ``--overwrite``. The expected duration is printed after the first five steps; the
README gives measured durations.

``mpiexec -n P python -m tinygan.train ...`` trains one model on P processes: --batch-size is
the batch of all of them together, each process draws and trains on 1/P of it, and only
the first writes (pip install -e ".[mpi]" brings mpi4py and mpiexec).
"""
import argparse
import json
import os
import resource
import sys
import traceback
from pathlib import Path


from . import backend, cli, parallel, threads
from .checkpoint import read_checkpoint
from .data import load_digits
from .extensions import (Evaluation, KeepBest, LossLog, ProgressLine, SampleGrid, Snapshot,
                         format_duration)
from .judge_model import judge_background, load_judge
from .loop import TrainingLoop
from .settings import RunSettings, add_flags, flag, given_settings
from .updater import Updater, split_problems

DEFAULT_OUT = "runs/tinygan"
DEFAULT_EVAL_EVERY = 500
RUN_FILES = ("checkpoint.npz", "best.npz", "losses.csv", "progress.png", "settings.json")


def say(message):
    print(message, flush=True)


def parse_args(argv=None):
    """The flags, checked before any work; ``args.settings`` is the run's RunSettings (the
    checkpoint's with --resume) and ``args.start`` the step it starts from."""
    parser = cli.ArgumentParser(prog="python -m tinygan.train", description=__doc__, quiet=parallel.launched_rank() > 0,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="total training steps (default 3000)")
    parser.add_argument("--out", default=None,
                        help=f"output folder (default: {DEFAULT_OUT}, or the folder of the --resume checkpoint)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run that --out holds (its checkpoints, log and samples)")
    parser.add_argument("--resume", metavar="CHECKPOINT", default=None,
                        help="continue the run saved in this checkpoint.npz, with its settings")
    parser.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None,
                        help="array backend (default: TINYGAN_BACKEND or automatic)")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files")
    parser.add_argument("--sample-every", type=int, default=250, help="steps between sample grids (default 250)")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    parser.add_argument("--log-every", type=int, default=10, help="steps between progress lines (default 10)")
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY,
                        help=f"steps between judge evaluations (accuracy on seen and unseen orders, Fréchet "
                             f"distance) that also keep best.npz; 0: never (default {DEFAULT_EVAL_EVERY})")
    parser.add_argument("--judge", metavar="PATH", default=None,
                        help="the digit judge of the evaluations (default: the one python -m tinygan.judge "
                             "--train wrote into the cache, else the one shipped with tinygan)")
    parser.add_argument("--eval-samples", type=int, default=200, help="images per group at each evaluation (default 200)")
    add_flags(parser)
    args = parser.parse_args(argv)
    problems = [f"--{flag(name)} must be positive, got {getattr(args, name)}"
                for name in ("steps", "sample_every", "checkpoint_every", "log_every") if getattr(args, name) <= 0]
    if args.eval_every < 0 or args.eval_samples < 1:
        problems.append(f"--eval-every must be >= 0 and --eval-samples >= 1, got {args.eval_every}, {args.eval_samples}")
    if args.resume and not os.path.isfile(args.resume):
        parser.error(f"--resume: no checkpoint file at {args.resume}")
    try:
        args.settings, args.start = run_settings(args)
        processes = parallel.launched_size()
        problems += split_problems(args.settings, processes, processes)
    except ValueError as err:
        problems.append(str(err))
    if args.out is None:
        args.out = (os.path.dirname(args.resume) or ".") if args.resume else DEFAULT_OUT
    problems += [] if args.overwrite else occupied(args.out, args.resume)
    if not problems and args.start >= args.steps:
        problems.append(f"{args.resume} is at step {args.start}; pass --steps larger than that to continue")
    if problems:
        parser.error("; ".join(problems))
    return args


def run_settings(args):
    """(RunSettings, first step): from the flags, or from the --resume checkpoint, which no
    given flag may contradict. A ValueError says what is wrong."""
    given = given_settings(args)
    if not args.resume:
        return RunSettings(**given), 0
    saved = read_checkpoint(args.resume)
    wanted = RunSettings.from_dict({**saved.settings.to_dict(), **given})
    clashes = [f"--{flag(name)} {theirs} (it has {ours})" for name, ours, theirs in saved.settings.differences(wanted)]
    if clashes:
        raise ValueError(f"--resume continues {args.resume} with the settings it was saved with; these flags "
                         f"contradict them: {', '.join(clashes)}. Drop them, or start a new run with --out")
    return saved.settings, saved.step


def occupied(out, resume):
    """A message (in a list) if ``out`` holds a run that this one would overwrite: any folder
    with a checkpoint, except the folder of the checkpoint being resumed."""
    if resume and Path(out).resolve() == Path(resume).resolve().parent:
        return []
    held = [name for name in ("checkpoint.npz", "best.npz") if os.path.exists(os.path.join(out, name))]
    if not held:
        return []
    return [f"{out} already holds a run ({', '.join(held)}): continue it with --resume "
            f"{os.path.join(out, 'checkpoint.npz')} --steps N, write to another folder with --out DIR, "
            f"or replace it with --overwrite"]


def prepare_folder(args, log):
    """--out with samples/ and settings.json; with --overwrite, the run it held is removed first."""
    samples = Path(args.out) / "samples"
    if args.overwrite and not args.resume:
        old = [Path(args.out) / name for name in RUN_FILES] + list(samples.glob("step_*.png"))
        if any(path.exists() for path in old):
            log(f"--overwrite: removing the run in {args.out}")
        for path in old:
            path.unlink(missing_ok=True)
    samples.mkdir(parents=True, exist_ok=True)


def load_run_judge(args, log):
    """The judge of the evaluations: --judge, else the cache's, else the shipped one, for the run's
    paper (white, or any texture: the judge of digits on paper) (None when --eval-every is 0)."""
    if not args.eval_every:
        return None
    try:
        judge, info = load_judge(args.judge, background=judge_background(args.settings))
    except ValueError as err:
        raise SystemExit(f"--eval-every: {err}")
    log(f"evaluations every {args.eval_every} steps by the {info.describe()}")
    return judge


def run(args, log=say, processes=None):
    """Train as ``args`` (from :func:`parse_args`) say, on ``processes`` (default: one, on the
    backend ``args`` name); returns the exit status. Only the first process logs and writes."""
    if processes is None:
        cli.set_up(args.backend)
        processes = parallel.SingleProcess()
    first = processes.rank == 0
    log = log if first else (lambda message: None)
    settings, start = args.settings, args.start
    judge = load_run_judge(args, log) if first else None
    updater = Updater(settings, load_digits("train", data_dir=args.data_dir, log=log), total_steps=args.steps,
                      processes=processes)
    if args.resume:
        updater.restore(args.resume)
        log(f"resumed from {args.resume} at step {start}")
    checkpoint_path = os.path.join(args.out, "checkpoint.npz")
    host_threads = threads.threads()
    if first:
        prepare_folder(args, log)
        with open(os.path.join(args.out, "settings.json"), "w") as file:
            json.dump({**settings.to_dict(), "config": updater.config.to_dict(), "data": updater.digits.source,
                       "backend": backend.backend_name(), "host_threads": host_threads, "processes": processes.size,
                       "steps": args.steps},
                      file, indent=2)
    log(f"tinygan: preset {settings.preset}, recipe {settings.recipe} on {backend.backend_name()}"
        + (f" ({host_threads} host threads)" if backend.backend_name() == "numpy" else "")
        + (f" x {processes.size} processes" if processes.size > 1 else "")
        + f", {updater.digits.source} digits, batch {settings.batch_size}, steps {start}..{args.steps}, "
        f"writing to {args.out}")
    loss_log = LossLog(os.path.join(args.out, "losses.csv") if first else None, start, checkpoint_path)
    extensions = [loss_log]
    keep_best = None
    if args.eval_every:  # every process holds the same extensions; only the first evaluates
        test = load_digits("test", data_dir=args.data_dir, log=log) if first else None
        evaluation = Evaluation(args.eval_every, judge, test, args.eval_samples)
        keep_best = KeepBest(evaluation, os.path.join(args.out, "best.npz"))
        extensions += [evaluation, keep_best]
    resume = f"python -m tinygan.train --resume {checkpoint_path} --steps {args.steps} --out {args.out}"
    extensions += [ProgressLine(args.log_every, loss_log, start), SampleGrid(args.sample_every, args.out, loss_log),
                   Snapshot(args.checkpoint_every, checkpoint_path, resume)]
    loop = TrainingLoop(updater, start, args.steps, extensions, log, rank=processes.rank)
    status = loop.run()
    if status == 0:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        log(f"done: {loop.step} steps in {format_duration(loop.elapsed())}, peak host memory {peak_mb:.0f} MB; "
            f"checkpoint {checkpoint_path}"
            + ("" if keep_best is None or keep_best.best is None else f", best evaluation {keep_best.path}"))
    return status


def main(argv=None):
    args = parse_args(argv)
    cli.set_up(args.backend)
    backend.keep_freed_host_memory()  # process-wide (glibc): each step reuses the last one's memory
    if parallel.launched_size() == 1:
        return run(args, processes=parallel.SingleProcess())
    try:
        return run(args, processes=parallel.connect())
    except BaseException as error:  # the other processes may be waiting for this one: stop them all
        try:
            status = cli.exit_status(error)
        except BaseException:
            traceback.print_exc()
            status = 1
        return parallel.abort(status)


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
