"""The periodic work of a training run, one :class:`~tinygan.loop.Extension` each.

- :class:`LossLog` (every step): losses.csv; reads the losses from the device only when
  another extension fires, and stops the run on a NaN before anything is saved;
- :class:`ProgressLine`: the progress line with losses, speed and ETA (and the expected
  duration after the first five steps);
- :class:`Evaluation`: the measures of :data:`tinygan.metrics.measures.LOGGED` (the judge's
  accuracy on seen and unseen layouts, the Fréchet distance) into the log's row;
  :class:`KeepBest` keeps best.npz by its rule;
- :class:`SampleGrid`: samples/step_*.png and progress.png;
- :class:`Snapshot`: checkpoint.npz at intervals, at the end and on Ctrl-C.
"""
import csv
import math
import os

import numpy as np

from . import backend
from .images import save_grid_png
from .loop import LOG, WRITER, Extension, StopTraining
from .metrics.evaluation import logged_measures, reference_features
from .metrics.measures import LOGGED
from .plot import save_progress_png

LOSS_FIELDS = ["d_real", "d_fake", "g", "mode_seeking"]
LOG_FIELDS = ["step", *LOSS_FIELDS, "lr_g", "lr_d", "seconds", *(logged.column for logged in LOGGED)]
SAMPLES_PER_LAYOUT = 6  # columns of a sample grid: each row's layout with as many noises


def format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class LossLog(Extension):
    """losses.csv. Each step's row waits with its losses still on the device until a step
    where another extension fires; then all waiting losses are read in one copy (not one
    device sync per step), checked to be finite and written. A resumed run keeps the rows up
    to its step. ``rows`` holds every written row (for progress.png). Every process of a run
    keeps one (the losses are the same on all of them), so that all stop on a NaN at the same
    step; those other than the first write no file (``path`` None)."""

    priority = LOG
    all_ranks = True

    def __init__(self, path, start, checkpoint_path):
        super().__init__(every=1)
        self.checkpoint_path = checkpoint_path
        self.rows, self.file, self.waiting = [], None, []
        if path is None:
            return
        if start and os.path.exists(path):
            with open(path, newline="") as file:
                self.rows = [{field: row.get(field) or "" for field in LOG_FIELDS}
                             for row in csv.DictReader(file) if int(row["step"]) <= start]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(self.rows)

    def __call__(self, loop):
        row = {field: "" for field in LOG_FIELDS}
        row.update(loop.row, lr_g=loop.updater.opt_g.lr, lr_d=loop.updater.opt_d.lr)
        self.waiting.append((row, loop.losses))
        if len(loop.fired) > 1 or loop.step == loop.steps:  # something will show or save: read the losses
            failed = self.flush()
            if failed is not None:
                kept = self.checkpoint_path if os.path.exists(self.checkpoint_path) else "none written yet"
                raise StopTraining(f"error: a loss became {failed[1]} at step {failed[0]}; stopping. "
                                   f"Last good checkpoint: {kept}")

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
            self.rows.append(row)
            if self.file is not None:
                self.writer.writerow(row)
        if self.file is not None:
            self.file.flush()
        return None

    def last_losses(self):
        return {name: float(self.rows[-1][name]) for name in LOSS_FIELDS if self.rows[-1][name] != ""}

    def interrupted(self, loop):
        if self.flush() is not None:  # a NaN not yet seen: keep the last good checkpoint
            raise StopTraining(f"\ninterrupted at step {loop.step} after a loss became NaN: "
                               f"{self.checkpoint_path} left as it was")

    def close(self, loop):
        if self.file is not None:
            self.file.close()


class ProgressLine(Extension):
    """Every ``every`` steps: losses, speed and ETA; after the first five steps, the expected duration."""

    def __init__(self, every, loss_log, start):
        super().__init__(every)
        self.loss_log, self.first_estimate = loss_log, start + 5

    def fires(self, step, last):
        return super().fires(step, last) or (step == self.first_estimate and step < last)

    def __call__(self, loop):
        remaining = loop.steps - loop.step
        if loop.step == self.first_estimate and remaining:
            per_step = float(np.median(loop.step_times[1:]))
            loop.log(f"expected duration: {format_duration(per_step * remaining)} for {remaining} more steps "
                     f"at {per_step:.2f} s/step")
        if super().fires(loop.step, loop.steps):
            per_step, shown = float(np.median(loop.step_times)), self.loss_log.last_losses()
            loop.log(f"step {loop.step}/{loop.steps} | D real {shown['d_real']:.3f} fake {shown['d_fake']:.3f} "
                     f"| G {shown['g']:.3f} | {1 / per_step:.2f} it/s ({per_step:.2f} s/step) "
                     f"| ETA {format_duration(per_step * remaining)}")


