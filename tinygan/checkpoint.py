"""Training checkpoints: models, optimisers, step, config and training settings in one .npz.

Layout of the file: 'G/...' and 'D/...' model arrays (see serialize.model_state),
'optG:...' and 'optD:...' optimiser state, and 'meta:*' entries: step, the model
config and training settings as JSON, and the held-out label orders. Randomness of
step t is drawn from (seed, t), so the seed restores every random stream.
"""
import json

import numpy as np

from .models import Discriminator, GANConfig, Generator
from .serialize import load_model_state, load_npz, model_state, save_npz_atomic

FORMAT_VERSION = 1


def save_checkpoint(path, generator, discriminator, opt_g, opt_d, step, settings, holdout):
    """Write everything needed to resume training at ``step`` (atomically)."""
    arrays = {**model_state(generator), **model_state(discriminator)}
    arrays.update({f"optG:{k}": v for k, v in opt_g.state_dict().items()})
    arrays.update({f"optD:{k}": v for k, v in opt_d.state_dict().items()})
    arrays.update({
        "meta:format": FORMAT_VERSION,
        "meta:step": step,
        "meta:config": json.dumps(generator.config.to_dict()),
        "meta:settings": json.dumps(settings),
        "meta:holdout": np.asarray(holdout, dtype=np.int64).reshape(-1, generator.config.n_objects),
    })
    save_npz_atomic(path, arrays)


def read_checkpoint(path):
    """Load a checkpoint file: (arrays, step, GANConfig, settings dict, holdout array)."""
    arrays = load_npz(path)
    for key in ("meta:format", "meta:step", "meta:config", "meta:settings", "meta:holdout"):
        if key not in arrays:
            raise ValueError(f"{path}: not a tinygan training checkpoint (no {key!r})")
    if int(arrays["meta:format"]) != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {int(arrays['meta:format'])}, this tinygan reads {FORMAT_VERSION}")
    config = GANConfig.from_dict(json.loads(str(arrays["meta:config"])))
    settings = json.loads(str(arrays["meta:settings"]))
    return arrays, int(arrays["meta:step"]), config, settings, arrays["meta:holdout"]


def load_generator(path, dtype=np.float32):
    """The generator of a checkpoint in eval mode, with its config, settings and holdout."""
    arrays, step, config, settings, holdout = read_checkpoint(path)
    generator = Generator(config, dtype=dtype)
    load_model_state(generator, arrays, source=str(path))
    return generator.eval(), step, settings, holdout


def restore_training(path, generator, discriminator, opt_g, opt_d):
    """Load models and optimisers of a checkpoint in place; return its step."""
    arrays, step, _, _, _ = read_checkpoint(path)
    load_model_state(generator, arrays, source=str(path))
    load_model_state(discriminator, arrays, source=str(path))
    for prefix, opt in (("optG:", opt_g), ("optD:", opt_d)):
        opt.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    return step
