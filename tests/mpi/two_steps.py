"""Run by tests/test_parallel.py under ``mpiexec -n P``: two float64 training steps of a tiny
updater on this process's part of each batch, then this process's whole training state
(models, Adam, weight average, spectral-norm vectors, BatchNorm statistics) saved as
``OUT/rank<r>.npz``. Usage: two_steps.py RECIPE OUT."""
import sys

import numpy as np

from tinygan import backend, parallel
from tinygan.data import DigitSet, synthetic_digits
from tinygan.settings import RunSettings
from tinygan.updater import Updater

SETTINGS = {"paper": dict(preset="tiny", recipe="paper", batch_size=8, dropout=0.0, seed=3),
            "tinygan": dict(preset="tiny", recipe="tinygan", batch_size=8, ema_start=0, seed=3)}


def two_steps(recipe, processes, parts=None):
    """The updater after two steps of ``recipe``'s settings on 200 synthetic digits."""
    digits = DigitSet(*synthetic_digits(200, seed=0), source="synthetic")
    updater = Updater(RunSettings(**SETTINGS[recipe]), digits, total_steps=2, dtype=np.float64,
                      processes=processes, parts=parts)
    for step in range(2):
        updater.update(step)
    return updater


if __name__ == "__main__":
    backend.set_backend("numpy")
    processes = parallel.connect()
    two_steps(sys.argv[1], processes).save(f"{sys.argv[2]}/rank{processes.rank}.npz", 2)