class Evaluation(Extension):
    """Every ``every`` steps: the measures of :data:`tinygan.metrics.measures.LOGGED` (the judge's
    per-object accuracy on ``n_samples`` canvases of the placement's seen and unseen groups, the
    Fréchet distance of the seen ones to real digits) into the log's row and ``result``, with
    'accuracy' the mean over the groups. The real digits' features are made from ``test_digits``
    at the first evaluation."""

    priority = WRITER

    def __init__(self, every, judge, test_digits, n_samples):
        super().__init__(every)
        self.judge, self.test_digits, self.n_samples = judge, test_digits, n_samples
        self.reference, self.result = None, None

    def __call__(self, loop):
        updater = loop.updater
        config, placement, region = updater.config, updater.placement, updater.settings.held_out_region()
        if self.reference is None:
            self.reference = reference_features(self.judge, placement, config, self.test_digits, region)
        result = logged_measures(updater.sampling_generator(loop.step),
                                 placement.evaluation_layouts(config, updater.dataset, region),
                                 self.judge, self.n_samples, loop.step, self.reference)
        result["accuracy"] = float(np.mean([result[c] for c in ("acc_seen", "acc_unseen") if c in result]))
        loop.row.update({logged.column: logged.text.format(result[logged.column])
                         for logged in LOGGED if logged.column in result})
        self.result = result


class KeepBest(Extension):
    """After each evaluation, best.npz: the higher per-object accuracy (mean of seen and
    unseen orders) wins; within one point of the best so far, the lower Fréchet distance."""

    def __init__(self, evaluation, path):
        super().__init__(evaluation.every)
        self.evaluation, self.path, self.best = evaluation, path, None

    def is_best(self, result):
        """Record ``result`` as the best so far if the rule prefers it; True if it does."""
        best = self.best
        if best is None or result["accuracy"] > best["accuracy"] + 0.01 or (
                result["accuracy"] >= best["accuracy"] - 0.01 and result["frechet"] < best["frechet"]):
            self.best = result
            return True
        return False

    def __call__(self, loop):
        result = self.evaluation.result
        best = self.is_best(result)
        if best:
            loop.updater.save(self.path, loop.step)
        seen, unseen = loop.updater.placement.seen, loop.updater.placement.unseen
        loop.log(f"eval at step {loop.step}: judged digits correct, {seen} {100 * result['acc_seen']:.1f}%"
                 + (f", {unseen} {100 * result['acc_unseen']:.1f}%" if "acc_unseen" in result else "")
                 + f"; Fréchet distance {result['frechet']:.1f}" + (f"; best so far: {self.path}" if best else ""))


class SampleGrid(Extension):
    """Every ``every`` steps: fixed label orders x fixed noise drawn by the sampling generator,
    rows captioned with the labels (samples/step_*.png), and progress.png from the log."""

    def __init__(self, every, out, loss_log):
        super().__init__(every)
        self.out, self.loss_log = out, loss_log

    def __call__(self, loop):
        updater = loop.updater
        labels, boxes = updater.placement.sample_grid_layouts(updater.config, updater.dataset)
        captions = ["-".join(str(d) for d in row if d >= 0) for row in labels]
        labels, boxes = (np.repeat(a, SAMPLES_PER_LAYOUT, axis=0) for a in (labels, boxes))
        images = updater.sampling_generator(loop.step).draw(labels, boxes, np.random.default_rng(12345), len(labels))
        save_grid_png(os.path.join(self.out, "samples", f"step_{loop.step:06d}.png"), images,
                      SAMPLES_PER_LAYOUT, captions=captions)
        save_progress_png(os.path.join(self.out, "progress.png"), self.loss_log.rows)


class Snapshot(Extension):
    """checkpoint.npz every ``every`` steps and at the end; on Ctrl-C too, with the command
    that continues the run."""

    def __init__(self, every, path, resume_command):
        super().__init__(every)
        self.path, self.resume_command = path, resume_command

    def __call__(self, loop):
        loop.updater.save(self.path, loop.step)

    def interrupted(self, loop):
        loop.updater.save(self.path, loop.step)
        loop.log(f"\ninterrupted at step {loop.step}: saved {self.path}; continue with {self.resume_command}")
