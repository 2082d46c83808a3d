"""The training loop: call the updater, then every extension whose trigger fires.

As Chainer's trainer: the loop itself knows nothing of logs, samples, evaluations or
checkpoints. Each is an :class:`Extension` (:mod:`.extensions`) with a trigger (every N
steps, and at the last step) and a priority: writers first (they add figures to the
step's row), then the loss log (which reads the losses from the device and stops on a
NaN before anything is saved), then readers (which show or save). New periodic work is
one more extension in the list that ``python -m tinygan.train`` builds.

On several processes every process holds the same extensions, so each trigger fires at the
same step everywhere; only the first process (rank 0) calls those that show or save, the
others only those marked ``all_ranks`` (the loss log, whose NaN check must stop them all).
"""
import time

WRITER, LOG, READER = 0, 1, 2


class StopTraining(Exception):
    """Raised by an extension to end the run: ``status`` is the command's exit status."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class Extension:
    """Periodic work after a training step. Subclasses set ``priority`` and implement
    ``__call__(loop)``; ``every`` steps (and at the last step unless ``at_end`` is False)."""

    priority = READER
    at_end = True
    all_ranks = False

    def __init__(self, every):
        self.every = every

    def fires(self, step, last):
        return bool(self.every) and step % self.every == 0 or (self.at_end and step == last)

    def __call__(self, loop):
        raise NotImplementedError

    def interrupted(self, loop):
        """Ctrl-C arrived during step ``loop.step + 1``: keep what can be kept."""

    def close(self, loop):
        """The run ends (finished, failed or interrupted)."""


class TrainingLoop:
    """Runs ``updater.update`` from step ``start`` to ``steps``, then the extensions whose
    trigger fires, in priority order. During the calls: ``step`` (steps done), ``losses``
    (the step's, on the device), ``row`` (the step's figures for the log), ``fired`` (the
    extensions whose trigger fired this step), ``step_times`` (seconds of the last 20 steps).
    ``rank``: this process's among the run's processes (see the module docstring)."""

    def __init__(self, updater, start, steps, extensions, log=print, rank=0):
        self.updater, self.start, self.steps, self.log = updater, start, steps, log
        self.extensions = sorted(extensions, key=lambda extension: extension.priority)
        self.mine = [e for e in self.extensions if rank == 0 or e.all_ranks]
        self.step, self.losses, self.row, self.fired, self.step_times = start, None, {}, [], []
        self.began = None

    def run(self):
        """Train until ``steps``; returns the exit status: 0 done, 1 failed (StopTraining),
        130 interrupted (Ctrl-C; the extensions' ``interrupted`` have run)."""
        self.began = time.perf_counter()
        try:
            while self.step < self.steps:
                tick = time.perf_counter()
                self.losses = self.updater.update(self.step)
                self.step += 1
                self.step_times = (self.step_times + [time.perf_counter() - tick])[-20:]
                self.row = {"step": self.step, "seconds": f"{time.perf_counter() - self.began:.2f}"}
                self.fired = [e for e in self.extensions if e.fires(self.step, self.steps)]
                for extension in self.fired:
                    if extension in self.mine:
                        extension(self)
        except StopTraining as stop:
            self.log(str(stop))
            return stop.status
        except KeyboardInterrupt:
            try:
                for extension in self.mine:
                    extension.interrupted(self)
            except StopTraining as stop:
                self.log(str(stop))
                return stop.status
            return 130
        finally:
            for extension in self.mine:
                extension.close(self)
        return 0

    def elapsed(self):
        return time.perf_counter() - self.began
