"""Training checkpoints: models, optimisers, step, config and run settings in one .npz.

Layout of the file: 'G/...' and 'D/...' model arrays (see serialize.model_state),
'ema:G/...' the generator's weight average when the run keeps one (tinygan.ema),
'optG:...' and 'optD:...' optimiser state, and 'meta:*' entries: step, the model
config and the run settings (RunSettings.to_dict) as JSON, and the held-out label
orders. Randomness of step t is drawn from (seed, t), so the seed restores every
random stream. Settings saved before an ingredient existed take the recipe's value
(RunSettings.from_dict), so older checkpoints of this format load and resume.
"""
import json
from typing import NamedTuple

import numpy as np

from .models import GANConfig, Generator
from .serialize import load_model_state, load_npz, model_state, save_npz_atomic
from .settings import RunSettings

FORMAT_VERSION = 1
AVERAGE_PREFIX = "ema:"


class Checkpoint(NamedTuple):
    arrays: dict       # every array of the file, by name
    step: int
    config: GANConfig
    settings: RunSettings
    holdout: np.ndarray  # (k, n_objects) held-out label orders


def save_checkpoint(path, generator, discriminator, opt_g, opt_d, step, settings, holdout, average=None):
    """Write everything needed to resume training at ``step`` (atomically). ``settings``:
    RunSettings; ``average``: the generator holding the weight average, if the run keeps one."""
    arrays = {**model_state(generator), **model_state(discriminator)}
    if average is not None:
        arrays.update({AVERAGE_PREFIX + k: v for k, v in model_state(average).items()})
    arrays.update({f"optG:{k}": v for k, v in opt_g.state_dict().items()})
    arrays.update({f"optD:{k}": v for k, v in opt_d.state_dict().items()})
    arrays.update({
        "meta:format": FORMAT_VERSION,
        "meta:step": step,
        "meta:config": json.dumps(generator.config.to_dict()),
        "meta:settings": json.dumps(settings.to_dict()),
        "meta:holdout": np.asarray(holdout, dtype=np.int64).reshape(-1, generator.config.n_objects),
    })
    save_npz_atomic(path, arrays)


def read_checkpoint(path):
    """Load a checkpoint file as a :class:`Checkpoint`; a ValueError naming the file if it is none."""
    arrays = load_npz(path)
    for key in ("meta:format", "meta:step", "meta:config", "meta:settings", "meta:holdout"):
        if key not in arrays:
            raise ValueError(f"{path}: not a tinygan training checkpoint (no {key!r})")
    if int(arrays["meta:format"]) != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {int(arrays['meta:format'])}, this tinygan reads {FORMAT_VERSION}")
    config = GANConfig.from_dict(json.loads(str(arrays["meta:config"])))
    try:
        settings = RunSettings.from_dict(json.loads(str(arrays["meta:settings"])))
    except ValueError as err:
        raise ValueError(f"{path}: its run settings do not load: {err}") from None
    return Checkpoint(arrays, int(arrays["meta:step"]), config, settings, arrays["meta:holdout"])


def average_state(arrays):
    """The weight-average entries of a checkpoint, without their prefix (empty if none)."""
    return {k[len(AVERAGE_PREFIX):]: v for k, v in arrays.items() if k.startswith(AVERAGE_PREFIX)}


def load_generator(path, dtype=np.float32, average=True, log=print):
    """The generator of a checkpoint in eval mode, with its step, RunSettings and holdout array.

    With ``average`` (the default) it is the weight average when the checkpoint has one;
    a checkpoint without one (older, or trained with --ema 0) gives the trained generator
    and a one-line note through ``log``."""
    arrays, step, config, settings, holdout = read_checkpoint(path)
    generator = Generator(config, dtype=dtype)
    averaged = average_state(arrays) if average else {}
    if average and not averaged:
        log(f"note: {path} holds no weight average (an older checkpoint, or --ema 0): using the trained generator")
    load_model_state(generator, averaged or arrays, source=str(path))
    return generator.eval(), step, settings, holdout


def restore_training(path, generator, discriminator, opt_g, opt_d, average=None):
    """Load models, optimisers (and the weight average) of a checkpoint in place; return its step."""
    arrays, step, _, _, _ = read_checkpoint(path)
    load_model_state(generator, arrays, source=str(path))
    load_model_state(discriminator, arrays, source=str(path))
    if average is not None:
        load_model_state(average, average_state(arrays), source=f"{path} (weight average)")
    for prefix, opt in (("optG:", opt_g), ("optD:", opt_d)):
        opt.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    return step
